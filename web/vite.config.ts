import { defineConfig } from 'vitest/config';
import react from '@vitejs/plugin-react';

// Hashed assets under assets/ (the server gives them a year's cache);
// Monaco, xterm and uPlot are imported lazily by the pages that use them,
// so the first load carries none of them.
export default defineConfig({
  plugins: [react()],
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
