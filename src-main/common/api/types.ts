/**
 * The data the API hands out. Plain JSON (it crosses Electron IPC and HTTP unchanged), no
 * Node types: the renderer imports this file too.
 */

import type { LossByModality, MetricsRecord } from '../metrics.ts';
import type { ImportedSource } from '../imported-source.ts';
import type { EngineChoice, JobStatus, RunStatus } from '../vocabulary.ts';

export interface RunSummary {
  name: string;
  path: string;
  status: RunStatus;
  message?: string;
  created?: string;
  updated?: string;
  preset?: string;
  size?: string;
  /** 'dense', 'MoT', 'MoE', 'MoT+MoE', 'MoT (ffn)', … derived from the tower layout. */
  modelKind: string;
  dataset?: string;
  engine?: string;
  /** Gradient workers the run last trained with (or asked for, before it started). */
  workers?: number;
  modalities: string[];
  step: number;
  totalSteps?: number;
  /** Latest training losses per modality (and `all`), null before the first step. */
  latestLoss: LossByModality | null;
  tokensPerSecond?: number;
  /** Seconds of training so far (from the last record). */
  elapsedSeconds?: number;
  /** True when this process launched the run and can pause/resume it. */
  controllable: boolean;
  /** Set for a run imported from a checkpoint trained elsewhere (weights_only: the lab cannot run it). */
  imported?: ImportedSource;
}

export interface RunDetail extends RunSummary {
  /** The model and training configs as stored in run.json. */
  model: Record<string, unknown> | null;
  training: Record<string, unknown> | null;
  seed?: number;
}

export interface MetricsChunk {
  records: MetricsRecord[];
  /** Byte offset to pass next time to get only what is new. */
  nextOffset: number;
  /** The file was rewritten (a resume drops steps after its checkpoint): these records replace all earlier ones. */
  reset: boolean;
  /** Lines of the file that are not records (damage), skipped: how many, the first line numbers, why. */
  skipped?: { count: number; lines: number[]; reason: string | null };
}

export interface CheckpointInfo {
  step: number;
  path: string;
  /** Bytes of model.safetensors. */
  modelBytes: number;
  hasOptimizer: boolean;
  /** The checkpoint's state.json, when readable. */
  state: Record<string, unknown> | null;
}

export interface DatasetInfo {
  name: string;
  path: string;
  builtin: boolean;
  vocab_size: number;
  modalities: { name: string; start: number; end: number }[];
  splits: string[];
  description?: string;
}

export interface WorkspaceInfo {
  path: string;
  runCount: number;
  datasetCount: number;
  /** Things the person should know (e.g. the example dataset could not be made). */
  notes: string[];
}

export interface EngineOption {
  name: EngineChoice;
  available: boolean;
  /** Why it is unavailable, or what it is (e.g. "PyTorch 1.13.0 on cpu (/usr/bin/python3, Python 3.11.2)"). */
  reason?: string;
}

export interface Catalog {
  presets: { name: string; description: string }[];
  sizes: { name: string; d_model: number; n_layers: number; n_heads: number; seq_len: number; defaultSteps: number }[];
  /** The engines a run can train on, in the form's order (listEngines says which are available here). */
  engines: EngineChoice[];
  /** What the new-run form starts with. */
  defaults: { preset: string; size: string; dataset?: string };
}

/** A job: a long task (training, evaluation, an analysis) running in a child process of the app or server. */
export interface JobInfo {
  /** Stable for the life of the app or server: reconnect to a job by its id. */
  id: string;
  /** The job kind, e.g. "train", "evaluate". */
  kind: string;
  /** The run it works on. */
  run: string;
  status: JobStatus;
  /** Fraction done, 0–1 (null until the job first reports). */
  progress: number | null;
  /** The job's latest word: what it is doing, or why it ended. */
  message?: string;
  /** The validated input the job runs with. */
  input: Record<string, unknown>;
  started: string;
  finished?: string;
  /** The result file (result.json in the run folder), once the job completed with a result. */
  resultPath?: string;
  /** Why it failed, as on every other error path. */
  error?: ApiErrorShape;
  /** The job's process id while it runs. */
  pid?: number;
}

/** Pushed to every subscriber (Electron: one IPC channel; server: one WebSocket). */
export type ApiEvent =
  | { type: 'run-metrics'; run: string; record: MetricsRecord }
  | { type: 'run-status'; run: string; status: RunStatus; message?: string }
  | { type: 'run-checkpoint'; run: string; step: number }
  | { type: 'workspace-changed'; path: string }
  | { type: 'job-progress'; job: string; run: string; fraction: number; message?: string }
  /** A job started, changed status or ended (the whole record). */
  | { type: 'job-status'; job: JobInfo }
  | { type: 'analysis-progress'; analysis: AnalysisName; requestId: string; fraction: number; message: string };

/** The analyses that report progress and can be cancelled (analysis-progress, cancelAnalysis). */
export type AnalysisName = 'pca' | 'routing' | 'towers';

/** The one error shape on every transport. */
export interface ApiErrorShape {
  code: string;
  message: string;
}

export type Envelope<T = unknown> = { ok: true; result: T } | { ok: false; error: ApiErrorShape };

/** How a dataset's documents are shown: decoded (fashion-tri's tokenizers) or as token ids. */
export type DatasetDecoder = 'fashion-tri' | 'tokens';

export interface ModalityUsageStats {
  name: string;
  start: number;
  end: number;
  /** Tokens of this modality in the split, and their share of all tokens. */
  count: number;
  share: number;
  /** Distinct ids that occur at least once. */
  used: number;
  /** histogram[i] = occurrences of ids [start + i·binWidth, start + (i+1)·binWidth); binWidth is 1 unless the range is large. */
  histogram: number[];
  binWidth: number;
}

export interface SplitOverview {
  split: string;
  tokens: number;
  /** Pages of the browser: documents (decoded datasets) or windows of `windowTokens` tokens. */
  documents: number;
  modalities: ModalityUsageStats[];
  /** Why the split could not be read (then the numbers are 0). */
  error: string | null;
}

export interface DatasetOverview {
  name: string;
  path: string;
  builtin: boolean;
  description?: string;
  license?: string;
  vocab_size: number;
  modalities: { name: string; start: number; end: number }[];
  decoder: DatasetDecoder;
  /** What one browsed item is: a document (<bos> … <eos>) or a fixed window of the token stream. */
  unit: 'document' | 'window';
  windowTokens?: number;
  /** Names of special token ids (e.g. 256 → "<bos>"), for labels. */
  specialTokens: Record<string, string>;
  splits: SplitOverview[];
  /** From the dataset check: problems make the dataset unusable, warnings probably unintended. */
  problems: string[];
  warnings: string[];
}

export interface DocumentSegment {
  modality: string;
  /** Stream positions [start, end) of the segment's tokens (begin/end markers excluded). */
  start: number;
  end: number;
  /** Vocabulary ids of the segment. */
  ids: number[];
  /** Decoded text (text segments of decoded datasets). */
  text?: string;
  /** 28 rows of 28 grey levels 0..255 (image segments of decoded datasets). */
  image?: number[][];
  /** [units][mel bands] log-mel frame per speech unit (speech segments of decoded datasets). */
  spectrogram?: number[][];
}

export interface DatasetDocumentMeta {
  source_set: string;
  source_index: number;
  label: number;
  class_name: string;
  voice: string | null;
  speed_wpm: number | null;
}

export interface DatasetDocument {
  /** 0-based document (or window) number within the split. */
  index: number;
  /** Stream positions [start, end) of the whole document, markers included. */
  token_range: [number, number];
  segments: DocumentSegment[];
  meta: DatasetDocumentMeta | null;
}

export interface DocumentPage {
  dataset: string;
  split: string;
  decoder: DatasetDecoder;
  unit: 'document' | 'window';
  offset: number;
  /** Documents (or windows) in the split. */
  total: number;
  documents: DatasetDocument[];
  /** [min, max] over the speech codebook, so spectrogram colours compare across documents. */
  spectrogramRange?: [number, number];
}

/** One panel of the PCA explorer: a (layer, checkpoint) in the chosen PC pair. */
export interface PcaPanel {
  layer: number;
  /** null for an activation dump. */
  checkpoint: number | null;
  /** Coordinates of every probe point on the chosen components, in the points' order. */
  x: number[];
  y: number[];
  explainedVarianceRatio: number[];
  separability: { probeAccuracy: number; silhouette: number; betweenWithinRatio: number; chanceAccuracy: number };
}

export interface PcaAnalysis {
  source: { kind: 'run'; run: string; dataset: string; split: string } | { kind: 'activations'; file: string };
  /** fixed: the reference checkpoint's basis at every checkpoint; aligned: a basis per checkpoint, matched and sign-aligned along the chain from the reference. */
  basis: 'fixed' | 'aligned';
  reference: number | null;
  components: number;
  /** The PC pair shown (0-based). */
  pair: [number, number];
  layers: number[];
  checkpoints: number[];
  modalities: string[];
  probe: {
    seed: number;
    perModality: number;
    windows: number;
    counts: { modality: string; sampled: number; available: number; label: string }[];
  } | null;
  points: {
    modality: number[];
    token: number[] | null;
    position: number[] | null;
    window: number[] | null;
    splitPosition: number[] | null;
  };
  /** Ordered by layer, then checkpoint. */
  panels: PcaPanel[];
  cache: { captured: number[]; reused: number[] } | null;
}

/** A probe token in its context: the tokens around it in its evaluation window, decoded where the dataset can be. */
export interface PcaPointContext {
  token: number;
  modality: string;
  splitPosition: number;
  /** Segments of consecutive tokens of one modality; `text` where decoded; `focus` marks the probe token's segment. */
  segments: { modality: string; start: number; end: number; ids: number[]; text?: string; focus: boolean }[];
  decoder: 'fashion-tri' | 'tokens';
}
