import type { ComponentType, ReactNode } from 'react';
import { defineConfig, type Plugin } from 'vitest/config';
import react from '@vitejs/plugin-react';

// antd's styles, generated at build time: every antd component is rendered
// once on the server side with the console's theme, and the styles antd's
// CSS-in-JS made for them become CSS that main.tsx imports (virtual:antd.css)
// and index.html loads with the rest. That CSS carries @ant-design/cssinjs's
// cache-path map (.data-ant-cssinjs-cache-path), by which the browser side
// finds each style already loaded and neither generates nor injects it during
// the first render, which was the longest task of a page load. A style this
// misses is still made at run time.
function antdStaticStyle(): Plugin {
  const id = 'virtual:antd.css';
  const resolved = '\0' + id;
  return {
    name: 'sentinel-antd-static-style',
    resolveId: (source) => (source === id ? resolved : undefined),
    async load(source) {
      if (source !== resolved) return undefined;
      const [{ createElement: el }, { renderToString }, { createCache, extractStyle, StyleProvider }, antdModule, { sentinelTheme }] =
        await Promise.all([import('react'), import('react-dom/server'), import('@ant-design/cssinjs'), import('antd'), import('./src/theme')]);
      type Comp = ComponentType<object>;
      const antd = ((antdModule as { default?: unknown }).default ?? antdModule) as typeof antdModule;
      // Components that need props or children to render at all.
      const special: Record<string, () => ReactNode> = {
        Affix: () => el(antd.Affix, null, el('div')),
        Dropdown: () => el(antd.Dropdown, { menu: { items: [] } }, el('div')),
        Menu: () => el(antd.Menu, { items: [] }),
        QRCode: () => el(antd.QRCode, { value: 'x' }),
        Tree: () => el(antd.Tree, { treeData: [] }),
        Tooltip: () => el(antd.Tooltip, { title: 'x' }, el('span')),
        Popover: () => el(antd.Popover, { content: 'x' }, el('span')),
        Popconfirm: () => el(antd.Popconfirm, { title: 'x' }, el('span')),
      };
      // Each antd component, each of its parts (Input.TextArea, Form.Item,
      // DatePicker.RangePicker, …) and the in-place panel of its popup
      // (_InternalPanelDoNotUseOrYouWillBeFired: Modal, Select's dropdown, …),
      // rendered one by one into the one cache: a part that cannot render
      // without props of its own is left out, its style is made at run time.
      // Tour is unused, and antd's style for it has a selector esbuild
      // rejects; Form.ErrorList outside a Form.Item makes styles with no class
      // prefix (the Form.Item here has its own).
      const nodes: ReactNode[] = [
        el(antd.Tag, { color: 'blue' }),
        el(antd.Tag, { color: 'success' }),
        el(antd.Form, null, el(antd.Form.Item, { label: 'x', help: 'x' }, el(antd.Input))),
        el(antd.message._InternalPanelDoNotUseOrYouWillBeFired, { content: 'x' }),
        el(antd.notification._InternalPanelDoNotUseOrYouWillBeFired, { message: 'x' }),
      ];
      for (const [name, C] of Object.entries(antd as unknown as Record<string, Comp & Record<string, unknown>>)) {
        if (!/^[A-Z]/.test(name) || ['App', 'ConfigProvider', 'Grid', 'Tour'].includes(name)) continue;
        nodes.push(special[name] ? special[name]() : el(C));
        for (const [part, P] of Object.entries(C))
          if (/^([A-Z]|_InternalPanel)/.test(part) && part !== 'ErrorList' && (typeof P === 'function' || typeof P === 'object')) nodes.push(el(P as Comp));
      }
      const cache = createCache();
      for (const node of nodes) {
        try {
          renderToString(el(StyleProvider, { cache }, el(antd.ConfigProvider, { theme: sentinelTheme }, el(antd.App, null, node))));
        } catch {
          /* needs props: made at run time */
        }
      }
      return extractStyle(cache, true);
    },
  };
}

// Hashed assets under assets/ (the server gives them a year's cache);
// Monaco, xterm and uPlot are imported lazily by the pages that use them,
// so the first load carries none of them.
export default defineConfig({
  plugins: [react(), antdStaticStyle()],
  base: '/',
  build: {
    outDir: 'dist',
    assetsDir: 'assets',
    sourcemap: false,
    chunkSizeWarningLimit: 4096,
    rollupOptions: {
      output: {
        manualChunks(id: string) {
          // Vite's preload helper must not land in a lazy chunk: index.html
          // would then preload that whole chunk (Monaco) on every page.
          if (id.includes('vite/preload-helper') || id.includes('commonjsHelpers')) return 'helpers';
          if (id.includes('node_modules/monaco-editor')) return 'monaco';
          if (id.includes('node_modules/@xterm')) return 'xterm';
          if (id.includes('node_modules/uplot')) return 'uplot';
          return undefined;
        },
      },
    },
  },
  worker: { format: 'es' },
  server: {
    proxy: { '/api': process.env.SENTINEL_URL ?? 'http://127.0.0.1:8080' },
  },
  test: {
    environment: 'jsdom',
    include: ['test/**/*.test.ts', 'test/**/*.test.tsx'],
  },
});
