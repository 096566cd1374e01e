/**
 * What the analysis methods of the API hand out (getLossCurves, getStepMatch): plain JSON, the
 * same objects `motlab analyze … --json` prints. Browser-safe; the schemas of their inputs are
 * in definition.ts, the code that computes them in src-main/analysis/.
 */
import type { LossSplit, StepMatchAxis, XAxis } from '../views.ts';

/** A run as the analysis views show it: its name, what it is, and its colour. */
export interface AnalysisRun {
  /** The workspace name (API) or the folder's name (CLI). */
  name: string;
  /** The run folder. */
  path: string;
  preset: string | null;
  size: string | null;
  /** 'dense', 'MoT', 'MoE', 'MoT+MoE', … (see model/kind.ts). */
  modelKind: string;
  /** Index into the categorical palette: the run's position in the request. */
  colourIndex: number;
  /** Modalities of the run's model, in its order. */
  modalities: string[];
  /** Last training step logged. */
  lastStep: number;
}

/** Where a curve comes from: training losses (every step) or validation (every eval_every steps). */
export type CurveSplit = 'train' | 'val';

/** One run's loss of one modality over training, as drawn: full resolution or down-sampled. */
export interface LossCurveSeries {
  run: string;
  modality: string;
  split: CurveSplit;
  steps: number[];
  /** Positions on the report's x axis. */
  x: number[];
  /** Losses as logged; null = a gap (no target of the modality at that step). */
  raw: (number | null)[];
  /**
   * EMA with bias correction over the full-resolution series (training curves), or the raw values
   * (validation losses are already averages over the split, drawn as measured).
   */
  smoothed: (number | null)[];
  /** Points at full resolution in the requested range (and one beyond each edge); more than `x.length` when down-sampled. */
  fullPoints: number;
}

/** Final and best loss of a curve (analysis/curves.ts, summarizeLosses). */
export interface LossSummary {
  modality: string;
  /** Finite points in the curve. */
  points: number;
  finalStep: number | null;
  finalLoss: number | null;
  /** The smoothed loss at the final point (equals finalLoss when smoothing is 0, as for validation). */
  finalSmoothed: number | null;
  /** Lowest smoothed loss and its step: the raw minimum of a noisy training curve is noise. */
  bestStep: number | null;
  bestLoss: number | null;
}

/** Final and best loss of one run, modality and split, over the whole run (not just a zoomed range). */
export interface LossSummaryRow extends LossSummary {
  run: string;
  split: CurveSplit;
}

export interface LossCurvesReport {
  x: XAxis;
  /** Axis title, e.g. "training FLOPs". */
  xTitle: string;
  split: LossSplit;
  /** EMA weight applied to training curves. */
  smoothing: number;
  /** The x range that was read (null: everything). */
  range: [number, number] | null;
  /** Display buckets of the down-sampling (null: full resolution). */
  buckets: number | null;
  /** Modalities with curves: "all" first, then each run's modalities in order of first appearance. */
  modalities: string[];
  runs: AnalysisRun[];
  series: LossCurveSeries[];
  summary: LossSummaryRow[];
  /** Smallest and largest x of any curve at full resolution (null: no points yet). */
  extent: [number, number] | null;
  /** Things worth knowing (records skipped, runs without validation curves). */
  notes: string[];
}

/** One reference point: where the other run first reaches the reference's loss. */
export interface StepMatchPoint {
  /** Reference position on the x axis (step, FLOPs or seconds). */
  referenceX: number;
  referenceLoss: number;
  /** First (interpolated) position at which the other run reaches referenceLoss; null if never. */
  matchedX: number | null;
}

/** Steps to match of one run against the reference, for one modality. */
export interface StepMatchRow {
  run: string;
  modality: string;
  /** Least-squares slope through the origin of matched x against reference x (null: nothing matched). */
  slope: number | null;
  matchedPoints: number;
  referencePoints: number;
  /** Last validation point of the reference. */
  referenceFinalX: number | null;
  referenceFinalLoss: number | null;
  /** Where the run first reaches the reference's final loss (null: never). */
  xToReachFinal: number | null;
  /** xToReachFinal / referenceFinalX. */
  finalFraction: number | null;
  matches: StepMatchPoint[];
}

export interface StepMatchReport {
  x: StepMatchAxis;
  xTitle: string;
  /** The validation split whose curves are matched. */
  split: string;
  reference: AnalysisRun;
  runs: AnalysisRun[];
  /** "all" first, then the reference's modalities. */
  modalities: string[];
  /** One row per modality × run, modality-major. */
  rows: StepMatchRow[];
}
