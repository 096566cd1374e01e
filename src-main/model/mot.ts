/**
 * The model of architecture.md in TensorFlow.js — start reading here.
 *
 * Dense, Mixture-of-Transformers, the ablations and MoE are ONE forward pass: every parameter
 * component (attention, ffn, norm) has a tower assignment, and each token uses the weights of
 * its modality's tower. With one tower per component it is a dense transformer.
 *
 * How tokens meet their tower's weights (the paper's Algorithm 1): the batch is flattened to
 * N = B·S rows, and the rows are kept *grouped by tower* — sorted by (attention tower, ffn
 * tower, norm tower, position), an order precomputed per batch (prepareBatch). A component's
 * towers are then contiguous runs of rows ("segments"): each tower's weights run on its own
 * slice only, and the slices are concatenated back. Only attention, which mixes positions,
 * needs sequence order: q/k/v are permuted into sequence order for global causal attention
 * over the whole window (whatever the modality), and its output is permuted back. That is two
 * row permutations per layer (none for a dense model), where gathering each component's tower
 * rows and restoring them would take about eight.
 *
 * Weights: `Record<name, tf.Tensor>` with architecture.md's names and PyTorch shapes
 * ([out, in], y = x Wᵀ). Call forward/computeLoss inside tf.tidy or tf.variableGrads.
 */
import * as tf from '@tensorflow/tfjs-core';
import { expectedTensorShapes } from './tensor-names.ts';
import { MotlabError } from '../common/errors.ts';
import { Rng } from '../util/rng.ts';
import { COMPONENTS, type Component } from '../common/vocabulary.ts';
import { towerTable, type ModelConfig } from './config.ts';
import { moeFfn, type MoeRoutingStats } from './moe.ts';
import { fusedHeadsToRows, fusedRope, fusedRowScale, fusedRowsToHeads, fusedSegmentLinear, fusedSwiGLU } from '../engine/fused-kernels.ts';
import type { RoutingStats } from '../common/metrics.ts';
export type { RoutingStats } from '../common/metrics.ts';

export type Params = Record<string, tf.Tensor>;

// ---------------------------------------------------------------------------------------------
// Initialisation

const NORM_WEIGHT = /norm\.\d+\.weight$/; // attention_norm, ffn_norm, q_norm, k_norm, final norm
const RESIDUAL_OUTPUT = /(\.wo\.\d+|\.w2\.\d+|\.w2)\.weight$/; // wo, w2, experts' w2

/** A seed per tensor name, so a tensor's initial values do not depend on which others exist. */
function tensorSeed(seed: number, name: string): number {
  let h = 0x811c9dc5 ^ seed;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/**
 * Fresh weights, drawn in JS (identical on every backend): N(0, 0.02) for linears, embeddings,
 * routers; residual output projections (wo, w2) scaled by 1/sqrt(2·n_layers); norms = 1.
 */
export function initParams(config: ModelConfig, seed: number): Params {
  const params: Params = {};
  const residualStd = 0.02 / Math.sqrt(2 * config.n_layers);
  for (const [name, shape] of Object.entries(expectedTensorShapes(config))) {
    const values = new Float32Array(shape.reduce((a, b) => a * b, 1));
    if (NORM_WEIGHT.test(name)) {
      values.fill(1);
    } else {
      const rng = new Rng(tensorSeed(seed, name));
      const std = RESIDUAL_OUTPUT.test(name) ? residualStd : 0.02;
      for (let i = 0; i < values.length; i++) values[i] = std * rng.normal();
    }
    params[name] = tf.tensor(values, shape);
  }
  return params;
}

// ---------------------------------------------------------------------------------------------
// Batches: tokens plus every index and mask the forward pass needs, computed once, not differentiated

/** A run of consecutive rows (in tower order) served by one tower of a component. */
export interface Segment {
  tower: number;
  start: number;
  size: number;
}

export interface PreparedBatch {
  batchSize: number;
  seqLen: number;
  /**
   * Tower order: row r of every [N, ·] tensor inside the model is position order[r] (b·S+s) of
   * the batch, rows sorted by (attention tower, ffn tower, norm tower, position).
   */
  order: Int32Array;
  /** `order` and its inverse as int32 tensors; null when order is 0, 1, 2, … (a dense model). */
  permutation: { order: tf.Tensor1D; inverse: tf.Tensor1D } | null;
  /** Each component's towers as contiguous segments of the tower order. */
  segments: Record<Component, Segment[]>;
  tokens: tf.Tensor1D; // [N] int32 input tokens, tower order
  /** Modality index (dataset order) of each input and target token, sequence order. */
  inputModality: Int32Array;
  targetModality: Int32Array;
  targetOneHot: tf.Tensor2D; // [N, V], tower order
  /** [M, N]: 1 where the target token is of modality m, tower order. */
  targetMasks: tf.Tensor2D;
  /** Targets of each modality in the batch. */
  modalityCounts: number[];
  dispose(): void;
}

function modalityLookup(config: ModelConfig): Int32Array {
  const table = new Int32Array(config.vocab_size).fill(-1);
  config.modalities.forEach((m, i) => table.fill(i, m.start, m.end));
  return table;
}

function modalitiesOf(tokens: Int32Array, table: Int32Array, what: string): Int32Array {
  return tokens.map((token, i) => {
    const m = token >= 0 && token < table.length ? table[token] : -1;
    if (m < 0)
      throw new MotlabError(
        'invalid_dataset',
        `${what} token ${token} at position ${i} is outside every modality's id range (vocab ${table.length})`,
      );
    return m;
  });
}

/** Runs of equal values in `towerOfRow` (already in tower order). */
function segmentsOf(towerOfRow: ArrayLike<number>): Segment[] {
  const segments: Segment[] = [];
  for (let r = 0; r < towerOfRow.length; r++) {
    const last = segments.at(-1);
    if (last && last.tower === towerOfRow[r]) last.size++;
    else segments.push({ tower: towerOfRow[r], start: r, size: 1 });
  }
  return segments;
}

/** Tensors and indices for one batch of `batchSize` windows (inputs/targets: [B·S] row-major). */
export function prepareBatch(config: ModelConfig, inputs: Int32Array, targets: Int32Array, batchSize: number): PreparedBatch {
  const S = config.seq_len;
  const N = batchSize * S;
  if (inputs.length !== N || targets.length !== N)
    throw new MotlabError(
      'invalid_request',
      `a batch of ${batchSize}×${S} needs ${N} inputs and targets, got ${inputs.length} and ${targets.length}`,
    );
  const table = modalityLookup(config);
  const inputModality = modalitiesOf(inputs, table, 'input');
  const targetModality = modalitiesOf(targets, table, 'target');

  // Tower order: sort positions by their (attention, ffn, norm) towers, then by position.
  const tables = COMPONENTS.map((c) => towerTable(config, c));
  const rank = config.modalities.map((_, m) => tables.reduce((r, t, k) => r * (config.towers[COMPONENTS[k]].length + 1) + t[m], 0));
  const order = Int32Array.from({ length: N }, (_, i) => i).sort((i, j) => rank[inputModality[i]] - rank[inputModality[j]] || i - j);
  const identity = order.every((p, r) => p === r);
  const inverse = new Int32Array(N);
  order.forEach((p, r) => (inverse[p] = r));
  const segments = Object.fromEntries(
    COMPONENTS.map((c, k) => [c, segmentsOf(Array.from(order, (p) => tables[k][inputModality[p]]))]),
  ) as Record<Component, Segment[]>;

  const M = config.modalities.length;
  const masks = new Float32Array(M * N);
  const modalityCounts = new Array<number>(M).fill(0);
  order.forEach((p, r) => {
    masks[targetModality[p] * N + r] = 1;
    modalityCounts[targetModality[p]]++;
  });
  const tokens = tf.tensor1d(
    Array.from(order, (p) => inputs[p]),
    'int32',
  );
  const targetOneHot = tf.tidy(() => {
    const ids = tf.tensor1d(
      Array.from(order, (p) => targets[p]),
      'int32',
    );
    return tf.cast(tf.oneHot(ids, config.vocab_size), 'float32') as tf.Tensor2D;
  });
  const targetMasks = tf.tensor2d(masks, [M, N]);
  const permutation = identity ? null : { order: tf.tensor1d(order, 'int32'), inverse: tf.tensor1d(inverse, 'int32') };

  return {
    batchSize,
    seqLen: S,
    order,
    permutation,
    segments,
    tokens,
    inputModality,
    targetModality,
    targetOneHot,
    targetMasks,
    modalityCounts,
    dispose: () => [tokens, targetOneHot, targetMasks, permutation?.order, permutation?.inverse].forEach((t) => t?.dispose()),
  };
}

// ---------------------------------------------------------------------------------------------
// Building blocks

/** y = x Wᵀ for a PyTorch-layout weight [out, in]. */
function linear(x: tf.Tensor2D, w: tf.Tensor): tf.Tensor2D {
  return tf.matMul(x, w as tf.Tensor2D, false, true);
}

/** x / sqrt(mean(x²) + 1e-5), over the last axis. */
function rmsNormalize<T extends tf.Tensor>(x: T): T {
  return tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.mul(x, x), -1, true), 1e-5)));
}

/** x / sqrt(mean(x²) + 1e-5) ⊙ w, over the last axis. */
function rmsNorm<T extends tf.Tensor>(x: T, w: tf.Tensor): T {
  return tf.mul(rmsNormalize(x), w);
}

/** SwiGLU: W2 (silu(W1 x) ⊙ W3 x); the gate is one fused kernel each way where the engine has it. */
function swiglu(x: tf.Tensor2D, w1: tf.Tensor, w2: tf.Tensor, w3: tf.Tensor): tf.Tensor2D {
  const a = linear(x, w1);
  const b = linear(x, w3);
  const gate = (fusedSwiGLU(a, b) ?? tf.mul(tf.mul(a, tf.sigmoid(a)), b)) as tf.Tensor2D;
  return linear(gate, w2);
}

/**
 * Apply `f(rows, tower, positions)` to each tower's rows with that tower's weights; `x` and the
 * result are in tower order. A tower is usually one segment; if a tower assignment is not a
 * refinement of the attention one, a tower can own several segments, which then run together
 * (MoE routing must see all of a tower's tokens).
 */
function byTower(
  segments: Segment[],
  order: Int32Array,
  x: tf.Tensor2D,
  f: (rows: tf.Tensor2D, tower: number, positions: Int32Array) => tf.Tensor2D,
): tf.Tensor2D {
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

/**
 * Row r of the result is row index[r] of x, for a permutation `index` with inverse `inverse`:
 * tf.gather(x, index), with the gradient written as the inverse gather (a row copy) rather than
 * tf.gather's generic scatter-add.
 */
function permuteRows(x: tf.Tensor2D, index: tf.Tensor1D, inverse: tf.Tensor1D): tf.Tensor2D {
  const permute = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [rows] = args as [tf.Tensor2D];
    const value: tf.Tensor2D = tf.gather(rows, index);
    return { value, gradFunc: (dy: tf.Tensor2D) => tf.gather(dy, inverse) };
  });
  return permute(x);
}

/** Rows from sequence order to tower order and back (no-ops for a dense model). */
function toTowerOrder(x: tf.Tensor2D, batch: PreparedBatch): tf.Tensor2D {
  return batch.permutation ? permuteRows(x, batch.permutation.order, batch.permutation.inverse) : x;
}
function toSequenceOrder(x: tf.Tensor2D, batch: PreparedBatch): tf.Tensor2D {
  return batch.permutation ? permuteRows(x, batch.permutation.inverse, batch.permutation.order) : x;
}

/** RoPE tables and the causal mask, built once per (backend, S, hd, θ) and kept. */
interface AttentionConstants {
  cos: tf.Tensor2D; // [S, hd]: cos(pos · θ^(−2j/hd)) at columns j and j + hd/2
  sin: tf.Tensor2D;
  rotateHalf: tf.Tensor2D; // [hd, hd]: x · rotateHalf = [−x2, x1]
  mask: tf.Tensor2D; // [S, S]: 0 on and below the diagonal, -1e9 above
}
const constantsCache = new Map<string, AttentionConstants>();

function attentionConstants(S: number, hd: number, theta: number): AttentionConstants {
  const key = `${tf.getBackend()}|${S}|${hd}|${theta}`;
  const cached = constantsCache.get(key);
  if (cached && !cached.cos.isDisposed) return cached;
  const half = hd / 2;
  const cos = new Float32Array(S * hd);
  const sin = new Float32Array(S * hd);
  for (let s = 0; s < S; s++) {
    for (let j = 0; j < hd; j++) {
      const angle = s * Math.pow(theta, (-2 * (j % half)) / hd);
      cos[s * hd + j] = Math.cos(angle);
      sin[s * hd + j] = Math.sin(angle);
    }
  }
  const rotateHalf = new Float32Array(hd * hd);
  for (let j = 0; j < half; j++) {
    rotateHalf[(j + half) * hd + j] = -1; // output j       = −x[j + hd/2]
    rotateHalf[j * hd + j + half] = 1; //    output j + hd/2 =  x[j]
  }
  const mask = new Float32Array(S * S);
  for (let i = 0; i < S; i++) for (let j = i + 1; j < S; j++) mask[i * S + j] = -1e9;
  const made = {
    cos: tf.keep(tf.tensor2d(cos, [S, hd])),
    sin: tf.keep(tf.tensor2d(sin, [S, hd])),
    rotateHalf: tf.keep(tf.tensor2d(rotateHalf, [hd, hd])),
    mask: tf.keep(tf.tensor2d(mask, [S, S])),
  };
  constantsCache.set(key, made);
  return made;
}

/** Free the cached RoPE tables and masks (e.g. before switching backends). */
export function disposeModelCaches(): void {
  constantsCache.forEach((c) => [c.cos, c.sin, c.rotateHalf, c.mask].forEach((t) => t.dispose()));
  constantsCache.clear();
}

/**
 * Rotate-half RoPE on [..., S, hd]: x·cos + rotate_half(x)·sin — one fused kernel each way where
 * the engine has it; else rotate_half as a matmul with a fixed signed permutation (faster here
 * than splitting and concatenating halves).
 */
function rope<T extends tf.Tensor>(x: T, c: AttentionConstants): T {
  const fused = fusedRope(x, c.cos, c.sin);
  if (fused) return fused as T;
  const hd = x.shape[x.rank - 1];
  const rotated = tf.reshape(tf.matMul(tf.reshape(x, [-1, hd]) as tf.Tensor2D, c.rotateHalf), x.shape);
  return tf.add(tf.mul(x, c.cos), tf.mul(rotated, c.sin)) as T;
}

/**
 * softmax(q kᵀ/√hd + causal) v over the whole window; qkv [N, 3D] and the result [N, D] in tower
 * order. Attention needs sequence order and a head-major layout: with a permutation (MoT) both
 * come from one fused copy each way where the engine has it, else a row gather and a transpose.
 */
function causalAttention(qkv: tf.Tensor2D, batch: PreparedBatch, H: number, c: AttentionConstants): tf.Tensor2D {
  const { batchSize: B, seqLen: S, permutation: perm } = batch;
  const D = qkv.shape[1] / 3;
  const hd = D / H;
  // [N, 3D] → [3H, B, S, hd], head-major so that the splits below are along axis 0 (contiguous,
  // several times faster on wasm than inner-axis splits).
  const fusedIn = perm ? fusedRowsToHeads(qkv, perm.inverse, perm.order, 3 * H) : null;
  const heads = fusedIn
    ? tf.reshape(fusedIn, [3 * H, B, S, hd])
    : tf.transpose(tf.reshape(toSequenceOrder(qkv, batch), [B, S, 3 * H, hd]), [2, 0, 1, 3]);
  const [qk, v] = tf.split(heads, [2 * H, H], 0);
  const [q, k] = tf.split(rope(qk, c), 2, 0).map((t) => tf.reshape(t, [H * B, S, hd]) as tf.Tensor3D);
  const scores = tf.add(tf.matMul(tf.mul(q, 1 / Math.sqrt(hd)), k, false, true), c.mask);
  const out = tf.matMul(tf.softmax(scores), tf.reshape(v, [H * B, S, hd])); // [H·B, S, hd]
  const fusedOut = perm ? fusedHeadsToRows(tf.reshape(out, [H, B * S, hd]), perm.order, perm.inverse) : null;
  return fusedOut ?? toTowerOrder(tf.reshape(tf.transpose(tf.reshape(out, [H, B, S, hd]), [1, 2, 0, 3]), [B * S, D]), batch);
}

// ---------------------------------------------------------------------------------------------
// Forward pass and loss

export interface ForwardOutput {
  logits: tf.Tensor2D; // [N, V], sequence order
  auxLoss: tf.Scalar; // MoE auxiliary losses (0 without token-choice MoE)
  routing: RoutingStats[]; // per layer
  hidden?: tf.Tensor2D[]; // per layer output [N, D], sequence order, with captureHidden
}

/** The forward pass in tower order (computeLoss uses this directly; forward reorders). */
function run(config: ModelConfig, params: Params, batch: PreparedBatch, captureHidden: boolean): ForwardOutput {
  const { seq_len: S, n_heads: H, d_model: D } = config;
  const hd = D / H;
  const consts = attentionConstants(S, hd, config.rope_theta);
  const pre = config.norm_style === 'pre';
  const moeTowers = new Set(config.moe?.towers ?? []);
  const P = (name: string): tf.Tensor => {
    const w = params[name];
    if (!w) throw new MotlabError('invalid_checkpoint', `model weights have no tensor "${name}"`);
    return w;
  };
  const { segments, order } = batch;
  const perTower = (c: Component, x: tf.Tensor2D, f: (rows: tf.Tensor2D, tower: number, positions: Int32Array) => tf.Tensor2D) =>
    byTower(segments[c], order, x, f);
  // Several towers, each one run of rows: x·W_tᵀ per run as one fused op where the engine has it
  // (null otherwise, and for a single tower, which is a plain linear).
  const segmentLinear = (c: Component, x: tf.Tensor2D, weight: (t: number) => tf.Tensor): tf.Tensor2D | null => {
    const segs = segments[c];
    if (segs.length < 2 || new Set(segs.map((s) => s.tower)).size !== segs.length) return null;
    return fusedSegmentLinear(
      x,
      segs.map((s) => weight(s.tower)),
      segs.map((s) => s.size),
    );
  };
  const segmentSwiglu = (x: tf.Tensor2D, w1: (t: number) => tf.Tensor, w2: (t: number) => tf.Tensor, w3: (t: number) => tf.Tensor) => {
    const a = segmentLinear('ffn', x, w1);
    if (!a) return null;
    const b = segmentLinear('ffn', x, w3)!;
    return segmentLinear('ffn', (fusedSwiGLU(a, b) ?? tf.mul(tf.mul(a, tf.sigmoid(a)), b)) as tf.Tensor2D, w2);
  };
  // RMSNorm with each row's norm-tower weight; `name(t)` is tower t's weight. Only the weight
  // depends on the tower: normalise all rows at once, then scale each tower's run of rows by its
  // weight — one fused kernel each way where the engine has it (each tower one run), else a
  // per-row weight gathered from the towers' stacked weights.
  const normTowers = [...new Set(segments.norm.map((s) => s.tower))];
  const normRowWeight =
    normTowers.length > 1
      ? tf.tensor1d(
          segments.norm.flatMap((s) => new Array<number>(s.size).fill(normTowers.indexOf(s.tower))),
          'int32',
        )
      : null;
  const norm = (x: tf.Tensor2D, name: (t: number) => string): tf.Tensor2D => {
    if (!normRowWeight) return rmsNorm(x, P(name(normTowers[0])));
    const unit = rmsNormalize(x);
    const scaled =
      normTowers.length === segments.norm.length
        ? fusedRowScale(
            unit,
            segments.norm.map((s) => P(name(s.tower))),
            segments.norm.map((s) => s.size),
          )
        : null;
    return scaled ?? tf.mul(unit, tf.gather(tf.stack(normTowers.map((t) => P(name(t)))), normRowWeight));
  };

  const auxLosses: tf.Scalar[] = [];
  const routing: RoutingStats[] = [];
  const hidden: tf.Tensor2D[] = [];
  let h = tf.gather(P('embed.weight'), batch.tokens) as tf.Tensor2D; // [N, D]

  for (let l = 0; l < config.n_layers; l++) {
    const L = `layers.${l}`;
    const attnNorm = (t: number) => `${L}.attention_norm.${t}.weight`;
    const ffnNorm = (t: number) => `${L}.ffn_norm.${t}.weight`;

    // Attention: Q, K, V (and QK-norm) per attention tower; attention itself over the whole
    // window, in sequence order; the output projection per tower again.
    const attnIn = pre ? norm(h, attnNorm) : h;
    const qkvWeight = (t: number) =>
      tf.concat(
        ['wq', 'wk', 'wv'].map((n) => P(`${L}.attention.${n}.${t}.weight`)),
        0,
      ); // one matmul: [n, 3D]
    const qkv =
      (!config.qk_norm ? segmentLinear('attention', attnIn, qkvWeight) : null) ??
      perTower('attention', attnIn, (x, t) => {
        const w = (n: string) => P(`${L}.attention.${n}.${t}.weight`);
        if (!config.qk_norm) return linear(x, qkvWeight(t));
        const perHead = [x.shape[0], H, hd];
        const qkNorm = (y: tf.Tensor2D, n: string): tf.Tensor2D => tf.reshape(rmsNorm(tf.reshape(y, perHead), w(n)), y.shape);
        return tf.concat([qkNorm(linear(x, w('wq')), 'q_norm'), qkNorm(linear(x, w('wk')), 'k_norm'), linear(x, w('wv'))], 1);
      });
    const a = causalAttention(qkv, batch, H, consts);
    const woWeight = (t: number) => P(`${L}.attention.wo.${t}.weight`);
    const o = segmentLinear('attention', a, woWeight) ?? perTower('attention', a, (x, t) => linear(x, woWeight(t)));
    const u = tf.add<tf.Tensor2D>(h, pre ? o : norm(o, attnNorm));

    // FFN per ffn tower: SwiGLU, or an MoE of SwiGLU experts.
    const layerRouting: MoeRoutingStats[] = [];
    const ffnIn = pre ? norm(u, ffnNorm) : u;
    const ffnWeight = (n: string) => (t: number) => P(`${L}.feed_forward.${n}.${t}.weight`);
    const ffnPerTower = () =>
      perTower('ffn', ffnIn, (x, t, positions) => {
        if (!moeTowers.has(t)) return swiglu(x, ffnWeight('w1')(t), ffnWeight('w2')(t), ffnWeight('w3')(t));
        const expert = (rows: tf.Tensor2D, e: number) => {
          const w = (n: string) => P(`${L}.feed_forward.experts.${t}.${e}.${n}.weight`);
          return swiglu(rows, w('w1'), w('w2'), w('w3'));
        };
        const out = moeFfn(x, P(`${L}.feed_forward.router.${t}.weight`), expert, config.moe!, positions);
        if (out.auxLoss) auxLosses.push(out.auxLoss);
        layerRouting.push({ layer: l, tower: t, ...out.stats });
        return out.y;
      });
    const ffnOut = (moeTowers.size === 0 ? segmentSwiglu(ffnIn, ffnWeight('w1'), ffnWeight('w2'), ffnWeight('w3')) : null) ?? ffnPerTower();
    h = tf.add<tf.Tensor2D>(u, pre ? ffnOut : norm(ffnOut, ffnNorm));
    if (moeTowers.size > 0) routing.push({ layer: l, towers: layerRouting.sort((x, y) => x.tower - y.tower) });
    if (captureHidden) hidden.push(h);
  }

  const logits = linear(
    norm(h, (t) => `norm.${t}.weight`),
    P('output.weight'),
  );
  const auxLoss = (auxLosses.length > 0 ? tf.addN(auxLosses) : tf.scalar(0)) as tf.Scalar;
  return { logits, auxLoss, routing, ...(captureHidden ? { hidden } : {}) };
}

/** Logits (and optionally each layer's output) in sequence order. */
export function forward(config: ModelConfig, params: Params, batch: PreparedBatch, opts: { captureHidden?: boolean } = {}): ForwardOutput {
  const out = run(config, params, batch, opts.captureHidden ?? false);
  const toSequence = (x: tf.Tensor2D) => toSequenceOrder(x, batch);
  return { ...out, logits: toSequence(out.logits), ...(out.hidden ? { hidden: out.hidden.map(toSequence) } : {}) };
}

export interface LossOutput {
  /** Mean next-token cross-entropy over all targets + MoE auxiliary losses (what training minimises). */
  loss: tf.Scalar;
  ce: tf.Scalar;
  /** Σ CE over the targets of each modality, [M]; divide by modalityCounts for the per-modality loss. */
  modalityLossSums: tf.Tensor1D;
  modalityCounts: number[];
  routing: RoutingStats[];
}

/**
 * Per-row cross-entropy −log softmax(logits)[target] ([N]), with the gradient written out,
 * dy·(softmax − onehot): one exp over [N, V] where tf.logSoftmax and its gradient take two.
 */
function crossEntropy(logits: tf.Tensor2D, oneHot: tf.Tensor2D): tf.Tensor1D {
  const ce = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, save] = args as [tf.Tensor2D, tf.GradSaveFunc];
    const shifted = tf.sub(x, tf.max(x, 1, true));
    const e = tf.exp(shifted);
    const sum = tf.sum(e, 1, true);
    save([tf.div(e, sum)]);
    const value: tf.Tensor1D = tf.sub(tf.log(tf.reshape(sum, [-1])), tf.sum(tf.mul(shifted, oneHot), 1));
    return { value, gradFunc: (dy: tf.Tensor1D, [softmax]: tf.Tensor[]) => tf.mul(tf.reshape(dy, [-1, 1]), tf.sub(softmax, oneHot)) };
  });
  return ce(logits);
}

export function computeLoss(config: ModelConfig, params: Params, batch: PreparedBatch): LossOutput {
  const { logits, auxLoss, routing } = run(config, params, batch, false); // tower order, like the targets
  const perToken = crossEntropy(logits, batch.targetOneHot); // [N]
  const ce = tf.mean(perToken) as tf.Scalar;
  return {
    loss: tf.add(ce, auxLoss),
    ce,
    modalityLossSums: tf.sum(tf.mul(batch.targetMasks, perToken), 1) as tf.Tensor1D,
    modalityCounts: batch.modalityCounts,
    routing,
  };
}
