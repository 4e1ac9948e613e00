import { App as AntApp, ConfigProvider } from 'antd';
import { StrictMode, startTransition } from 'react';
import { createRoot } from 'react-dom/client';
import { BrowserRouter } from 'react-router-dom';
import { App } from './App';
import { AuthProvider } from './auth/AuthContext';
// antd's styles, made at build time (vite.config.ts), before the console's own
import 'virtual:antd.css';
import './styles.css';
import { sentinelTheme } from './theme';

// The first render as a transition: React renders it in slices, yielding to
// the browser between them, so no single task carries the whole shell.
const root = createRoot(document.getElementById('root')!);
startTransition(() =>
  root.render(
    <StrictMode>
      <ConfigProvider theme={sentinelTheme}>
        <AntApp>
          <BrowserRouter>
            <AuthProvider>
              <App />
            </AuthProvider>
          </BrowserRouter>
        </AntApp>
      </ConfigProvider>
    </StrictMode>,
  ),
);
