// Models, their versions, scoring, training jobs and detectors
// (docs/metrics.md, "Models and detectors").
import { allPages, api, seg, type Page } from './client';

export interface Share {
  group: string;
  access: 'read' | 'write';
}

export interface Model {
  name: string;
  owner: string;
  public: boolean;
  shares: Share[];
  created_at: string;
  updated_at: string;
  versions: number;
  latest_version: number | null;
}

export interface ModelVersion {
  model: string;
  version: number;
  dim: number;
  threshold: number;
  features: string[];
  kind: 'dense' | 'graph';
  files: { path: string; sha256: string; bytes: number }[];
  uploader: string;
  job: string | null;
  created_at: string;
}

export interface ScoreReply {
  model: string;
  version: number;
  threshold: number;
  scores: number[];
  flags: boolean[];
}

export interface Training {
  job: string;
  model: string;
  state: 'pending' | 'registered' | 'failed';
  version: number | null;
  error: string | null;
  finished_at: string | null;
}

export interface JobBrief {
  id: string;
  name: string;
  state: string;
  reason: string | null;
  chunks: { pending: number; running: number; completed: number; failed: number; cancelled: number; total: number };
  result: { outputs?: { rows?: number; features?: number; epochs?: number; train_loss?: number; val_loss?: number; threshold?: number }[] } | null;
  created_at: string;
  finished_at: string | null;
}

export interface Detector {
  id: string;
  model: string;
  version: number;
  agent: string;
  features: string[];
  step: string;
  step_ms: number;
  owner_id: string;
  /** RFC 3339, or null before the first bucket */
  last_ts: string | null;
  created_at: string;
}

export interface DetectorBody {
  model: string;
  agent: string;
  features: string[];
  step: string;
}

/** The trainer's options (those of `sentinel train`); empty ones take its defaults. */
export interface TrainOptions {
  hidden?: string;
  activation?: 'relu' | 'leakyrelu' | 'sigmoid' | 'tanh' | 'identity';
  epochs?: number | null;
  batch?: number | null;
  lr?: number | null;
  seed?: number | null;
  quantile?: number | null;
  patience?: number | null;
  val_fraction?: number | null;
}

export interface TrainRequest extends TrainOptions {
  model: string;
  dataset: string;
  version: number;
  columns: string[];
}

export const ACTIVATIONS = ['relu', 'leakyrelu', 'sigmoid', 'tanh', 'identity'] as const;

/** The body of POST /api/v1/jobs for a training (empty options left out). */
export function trainJobBody(r: TrainRequest) {
  const input = `${r.dataset}@${r.version}`;
  const config: Record<string, unknown> = { dataset: input, model: r.model, columns: r.columns };
  const opts: (keyof TrainOptions)[] = ['hidden', 'activation', 'epochs', 'batch', 'lr', 'seed', 'quantile', 'patience', 'val_fraction'];
  for (const k of opts) {
    const v = r[k];
    if (v !== undefined && v !== null && v !== '') config[k] = v;
  }
  return { name: `train-${r.model}`, program: 'train', inputs: [input], config };
}

/** "1.5, 2, -3" → [1.5, 2, -3]; throws naming the first value that is no number. */
export function parseVector(text: string): number[] {
  const parts = text.split(/[\s,;]+/).filter(Boolean);
  return parts.map((p, i) => {
    const v = Number(p);
    if (!Number.isFinite(v)) throw new Error(`value ${i + 1} ("${p}") is not a number`);
    return v;
  });
}

/** Features of a detector: "metric" or "metric:agg". */
export function featureList(text: string): string[] {
  return text.split(/[\s,]+/).map((s) => s.trim()).filter(Boolean);
}

// Datasets, as the training form needs them (the Datasets pages own the full API).
export interface DatasetBrief {
  name: string;
  latest_version: number | null;
  versions: number;
}
export interface ColumnProfile {
  name: string;
  type: string;
}
export interface DatasetVersionBrief {
  number: number;
  kind: 'file' | 'fileset';
  filename: string | null;
  created_at: string;
  profiles?: Record<string, { rows?: number; columns?: ColumnProfile[] }>;
}

/** The numeric columns of a single-file version's table (what the trainer can use). */
export function numericColumns(v: DatasetVersionBrief | undefined): string[] {
  if (!v || v.kind !== 'file' || !v.profiles) return [];
  const p = Object.values(v.profiles)[0];
  return (p?.columns ?? []).filter((c) => c.type === 'int' || c.type === 'float').map((c) => c.name);
}

export const modelsApi = {
  list: () => allPages<Model>('/api/v1/models'),
  get: (name: string) => api.get<Model>(`/api/v1/models/${seg(name)}`),
  remove: (name: string) => api.del<{ deleted: string }>(`/api/v1/models/${seg(name)}`),
  versions: (name: string) => allPages<ModelVersion>(`/api/v1/models/${seg(name)}/versions`),
  version: (name: string, v: number | 'latest') => api.get<ModelVersion>(`/api/v1/models/${seg(name)}/versions/${v}`),
  removeVersion: (name: string, v: number) => api.del<unknown>(`/api/v1/models/${seg(name)}/versions/${v}`),
  contentUrl: (name: string, v: number) => `/api/v1/models/${seg(name)}/versions/${v}/content`,
  score: (name: string, vectors: number[][], version?: number) =>
    api.post<ScoreReply>(`/api/v1/models/${seg(name)}/score`, { vectors }, { version }),
  train: (r: TrainRequest) => api.post<JobBrief>('/api/v1/jobs', trainJobBody(r)),
  training: (job: string) => api.get<Training>(`/api/v1/trainings/${seg(job)}`),
  job: (id: string) => api.get<JobBrief>(`/api/v1/jobs/${seg(id)}`),
  datasets: () => allPages<DatasetBrief>('/api/v1/datasets'),
  datasetVersions: (name: string) =>
    api.get<Page<DatasetVersionBrief>>(`/api/v1/datasets/${seg(name)}/versions`).then((p) => p.items),
  datasetVersion: (name: string, v: number) => api.get<DatasetVersionBrief>(`/api/v1/datasets/${seg(name)}/versions/${v}`),
  detectors: () => allPages<Detector>('/api/v1/detectors'),
  createDetector: (b: DetectorBody) => api.post<Detector>('/api/v1/detectors', b),
  removeDetector: (id: string) => api.del<unknown>(`/api/v1/detectors/${seg(id)}`),
};
