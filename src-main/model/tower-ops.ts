/**
 * The model's linear algebra: linear layers, RMSNorm and SwiGLU, plain and per tower. A per-tower
 * op applies each tower's weights to that tower's rows (rows in tower order, see ./batch.ts) and
 * picks, once per call, between our fused kernel for the whole batch (where the engine has it
 * and the rows allow it) and tf ops per tower. Both paths give bit-identical results.
 */
import * as tf from '@tensorflow/tfjs-core';
import { fusedRowScale } from '../engine/kernels/row-scale.ts';
import { fusedSegmentLinear } from '../engine/kernels/segment-linear.ts';
import { fusedSwiGLU } from '../engine/kernels/swiglu.ts';
import type { PreparedBatch, Segment } from './batch.ts';
import type { Component } from '../common/vocabulary.ts';

/** y = x Wᵀ for a PyTorch-layout weight [out, in]. */
export function linear(x: tf.Tensor2D, w: tf.Tensor): tf.Tensor2D {
  return tf.matMul(x, w as tf.Tensor2D, false, true);
}

/** x / sqrt(mean(x²) + 1e-5), over the last axis. */
function rmsNormalize<T extends tf.Tensor>(x: T): T {
  return tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.mul(x, x), -1, true), 1e-5)));
}

/** RMSNorm: x / sqrt(mean(x²) + 1e-5) ⊙ w, over the last axis. */
export function rmsNorm<T extends tf.Tensor>(x: T, w: tf.Tensor): T {
  return tf.mul(rmsNormalize(x), w);
}

/** SwiGLU's gate silu(a) ⊙ b = (a·sigmoid(a))·b: one fused kernel each way where the engine has it. */
function swigluGate(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  return (fusedSwiGLU(a, b) ?? tf.mul(tf.mul(a, tf.sigmoid(a)), b)) as tf.Tensor2D;
}

/** SwiGLU FFN: W2 (silu(W1 x) ⊙ W3 x). */
export function swiglu(x: tf.Tensor2D, w1: tf.Tensor, w2: tf.Tensor, w3: tf.Tensor): tf.Tensor2D {
  return linear(swigluGate(linear(x, w1), linear(x, w3)), w2);
}

/** Tower t's weight (of one kind, e.g. a layer's wo). */
export type TowerWeight = (tower: number) => tf.Tensor;

/** f(rows, tower, positions): rows of one tower, and each row's position in the batch (b·S+s). */
export type TowerFn = (rows: tf.Tensor2D, tower: number, positions: Int32Array) => tf.Tensor2D;

/** The per-tower ops of one batch; x and every result are [N, ·] in tower order. */
export interface TowerOps {
  /** f applied to each tower's rows of `component` (the general form of the ops below). */
  byTower(component: Component, x: tf.Tensor2D, f: TowerFn): tf.Tensor2D;
  /** y = x W_tᵀ with each row's tower of `component`. */
  linear(component: Component, x: tf.Tensor2D, weight: TowerWeight): tf.Tensor2D;
  /** RMSNorm with each row's norm-tower weight. */
  norm(x: tf.Tensor2D, weight: TowerWeight): tf.Tensor2D;
  /** SwiGLU with each row's ffn-tower weights. */
  swiglu(x: tf.Tensor2D, w1: TowerWeight, w2: TowerWeight, w3: TowerWeight): tf.Tensor2D;
}

/**
 * Apply `f` to each tower's rows; `x` and the result are in tower order. A tower is usually one
 * segment; if a tower assignment is not a refinement of the attention one, a tower can own
 * several segments, which then run together (MoE routing must see all of a tower's tokens).
 */
function byTower(segments: Segment[], order: Int32Array, x: tf.Tensor2D, f: TowerFn): tf.Tensor2D {
  if (segments.length === 1) return f(x, segments[0].tower, order);
  const parts = tf.split(
    x,
    segments.map((s) => s.size),
    0,
  ) as tf.Tensor2D[];
  const out: tf.Tensor2D[] = [];
  for (const tower of new Set(segments.map((s) => s.tower))) {
    const mine = segments.flatMap((s, i) => (s.tower === tower ? [i] : []));
    const positions = Int32Array.from(
      mine.flatMap((i) => Array.from(order.subarray(segments[i].start, segments[i].start + segments[i].size))),
    );
    const y = f(
      mine.length === 1
        ? parts[mine[0]]
        : tf.concat(
            mine.map((i) => parts[i]),
            0,
          ),
      tower,
      positions,
    );
    const pieces =
      mine.length === 1
        ? [y]
        : (tf.split(
            y,
            mine.map((i) => segments[i].size),
            0,
          ) as tf.Tensor2D[]);
    mine.forEach((i, j) => (out[i] = pieces[j]));
  }
  return tf.concat(out, 0);
}

/** The segments, when there are several towers and each owns exactly one run of rows (what the fused kernels take). */
function oneRunPerTower(segments: Segment[]): Segment[] | null {
  return segments.length >= 2 && new Set(segments.map((s) => s.tower)).size === segments.length ? segments : null;
}

/** The per-tower ops of a batch's rows (or of a RowSubset of them: it has the same two fields). */
export function towerOps(batch: Pick<PreparedBatch, 'segments' | 'order'>): TowerOps {
  const { segments, order } = batch;
  const perTower = (component: Component, x: tf.Tensor2D, f: TowerFn) => byTower(segments[component], order, x, f);

  /** x·W_tᵀ for the whole batch as one segment-linear kernel each way; null where the engine or the rows do not allow it. */
  const fusedLinear = (component: Component, x: tf.Tensor2D, weight: TowerWeight): tf.Tensor2D | null => {
    const runs = oneRunPerTower(segments[component]);
    return runs
      ? fusedSegmentLinear(
          x,
          runs.map((s) => weight(s.tower)),
          runs.map((s) => s.size),
        )
      : null;
  };

  const normTowers = [...new Set(segments.norm.map((s) => s.tower))];
  // Each row's index into normTowers, for the gathered per-row norm weight (when the fused kernel cannot serve).
  const rowNormTower =
    normTowers.length > 1
      ? tf.tensor1d(
          segments.norm.flatMap((s) => new Array<number>(s.size).fill(normTowers.indexOf(s.tower))),
          'int32',
        )
      : null;

  return {
    byTower: perTower,

    linear: (component, x, weight) => fusedLinear(component, x, weight) ?? perTower(component, x, (rows, t) => linear(rows, weight(t))),

    // Only the weight depends on the tower: normalise all rows at once, then scale each tower's
    // run of rows by its weight — one row-scale kernel each way where the engine has it (each tower
    // one run), else a per-row weight gathered from the towers' stacked weights.
    norm(x, weight) {
      if (!rowNormTower) return rmsNorm(x, weight(normTowers[0]));
      const unit = rmsNormalize(x);
      const runs = oneRunPerTower(segments.norm);
      const fused = runs
        ? fusedRowScale(
            unit,
            runs.map((s) => weight(s.tower)),
            runs.map((s) => s.size),
          )
        : null;
      return fused ?? tf.mul(unit, tf.gather(tf.stack(normTowers.map(weight)), rowNormTower));
    },

    // The three linears as segment-linear kernels where the engine has them, else SwiGLU per tower.
    swiglu(x, w1, w2, w3) {
      const a = fusedLinear('ffn', x, w1);
      if (!a) return perTower('ffn', x, (rows, t) => swiglu(rows, w1(t), w2(t), w3(t)));
      return fusedLinear('ffn', swigluGate(a, fusedLinear('ffn', x, w3)!), w2)!;
    },
  };
}
