/**
 * The state of every analysis view, defined once: the app keeps it in the URL and saves it as a
 * small JSON, `motlab figure --spec view.json` regenerates the figure from it, and every export
 * writes it beside the figure. Runs are referred to by name (in a workspace) or by folder path.
 */
import { z } from 'zod';
import { CATEGORICAL_PALETTE_NAMES } from './palette.ts';

const runRef = z.string().min(1, 'a run name or folder').max(4096);
const smoothing = z.number().min(0, 'smoothing ≥ 0').max(0.999, 'smoothing ≤ 0.999');
const layerIndex = z.number().int().min(0).max(4095);
const stepIndex = z.number().int().min(0);

export const X_AXES = ['steps', 'tokens', 'flops', 'wall'] as const;
export type XAxis = (typeof X_AXES)[number];

/** Axis titles; "wall" is training time, which excludes pauses and evaluation. */
export const X_AXIS_TITLES: Record<XAxis, string> = {
  steps: 'step',
  tokens: 'tokens',
  flops: 'training FLOPs',
  wall: 'training time (s)',
};

/** Step matching compares runs at equal steps, FLOPs or training time (tokens per step are equal). */
export const STEP_MATCH_AXES = ['steps', 'flops', 'wall'] as const satisfies readonly XAxis[];
export type StepMatchAxis = (typeof STEP_MATCH_AXES)[number];

/** Training losses, validation losses, or both. */
export const LOSS_SPLITS = ['train', 'val', 'both'] as const;
export type LossSplit = (typeof LOSS_SPLITS)[number];

/** TensorBoard's default EMA smoothing weight. */
export const DEFAULT_SMOOTHING = 0.6;

export const lossesViewSchema = z.strictObject({
  kind: z.literal('losses'),
  runs: z.array(runRef).min(1, 'choose at least one run').max(64),
  x: z.enum(X_AXES).default('steps'),
  split: z.enum(LOSS_SPLITS).default('val'),
  /** EMA weight with bias correction (TensorBoard's convention); 0 = raw. */
  smoothing: smoothing.default(DEFAULT_SMOOTHING),
  logX: z.boolean().default(false),
  logY: z.boolean().default(false),
  /** Modalities to show (panels); empty = all of the first run's. */
  modalities: z.array(z.string()).default([]),
  /** Zoomed x range, in units of `x`. */
  xRange: z.tuple([z.number(), z.number()]).nullable().default(null),
  /** Draw the raw training losses faintly under the smoothed ones. */
  showRaw: z.boolean().default(true),
  /** Two of the runs side by side (one column each, linked axes); null = all runs overlaid. */
  compare: z.tuple([runRef, runRef]).nullable().default(null),
});

export const stepMatchViewSchema = z.strictObject({
  kind: z.literal('step-match'),
  reference: runRef,
  runs: z.array(runRef).min(1, 'choose a run to compare').max(16),
  x: z.enum(STEP_MATCH_AXES).default('steps'),
  modalities: z.array(z.string()).default([]),
});

export const BASIS_MODES = ['fixed', 'aligned'] as const;
export const PCA_COLOUR_BY = ['modality', 'position', 'token'] as const;

export const pcaViewSchema = z.strictObject({
  kind: z.literal('pca'),
  /** A run, or an activations file (bring your own activations). */
  run: runRef.optional(),
  activations: z.string().max(4096).optional(),
  layer: layerIndex.default(0),
  /** Checkpoint step; null = the latest. */
  checkpoint: stepIndex.nullable().default(null),
  /** The two components on the axes, 1-based. */
  components: z.tuple([z.number().int().min(1).max(64), z.number().int().min(1).max(64)]).default([1, 2]),
  basis: z.enum(BASIS_MODES).default('aligned'),
  /** Reference checkpoint of the basis; null = the latest. */
  reference: stepIndex.nullable().default(null),
  colourBy: z.enum(PCA_COLOUR_BY).default('modality'),
  probeTokens: z.number().int().min(10).max(100_000).default(2000),
  seed: z
    .number()
    .int()
    .min(0)
    .max(2 ** 31 - 1)
    .default(0),
  split: z
    .string()
    .regex(/^[a-z][a-z0-9_-]*$/)
    .default('val'),
});

export const pcaGridViewSchema = pcaViewSchema.extend({
  kind: z.literal('pca-grid'),
  layers: z.array(layerIndex).min(1).max(16),
  checkpoints: z.array(stepIndex).min(1).max(16),
});

export const SEPARABILITY_METRICS = ['probe_accuracy', 'silhouette', 'between_within_ratio'] as const;

export const separabilityViewSchema = pcaViewSchema.extend({
  kind: z.literal('separability'),
  metric: z.enum(SEPARABILITY_METRICS).default('probe_accuracy'),
  /** Curves over layers (one per checkpoint) or over training (one per layer). */
  over: z.enum(['layers', 'checkpoints']).default('layers'),
});

export const ROUTING_PANELS = ['load', 'entropy', 'aux', 'dropped', 'affinity', 'locality', 'agreement'] as const;

export const routingViewSchema = z.strictObject({
  kind: z.literal('routing'),
  run: runRef,
  layer: layerIndex.default(0),
  /** The layer's MoE tower (its index among the layer's towers); the first with MoE when null. */
  tower: z.number().int().min(0).max(64).nullable().default(null),
  panel: z.enum(ROUTING_PANELS).default('load'),
  checkpoints: z.array(stepIndex).default([]),
});

export const TOWER_PANELS = ['tokens', 'grad-norms', 'weight-drift', 'output-drift'] as const;

export const towersViewSchema = z.strictObject({
  kind: z.literal('towers'),
  run: runRef,
  panel: z.enum(TOWER_PANELS).default('weight-drift'),
  metric: z.enum(['cosine', 'cka']).default('cka'),
  /** Drift panels: the component whose towers are compared (the other when the run has only that one). */
  component: z.enum(['ffn', 'attention']).default('ffn'),
  /** Drift panels: one pair of towers by name (e.g. ["text", "image+speech"]); every pair when null. */
  pair: z
    .tuple([z.string().min(1).max(200), z.string().min(1).max(200)])
    .nullable()
    .default(null),
  checkpoints: z.array(stepIndex).default([]),
});

export const viewStateSchema = z.discriminatedUnion('kind', [
  lossesViewSchema,
  stepMatchViewSchema,
  pcaViewSchema,
  pcaGridViewSchema,
  separabilityViewSchema,
  routingViewSchema,
  towersViewSchema,
]);
export type ViewState = z.output<typeof viewStateSchema>;
export type ViewKind = ViewState['kind'];
/** The schema of each kind of view. */
export const VIEW_SCHEMAS = {
  losses: lossesViewSchema,
  'step-match': stepMatchViewSchema,
  pca: pcaViewSchema,
  'pca-grid': pcaGridViewSchema,
  separability: separabilityViewSchema,
  routing: routingViewSchema,
  towers: towersViewSchema,
} as const satisfies Record<ViewKind, z.ZodObject<z.ZodRawShape>>;
export const VIEW_KINDS = [
  'losses',
  'step-match',
  'pca',
  'pca-grid',
  'separability',
  'routing',
  'towers',
] as const satisfies readonly ViewKind[];

/** Figure size presets, in inches (docs/figures.md); height defaults to 0.618 × width. */
export const SIZE_PRESETS = {
  'icml-column': 3.25,
  'icml-full': 6.75,
  neurips: 5.5,
  'ieee-column': 3.5,
  'ieee-full': 7.16,
} as const;
export type SizePresetName = keyof typeof SIZE_PRESETS;

export const FIGURE_FORMATS = ['pdf', 'svg', 'png', 'csv'] as const;
export type FigureFormat = (typeof FIGURE_FORMATS)[number];

export const figureOptionsSchema = z.strictObject({
  /** A preset name, or "WxH" in inches (e.g. "3.25x2"). */
  preset: z
    .string()
    .regex(/^(icml-column|icml-full|neurips|ieee-column|ieee-full|\d+(\.\d+)?x\d+(\.\d+)?)$/, 'a size preset or WxH in inches')
    .default('icml-column'),
  /** Height / width when the preset gives only a width. */
  aspect: z.number().min(0.1).max(4).default(0.618),
  fontSize: z.number().min(4).max(24).default(8),
  palette: z.enum(CATEGORICAL_PALETTE_NAMES as [string, ...string[]]).default('okabe-ito'),
  legend: z.enum(['top', 'right', 'bottom', 'inside', 'none']).default('top'),
  title: z.boolean().default(false),
  format: z.enum(FIGURE_FORMATS).default('pdf'),
  dpi: z.number().int().min(72).max(1200).default(300),
});
export type FigureOptions = z.output<typeof figureOptionsSchema>;
