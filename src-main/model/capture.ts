/**
 * Activations for the analyses (feature PCA, routing and tower studies): a forward pass without a
 * gradient tape that reads each block's outputs back as plain arrays, rows in the batch's
 * position order b·S+s (not the model's tower order). Each block runs in its own tf.tidy, so
 * memory holds one block's tensors at a time whatever the number of layers; nothing is left
 * allocated when it returns.
 */
import * as tf from '@tensorflow/tfjs-core';
import { MotlabError } from '../common/errors.ts';
import { prepareBatch, rowSubset, type PreparedBatch, type RowSubset } from './batch.ts';
import type { ModelConfig } from './config.ts';
import { block, embed, hasMoe, modelFor, type BlockOutputs } from './mot.ts';
import type { Params } from './params.ts';

export interface CaptureOptions {
  /** Layers to capture (0-based); all by default. Blocks after the last one asked for are not run. */
  layers?: readonly number[];
  /** Also each block's attention output o_i = W_o^{t_a(i)} a_i (before the chameleon norm). */
  attention?: boolean;
  /** Also each block's FFN output FFN^{t_f(i)}(·) (before the chameleon norm). */
  ffn?: boolean;
}

/** Routing of the positions served by MoE towers in one layer. */
export interface TokenRouting {
  /**
   * [N] the expert with the highest router probability (ties → the lower index): for token-choice
   * the token's first choice, whether or not capacity dropped it; for expert-choice its
   * preference, which need not have picked it. −1 for positions outside MoE towers.
   */
  topExpert: Int32Array;
  /** [N, E] router probabilities, row-major; NaN rows for positions outside MoE towers. */
  probabilities: Float32Array;
}

export interface LayerActivations {
  layer: number;
  /** [N, D] the residual stream after the block. */
  residual: Float32Array;
  /** [N, D], with `attention: true`. */
  attention?: Float32Array;
  /** [N, D], with `ffn: true`. */
  ffn?: Float32Array;
  /** Layers with MoE towers only. */
  routing?: TokenRouting;
}

export interface Activations {
  /** N = B·S positions; row p of every array is position p = b·S+s of the batch. */
  positions: number;
  /** D = d_model. */
  width: number;
  layers: LayerActivations[];
}

/** The chosen layers' activations for one prepared batch (see CaptureOptions). */
export function captureActivations(config: ModelConfig, params: Params, batch: PreparedBatch, opts: CaptureOptions = {}): Activations {
  const L = config.n_layers;
  const wanted = new Set(opts.layers ?? Array.from({ length: L }, (_, l) => l));
  for (const l of wanted) {
    if (!Number.isInteger(l) || l < 0 || l >= L)
      throw new MotlabError('invalid_request', `layer ${l} does not exist: the model has layers 0 to ${L - 1}`);
  }
  const N = batch.order.length;
  const D = config.d_model;
  const layers: LayerActivations[] = [];
  const read = (t: tf.Tensor2D): Float32Array => toPositionOrder(t.dataSync() as Float32Array, batch.order, D);
  const observe = (b: BlockOutputs): void => {
    if (!wanted.has(b.layer)) return;
    layers.push({
      layer: b.layer,
      residual: read(b.residual),
      ...(opts.attention ? { attention: read(b.attention) } : {}),
      ...(opts.ffn ? { ffn: read(b.ffn) } : {}),
      ...(b.moe.length > 0 ? { routing: tokenRouting(b.moe, N, config.moe!.experts) } : {}),
    });
  };
  const last = Math.max(-1, ...wanted);
  tf.tidy(() => {
    const model = modelFor(config, params, batch);
    let h = embed(model);
    for (let l = 0; l <= last; l++) {
      const previous = h;
      h = tf.tidy(() => block(model, l, previous, observe));
      previous.dispose();
    }
  });
  return { positions: N, width: D, layers };
}

/**
 * Feature capture's forward pass (analysis/pca-collect.ts, on one thread or on a worker): the
 * residual stream after every block at chosen positions of `count` windows ([count·S] tokens).
 * Row r is position `offset[r]` of window `window[r]` (0-based in the pass); the result has one
 * [rows, D] array per layer, rows in the order given. Only the chosen rows are read back, and the
 * last block runs past attention on them alone (mot.ts `block`; not with MoE towers).
 */
export function captureRows(
  config: ModelConfig,
  params: Params,
  windows: Int32Array,
  count: number,
  rows: { window: Int32Array; offset: Int32Array },
): Float32Array[] {
  const S = config.seq_len;
  const D = config.d_model;
  const L = config.n_layers;
  const R = rows.window.length;
  const batch = prepareBatch(config, windows, windows, count);
  let only: RowSubset | null = null;
  try {
    const N = batch.order.length;
    const towerRow = new Int32Array(N);
    batch.order.forEach((p, r) => (towerRow[p] = r));
    // Each wanted row's index in tower order; the subset takes them ascending.
    const wanted = Int32Array.from({ length: R }, (_, r) => {
      const p = rows.window[r] * S + rows.offset[r];
      if (!(rows.window[r] >= 0 && rows.window[r] < count && rows.offset[r] >= 0 && rows.offset[r] < S))
        throw new MotlabError(
          'invalid_request',
          `capture row ${r} (window ${rows.window[r]}, offset ${rows.offset[r]}) is outside the ${count}×${S} pass`,
        );
      return towerRow[p];
    });
    const ascending = Int32Array.from(wanted).sort();
    const subsetRow = new Int32Array(N);
    ascending.forEach((row, i) => (subsetRow[row] = i));
    only = rowSubset(batch, ascending);
    const out = Array.from({ length: L }, () => new Float32Array(R * D));
    const keep = (l: number, y: tf.Tensor2D): void => {
      const data = y.dataSync() as Float32Array;
      for (let r = 0; r < R; r++) {
        const i = subsetRow[wanted[r]];
        out[l].set(data.subarray(i * D, (i + 1) * D), r * D);
      }
    };
    const subset = only;
    tf.tidy(() => {
      const model = modelFor(config, params, batch);
      let h = embed(model);
      for (let l = 0; l < L; l++) {
        const previous = h;
        if (l === L - 1 && !hasMoe(config)) {
          tf.tidy(() => keep(l, block(model, l, previous, undefined, subset)));
          break;
        }
        h = tf.tidy(() => block(model, l, previous));
        previous.dispose();
        tf.tidy(() => keep(l, tf.gather(h, subset.index)));
      }
    });
    return out;
  } finally {
    only?.dispose();
    batch.dispose();
  }
}

/** Rows in tower order (row r is position order[r]) → rows in position order. */
function toPositionOrder(rows: Float32Array, order: Int32Array, width: number): Float32Array {
  const out = new Float32Array(rows.length);
  order.forEach((p, r) => out.set(rows.subarray(r * width, (r + 1) * width), p * width));
  return out;
}

function tokenRouting(towers: BlockOutputs['moe'], N: number, E: number): TokenRouting {
  const topExpert = new Int32Array(N).fill(-1);
  const probabilities = new Float32Array(N * E).fill(NaN);
  for (const { positions, probabilities: p } of towers) {
    positions.forEach((position, i) => {
      const row = p.subarray(i * E, (i + 1) * E);
      probabilities.set(row, position * E);
      let best = 0;
      for (let e = 1; e < E; e++) if (row[e] > row[best]) best = e;
      topExpert[position] = best;
    });
  }
  return { topExpert, probabilities };
}
