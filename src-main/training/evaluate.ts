/**
 * Validation loss per modality on the evaluation windows of docs/architecture.md / the dataset
 * format: window k is tokens[k·S, k·S+S) → targets shifted by one. A modality's loss is the
 * mean over all targets of that modality across the windows (not a mean of per-window means).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ModelConfig } from '../model/config.ts';
import { computeLoss, prepareBatch } from '../model/mot.ts';
import { evalWindows } from '../data/dataset.ts';
import { MotlabError } from '../common/errors.ts';

import type { LossByModality } from '../common/metrics.ts';
export type { LossByModality } from '../common/metrics.ts';

export interface EvalResult {
  windows: number;
  loss: LossByModality;
}

/** Windows per forward pass for a dense or MoT model. */
const EVAL_BATCH_WINDOWS = 8;

/**
 * MoE routing depends on the batch (expert-choice sees all of it; token-choice capacity grows
 * with it), so any MoE model is evaluated one window per forward pass (as bench/torch_mot.py).
 */
export function evalBatchSize(config: ModelConfig): number {
  return config.moe ? 1 : EVAL_BATCH_WINDOWS;
}

/** The windows of one evaluation and how they are cut into forward passes. */
export interface EvalPlan {
  windows: { inputs: Int32Array; targets: Int32Array; count: number };
  /** Forward passes in order: windows [first, first + n). */
  batches: { first: number; n: number }[];
}

export function planEvaluation(config: ModelConfig, tokens: ArrayLike<number>, maxWindows: number): EvalPlan {
  const S = config.seq_len;
  const windows = evalWindows(tokens, S, maxWindows);
  if (windows.count === 0)
    throw new MotlabError(
      'invalid_dataset',
      `the split has ${tokens.length} tokens, fewer than the ${S + 1} one evaluation window of seq_len ${S} needs`,
    );
  const perBatch = evalBatchSize(config);
  const batches: EvalPlan['batches'] = [];
  for (let first = 0; first < windows.count; first += perBatch) batches.push({ first, n: Math.min(perBatch, windows.count - first) });
  return { windows, batches };
}

/** The inputs and targets of forward pass `b` of a plan ([n·S] each). */
export function evalBatchTokens(plan: EvalPlan, b: number, seqLen: number): { inputs: Int32Array; targets: Int32Array; n: number } {
  const { first, n } = plan.batches[b];
  return {
    inputs: plan.windows.inputs.subarray(first * seqLen, (first + n) * seqLen),
    targets: plan.windows.targets.subarray(first * seqLen, (first + n) * seqLen),
    n,
  };
}

/** One forward pass: Σ CE per modality (float32, as read back) and the targets per modality. */
export function evalBatchLossSums(
  config: ModelConfig,
  params: Record<string, tf.Tensor>,
  inputs: Int32Array,
  targets: Int32Array,
  n: number,
): { sums: Float32Array; counts: number[] } {
  const batch = prepareBatch(config, inputs, targets, n);
  try {
    const sums = tf.tidy(() => computeLoss(config, params, batch).modalityLossSums.dataSync() as Float32Array);
    return { sums, counts: batch.modalityCounts };
  } finally {
    batch.dispose();
  }
}

/**
 * Per-modality sums accumulated in forward-pass order (float64), so that the result does not
 * depend on where each pass ran (this thread or a worker, ./workers/).
 */
export class EvalTotals {
  private readonly sums: Float64Array;
  private readonly counts: Float64Array;
  constructor(private readonly config: ModelConfig) {
    this.sums = new Float64Array(config.modalities.length);
    this.counts = new Float64Array(config.modalities.length);
  }
  add(batchSums: ArrayLike<number>, batchCounts: ArrayLike<number>): void {
    for (let m = 0; m < this.sums.length; m++) {
      this.sums[m] += batchSums[m];
      this.counts[m] += batchCounts[m];
    }
  }
  result(windows: number): EvalResult {
    const loss: LossByModality = { all: sum(this.sums) / sum(this.counts) };
    this.config.modalities.forEach((m, i) => {
      loss[m.name] = this.counts[i] > 0 ? this.sums[i] / this.counts[i] : null;
    });
    return { windows, loss };
  }
}

/**
 * The evaluation, one forward pass per step of the generator: it yields the fraction done after
 * each batch and returns the result. The plain and the cancellable evaluation both drive this.
 */
function* evaluation(
  config: ModelConfig,
  params: Record<string, tf.Tensor>,
  tokens: ArrayLike<number>,
  maxWindows: number,
): Generator<number, EvalResult> {
  const plan = planEvaluation(config, tokens, maxWindows);
  const totals = new EvalTotals(config);
  for (let b = 0; b < plan.batches.length; b++) {
    const { inputs, targets, n } = evalBatchTokens(plan, b, config.seq_len);
    const { sums, counts } = evalBatchLossSums(config, params, inputs, targets, n);
    totals.add(sums, counts);
    yield (plan.batches[b].first + n) / plan.windows.count;
  }
  return totals.result(plan.windows.count);
}

export function evaluateLoss(
  config: ModelConfig,
  params: Record<string, tf.Tensor>,
  tokens: ArrayLike<number>,
  maxWindows: number,
): EvalResult {
  const steps = evaluation(config, params, tokens, maxWindows);
  for (;;) {
    const next = steps.next();
    if (next.done) return next.value;
  }
}

/**
 * The same evaluation, yielding to the event loop between forward passes so that a cancel
 * (`signal`) is honoured within one batch; `onProgress` gets the fraction done.
 */
export async function evaluateLossCancellable(
  config: ModelConfig,
  params: Record<string, tf.Tensor>,
  tokens: ArrayLike<number>,
  maxWindows: number,
  options: { signal?: AbortSignal; onProgress?: (fraction: number) => void },
): Promise<EvalResult> {
  const steps = evaluation(config, params, tokens, maxWindows);
  for (;;) {
    options.signal?.throwIfAborted();
    const next = steps.next();
    if (next.done) return next.value;
    options.onProgress?.(next.value);
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

function sum(a: Float64Array): number {
  let s = 0;
  for (const x of a) s += x;
  return s;
}
