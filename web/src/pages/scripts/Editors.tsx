// Monaco's editor and diff editor as React components. Monaco loads on the
// first mount (a spinner meanwhile; its failure shown in words).
import { Alert, Spin } from 'antd';
import { useEffect, useRef, useState } from 'react';
import { loadMonaco, type Monaco } from './monaco';

type Editor = ReturnType<Monaco['editor']['create']>;
type DiffEditor = ReturnType<Monaco['editor']['createDiffEditor']>;

const common = {
  theme: 'sentinel-dark',
  automaticLayout: true,
  minimap: { enabled: false },
  fontSize: 14,
  scrollBeyondLastLine: false,
  tabSize: 4,
  insertSpaces: true,
} as const;

function useMonaco() {
  const [monaco, setMonaco] = useState<Monaco>();
  const [error, setError] = useState<unknown>();
  useEffect(() => {
    let live = true;
    loadMonaco().then(
      (m) => live && setMonaco(m),
      (e: unknown) => live && setError(e),
    );
    return () => {
      live = false;
    };
  }, []);
  return { monaco, error };
}

function Failed({ error }: { error: unknown }) {
  return <Alert type="error" showIcon message="The editor could not load" description={error instanceof Error ? error.message : String(error)} />;
}

/**
 * The editor owns its text while the user types (onChange reports it); the
 * page replaces it only by passing a new doc (another key), e.g. a version
 * just loaded. Pushing every keystroke's value back would race the typing.
 */
export function CodeEditor({
  doc,
  onChange,
  language,
  label,
  onSave,
}: {
  doc: { key: number; text: string };
  onChange: (v: string) => void;
  language: string;
  label: string;
  /** Ctrl/Cmd+S. */
  onSave?: () => void;
}) {
  const { monaco, error } = useMonaco();
  const box = useRef<HTMLDivElement>(null);
  const ed = useRef<Editor>();
  const cb = useRef({ onChange, onSave });
  cb.current = { onChange, onSave };
  const docRef = useRef(doc);
  docRef.current = doc;

  useEffect(() => {
    if (!monaco || !box.current) return;
    const e = monaco.editor.create(box.current, { ...common, value: docRef.current.text, language, ariaLabel: label });
    ed.current = e;
    const sub = e.onDidChangeModelContent(() => cb.current.onChange(e.getValue()));
    e.addCommand(monaco.KeyMod.CtrlCmd | monaco.KeyCode.KeyS, () => cb.current.onSave?.());
    return () => {
      sub.dispose();
      e.getModel()?.dispose();
      e.dispose();
      ed.current = undefined;
    };
    // created once per Monaco; value and language follow below
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [monaco]);

  useEffect(() => {
    const e = ed.current;
    if (e && e.getValue() !== docRef.current.text) e.setValue(docRef.current.text);
  }, [doc.key]);
  useEffect(() => {
    const m = ed.current?.getModel();
    if (monaco && m) monaco.editor.setModelLanguage(m, language);
  }, [monaco, language]);

  if (error !== undefined) return <Failed error={error} />;
  return (
    <div className="editor-box" data-testid="code-editor">
      {!monaco && <Spin tip="Loading the editor…" style={{ margin: 40 }}><div /></Spin>}
      <div ref={box} style={{ height: '100%', display: monaco ? 'block' : 'none' }} />
    </div>
  );
}

/**
 * Keeps each side of a diff editor labelled for screen readers: Monaco
 * rebuilds the sides' options whenever the diff editor's change (a layout
 * switching to inline included) and leaves their labels empty.
 */
function labelSides(monaco: Monaco, d: DiffEditor, label: string): () => void {
  const subs = (
    [
      [d.getOriginalEditor(), `${label}: before`],
      [d.getModifiedEditor(), `${label}: after`],
    ] as const
  ).map(([e, text]) => {
    const fix = () => {
      if (e.getOption(monaco.editor.EditorOption.ariaLabel) !== text) e.updateOptions({ ariaLabel: text });
    };
    fix();
    return e.onDidChangeConfiguration(fix);
  });
  return () => subs.forEach((x) => x.dispose());
}

export function CodeDiff({ original, modified, language, label }: { original: string; modified: string; language: string; label: string }) {
  const { monaco, error } = useMonaco();
  const box = useRef<HTMLDivElement>(null);
  const ed = useRef<DiffEditor>();
  const [inline, setInline] = useState(() => window.innerWidth < 768);

  useEffect(() => {
    const on = () => setInline(window.innerWidth < 768);
    window.addEventListener('resize', on);
    return () => window.removeEventListener('resize', on);
  }, []);

  useEffect(() => {
    if (!monaco || !box.current) return;
    const d = monaco.editor.createDiffEditor(box.current, {
      ...common,
      readOnly: true,
      originalEditable: false,
      ariaLabel: label,
      originalAriaLabel: `${label}: before`,
      modifiedAriaLabel: `${label}: after`,
      renderSideBySide: !inline,
    });
    ed.current = d;
    const unlabel = labelSides(monaco, d, label);
    return () => {
      unlabel();
      const m = d.getModel();
      d.dispose();
      m?.original.dispose();
      m?.modified.dispose();
      ed.current = undefined;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [monaco]);

  useEffect(() => {
    const d = ed.current;
    if (!monaco || !d) return;
    const old = d.getModel();
    d.setModel({ original: monaco.editor.createModel(original, language), modified: monaco.editor.createModel(modified, language) });
    old?.original.dispose();
    old?.modified.dispose();
  }, [monaco, original, modified, language]);

  useEffect(() => {
    const d = ed.current;
    if (!d) return;
    d.updateOptions({ renderSideBySide: !inline });
  }, [inline]);

  if (error !== undefined) return <Failed error={error} />;
  return (
    <div className="diff-box" data-testid="code-diff">
      {!monaco && <Spin tip="Loading the editor…" style={{ margin: 40 }}><div /></Spin>}
      <div ref={box} style={{ height: '100%', display: monaco ? 'block' : 'none' }} />
    </div>
  );
}
