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
      // comments brighter than vs-dark's (#608b4e is 4.5:1 at best): AA contrast
      rules: [{ token: 'comment', foreground: '7fae6a' }],
      colors: {
        'editor.background': '#0f172a',
        'editorGutter.background': '#0f172a',
        // a border, not a fill: text on the current line keeps its contrast
        'editor.lineHighlightBackground': '#0f172a',
        'editor.lineHighlightBorder': '#334155',
        // faint tints (the default ones bring code under 4.5:1); the gutter's +/- marks say which is which
        'diffEditor.insertedLineBackground': '#10b98114',
        'diffEditor.insertedTextBackground': '#10b98114',
        'diffEditor.removedLineBackground': '#ef444414',
        'diffEditor.removedTextBackground': '#ef444414',
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
