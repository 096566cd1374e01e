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
function evalBatchSize(config: ModelConfig): number {
  return config.moe ? 1 : EVAL_BATCH_WINDOWS;
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
  const S = config.seq_len;
  const windows = evalWindows(tokens, S, maxWindows);
  if (windows.count === 0)
    throw new MotlabError(
      'invalid_dataset',
      `the split has ${tokens.length} tokens, fewer than the ${S + 1} one evaluation window of seq_len ${S} needs`,
    );
  const M = config.modalities.length;
  const sums = new Float64Array(M);
  const counts = new Float64Array(M);
  const perBatch = evalBatchSize(config);
  for (let first = 0; first < windows.count; first += perBatch) {
    const n = Math.min(perBatch, windows.count - first);
    const inputs = windows.inputs.subarray(first * S, (first + n) * S);
    const targets = windows.targets.subarray(first * S, (first + n) * S);
    const batch = prepareBatch(config, inputs, targets, n);
    try {
      const batchSums = tf.tidy(() => computeLoss(config, params, batch).modalityLossSums.dataSync());
      for (let m = 0; m < M; m++) {
        sums[m] += batchSums[m];
        counts[m] += batch.modalityCounts[m];
      }
    } finally {
      batch.dispose();
    }
    yield (first + n) / windows.count;
  }
  const loss: LossByModality = { all: sum(sums) / sum(counts) };
  config.modalities.forEach((m, i) => {
    loss[m.name] = counts[i] > 0 ? sums[i] / counts[i] : null;
  });
  return { windows: windows.count, loss };
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
