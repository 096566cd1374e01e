/**
 * Loss curves from a run's metrics records: per-modality series on a chosen x axis (steps,
 * tokens, FLOPs, training time), EMA smoothing with TensorBoard's bias correction applied to
 * the full-resolution series, display down-sampling that keeps every bucket's extremes, and
 * the final / best loss per modality. Pure functions over plain data (no Node, no tfjs).
 */
import type { EvalRecord, TrainRecord } from '../common/metrics.ts';
import type { LossSummary } from '../common/api/analysis.ts';
import { MotlabError } from '../common/errors.ts';
import { DEFAULT_SMOOTHING, type XAxis } from '../common/views.ts';

// ---------------------------------------------------------------------------------------------
// Smoothing

/**
 * Exponential moving average with TensorBoard's bias correction:
 * `s_k = w·s_{k-1} + (1-w)·y_k` from `s_0 = 0`, reported as `s_k / (1 - w^k)` where k counts
 * only the finite points so far. A null or non-finite value stays a gap and does not move the
 * average. Each output depends only on the values before it, so appending points never changes
 * the values already smoothed (curves extend live without jumping).
 */
export class EmaSmoother {
  readonly weight: number;
  private last = 0;
  private count = 0;

  constructor(weight: number = DEFAULT_SMOOTHING) {
    if (!(weight >= 0 && weight < 1)) {
      throw new MotlabError('invalid_request', `smoothing weight must be in [0, 1), got ${weight}`);
    }
    this.weight = weight;
  }

  push(value: number | null | undefined): number | null {
    if (value === null || value === undefined || !Number.isFinite(value)) return null;
    this.last = this.last * this.weight + (1 - this.weight) * value;
    this.count += 1;
    return this.last / (1 - Math.pow(this.weight, this.count));
  }
}

/** The whole series smoothed (see EmaSmoother); weight 0 returns the values unchanged. */
export function smoothEma(values: ArrayLike<number | null>, weight: number = DEFAULT_SMOOTHING): (number | null)[] {
  const smoother = new EmaSmoother(weight);
  return Array.from(values, (v) => smoother.push(v));
}

// ---------------------------------------------------------------------------------------------
// X axes

/** What the loss curves read of a training record (a cache may keep just these fields). */
export type TrainLossRecord = Pick<TrainRecord, 'type' | 'step' | 'elapsed_s' | 'tokens' | 'flops' | 'loss'>;
/** What the loss curves read of an evaluation record. */
export type EvalLossRecord = Pick<EvalRecord, 'type' | 'step' | 'split' | 'loss'>;
/** A metrics record as the loss curves read it; every MetricsRecord is one. */
export type LossRecord = TrainLossRecord | EvalLossRecord;

function trainRecordX(record: TrainLossRecord, axis: XAxis): number {
  switch (axis) {
    case 'steps':
      return record.step;
    case 'tokens':
      return record.tokens;
    case 'flops':
      return record.flops;
    case 'wall':
      return record.elapsed_s;
  }
}

/**
 * Maps a step to the x axis, through the training records (an evaluation at step s happens
 * after training step s). Steps between logged training steps interpolate linearly; step 0 is
 * the origin of every axis (nothing trained yet); steps beyond the last record extrapolate with
 * the last interval's rate.
 */
export function stepToAxis(trainRecords: readonly TrainLossRecord[], axis: XAxis): (step: number) => number {
  if (axis === 'steps') return (step) => step;
  const anchors = new Map<number, number>([[0, 0]]);
  for (const r of trainRecords) anchors.set(r.step, trainRecordX(r, axis));
  const steps = [...anchors.keys()].sort((a, b) => a - b);
  const values = steps.map((s) => anchors.get(s)!);
  return (step) => {
    if (steps.length === 1) return step === 0 ? 0 : NaN;
    let hi = steps.findIndex((s) => s >= step);
    if (hi === 0) return values[0];
    if (hi === -1) hi = steps.length - 1;
    const lo = hi - 1;
    const t = (step - steps[lo]) / (steps[hi] - steps[lo]);
    return values[lo] + t * (values[hi] - values[lo]);
  };
}

// ---------------------------------------------------------------------------------------------
// Curves from records

/** Training losses, or validation losses of one split. */
export type CurveSource = { kind: 'train' } | { kind: 'eval'; split: string };

/** One modality's loss over training at full resolution (sorted by step). */
export interface LossCurve {
  modality: string;
  steps: number[];
  x: number[];
  /** Null where the step had no target of the modality (a gap). */
  loss: (number | null)[];
}

/** Modality keys of the loss records in order of first appearance, `all` first. */
export function lossModalities(records: readonly LossRecord[]): string[] {
  const names = new Set<string>(['all']);
  for (const r of records) for (const key of Object.keys(r.loss)) names.add(key);
  return [...names];
}

/**
 * The loss curves of every modality (and `all`) for one source. Records are ordered by step;
 * when a step was logged twice (a run resumed from an earlier checkpoint re-trains steps), the
 * later record wins, since the run continued from it. Every modality of any record gets a curve
 * (all gaps where the source never measured it), so train and eval panels line up.
 */
export function lossCurves(records: readonly LossRecord[], source: CurveSource, axis: XAxis): LossCurve[] {
  const trainRecords = records.filter((r): r is TrainLossRecord => r.type === 'train');
  const chosen: LossRecord[] =
    source.kind === 'train'
      ? trainRecords
      : records.filter((r): r is EvalLossRecord => r.type === 'eval' && (r.split ?? 'val') === source.split);
  const byStep = new Map<number, LossRecord>();
  for (const r of chosen) byStep.set(r.step, r);
  const ordered = [...byStep.values()].sort((a, b) => a.step - b.step);
  const toAxis = stepToAxis(trainRecords, axis);
  const x = ordered.map((r) => (r.type === 'train' ? trainRecordX(r, axis) : toAxis(r.step)));
  return lossModalities(records).map((modality) => ({
    modality,
    steps: ordered.map((r) => r.step),
    x: [...x],
    loss: ordered.map((r) => {
      const v = r.loss[modality];
      return typeof v === 'number' && Number.isFinite(v) ? v : null;
    }),
  }));
}

// ---------------------------------------------------------------------------------------------
// Down-sampling for display

export interface DownsampleOptions {
  /** Keep only points with x in this range (plus the nearest point on each side, so lines reach the edges). */
  range?: readonly [number, number];
  /** Buckets are equal-width in transformed x (pass Math.log10 for a log axis). */
  transform?: (x: number) => number;
}

/**
 * Indices (ascending) of the points to draw when `x` must fit in `buckets` buckets: the first
 * and last point, and in each bucket its first and last point, the minimum and maximum of every
 * series in `ys`, and its first gap (null), so extremes survive and gaps stay gaps. Series
 * shorter than 4 points per bucket are returned whole. `x` must be ascending.
 */
export function downsampleIndices(
  x: ArrayLike<number>,
  ys: readonly ArrayLike<number | null>[],
  buckets: number,
  options: DownsampleOptions = {},
): number[] {
  if (!(Number.isInteger(buckets) && buckets >= 1))
    throw new MotlabError('invalid_request', `buckets must be a positive integer, got ${buckets}`);
  for (const y of ys) {
    if (y.length !== x.length) throw new MotlabError('invalid_request', `series of ${y.length} values for ${x.length} x values`);
  }
  let first = 0;
  let last = x.length - 1;
  if (options.range) {
    const [lo, hi] = options.range;
    while (first < x.length && x[first] < lo) first++;
    while (last >= 0 && x[last] > hi) last--;
    first = Math.max(0, first - 1);
    last = Math.min(x.length - 1, last + 1);
  }
  if (last < first) return [];
  if (last - first + 1 <= 4 * buckets) return Array.from({ length: last - first + 1 }, (_, i) => first + i);

  const transform = options.transform ?? ((v: number) => v);
  const t0 = transform(x[first]);
  const span = transform(x[last]) - t0;
  const bucketOf = (i: number): number => {
    const t = (transform(x[i]) - t0) / span;
    return Number.isFinite(t) ? Math.min(buckets - 1, Math.max(0, Math.floor(t * buckets))) : 0;
  };
  const keep = new Set<number>([first, last]);
  let i = first;
  while (i <= last) {
    const bucket = bucketOf(i);
    let j = i;
    while (j + 1 <= last && bucketOf(j + 1) === bucket) j++;
    keep.add(i);
    keep.add(j);
    for (const y of ys) {
      let min = -1;
      let max = -1;
      let gap = -1;
      for (let k = i; k <= j; k++) {
        const v = y[k];
        if (v === null || !Number.isFinite(v)) {
          if (gap < 0) gap = k;
          continue;
        }
        if (min < 0 || v < (y[min] as number)) min = k;
        if (max < 0 || v > (y[max] as number)) max = k;
      }
      for (const k of [min, max, gap]) if (k >= 0) keep.add(k);
    }
    i = j + 1;
  }
  return [...keep].sort((a, b) => a - b);
}

/** A curve ready to draw: x, raw and smoothed losses at the kept points. */
export interface PreparedCurve {
  modality: string;
  steps: number[];
  x: number[];
  raw: (number | null)[];
  smoothed: (number | null)[];
}

export interface PrepareOptions extends DownsampleOptions {
  /** EMA weight (0 = no smoothing). */
  smoothing?: number;
  /** The curve's smoothed values, when already computed (then `smoothing` is not used). */
  smoothed?: readonly (number | null)[];
  /** Display buckets (about the plot width in pixels); omitted = full resolution. */
  buckets?: number;
}

/** Smooths at full resolution first, then down-samples raw and smoothed together. */
export function prepareCurve(curve: LossCurve, options: PrepareOptions = {}): PreparedCurve {
  const smoothed = options.smoothed ?? smoothEma(curve.loss, options.smoothing ?? DEFAULT_SMOOTHING);
  const keep =
    options.buckets === undefined && options.range === undefined
      ? curve.x.map((_, i) => i)
      : downsampleIndices(curve.x, [curve.loss, smoothed], options.buckets ?? Number.MAX_SAFE_INTEGER, options);
  return {
    modality: curve.modality,
    steps: keep.map((i) => curve.steps[i]),
    x: keep.map((i) => curve.x[i]),
    raw: keep.map((i) => curve.loss[i]),
    smoothed: keep.map((i) => smoothed[i]),
  };
}

// ---------------------------------------------------------------------------------------------
// Final and best losses

export type { LossSummary };

/** Final and best loss of each curve, smoothing with `smoothing` (0 for validation curves). */
export function summarizeLosses(curves: readonly LossCurve[], smoothing: number = DEFAULT_SMOOTHING): LossSummary[] {
  return curves.map((curve) => {
    const smoothed = smoothEma(curve.loss, smoothing);
    let final = -1;
    let best = -1;
    let points = 0;
    curve.loss.forEach((v, i) => {
      if (v === null) return;
      points += 1;
      final = i;
      if (best < 0 || (smoothed[i] as number) < (smoothed[best] as number)) best = i;
    });
    return {
      modality: curve.modality,
      points,
      finalStep: final >= 0 ? curve.steps[final] : null,
      finalLoss: final >= 0 ? curve.loss[final] : null,
      finalSmoothed: final >= 0 ? smoothed[final] : null,
      bestStep: best >= 0 ? curve.steps[best] : null,
      bestLoss: best >= 0 ? smoothed[best] : null,
    };
  });
}
