/**
 * Figures the run page derives from a run's training records: the smoothed loss curve (what the
 * sparklines draw), its best value, the recent speed and the time left. Pure functions of the
 * records, tested in test/renderer/run-stats.test.ts against hand computations.
 */
import type { TrainRecord } from '../../src-main/common/metrics.ts';

/**
 * Exponential moving average with bias correction (so the first points are not pulled to 0):
 * out[i] = Σ βⁱ⁻ʲ·(1−β)·v[j] / Σ βⁱ⁻ʲ·(1−β) over the finite v[j], j ≤ i. A missing value (NaN,
 * a modality absent from a batch) neither counts nor decays the average; NaN until the first value.
 */
export function ema(values: readonly number[], beta: number): number[] {
  const out = new Array<number>(values.length);
  let avg = 0;
  let weight = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (Number.isFinite(v)) {
      avg = beta * avg + (1 - beta) * v;
      weight = beta * weight + (1 - beta);
    }
    out[i] = weight > 0 ? avg / weight : NaN;
  }
  return out;
}

/** Smoothing for a curve of `count` points: none for a few points, more for long noisy runs. */
export function smoothingFor(count: number): number {
  return count > 40 ? 0.9 : count > 12 ? 0.6 : 0;
}

/** The curve as drawn: `ys` smoothed by smoothingFor(ys.length) (unchanged when that is 0). */
export function smoothed(ys: readonly number[]): number[] {
  const beta = smoothingFor(ys.length);
  return beta > 0 ? ema(ys, beta) : [...ys];
}

/** Lowest point of the drawn (smoothed) curve, or null without any finite value. */
export function bestValue(ys: readonly number[]): number | null {
  let best = Infinity;
  for (const y of smoothed(ys)) if (y < best) best = y;
  return Number.isFinite(best) ? best : null;
}

/** Logged steps the recent speed is measured over. */
export const SPEED_WINDOW = 20;

/**
 * Training seconds per step over the last `window` logged records (recent speed, not the
 * average since the start; `elapsed_s` excludes pauses and evaluation). Null until two
 * records with different steps exist.
 */
export function secondsPerStep(train: readonly Pick<TrainRecord, 'step' | 'elapsed_s'>[], window = SPEED_WINDOW): number | null {
  const recent = train.slice(-window);
  if (recent.length < 2) return null;
  const a = recent[0];
  const b = recent[recent.length - 1];
  return b.step > a.step ? (b.elapsed_s - a.elapsed_s) / (b.step - a.step) : null;
}

/** Seconds until step `totalSteps` at the recent speed; null when unknown or already there. */
export function etaSeconds(
  train: readonly Pick<TrainRecord, 'step' | 'elapsed_s'>[],
  totalSteps: number,
  window = SPEED_WINDOW,
): number | null {
  const perStep = secondsPerStep(train, window);
  const step = train.at(-1)?.step ?? 0;
  return perStep !== null && totalSteps > step ? (totalSteps - step) * perStep : null;
}

/** Share of the planned steps done, in [0, 1]; 0 when no total is known. */
export function progressFraction(step: number, totalSteps: number | null | undefined): number {
  return totalSteps && totalSteps > 0 ? Math.min(1, Math.max(0, step / totalSteps)) : 0;
}
