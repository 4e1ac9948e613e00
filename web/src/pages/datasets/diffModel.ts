// The diff view's logic, as pure functions (tested in test/datasets-diff.test.ts):
// the API's table diff turned into columns and rows to render (added,
// removed and changed rows, changed cells marked), the schema changes in
// words, a key guessed from the profiles, and the file tree of a file-set diff.
import type { Cell, ColumnProfile, DiffReply, Manifest, Preview, Profile, TableDiff } from '../../api/datasets';

export type RowStatus = 'added' | 'removed' | 'changed';
export type ColumnStatus = 'added' | 'removed' | 'retyped' | 'same';

export interface DiffColumn {
  name: string;
  status: ColumnStatus;
  /** For a retyped column: the types on each side. */
  from?: string;
  to?: string;
  key: boolean;
}

export interface DiffCell {
  /** The value shown: the new one, or the old one for a removed row. */
  value: Cell;
  /** For a changed cell: the value before. */
  old?: Cell;
  changed: boolean;
  /** False when the diff did not carry this cell (an unchanged cell of a changed row). */
  known: boolean;
}

export interface DiffRow {
  id: string;
  status: RowStatus;
  /** 1-based data row in the old (A) and new (B) version. */
  rowA?: number;
  rowB?: number;
  cells: Record<string, DiffCell>;
  /** How many cells changed (changed rows). */
  changedCount: number;
}

export interface TableModel {
  columns: DiffColumn[];
  rows: DiffRow[];
  counts: TableDiff['counts'];
  /** Categories whose samples are fewer than their counts (capped by the limit). */
  truncated: RowStatus[];
}

/** Columns to show: the new version's in order, then those removed (at their old place's end). */
export function diffColumns(d: TableDiff): DiffColumn[] {
  const key = new Set(d.key ?? []);
  const retyped = new Map((d.schema.retyped ?? []).map((r) => [r.column, r]));
  const added = new Set(d.schema.added);
  const out: DiffColumn[] = (d.schema.columns_b ?? []).map((name) => {
    const r = retyped.get(name);
    return {
      name,
      status: added.has(name) ? 'added' : r ? 'retyped' : 'same',
      ...(r ? { from: r.from, to: r.to } : {}),
      key: key.has(name),
    };
  });
  for (const name of d.schema.removed ?? []) out.push({ name, status: 'removed', key: key.has(name) });
  return out;
}

const known = (value: Cell): DiffCell => ({ value, changed: false, known: true });

/** The preview's value as the diff writes it (strings; null for a missing value). */
export function previewCell(v: string | number | boolean | null | undefined): Cell {
  if (v === null || v === undefined) return null;
  return String(v);
}

/**
 * Rows to render. `toPreview` (the new version's first rows, optional)
 * fills the unchanged cells of changed rows that it covers; the others
 * stay unknown.
 */
export function tableModel(d: TableDiff, toPreview?: Preview): TableModel {
  const columns = diffColumns(d);
  const rows: DiffRow[] = [];
  const pcols = toPreview ? new Map(toPreview.columns.map((c, i) => [c.name, i])) : undefined;
  for (const s of d.samples.added) {
    const cells: Record<string, DiffCell> = {};
    for (const c of columns) if (c.name in s.values) cells[c.name] = known(s.values[c.name] ?? null);
    rows.push({ id: `a${s.row}`, status: 'added', rowB: s.row, cells, changedCount: 0 });
  }
  for (const s of d.samples.removed) {
    const cells: Record<string, DiffCell> = {};
    for (const c of columns) if (c.name in s.values) cells[c.name] = known(s.values[c.name] ?? null);
    rows.push({ id: `r${s.row}`, status: 'removed', rowA: s.row, cells, changedCount: 0 });
  }
  for (const s of d.samples.changed) {
    const cells: Record<string, DiffCell> = {};
    const prow = toPreview && pcols ? toPreview.rows[s.row_b - 1] : undefined;
    for (const c of columns) {
      if (c.status === 'removed') continue;
      const ch = s.columns[c.name];
      if (ch) cells[c.name] = { value: ch.to, old: ch.from, changed: true, known: true };
      else if (c.name in s.key) cells[c.name] = known(s.key[c.name] ?? null);
      else if (prow && pcols?.has(c.name)) cells[c.name] = known(previewCell(prow[pcols.get(c.name)!]));
      else cells[c.name] = { value: null, changed: false, known: false };
    }
    rows.push({ id: `c${s.row_a}-${s.row_b}`, status: 'changed', rowA: s.row_a, rowB: s.row_b, cells, changedCount: Object.keys(s.columns).length });
  }
  // In table order: by the row's place (new rows by B, removed ones by A); a removed row before a new one at the same place.
  const place = (r: DiffRow) => (r.status === 'removed' ? r.rowA! : r.rowB!);
  rows.sort((x, y) => place(x) - place(y) || (x.status === 'removed' ? -1 : 0) - (y.status === 'removed' ? -1 : 0));
  const truncated: RowStatus[] = [];
  if (d.samples.added.length < d.counts.added) truncated.push('added');
  if (d.samples.removed.length < d.counts.removed) truncated.push('removed');
  if (d.samples.changed.length < d.counts.changed) truncated.push('changed');
  return { columns, rows, counts: d.counts, truncated };
}

/** The schema changes, one line each, in words. */
export function schemaChanges(d: TableDiff): string[] {
  const out: string[] = [];
  for (const c of d.schema.added ?? []) out.push(`column ${c} added`);
  for (const c of d.schema.removed ?? []) out.push(`column ${c} removed`);
  for (const r of d.schema.retyped ?? []) out.push(`column ${r.column} changed type from ${r.from} to ${r.to}`);
  if (d.schema.reordered) out.push('columns reordered');
  return out;
}

/** "3 added, 1 removed, 2 changed, 10 unchanged" (or "identical"). */
export function countsText(d: TableDiff): string {
  if (d.identical) return 'identical';
  const c = d.counts;
  return `${c.added} added, ${c.removed} removed, ${c.changed} changed, ${c.unchanged} unchanged`;
}

const uniqueIn = (p: Profile | undefined, name: string): boolean => {
  const c: ColumnProfile | undefined = p?.columns.find((x) => x.name === name);
  return !!c && !!p && p.rows > 0 && c.nulls === 0 && c.distinct_exact && c.distinct === p.rows;
};

/**
 * A key for comparing rows: a column present in both versions whose
 * values are unique and never missing in both (exact counts); `id` or a
 * name ending in `id` first. Empty when none qualifies (whole rows compare).
 */
export function guessKey(a: Profile | undefined, b: Profile | undefined): string[] {
  if (!a || !b) return [];
  const inB = new Set(b.columns.map((c) => c.name));
  const cands = a.columns.map((c) => c.name).filter((n) => inB.has(n) && uniqueIn(a, n) && uniqueIn(b, n));
  const idLike = cands.find((n) => /^id$|[_-]?id$/i.test(n));
  const pick = idLike ?? cands[0];
  return pick ? [pick] : [];
}

/** The columns both versions share (key candidates), in A's order. */
export function commonColumns(a: Profile | undefined, b: Profile | undefined): string[] {
  if (!a || !b) return [];
  const inB = new Set(b.columns.map((c) => c.name));
  return a.columns.map((c) => c.name).filter((n) => inB.has(n));
}

// ---- file sets ----

export type FileStatus = 'added' | 'removed' | 'changed' | 'unchanged';

export interface FileNode {
  /** The full path (a directory's ends without a slash). */
  key: string;
  name: string;
  dir: boolean;
  status: FileStatus;
  size?: number;
  /** Files under a directory by status. */
  counts?: Record<FileStatus, number>;
  children?: FileNode[];
}

type FilesetDiff = Extract<DiffReply, { kind: 'fileset' }>;

/**
 * The file tree of a file-set diff: every path of both manifests (when
 * given; otherwise only the added, removed and changed ones), directories
 * first, by name. A directory's status is "changed" when anything under it
 * is not unchanged, "added"/"removed" when everything under it is.
 */
export function fileTree(d: FilesetDiff, from?: Manifest, to?: Manifest): FileNode[] {
  const status = new Map<string, FileStatus>();
  const size = new Map<string, number>();
  for (const f of from?.files ?? []) {
    status.set(f.path, 'unchanged');
    size.set(f.path, f.size);
  }
  for (const f of to?.files ?? []) {
    status.set(f.path, 'unchanged');
    size.set(f.path, f.size);
  }
  for (const p of d.removed) status.set(p, 'removed');
  for (const p of d.added) status.set(p, 'added');
  for (const p of d.changed) status.set(p, 'changed');
  // removed files keep their old size; others the new one
  for (const f of from?.files ?? []) if (status.get(f.path) === 'removed') size.set(f.path, f.size);

  const root: FileNode = { key: '', name: '', dir: true, status: 'unchanged', children: [] };
  const dirs = new Map<string, FileNode>([['', root]]);
  const dirOf = (path: string): FileNode => {
    const hit = dirs.get(path);
    if (hit) return hit;
    const i = path.lastIndexOf('/');
    const parent = dirOf(i < 0 ? '' : path.slice(0, i));
    const node: FileNode = { key: path + '/', name: path.slice(i + 1), dir: true, status: 'unchanged', children: [] };
    parent.children!.push(node);
    dirs.set(path, node);
    return node;
  };
  for (const [path, st] of status) {
    const i = path.lastIndexOf('/');
    const parent = dirOf(i < 0 ? '' : path.slice(0, i));
    parent.children!.push({ key: path, name: path.slice(i + 1), dir: false, status: st, size: size.get(path) });
  }
  const finish = (n: FileNode): Record<FileStatus, number> => {
    const counts: Record<FileStatus, number> = { added: 0, removed: 0, changed: 0, unchanged: 0 };
    for (const c of n.children ?? []) {
      if (c.dir) {
        const cc = finish(c);
        for (const k of Object.keys(counts) as FileStatus[]) counts[k] += cc[k];
      } else counts[c.status]++;
    }
    n.children?.sort((x, y) => Number(y.dir) - Number(x.dir) || (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
    const total = counts.added + counts.removed + counts.changed + counts.unchanged;
    n.counts = counts;
    n.status =
      total > 0 && counts.added === total ? 'added' : total > 0 && counts.removed === total ? 'removed' : total === counts.unchanged ? 'unchanged' : 'changed';
    n.size = (n.children ?? []).reduce((s, c) => s + (c.status === 'removed' ? 0 : (c.size ?? 0)), 0);
    return counts;
  };
  finish(root);
  return root.children!;
}

/** Paths of the directories to open at first: those with something not unchanged. */
export function changedDirs(nodes: FileNode[]): string[] {
  const out: string[] = [];
  const walk = (ns: FileNode[]) => {
    for (const n of ns)
      if (n.dir && n.status !== 'unchanged') {
        out.push(n.key);
        walk(n.children ?? []);
      }
  };
  walk(nodes);
  return out;
}
