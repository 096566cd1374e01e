/**
 * THE API: every method the UI can call, its input schema (validated on the main side for
 * every transport) and its output type. Transports (Electron IPC, HTTP+WebSocket) and the
 * renderer's client are generic over this table, so a feature is written once, in impl.ts.
 *
 * Browser-safe: imports zod and pure modules only.
 */
import { z } from 'zod';
import { ENGINE_CHOICES, MAX_WORKERS, PRESET_NAMES, SIZE_NAMES, TORCH_ENGINE } from '../vocabulary.ts';
import {
  BASIS_MODES,
  DEFAULT_SMOOTHING,
  figureOptionsSchema,
  LOSS_SPLITS,
  STEP_MATCH_AXES,
  viewStateSchema,
  X_AXES,
  type FigureFormat,
} from '../views.ts';
import type { LossCurvesReport, StepMatchReport } from './analysis.ts';
import type {
  Catalog,
  CheckpointInfo,
  DatasetInfo,
  DatasetOverview,
  DocumentPage,
  EngineOption,
  JobInfo,
  MetricsChunk,
  PcaAnalysis,
  PcaPointContext,
  RunDetail,
  RunSummary,
  WorkspaceInfo,
} from './types.ts';
import type { RoutingReport, TowersReport } from '../analysis-reports.ts';
import type { WeightAnalysis } from '../weight-analysis.ts';

/** A run folder name: no separators, no leading dot, so it can never leave the runs folder. */
export const runNameSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$/, 'use 1–80 letters, digits, ".", "_" or "-", starting with a letter or digit');

/** A positive whole number of `what`, with messages a person reads in the form. */
const count = (what: string) =>
  z
    .number({ error: `a number of ${what}` })
    .int(`a whole number of ${what}`)
    .min(1, `at least 1 (${what})`);

const runRef = z.strictObject({ run: runNameSchema });

/** Importing a checkpoint trained elsewhere (docs/importing.md): a path on the machine that runs the lab. */
export const importCheckpointSchema = z.strictObject({
  path: z.string().min(1, 'give the path of a checkpoint file or folder'),
  /** "auto", "lab", "playbook", "bagel", or the path of a mapping file. */
  mapping: z.string().min(1).default('auto'),
  name: runNameSchema.optional(),
  preset: z.enum(PRESET_NAMES).optional(),
  size: z.enum(SIZE_NAMES).optional(),
  /** A dataset name from listDatasets: its modalities name the towers (default: the form's default dataset). */
  dataset: z.string().min(1).optional(),
  weightsOnly: z.boolean().default(false),
});
export type ImportCheckpointInput = z.infer<typeof importCheckpointSchema>;
const none = z.strictObject({});

/** A run and, optionally, which of its checkpoints and how many probe windows to analyse. */
const analysisRequest = z.strictObject({
  run: runNameSchema,
  checkpoints: z.array(z.number().int().min(0)).max(200, 'at most 200 checkpoints').optional(),
  probeWindows: count('probe windows').max(256, 'at most 256 probe windows').optional(),
  /** Names this request in analysis-progress events and cancelAnalysis. */
  requestId: z.string().min(1).max(100).optional(),
});

/** A dataset name from listDatasets. */
const datasetName = z.string().min(1, 'choose a dataset');

export const getDatasetDocumentsSchema = z.strictObject({
  dataset: datasetName,
  split: z.string().regex(/^[a-z][a-z0-9_-]*$/, 'a split name such as "train" or "val"'),
  offset: z.number({ error: 'a number of documents' }).int('a whole number of documents').min(0, 'an offset ≥ 0').default(0),
  count: z
    .number({ error: 'a number of documents' })
    .int('a whole number of documents')
    .min(1, 'at least 1 document')
    .max(50, 'at most 50 documents per page')
    .default(8),
});

export const startRunSchema = z
  .strictObject({
    name: runNameSchema.optional(),
    preset: z.enum(PRESET_NAMES),
    size: z.enum(SIZE_NAMES),
    /** A dataset name from listDatasets. */
    dataset: datasetName,
    steps: count('steps').max(10_000_000, 'at most 10,000,000 steps').optional(),
    checkpointEvery: count('steps between checkpoints').optional(),
    evalEvery: count('steps between evaluations').optional(),
    engine: z.enum(ENGINE_CHOICES).optional(),
    /** Training processes of the torch engine (DistributedDataParallel); the lab's own engines train in one. */
    processes: count('processes').max(64, 'at most 64 processes').optional(),
    /** Gradient workers (threads) for the wasm and cpu engines; absent: one per core. */
    workers: z.number().int('a whole number').min(1, 'at least 1').max(MAX_WORKERS, `at most ${MAX_WORKERS}`).optional(),
    seed: z
      .number()
      .int('a whole number')
      .min(0, 'a number ≥ 0')
      .max(2 ** 31 - 1, 'below 2^31')
      .optional(),
  })
  .refine((v) => (v.processes ?? 1) === 1 || v.engine === TORCH_ENGINE, {
    message: 'several processes need the torch engine',
    path: ['processes'],
  })
  .refine((v) => v.workers === undefined || v.engine !== TORCH_ENGINE, {
    message: "workers are for the lab's own engines; the torch engine takes processes",
    path: ['workers'],
  });
const stepList = z.array(z.number().int().min(0)).min(1, 'at least one checkpoint');

export const analyzePcaSchema = z
  .strictObject({
    run: runNameSchema.optional(),
    /** An activation dump (safetensors, docs/analysis-pca.md): an absolute path on the serving machine. */
    activations: z.string().min(1).optional(),
    split: z
      .string()
      .regex(/^[a-z][a-z0-9_-]*$/)
      .default('val'),
    checkpoints: z.union([z.literal('all'), z.literal('latest'), stepList]).default('all'),
    layers: z.union([z.literal('all'), z.array(z.number().int().min(0)).min(1)]).default('all'),
    components: z.number().int().min(2).max(64).default(10),
    basis: z.enum(BASIS_MODES).default('aligned'),
    reference: z.number().int().min(0).optional(),
    probeTokens: z.number().int().min(2).max(100_000).default(2000),
    seed: z
      .number()
      .int()
      .min(0)
      .max(2 ** 31 - 1)
      .default(0),
    /** The PC pair to return coordinates for (0-based, below components). */
    pair: z.tuple([z.number().int().min(0), z.number().int().min(0)]).default([0, 1]),
    /** Names this request in analysis-progress events and cancelAnalysis. */
    requestId: z.string().min(1).max(100).optional(),
  })
  .refine((v) => !v.run !== !v.activations, 'give exactly one of run or activations')
  .refine((v) => v.pair[0] < v.components && v.pair[1] < v.components, 'pair must index components below `components`');

export type StartRunInput = z.infer<typeof startRunSchema>;

/** A view state (runs by workspace name) and the figure options; the same export as `motlab figure --spec`. */
export const exportFigureSchema = z.strictObject({
  view: viewStateSchema,
  figure: figureOptionsSchema.default(figureOptionsSchema.parse({})),
});

/** An exported figure; PDF and PNG travel as base64 (the API speaks JSON). */
export interface ExportedFigureFile {
  fileName: string;
  mimeType: string;
  format: FigureFormat;
  encoding: 'utf8' | 'base64';
  data: string;
  /** CSV of exactly what was plotted (raw and smoothed columns). */
  csv: string;
  /** JSON sidecar (view state + figure options) that regenerates the figure. */
  sidecar: string;
}

export const getLossCurvesSchema = z.strictObject({
  runs: z.array(runNameSchema).min(1, 'choose at least one run').max(64, 'at most 64 runs'),
  x: z.enum(X_AXES).default('steps'),
  split: z.enum(LOSS_SPLITS).default('val'),
  /** EMA weight for training curves, with bias correction. */
  smoothing: z.number().min(0, 'smoothing ≥ 0').max(0.999, 'smoothing ≤ 0.999').default(DEFAULT_SMOOTHING),
  /** Read only this x range (a zoom), at full resolution within it unless `buckets` is given. */
  range: z
    .tuple([z.number(), z.number()])
    .refine(([a, b]) => a < b, 'a range [from, to] with from < to')
    .nullable()
    .default(null),
  /** Down-sample each curve to this many display buckets (about half the plot width in pixels); null = every point. */
  buckets: z.number().int('a whole number of buckets').min(1).max(100_000).nullable().default(null),
  /** Buckets equal in log x (for a log x axis). */
  logX: z.boolean().default(false),
});

export const getStepMatchSchema = z.strictObject({
  reference: runNameSchema,
  runs: z.array(runNameSchema).min(1, 'choose a run to compare').max(16, 'at most 16 runs'),
  x: z.enum(STEP_MATCH_AXES).default('steps'),
});

/** A job id from startJob or listJobs. */
const jobIdSchema = z.string().regex(/^[a-z][a-z0-9-]{0,63}-[0-9a-z]+-[0-9a-f]+$/, 'a job id from listJobs');

export const startJobSchema = z.strictObject({
  /** A job kind, e.g. "evaluate" (the run service starts "train" itself: startRun, continueRun). */
  kind: z.string().regex(/^[a-z][a-z0-9-]{0,63}$/, 'a job kind such as "evaluate"'),
  run: runNameSchema,
  /** The kind's own input, validated by the kind's schema. */
  input: z.record(z.string(), z.unknown()).default({}),
});
export type StartJobInput = z.infer<typeof startJobSchema>;

/** Phantom marker carrying a method's output type (no runtime value needed). */
function returns<T>(): T {
  return undefined as T;
}

function method<I extends z.ZodType, O>(input: I, output: O, description: string) {
  return { input, output, description };
}

export const apiDefinition = {
  getWorkspace: method(none, returns<WorkspaceInfo>(), 'The open workspace folder'),
  openWorkspace: method(
    z.strictObject({ path: z.string().min(1, 'give a folder path') }),
    returns<WorkspaceInfo>(),
    'Open (creating if needed) a workspace folder',
  ),
  getCatalog: method(none, returns<Catalog>(), 'Presets, sizes, engines and form defaults'),
  listEngines: method(
    none,
    returns<EngineOption[]>(),
    'The engines a run can train on here: each available or not, with the reason (torch: whether a Python with PyTorch is found)',
  ),
  listDatasets: method(none, returns<DatasetInfo[]>(), 'Built-in datasets first, then the workspace ones'),
  getDatasetOverview: method(
    z.strictObject({ dataset: datasetName }),
    returns<DatasetOverview>(),
    'A dataset: splits, token counts and shares per modality, vocabulary-usage histograms, check problems and warnings',
  ),
  getDatasetDocuments: method(
    getDatasetDocumentsSchema,
    returns<DocumentPage>(),
    'Documents of a split, decoded (caption, picture, spectrogram) where the dataset has decoders, else windows of token ids',
  ),
  listRuns: method(none, returns<RunSummary[]>(), 'Every run of the workspace, newest first'),
  getRun: method(runRef, returns<RunDetail>(), 'One run with its configs'),
  readMetrics: method(
    z.strictObject({ run: runNameSchema, offset: z.number().int().min(0).default(0) }),
    returns<MetricsChunk>(),
    'Metrics records appended since a byte offset',
  ),
  listCheckpoints: method(runRef, returns<CheckpointInfo[]>(), 'Checkpoints of a run, by step'),
  startRun: method(startRunSchema, returns<RunSummary>(), 'Create a run folder and start training'),
  pauseRun: method(runRef, returns<RunSummary>(), 'Pause a running run (its process stays alive)'),
  resumeRun: method(runRef, returns<RunSummary>(), 'Resume a paused run'),
  stopRun: method(runRef, returns<RunSummary>(), 'Stop: write a checkpoint and end the process'),
  continueRun: method(
    z.strictObject({
      run: runNameSchema,
      steps: count('steps').max(10_000_000, 'at most 10,000,000 steps').optional(),
      /** Start again from step 0 instead: the old metrics and checkpoints are archived, not deleted. */
      restart: z.boolean().default(false),
    }),
    returns<RunSummary>(),
    'Start training again from the latest checkpoint of a stopped or interrupted run (or from step 0 with restart)',
  ),
  exportMetrics: method(
    z.strictObject({ run: runNameSchema, format: z.enum(['csv', 'jsonl']).default('csv') }),
    returns<{ fileName: string; mimeType: string; text: string }>(),
    "A run's metrics as a file (CSV: one loss column per modality)",
  ),
  getLossCurves: method(
    getLossCurvesSchema,
    returns<LossCurvesReport>(),
    'Loss curves per run × modality × split (raw and EMA-smoothed, down-sampled or a range at full resolution) and the final/best table',
  ),
  getStepMatch: method(
    getStepMatchSchema,
    returns<StepMatchReport>(),
    "The paper's steps to match per modality against a reference run, on steps, FLOPs or training time (as motlab analyze step-match)",
  ),

  analyzePca: method(
    analyzePcaSchema,
    returns<PcaAnalysis>(),
    'Feature PCA per layer × checkpoint of a run (captured and cached in the run folder) or of an activation dump: coordinates on a PC pair, explained variance, separability',
  ),
  pcaPointContext: method(
    z.strictObject({
      run: runNameSchema,
      split: z
        .string()
        .regex(/^[a-z][a-z0-9_-]*$/)
        .default('val'),
      splitPosition: z.number().int().min(0),
      radius: z.number().int().min(1).max(512).default(24),
    }),
    returns<PcaPointContext>(),
    "A probe token's context in its split, decoded where the dataset has decoders",
  ),
  cancelAnalysis: method(
    z.strictObject({ requestId: z.string().min(1) }),
    returns<{ cancelled: boolean }>(),
    'Cancel a running analysis by its requestId',
  ),
  analyzeRouting: method(
    analysisRequest,
    returns<RoutingReport>(),
    'MoE routing of a run: over training, and at checkpoints on the probe windows (affinity, MI, locality, drops, agreement)',
  ),
  analyzeTowers: method(
    analysisRequest,
    returns<TowersReport>(),
    'MoT towers of a run: tokens per tower, per-tower gradient norms, tower drift of weights and FFN outputs',
  ),
  importCheckpoint: method(
    importCheckpointSchema,
    returns<RunSummary>(),
    'Import a checkpoint trained elsewhere (our format, MoT playbook or BAGEL names, a mapping file; sharded or not) as a new run',
  ),
  analyzeWeights: method(
    z.strictObject({
      run: runNameSchema,
      step: z.number().int().min(0).optional(),
      singularValues: z.number().int().min(0).max(64).default(8),
      metrics: z
        .array(z.enum(['cosine', 'cka']))
        .max(2)
        .default(['cosine', 'cka']),
    }),
    returns<WeightAnalysis>(),
    'Weight norms, singular-value spectra and tower drift of a run’s checkpoint (any checkpoint, runnable or weights only)',
  ),
  exportFigure: method(
    exportFigureSchema,
    returns<ExportedFigureFile>(),
    'A figure of an analysis view (losses, step-match, pca, pca-grid, separability, routing, towers) as PDF, SVG, PNG or CSV, with its CSV and JSON sidecar; the same file as motlab figure',
  ),
  startJob: method(
    startJobSchema,
    returns<JobInfo>(),
    'Start a long task on a run in a child process (progress and status arrive as events)',
  ),
  cancelJob: method(
    z.strictObject({ id: jobIdSchema }),
    returns<JobInfo>(),
    'Cancel a job: its process ends promptly and it is marked cancelled',
  ),
  listJobs: method(
    z.strictObject({ run: runNameSchema.optional() }),
    returns<JobInfo[]>(),
    'Jobs started by this app or server (of one run, or all), newest first',
  ),
  getJob: method(z.strictObject({ id: jobIdSchema }), returns<JobInfo>(), 'One job, by id'),
};

export type ApiDefinition = typeof apiDefinition;
export type MethodName = keyof ApiDefinition;
/** What a caller passes (defaults may be omitted). */
export type MethodInput<M extends MethodName> = z.input<ApiDefinition[M]['input']>;
/** What the implementation receives (after parsing and defaults). */
export type ParsedInput<M extends MethodName> = z.output<ApiDefinition[M]['input']>;
export type MethodOutput<M extends MethodName> = ApiDefinition[M]['output'];

export const METHOD_NAMES = Object.keys(apiDefinition) as MethodName[];

export function isMethodName(name: string): name is MethodName {
  return Object.prototype.hasOwnProperty.call(apiDefinition, name);
}

/** The implementation every transport serves. */
export type ApiHandlers = { [M in MethodName]: (input: ParsedInput<M>) => Promise<MethodOutput<M>> };

/** The typed client every UI uses. */
export type ApiClient = { [M in MethodName]: (input: MethodInput<M>) => Promise<MethodOutput<M>> };
