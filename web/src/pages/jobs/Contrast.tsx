// WCAG AA contrast for the jobs and nodes pages. The shared theme's
// derived colours (secondary text, placeholders, hints, text on primary
// buttons, danger text) measure 2.0–3.9:1 on its slate background, which
// axe reports as serious; until src/theme.ts takes these tokens, this
// wrapper sets them for these pages (nested ConfigProvider: the rest of
// the theme is inherited).
import { ConfigProvider } from 'antd';
import type { ReactNode } from 'react';

export const CONTRAST_TOKENS = {
  colorTextDescription: '#94a3b8',
  colorTextTertiary: '#94a3b8',
  colorTextPlaceholder: '#8b96a8',
  colorTextLightSolid: '#0b1120',
  colorError: '#f87171',
};

export function Contrast({ children }: { children: ReactNode }) {
  return <ConfigProvider theme={{ token: CONTRAST_TOKENS }}>{children}</ConfigProvider>;
}
