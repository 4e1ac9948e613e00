// Monaco, loaded on demand (only the Script Lab's pages import this, and
// only through import()): the editor API alone plus Python's tokenizer,
// the editor worker bundled locally (no CDN; the CSP allows 'self' workers),
// and a dark theme matching the console's.
export type Monaco = typeof import('monaco-editor/editor/editor.api');

let loading: Promise<Monaco> | undefined;

export function loadMonaco(): Promise<Monaco> {
  loading ??= (async () => {
    const [monaco, worker] = await Promise.all([
      import('monaco-editor/editor/editor.api'),
      import('monaco-editor/editor/editor.worker?worker'),
    ]);
    await import('monaco-editor/languages/definitions/python/register');
    const EditorWorker = worker.default;
    self.MonacoEnvironment = { getWorker: () => new EditorWorker() };
    monaco.editor.defineTheme('sentinel-dark', {
      base: 'vs-dark',
      inherit: true,
      rules: [],
      colors: {
        'editor.background': '#0f172a',
        'editorGutter.background': '#0f172a',
        'editor.lineHighlightBackground': '#1e293b',
        'editorLineNumber.foreground': '#64748b',
      },
    });
    return monaco;
  })();
  loading.catch(() => {
    loading = undefined;
  });
  return loading;
}
