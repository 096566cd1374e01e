/**
 * The model of architecture.md in TensorFlow.js — start reading here.
 *
 * Dense, Mixture-of-Transformers, the ablations and MoE are ONE forward pass: every parameter
 * component (attention, ffn, norm) has a tower assignment, and each token uses the weights of
 * its modality's tower. With one tower per component it is a dense transformer.
 *
 * How tokens meet their tower's weights (the paper's Algorithm 1): the batch is flattened to
 * N = B·S rows in sequence order. For the untied projections (attention, ffn) each tower
 * gathers its own rows, runs its weights on them only, and one gather with the inverse
 * permutation puts the results back in sequence order — where global causal attention runs
 * over all positions of the window, whatever their modality. The index tensors are
 * precomputed per batch (prepareBatch). Norms need no grouping: the normalisation is the same
 * for every tower, so each row just looks up its tower's scale vector.
 *
 * Weights: `Record<name, tf.Tensor>` with architecture.md's names and PyTorch shapes
 * ([out, in], y = x Wᵀ). Call forward/computeLoss inside tf.tidy or tf.variableGrads.
 */
import * as tf from '@tensorflow/tfjs-core';
import { expectedTensorShapes } from '../checkpoints/run-folder.ts';
import { MotlabError } from '../util/errors.ts';
import { Rng } from '../util/rng.ts';
import { towerTable, type Component, type ModelConfig } from './config.ts';
import { moeFfn, type MoeRoutingStats } from './moe.ts';

export type Params = Record<string, tf.Tensor>;

/** The MoE towers of one layer (empty for layers without MoE). */
export interface RoutingStats {
  layer: number;
  towers: MoeRoutingStats[];
}

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

/** The rows of one tower of a component, in sequence order. */
export interface TowerRows {
  tower: number;
  /** Flattened positions b·S+s of the tower's tokens, ascending. */
  positions: Int32Array;
  /** The same as an int32 tensor (null when the tower holds every row: no gather needed). */
  index: tf.Tensor1D | null;
}

/** How a component's rows split over its towers (only towers with tokens are listed). */
export interface Grouping {
  towers: TowerRows[];
  /** Rows of concat(tower outputs) in sequence order; null when a single tower holds all rows. */
  restore: tf.Tensor1D | null;
}

export interface PreparedBatch {
  batchSize: number;
  seqLen: number;
  tokens: tf.Tensor1D; // [N] int32 input tokens
  /** Modality index (dataset order) of each input token and of each target token. */
  inputModality: Int32Array;
  targetModality: Int32Array;
  grouping: { attention: Grouping; ffn: Grouping };
  /** Norm tower of each row, [N] int32 (null when there is one norm tower). */
  normTower: tf.Tensor1D | null;
  targetOneHot: tf.Tensor2D; // [N, V]
  /** [M, N]: 1 where the target token is of modality m. */
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

function groupRows(towerOfRow: Int32Array, nTowers: number): Grouping {
  const rows: number[][] = Array.from({ length: nTowers }, () => []);
  towerOfRow.forEach((t, i) => rows[t].push(i));
  const used = rows.map((r, tower) => ({ tower, r })).filter(({ r }) => r.length > 0);
  if (used.length === 1) return { towers: [{ tower: used[0].tower, positions: Int32Array.from(used[0].r), index: null }], restore: null };
  const restore = new Int32Array(towerOfRow.length);
  let j = 0;
  for (const { r } of used) for (const i of r) restore[i] = j++;
  return {
    towers: used.map(({ tower, r }) => ({ tower, positions: Int32Array.from(r), index: tf.tensor1d(r, 'int32') })),
    restore: tf.tensor1d(restore, 'int32'),
  };
}

/** Tensors and indices for one batch of `batchSize` windows (inputs/targets: [B·S] row-major). */
export function prepareBatch(config: ModelConfig, inputs: Int32Array, targets: Int32Array, batchSize: number): PreparedBatch {
  const S = config.seq_len;
  const N = batchSize * S;
  if (inputs.length !== N || targets.length !== N)
    throw new MotlabError('invalid_request', `a batch of ${batchSize}×${S} needs ${N} inputs and targets, got ${inputs.length} and ${targets.length}`);
  const table = modalityLookup(config);
  const inputModality = modalitiesOf(inputs, table, 'input');
  const targetModality = modalitiesOf(targets, table, 'target');
  const towersOfRows = (c: Component) => {
    const t = towerTable(config, c);
    return { key: t.join(','), rows: inputModality.map((m) => t[m]) };
  };

  const att = towersOfRows('attention');
  const ffn = towersOfRows('ffn');
  const attention = groupRows(att.rows, config.towers.attention.length);
  const ffnGrouping = ffn.key === att.key ? attention : groupRows(ffn.rows, config.towers.ffn.length);
  const normTower = config.towers.norm.length > 1 ? tf.tensor1d(towersOfRows('norm').rows, 'int32') : null;

  const M = config.modalities.length;
  const masks = new Float32Array(M * N);
  const modalityCounts = new Array<number>(M).fill(0);
  targetModality.forEach((m, i) => {
    masks[m * N + i] = 1;
    modalityCounts[m]++;
  });
  const tokens = tf.tensor1d(inputs, 'int32');
  const targetOneHot = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(targets, 'int32'), config.vocab_size), 'float32') as tf.Tensor2D);
  const targetMasks = tf.tensor2d(masks, [M, N]);

  const owned = new Set<tf.Tensor | null>([tokens, normTower, targetOneHot, targetMasks]);
  for (const g of [attention, ffnGrouping]) [g.restore, ...g.towers.map((t) => t.index)].forEach((t) => owned.add(t));
  return {
    batchSize,
    seqLen: S,
    tokens,
    inputModality,
    targetModality,
    grouping: { attention, ffn: ffnGrouping },
    normTower,
    targetOneHot,
    targetMasks,
    modalityCounts,
    dispose: () => owned.forEach((t) => t?.dispose()),
  };
}

// ---------------------------------------------------------------------------------------------
// Building blocks

/** y = x Wᵀ for a PyTorch-layout weight [out, in]. */
function linear(x: tf.Tensor2D, w: tf.Tensor): tf.Tensor2D {
  return tf.matMul(x, w as tf.Tensor2D, false, true);
}

/** x / sqrt(mean(x²) + 1e-5) ⊙ w, over the last axis. */
function rmsNorm<T extends tf.Tensor>(x: T, w: tf.Tensor): T {
  return tf.mul(tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.mul(x, x), -1, true), 1e-5))), w);
}

/** SwiGLU: W2 (silu(W1 x) ⊙ W3 x). */
function swiglu(x: tf.Tensor2D, w1: tf.Tensor, w2: tf.Tensor, w3: tf.Tensor): tf.Tensor2D {
  const a = linear(x, w1);
  return linear(tf.mul(tf.mul(a, tf.sigmoid(a)), linear(x, w3)), w2);
}

/** Run `f` on each tower's rows with that tower's weights; results come back in sequence order. */
function byTower(g: Grouping, x: tf.Tensor2D, f: (rows: tf.Tensor2D, rowsOf: TowerRows) => tf.Tensor2D): tf.Tensor2D {
  if (g.restore === null) return f(x, g.towers[0]);
  const parts = g.towers.map((t) => f(tf.gather(x, t.index!), t));
  return tf.gather(tf.concat(parts, 0), g.restore);
}

/** RoPE tables and the causal mask, built once per (backend, S, hd, θ) and kept. */
interface AttentionConstants {
  cos: tf.Tensor2D; // [S, hd/2]
  sin: tf.Tensor2D;
  mask: tf.Tensor2D; // [S, S]: 0 on and below the diagonal, -1e9 above
}
const constantsCache = new Map<string, AttentionConstants>();

function attentionConstants(S: number, hd: number, theta: number): AttentionConstants {
  const key = `${tf.getBackend()}|${S}|${hd}|${theta}`;
  const cached = constantsCache.get(key);
  if (cached && !cached.cos.isDisposed) return cached;
  const half = hd / 2;
  const cos = new Float32Array(S * half);
  const sin = new Float32Array(S * half);
  for (let s = 0; s < S; s++) {
    for (let j = 0; j < half; j++) {
      const angle = s * Math.pow(theta, (-2 * j) / hd);
      cos[s * half + j] = Math.cos(angle);
      sin[s * half + j] = Math.sin(angle);
    }
  }
  const mask = new Float32Array(S * S);
  for (let i = 0; i < S; i++) for (let j = i + 1; j < S; j++) mask[i * S + j] = -1e9;
  const made = {
    cos: tf.keep(tf.tensor2d(cos, [S, half])),
    sin: tf.keep(tf.tensor2d(sin, [S, half])),
    mask: tf.keep(tf.tensor2d(mask, [S, S])),
  };
  constantsCache.set(key, made);
  return made;
}

/** Free the cached RoPE tables and masks (e.g. before switching backends). */
export function disposeModelCaches(): void {
  constantsCache.forEach((c) => [c.cos, c.sin, c.mask].forEach((t) => t.dispose()));
  constantsCache.clear();
}

/** Rotate-half RoPE on [B·H, S, hd]: first half x1·cos − x2·sin, second half x2·cos + x1·sin. */
function rope(x: tf.Tensor3D, c: AttentionConstants): tf.Tensor3D {
  const [x1, x2] = tf.split(x, 2, 2);
  const first: tf.Tensor3D = tf.sub(tf.mul(x1, c.cos), tf.mul(x2, c.sin));
  const second: tf.Tensor3D = tf.add(tf.mul(x2, c.cos), tf.mul(x1, c.sin));
  return tf.concat([first, second], 2);
}

/** softmax(q kᵀ/√hd + causal) v over the whole window; qkv [N, 3D] in sequence order → [N, D]. */
function causalAttention(qkv: tf.Tensor2D, B: number, S: number, H: number, c: AttentionConstants): tf.Tensor2D {
  const D = qkv.shape[1] / 3;
  const hd = D / H;
  // [N, 3D] → [B, 3H, S, hd]: one 4-D transpose for q, k and v together.
  const heads = tf.transpose(tf.reshape(qkv, [B, S, 3 * H, hd]), [0, 2, 1, 3]);
  const [q, k, v] = tf.split(heads, 3, 1).map((t) => tf.reshape(t, [B * H, S, hd]) as tf.Tensor3D);
  const scores = tf.add(tf.matMul(tf.mul(rope(q, c), 1 / Math.sqrt(hd)), rope(k, c), false, true), c.mask);
  const out = tf.matMul(tf.softmax(scores), v); // [B·H, S, hd]
  return tf.reshape(tf.transpose(tf.reshape(out, [B, H, S, hd]), [0, 2, 1, 3]), [B * S, D]);
}

// ---------------------------------------------------------------------------------------------
// Forward pass and loss

export interface ForwardOutput {
  logits: tf.Tensor2D; // [N, V]
  auxLoss: tf.Scalar; // MoE auxiliary losses (0 without token-choice MoE)
  routing: RoutingStats[]; // per layer
  hidden?: tf.Tensor2D[]; // per layer output [N, D], with captureHidden
}

export function forward(config: ModelConfig, params: Params, batch: PreparedBatch, opts: { captureHidden?: boolean } = {}): ForwardOutput {
  const { seq_len: S, n_heads: H, d_model: D } = config;
  const B = batch.batchSize;
  const hd = D / H;
  const consts = attentionConstants(S, hd, config.rope_theta);
  const pre = config.norm_style === 'pre';
  const moeTowers = new Set(config.moe?.towers ?? []);
  const P = (name: string): tf.Tensor => {
    const w = params[name];
    if (!w) throw new MotlabError('invalid_checkpoint', `model weights have no tensor "${name}"`);
    return w;
  };
  /** Each row's scale vector for the norm `name` ({t} = its norm tower). */
  const normWeight = (name: (t: number) => string): tf.Tensor => {
    if (batch.normTower === null) return P(name(0));
    const table = tf.stack(config.towers.norm.map((_, t) => P(name(t))));
    return tf.gather(table, batch.normTower);
  };

  const auxLosses: tf.Scalar[] = [];
  const routing: RoutingStats[] = [];
  const hidden: tf.Tensor2D[] = [];
  let h = tf.gather(P('embed.weight'), batch.tokens) as tf.Tensor2D; // [N, D]

  for (let l = 0; l < config.n_layers; l++) {
    const L = `layers.${l}`;
    const attnNorm = normWeight((t) => `${L}.attention_norm.${t}.weight`);
    const ffnNorm = normWeight((t) => `${L}.ffn_norm.${t}.weight`);

    // Attention: Q, K, V (and QK-norm) per attention tower, then attention over the whole window.
    const xa = pre ? rmsNorm(h, attnNorm) : h;
    const qkv = byTower(batch.grouping.attention, xa, (x, { tower: t }) => {
      let q = linear(x, P(`${L}.attention.wq.${t}.weight`));
      let k = linear(x, P(`${L}.attention.wk.${t}.weight`));
      if (config.qk_norm) {
        const perHead = [x.shape[0], H, hd];
        q = tf.reshape(rmsNorm(tf.reshape(q, perHead), P(`${L}.attention.q_norm.${t}.weight`)), q.shape);
        k = tf.reshape(rmsNorm(tf.reshape(k, perHead), P(`${L}.attention.k_norm.${t}.weight`)), k.shape);
      }
      return tf.concat([q, k, linear(x, P(`${L}.attention.wv.${t}.weight`))], 1);
    });
    const a = causalAttention(qkv, B, S, H, consts);
    const o = byTower(batch.grouping.attention, a, (x, { tower: t }) => linear(x, P(`${L}.attention.wo.${t}.weight`)));
    const u = tf.add<tf.Tensor2D>(h, pre ? o : rmsNorm(o, attnNorm));

    // FFN per ffn tower: SwiGLU, or an MoE of SwiGLU experts.
    const layerRouting: MoeRoutingStats[] = [];
    const ffnOut = byTower(batch.grouping.ffn, pre ? rmsNorm(u, ffnNorm) : u, (x, { tower: t }) => {
      if (!moeTowers.has(t)) {
        const w = (n: string) => P(`${L}.feed_forward.${n}.${t}.weight`);
        return swiglu(x, w('w1'), w('w2'), w('w3'));
      }
      const expert = (rows: tf.Tensor2D, e: number) => {
        const w = (n: string) => P(`${L}.feed_forward.experts.${t}.${e}.${n}.weight`);
        return swiglu(rows, w('w1'), w('w2'), w('w3'));
      };
      const out = moeFfn(x, P(`${L}.feed_forward.router.${t}.weight`), expert, config.moe!);
      if (out.auxLoss) auxLosses.push(out.auxLoss);
      layerRouting.push({ layer: l, tower: t, ...out.stats });
      return out.y;
    });
    h = tf.add<tf.Tensor2D>(u, pre ? ffnOut : rmsNorm(ffnOut, ffnNorm));
    if (moeTowers.size > 0) routing.push({ layer: l, towers: layerRouting });
    if (opts.captureHidden) hidden.push(h);
  }

  const logits = linear(rmsNorm(h, normWeight((t) => `norm.${t}.weight`)), P('output.weight'));
  const auxLoss = (auxLosses.length > 0 ? tf.addN(auxLosses) : tf.scalar(0)) as tf.Scalar;
  return { logits, auxLoss, routing, ...(opts.captureHidden ? { hidden } : {}) };
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

export function computeLoss(config: ModelConfig, params: Params, batch: PreparedBatch): LossOutput {
  const { logits, auxLoss, routing } = forward(config, params, batch);
  // CE_i = logsumexp(logits_i) − logits_i[target_i]
  const perToken = tf.sub(tf.logSumExp(logits, 1), tf.sum(tf.mul(logits, batch.targetOneHot), 1)); // [N]
  const ce = tf.mean(perToken) as tf.Scalar;
  return {
    loss: tf.add(ce, auxLoss),
    ce,
    modalityLossSums: tf.sum(tf.mul(batch.targetMasks, perToken), 1) as tf.Tensor1D,
    modalityCounts: batch.modalityCounts,
    routing,
  };
}
