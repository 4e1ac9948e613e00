// The diff view's logic: the API's diff reply (shapes as a real server
// answers them, see docs/api.md) turned into columns, rows and cells, and
// the file tree of a file-set diff.
import { describe, expect, it } from 'vitest';
import type { DiffReply, Preview, Profile, TableDiff } from '../src/api/datasets';
import { changedDirs, commonColumns, countsText, diffColumns, fileTree, guessKey, schemaChanges, tableModel } from '../src/pages/datasets/diffModel';

// GET /api/v1/datasets/people/diff?from=1&to=2&key=id, as the server answered it.
const keyed: TableDiff = {
  identical: false,
  key: ['id'],
  rows: { a: 4, b: 4 },
  schema: {
    changed: true,
    columns_a: ['id', 'name', 'score', 'flag'],
    columns_b: ['id', 'name', 'score', 'flag', 'extra'],
    added: ['extra'],
    removed: [],
    reordered: false,
    retyped: [],
  },
  counts: { added: 1, removed: 1, changed: 1, unchanged: 2 },
  limit: 50,
  samples: {
    added: [{ row: 4, values: { id: '5', name: 'eve', score: '1.0', flag: 'true', extra: 'w' } }],
    removed: [{ row: 3, values: { id: '3', name: 'carol', score: null, flag: 'true' } }],
    changed: [
      {
        row_a: 2,
        row_b: 2,
        key: { id: '2' },
        columns: { name: { from: 'bob', to: 'bobby' }, score: { from: '4.0', to: '4.5' } },
      },
    ],
  },
  key_unique: true,
  duplicate_keys: { a: 0, b: 0 },
};

describe('table diff', () => {
  it('lists the new columns in order, marks added, removed and retyped ones and the key', () => {
    const d: TableDiff = {
      ...keyed,
      schema: { ...keyed.schema, removed: ['old'], retyped: [{ column: 'score', from: 'int', to: 'float' }] },
    };
    const cols = diffColumns(d);
    expect(cols.map((c) => [c.name, c.status, c.key])).toEqual([
      ['id', 'same', true],
      ['name', 'same', false],
      ['score', 'retyped', false],
      ['flag', 'same', false],
      ['extra', 'added', false],
      ['old', 'removed', false],
    ]);
    expect(cols[2]).toMatchObject({ from: 'int', to: 'float' });
    expect(schemaChanges(d)).toEqual(['column extra added', 'column old removed', 'column score changed type from int to float']);
  });

  it('makes one row per sample, in table order, with the changed cells marked', () => {
    const m = tableModel(keyed);
    expect(m.rows.map((r) => [r.status, r.rowA, r.rowB])).toEqual([
      ['changed', 2, 2],
      ['removed', 3, undefined],
      ['added', undefined, 4],
    ]);
    const changed = m.rows[0]!;
    expect(changed.changedCount).toBe(2);
    expect(changed.cells.name).toEqual({ value: 'bobby', old: 'bob', changed: true, known: true });
    expect(changed.cells.score).toEqual({ value: '4.5', old: '4.0', changed: true, known: true });
    expect(changed.cells.id).toEqual({ value: '2', changed: false, known: true });
    // an unchanged cell the diff does not carry is unknown, not empty
    expect(changed.cells.flag).toEqual({ value: null, changed: false, known: false });
    const removed = m.rows[1]!;
    expect(removed.cells.score).toEqual({ value: null, changed: false, known: true });
    expect(removed.cells.extra).toBeUndefined();
    expect(m.rows[2]!.cells.extra).toEqual({ value: 'w', changed: false, known: true });
    expect(m.truncated).toEqual([]);
    expect(countsText(keyed)).toBe('1 added, 1 removed, 1 changed, 2 unchanged');
  });

  it("fills a changed row's unchanged cells from the new version's preview", () => {
    const preview: Preview = {
      path: 'people.csv',
      columns: [
        { name: 'id', type: 'int' },
        { name: 'name', type: 'string' },
        { name: 'score', type: 'float' },
        { name: 'flag', type: 'bool' },
        { name: 'extra', type: 'string' },
      ],
      rows: [
        [1, 'alice', 3.5, true, 'x'],
        [2, 'bobby', 4.5, false, 'y'],
      ],
      truncated: true,
    };
    const row = tableModel(keyed, preview).rows[0]!;
    expect(row.cells.flag).toEqual({ value: 'false', changed: false, known: true });
    expect(row.cells.extra).toEqual({ value: 'y', changed: false, known: true });
    // the diff's own values win over the preview's
    expect(row.cells.name).toMatchObject({ value: 'bobby', changed: true });
  });

  it('says which categories hold more rows than their samples', () => {
    const d: TableDiff = { ...keyed, counts: { added: 70, removed: 1, changed: 3, unchanged: 0 } };
    expect(tableModel(d).truncated).toEqual(['added', 'changed']);
  });

  it('puts a removed row before an added one at the same place (whole-row diff)', () => {
    const d: TableDiff = {
      ...keyed,
      key: null,
      counts: { added: 1, removed: 1, changed: 0, unchanged: 3 },
      samples: {
        added: [{ row: 2, values: { id: '2', name: 'bobby' } }],
        removed: [{ row: 2, values: { id: '2', name: 'bob' } }],
        changed: [],
      },
    };
    expect(tableModel(d).rows.map((r) => r.id)).toEqual(['r2', 'a2']);
    expect(diffColumns(d).some((c) => c.key)).toBe(false);
  });

  it('answers identical tables in words', () => {
    expect(countsText({ ...keyed, identical: true })).toBe('identical');
  });
});

const prof = (rows: number, cols: [string, number, number, boolean?][]): Profile => ({
  rows,
  delimiter: ',',
  column_count: cols.length,
  columns: cols.map(([name, distinct, nulls, exact = true]) => ({
    name,
    type: 'string',
    count: rows - nulls,
    nulls,
    distinct,
    distinct_exact: exact,
    top: null,
  })),
});

describe('key guess', () => {
  it('picks a unique, never-missing column of both versions, id-like names first', () => {
    const a = prof(4, [['name', 4, 0], ['user_id', 4, 0], ['x', 2, 0]]);
    const b = prof(5, [['name', 5, 0], ['user_id', 5, 0]]);
    expect(guessKey(a, b)).toEqual(['user_id']);
    expect(commonColumns(a, b)).toEqual(['name', 'user_id']);
  });
  it('takes none when no column is unique in both, or counts are estimates', () => {
    expect(guessKey(prof(4, [['a', 4, 0]]), prof(4, [['a', 3, 0]]))).toEqual([]);
    expect(guessKey(prof(4, [['a', 4, 0, false]]), prof(4, [['a', 4, 0]]))).toEqual([]);
    expect(guessKey(prof(4, [['a', 3, 1]]), prof(4, [['a', 4, 0]]))).toEqual([]);
    expect(guessKey(undefined, prof(4, [['a', 4, 0]]))).toEqual([]);
  });
});

describe('file tree', () => {
  // GET /api/v1/datasets/files/diff?from=1&to=2, as the server answered it.
  const d: Extract<DiffReply, { kind: 'fileset' }> = {
    kind: 'fileset',
    from: 1,
    to: 2,
    added: ['dir/sub/c.txt'],
    removed: ['dir/a.txt'],
    changed: ['b.txt'],
    unchanged: 1,
  };
  const from = {
    files: [
      { path: 'b.txt', sha256: 'x', size: 2, mode: '0644' },
      { path: 'dir/a.txt', sha256: 'y', size: 2, mode: '0644' },
      { path: 'z/keep.txt', sha256: 'k', size: 7, mode: '0644' },
    ],
  };
  const to = {
    files: [
      { path: 'b.txt', sha256: 'x2', size: 3, mode: '0644' },
      { path: 'dir/sub/c.txt', sha256: 'z', size: 2, mode: '0644' },
      { path: 'z/keep.txt', sha256: 'k', size: 7, mode: '0644' },
    ],
  };

  it('builds directories first, by name, with each file and directory status', () => {
    const t = fileTree(d, from, to);
    const flat = (ns: typeof t, depth = 0): string[] =>
      ns.flatMap((n) => [`${'  '.repeat(depth)}${n.name}${n.dir ? '/' : ''} ${n.status}${n.size !== undefined ? ' ' + n.size : ''}`, ...flat(n.children ?? [], depth + 1)]);
    expect(flat(t)).toEqual([
      'dir/ changed 2',
      '  sub/ added 2',
      '    c.txt added 2',
      '  a.txt removed 2',
      'z/ unchanged 7',
      '  keep.txt unchanged 7',
      'b.txt changed 3',
    ]);
    expect(t[0]!.counts).toEqual({ added: 1, removed: 1, changed: 0, unchanged: 0 });
    expect(t[0]!.key).toBe('dir/');
    expect(t[0]!.children![0]!.key).toBe('dir/sub/');
    expect(t[0]!.children![0]!.children![0]!.key).toBe('dir/sub/c.txt');
    expect(changedDirs(t)).toEqual(['dir/', 'dir/sub/']);
  });

  it('without manifests shows only what changed', () => {
    const t = fileTree(d);
    expect(t.map((n) => n.name)).toEqual(['dir', 'b.txt']);
    expect(t[1]!.size).toBeUndefined();
  });

  it('a directory whose files were all removed is removed', () => {
    const t = fileTree({ ...d, added: [], changed: [], removed: ['gone/a', 'gone/b'] });
    expect(t).toHaveLength(1);
    expect(t[0]).toMatchObject({ name: 'gone', status: 'removed', counts: { removed: 2, added: 0, changed: 0, unchanged: 0 } });
  });
});

describe('a diff of identical versions', () => {
  // What the server answers when both versions have the same SHA-256
  // (src/dataset/diff.c: no rows and no schema details).
  const same = {
    identical: true,
    key: null,
    schema: { changed: false },
    counts: { added: 0, removed: 0, changed: 0, unchanged: 0 },
    limit: 50,
    samples: { added: [], removed: [], changed: [] },
  } as TableDiff;
  it('gives no columns, rows or schema changes, and says identical', () => {
    expect(diffColumns(same)).toEqual([]);
    expect(schemaChanges(same)).toEqual([]);
    expect(tableModel(same).rows).toEqual([]);
    expect(tableModel(same).truncated).toEqual([]);
    expect(countsText(same)).toBe('identical');
  });
});
