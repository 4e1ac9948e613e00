// Scripts (the Script Lab): list, versions, their text, pushing a version
// (the raw body is the text), the unified diff of two versions, sharing.
import { allPages, api, request, seg } from './client';
import type { DatasetPatch, Item, Version } from './datasets';

export type Script = Item;
export type ScriptVersion = Version;
export type Language = 'python' | 'shell';

export interface ScriptDiff {
  from: number;
  to: number;
  identical: boolean;
  added: number;
  removed: number;
  diff: string;
}

const base = (name: string) => `/api/v1/scripts/${seg(name)}`;

export const listScripts = (q: { q?: string; owner?: string; archived?: boolean } = {}) =>
  allPages<Script>('/api/v1/scripts', { q: q.q, owner: q.owner, archived: q.archived ? 1 : undefined, limit: 200 });
export const getScript = (name: string, signal?: AbortSignal) => api.get<Script>(base(name), undefined, signal);
export const listScriptVersions = (name: string) => allPages<ScriptVersion>(`${base(name)}/versions`, { limit: 100 });

/** The text of version v. */
export async function getScriptText(name: string, v: number, signal?: AbortSignal): Promise<string> {
  const res = await request<Response>('GET', `${base(name)}/versions/${v}/content`, { raw: true, signal });
  return res.text();
}

export const pushScript = (name: string, text: string, opts: { message?: string; language?: Language } = {}) =>
  request<ScriptVersion>('POST', `${base(name)}/versions`, {
    query: { message: opts.message || undefined, language: opts.language },
    body: text,
    contentType: 'text/plain; charset=utf-8',
  });

export const getScriptDiff = (name: string, from: number, to: number, signal?: AbortSignal) =>
  api.get<ScriptDiff>(`${base(name)}/diff`, { from, to }, signal);
export const patchScript = (name: string, p: DatasetPatch) => api.patch<Script>(base(name), p);
export const deleteScript = (name: string) => api.del<{ deleted: string }>(base(name));

/** Where "Run" goes: the job wizard with this script and version chosen. */
export const runUrl = (name: string, version: number) =>
  `/jobs/new?script=${encodeURIComponent(name)}&version=${version}`;
