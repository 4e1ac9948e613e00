// @vitest-environment node
// The console's client checked against the API description (docs/openapi.json,
// which the server serves at /api/v1/openapi.json and t702 checks against the
// live routes and replies). At run time: every '/api/v1/...' path that
// src/api/*.ts calls is a documented path template, and where the method
// shows (api.get/post/put/patch/del) that operation is documented too; and
// src/api/schema.d.ts is what openapi-typescript makes of the document today
// (regenerated here and compared). At compile time (tsc): the generated reply types
// satisfy the console's own shapes for the objects the pages show.
/// <reference types="node" />
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import openapiTS, { COMMENT_HEADER, astToString } from 'openapi-typescript';
import { describe, expect, expectTypeOf, it } from 'vitest';
import type { components, paths } from '../src/api/schema';
import type * as Admin from '../src/api/admin';
import type * as Alerts from '../src/api/alerts';
import type * as Datasets from '../src/api/datasets';
import type * as Jobs from '../src/api/jobs';
import type * as Metrics from '../src/api/metrics';
import type * as Models from '../src/api/models';

type Schemas = components['schemas'];
type Operation = { summary?: string; responses?: Record<string, unknown> };
interface Doc {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, unknown> };
}

// Outside web/ (Vite's import would refuse it): read from the file system.
const read = (rel: string) => readFileSync(fileURLToPath(new URL(rel, import.meta.url)), 'utf8');
const doc = JSON.parse(read('../../docs/openapi.json')) as Doc;
const schemaText = read('../src/api/schema.d.ts');

// The API modules' sources (not the generated types).
const sources = Object.entries(
  import.meta.glob<string>('../src/api/*.ts', { query: '?raw', import: 'default', eager: true }),
).filter(([file]) => !file.endsWith('.d.ts'));

/** Template segments ({name}) match any one segment. */
function templateRe(template: string): RegExp {
  const parts = template.split('/').map((s) => (s.startsWith('{') ? '[^/]+' : s.replace(/[.*+?^$()|[\]\\]/g, '\\$&')));
  return new RegExp(`^${parts.join('/')}$`);
}
const templates = Object.keys(doc.paths).map((t) => ({ t, re: templateRe(t) }));
const documented = (path: string) => templates.filter(({ re }) => re.test(path)).map(({ t }) => t);

const stripComments = (src: string) => src.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:])\/\/.*$/gm, '$1');

/** The string and template literals of code, with their offsets; a
 * template's ${…} keeps its expression (nested templates become `…`). */
function literals(code: string): { text: string; index: number }[] {
  const out: { text: string; index: number }[] = [];
  const quoted = (i: number, q: string) => {
    let j = i + 1;
    while (j < code.length && code[j] !== q) j += code[j] === '\\' ? 2 : 1;
    return j;
  };
  const template = (i: number): [string, number] => {
    let text = '';
    while (i < code.length) {
      const ch = code[i] as string;
      if (ch === '\\') {
        text += code.slice(i, i + 2);
        i += 2;
      } else if (ch === '`') {
        return [text, i + 1];
      } else if (ch === '$' && code[i + 1] === '{') {
        let depth = 1;
        let j = i + 2;
        let expr = '';
        while (j < code.length) {
          const d = code[j] as string;
          if (d === '`') {
            j = template(j + 1)[1];
            expr += '`…`';
            continue;
          }
          if (d === "'" || d === '"') {
            const k = quoted(j, d);
            expr += code.slice(j, k + 1);
            j = k + 1;
            continue;
          }
          if (d === '{') depth++;
          if (d === '}' && --depth === 0) break;
          expr += d;
          j++;
        }
        text += '${' + expr + '}';
        i = j + 1;
      } else {
        text += ch;
        i++;
      }
    }
    return [text, i];
  };
  for (let i = 0; i < code.length; ) {
    const c = code[i];
    if (c === "'" || c === '"') {
      const j = quoted(i, c);
      out.push({ text: code.slice(i + 1, j), index: i });
      i = j + 1;
    } else if (c === '`') {
      const [text, end] = template(i + 1);
      out.push({ text, index: i });
      i = end;
    } else {
      i++;
    }
  }
  return out;
}

const API = /^\/(api\/v1\/|v1\/|metrics)/;

/** The API paths one source calls: its literals, with constants like
 * `const J = '/api/v1/jobs'` or `const base = (n) => \`/api/v1/datasets/${seg(n)}\``
 * expanded; a ${…} that is a whole segment stands for one segment, one
 * glued to other text (a query) is dropped; no query string. */
function callsIn(src: string): { path: string; method?: string }[] {
  const code = stripComments(src);
  const lits = literals(code);
  const consts = new Map<string, string>();
  for (const { text, index } of lits) {
    const m = /const\s+(\w+)\s*=\s*(?:\([^)]*\)\s*=>\s*)?$/.exec(code.slice(Math.max(0, index - 100), index));
    if (m && API.test(text)) consts.set(m[1] as string, text);
  }
  const norm = (lit: string) =>
    lit
      .replace(/^\$\{(\w+)(?:\([^}]*\))?\}/, (all, name: string) => consts.get(name) ?? all)
      .replace(/\$\{[^}]*\}/g, (_e, at: number, s: string) =>
        s[at - 1] === '/' && /^(\/|$)/.test(s.slice(at + _e.length)) ? 'x' : '')
      .replace(/[?#].*$/, '')
      .replace(/\/$/, '');
  const out: { path: string; method?: string }[] = [];
  for (const { text, index } of lits) {
    const path = norm(text);
    if (!API.test(path)) continue;
    const before = code.slice(Math.max(0, index - 120), index);
    const call = /api\.(get|post|put|patch|del)\s*(?:<[^()]*?>)?\(\s*$/.exec(before);
    const method = call ? (call[1] === 'del' ? 'delete' : call[1]) : undefined;
    out.push({ path, method });
  }
  return out;
}

describe('the API description', () => {
  it('is OpenAPI 3.1 with the routes and shared schemas the console relies on', () => {
    expect(doc.openapi).toMatch(/^3\.1\.\d+$/);
    for (const p of ['/api/v1/auth/login', '/api/v1/events', '/api/v1/datasets/{name}/versions', '/api/v1/jobs/{id}/logs', '/api/v1/metrics/query']) {
      expect(Object.keys(doc.paths)).toContain(p);
    }
    for (const s of ['Error', 'Page', 'User', 'Group', 'Token', 'AuditEntry', 'Dataset', 'DatasetVersion', 'Diff', 'Script', 'ScriptVersion',
      'Job', 'Chunk', 'Node', 'Agent', 'MetricSeries', 'QueryResult', 'AlertRule', 'AlertEvent', 'Model', 'ModelVersion', 'Detector']) {
      expect(Object.keys(doc.components.schemas)).toContain(s);
    }
  });

  it('covers every API path the console calls, with the method where the call shows it', () => {
    const calls = sources.flatMap(([file, src]) => callsIn(src).map((c) => ({ ...c, file })));
    // The scan finds the modules' calls (a broken scan must not pass by finding none).
    expect(calls.length).toBeGreaterThan(40);
    expect(new Set(calls.map((c) => c.file.replace(/^.*\//, ''))).size).toBeGreaterThan(5);
    const undocumented = calls.filter((c) => documented(c.path).length === 0).map((c) => `${c.file}: ${c.path}`);
    expect(undocumented).toEqual([]);
    const wrongMethod = calls
      .filter((c) => c.method && !documented(c.path).some((t) => doc.paths[t]?.[c.method as string]))
      .map((c) => `${c.file}: ${c.method?.toUpperCase()} ${c.path}`);
    expect(wrongMethod).toEqual([]);
  });

  it('the scan sees through constants and template literals', () => {
    const calls = callsIn(
      "const J = '/api/v1/jobs';\nconst base = (n: string) => `/api/v1/datasets/${seg(n)}`;\n" +
        'api.post<Job>(`${J}/${seg(id)}/cancel`);\napi.get<Page<V>>(`${base(name)}/versions/${v}/preview?limit=5`);\n' +
        "// api.get('/api/v1/in-a-comment')\napi.del<unknown>('/api/v1/nope/x');\n" +
        'const u = `${base(name)}/versions/${v}/content${path ? `?path=${enc(path)}` : \'\'}`;\n',
    );
    expect(calls).toEqual([
      { path: '/api/v1/jobs', method: undefined },
      { path: '/api/v1/datasets/x', method: undefined },
      { path: '/api/v1/jobs/x/cancel', method: 'post' },
      { path: '/api/v1/datasets/x/versions/x/preview', method: 'get' },
      { path: '/api/v1/nope/x', method: 'delete' },
      { path: '/api/v1/datasets/x/versions/x/content', method: undefined },
    ]);
    expect(documented('/api/v1/jobs/x/cancel')).toEqual(['/api/v1/jobs/{id}/cancel']);
    expect(documented('/api/v1/nope/x')).toEqual([]);
  });

  it('src/api/schema.d.ts is what npm run gen:api makes of the current document', async () => {
    const ast = await openapiTS(new URL('../../docs/openapi.json', import.meta.url), { silent: true });
    const fresh = `${COMMENT_HEADER}${astToString(ast)}`;
    // Not toBe: a 6,000-line diff says less than this.
    expect(fresh === schemaText, 'src/api/schema.d.ts is stale: run npm run gen:api').toBe(true);
    const typedPaths = [...schemaText.matchAll(/^ {4}"(\/[^"]*)": \{$/gm)].map((m) => m[1]);
    expect(typedPaths.sort()).toEqual(Object.keys(doc.paths).sort());
  }, 60_000);
});

describe('the generated types (checked by tsc)', () => {
  it('give the documented operations their reply types', () => {
    expectTypeOf<paths['/api/v1/jobs/{id}']['get']['responses'][200]['content']['application/json']>().toEqualTypeOf<Schemas['Job']>();
    expectTypeOf<paths['/api/v1/datasets']['get']['parameters']['query']>().toExtend<
      { limit?: number; cursor?: string; q?: string; owner?: string } | undefined
    >();
    expectTypeOf<Schemas['Error']['error']>().toEqualTypeOf<{ code: string; message: string; request_id: string }>();
    expectTypeOf<Schemas['Page']['next_cursor']>().toEqualTypeOf<string | null>();
  });

  it('satisfy the console\'s shapes of what the pages show', () => {
    expectTypeOf<Schemas['User']>().toExtend<Admin.AdminUser>();
    expectTypeOf<Schemas['Group']>().toExtend<Admin.GroupInfo>();
    expectTypeOf<Schemas['GroupDetail']>().toExtend<Admin.GroupDetail>();
    expectTypeOf<Schemas['Token']>().toExtend<Admin.ApiToken>();
    expectTypeOf<Schemas['TokenCreated']>().toExtend<Admin.NewToken>();
    expectTypeOf<Schemas['AuditEntry']>().toExtend<Admin.AuditEntry>();
    expectTypeOf<Schemas['AlertRule']>().toExtend<Alerts.AlertRule>();
    expectTypeOf<Schemas['AlertEvent']>().toExtend<Alerts.AlertEvent>();
    expectTypeOf<Schemas['Dataset']>().toExtend<Datasets.Dataset>();
    expectTypeOf<Schemas['Profile']>().toExtend<Datasets.Profile>();
    expectTypeOf<Schemas['DatasetVersion']>().toExtend<Datasets.Version>();
    expectTypeOf<Schemas['ScriptVersion']>().toExtend<Datasets.Version>();
    expectTypeOf<Schemas['Manifest']>().toExtend<Datasets.Manifest>();
    expectTypeOf<Schemas['Preview']>().toExtend<Datasets.Preview>();
    expectTypeOf<Schemas['Upload']>().toExtend<Datasets.UploadSession>();
    expectTypeOf<Schemas['Job']>().toExtend<Jobs.Job>();
    expectTypeOf<Schemas['Chunk']>().toExtend<Jobs.Chunk>();
    expectTypeOf<Schemas['Artifact']>().toExtend<Jobs.Artifact>();
    expectTypeOf<Schemas['LocalDataset']>().toExtend<Jobs.LocalDataset>();
    expectTypeOf<Schemas['Runtime']>().toExtend<Jobs.Runtime>();
    expectTypeOf<Schemas['Agent']>().toExtend<Metrics.Agent>();
    expectTypeOf<Schemas['MetricSeries']>().toExtend<Metrics.Series>();
    expectTypeOf<Schemas['AgentSummary']>().toExtend<Metrics.Summary>();
    expectTypeOf<Schemas['Anomaly']>().toExtend<Metrics.Anomaly>();
    expectTypeOf<Schemas['Model']>().toExtend<Models.Model>();
    expectTypeOf<Schemas['ModelVersion']>().toExtend<Models.ModelVersion>();
    expectTypeOf<Schemas['ScoreResult']>().toExtend<Models.ScoreReply>();
    expectTypeOf<Schemas['Training']>().toExtend<Models.Training>();
  });
});
