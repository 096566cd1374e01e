/**
 * Mixture-of-Transformers (Liang et al., arXiv 2411.04996) as docs/architecture.md specifies it,
 * in TensorFlow.js — start reading here.
 *
 * Every position i carries a modality; each parameter component — attention, ffn, norm — assigns
 * modalities to towers, and t_a(i), t_f(i), t_n(i) are position i's towers. One block (the
 * paper's Eq. 1–2, the default "chameleon" norm style):
 *
 *   q_i, k_i, v_i = W_q^{t_a(i)} h_i, W_k^{t_a(i)} h_i, W_v^{t_a(i)} h_i
 *   a = softmax(q kᵀ/√hd + causal) v        one global causal attention over the whole window
 *   o_i = W_o^{t_a(i)} a_i
 *   u_i = h_i + RMSNorm_attn^{t_n(i)}(o_i)                                      (Eq. 1)
 *   h_i ← u_i + RMSNorm_ffn^{t_n(i)}(FFN^{t_f(i)}(u_i))                          (Eq. 2)
 *
 * With one tower per component this is a dense transformer; MoE makes chosen FFN towers routed
 * mixtures of SwiGLU experts (./moe.ts). Dense, MoT, the ablations and MoE are this one code path.
 *
 * Algorithm 1 (how the paper computes it): group the tokens by modality, apply each modality's
 * weights to its own group, and restore the sequence order only where positions mix — in
 * attention. Here the batch's N = B·S rows are kept grouped by tower (./batch.ts), so each
 * tower's weights apply to a contiguous slice of rows (./tower-ops.ts), and attention regroups its
 * input into sequence order and its output back (./attention.ts).
 *
 * Weights: `Record<name, tf.Tensor>` with docs/architecture.md's names and PyTorch shapes
 * ([out, in], y = x Wᵀ; ./params.ts). Call forward/computeLoss inside tf.tidy or
 * tf.variableGrads; ./capture.ts reads the activations back for the analyses.
 */
import * as tf from '@tensorflow/tfjs-core';
import { causalAttention } from './attention.ts';
import { toSequenceOrder, type PreparedBatch, type RowSubset } from './batch.ts';
import { MotlabError } from '../common/errors.ts';
import type { ModelConfig } from './config.ts';
import { moeFfn, type MoeRoutingStats } from './moe.ts';
import { param, type Params } from './params.ts';
import { linear, rmsNorm, swiglu, towerOps, type TowerOps, type TowerWeight } from './tower-ops.ts';

// The model's public entry points: forward and computeLoss below, and these two.
export { initParams, type Params } from './params.ts';
export { prepareBatch, type PreparedBatch } from './batch.ts';

/** The MoE towers of one layer (empty for layers without MoE). */
export interface RoutingStats {
  layer: number;
  towers: MoeRoutingStats[];
}

export interface ForwardOutput {
  logits: tf.Tensor2D; // [N, V], sequence order
  auxLoss: tf.Scalar; // MoE auxiliary losses (0 without token-choice MoE)
  routing: RoutingStats[]; // per layer
  hidden?: tf.Tensor2D[]; // per layer output [N, D], sequence order, with captureHidden
}

/** Logits (and optionally each layer's output) in sequence order. */
export function forward(config: ModelConfig, params: Params, batch: PreparedBatch, opts: { captureHidden?: boolean } = {}): ForwardOutput {
  const model = modelFor(config, params, batch);
  const hidden: tf.Tensor2D[] = [];
  const h = transformer(model, opts.captureHidden ? (b) => hidden.push(b.residual) : undefined);
  const toSequence = (x: tf.Tensor2D) => toSequenceOrder(x, batch);
  return {
    logits: toSequence(outputHead(model, h)),
    auxLoss: model.auxLoss(),
    routing: model.routing,
    ...(opts.captureHidden ? { hidden: hidden.map(toSequence) } : {}),
  };
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
  const model = modelFor(config, params, batch);
  const logits = outputHead(model, transformer(model)); // tower order, like the targets
  const perToken = crossEntropy(logits, batch.targetOneHot); // [N]
  const ce = tf.mean(perToken) as tf.Scalar;
  return {
    loss: tf.add(ce, model.auxLoss()),
    ce,
    modalityLossSums: tf.sum(tf.mul(batch.targetMasks, perToken), 1) as tf.Tensor1D,
    modalityCounts: batch.modalityCounts,
    routing: model.routing,
  };
}

// ---------------------------------------------------------------------------------------------
// The forward pass, rows in tower order

/** One model applied to one batch: its weights, the batch's tower ops, and what the MoE layers report. */
export interface Model {
  config: ModelConfig;
  batch: PreparedBatch;
  weight(name: string): tf.Tensor;
  /** Tower t's weight `${name}.${t}.weight`, as a function of t. */
  towerWeight(name: string): TowerWeight;
  towers: TowerOps;
  /** Per layer with MoE towers, their routing diagnostics. */
  routing: RoutingStats[];
  /** The sum of the MoE auxiliary losses so far (0 without token-choice MoE). */
  auxLoss(): tf.Scalar;
  addAuxLoss(loss: tf.Scalar): void;
}

export function modelFor(config: ModelConfig, params: Params, batch: PreparedBatch): Model {
  const auxLosses: tf.Scalar[] = [];
  return {
    config,
    batch,
    weight: (name) => param(params, name),
    towerWeight: (name) => (t) => param(params, `${name}.${t}.weight`),
    towers: towerOps(batch),
    routing: [],
    auxLoss: () => (auxLosses.length > 0 ? tf.addN(auxLosses) : tf.scalar(0)) as tf.Scalar,
    addAuxLoss: (loss) => auxLosses.push(loss),
  };
}

/** What one block computed, [N, D] in tower order: its two sublayers' outputs and the residual stream after it. */
export interface BlockOutputs {
  layer: number;
  /** o = W_o^{t_a} a, before the chameleon norm. */
  attention: tf.Tensor2D;
  /** FFN^{t_f}(·), before the chameleon norm. */
  ffn: tf.Tensor2D;
  residual: tf.Tensor2D;
  /** Each MoE tower's router probabilities (read back, [n, E]) and its rows' positions (b·S+s). */
  moe: { tower: number; positions: Int32Array; probabilities: Float32Array }[];
}
export type BlockObserver = (outputs: BlockOutputs) => void;

/** h after all blocks, starting from the token embeddings; `observe` sees each block's outputs. */
function transformer(model: Model, observe?: BlockObserver): tf.Tensor2D {
  let h = embed(model);
  for (let l = 0; l < model.config.n_layers; l++) h = block(model, l, h, observe);
  return h;
}

/** h⁰ = embed[x] ([N, D], shared by every modality). */
export function embed(model: Model): tf.Tensor2D {
  return tf.gather(model.weight('embed.weight'), model.batch.tokens) as tf.Tensor2D;
}

/** logits = output · RMSNorm_final^{t_n}(h). */
function outputHead(model: Model, h: tf.Tensor2D): tf.Tensor2D {
  return linear(model.towers.norm(h, model.towerWeight('norm')), model.weight('output.weight'));
}

/**
 * One transformer block, Eq. 1–2 (or the "pre" norm style). With `only`, the block returns (and
 * observes) just those rows: every row still serves as a key and value, but past attention each
 * row is on its own, so W_o, the norms and the FFN run on the wanted rows alone — a capture's last
 * layer (./capture.ts). Not for MoE layers, whose routing sees all of a tower's rows.
 */
export function block(model: Model, l: number, h: tf.Tensor2D, observe?: BlockObserver, only?: RowSubset): tf.Tensor2D {
  const { config } = model;
  if (only && hasMoe(config))
    throw new MotlabError('invalid_request', 'a block restricted to some rows cannot route MoE towers (routing sees every row)');
  const pre = config.norm_style === 'pre';
  const w = (name: string) => model.towerWeight(`layers.${l}.${name}`);
  const attentionNorm = (x: tf.Tensor2D) => model.towers.norm(x, w('attention_norm'));

  // Attention: q, k, v per attention tower, attention over the whole window, W_o per tower.
  const qkv = projectQkv(model, l, pre ? attentionNorm(h) : h);
  const attended = causalAttention(qkv, model.batch, config.n_heads, config.rope_theta);
  // From here on each row is on its own: `only` keeps just the rows wanted.
  const rows = only ? { ...model, towers: towerOps(only) } : model;
  const [a, residual] = only ? [tf.gather(attended, only.index), tf.gather(h, only.index)] : [attended, h];
  const o = rows.towers.linear('attention', a, w('attention.wo'));
  const u = tf.add<tf.Tensor2D>(residual, pre ? o : rows.towers.norm(o, w('attention_norm'))); // Eq. 1

  // FFN per ffn tower: SwiGLU, or a mixture of SwiGLU experts.
  const ffnNorm = (x: tf.Tensor2D) => rows.towers.norm(x, w('ffn_norm'));
  const { y: f, moe } = feedForward(rows, l, pre ? ffnNorm(u) : u);
  const out = tf.add<tf.Tensor2D>(u, pre ? f : ffnNorm(f)); // Eq. 2

  observe?.({ layer: l, attention: o, ffn: f, residual: out, moe });
  return out;
}

/** [q | k | v] ([N, 3D]) per attention tower — one matmul with the stacked weights, or with per-head QK-norm. */
function projectQkv(model: Model, l: number, x: tf.Tensor2D): tf.Tensor2D {
  const w = (name: string) => model.towerWeight(`layers.${l}.attention.${name}`);
  if (!model.config.qk_norm)
    return model.towers.linear('attention', x, (t) =>
      tf.concat(
        ['wq', 'wk', 'wv'].map((n) => w(n)(t)),
        0,
      ),
    );
  const H = model.config.n_heads;
  return model.towers.byTower('attention', x, (rows, t) => {
    const qkNorm = (y: tf.Tensor2D, n: string): tf.Tensor2D =>
      tf.reshape(rmsNorm(tf.reshape(y, [y.shape[0], H, y.shape[1] / H]), w(n)(t)), y.shape);
    return tf.concat([qkNorm(linear(rows, w('wq')(t)), 'q_norm'), qkNorm(linear(rows, w('wk')(t)), 'k_norm'), linear(rows, w('wv')(t))], 1);
  });
}

/** Whether the model has MoE FFN towers (every layer has the same towers). */
export function hasMoe(config: ModelConfig): boolean {
  return (config.moe?.towers.length ?? 0) > 0;
}

/** FFN^{t_f}: SwiGLU per ffn tower, or for MoE towers a routed mixture of SwiGLU experts. */
function feedForward(model: Model, l: number, x: tf.Tensor2D): { y: tf.Tensor2D; moe: BlockOutputs['moe'] } {
  const { config, towers } = model;
  const w = (name: string) => model.towerWeight(`layers.${l}.feed_forward.${name}`);
  const moeTowers = new Set(config.moe?.towers ?? []);
  if (!hasMoe(config)) return { y: towers.swiglu(x, w('w1'), w('w2'), w('w3')), moe: [] };

  const moe: BlockOutputs['moe'] = [];
  const stats: MoeRoutingStats[] = [];
  const y = towers.byTower('ffn', x, (rows, t, positions) => {
    if (!moeTowers.has(t)) return swiglu(rows, w('w1')(t), w('w2')(t), w('w3')(t));
    const expert = (r: tf.Tensor2D, e: number) => {
      const we = (n: string) => model.weight(`layers.${l}.feed_forward.experts.${t}.${e}.${n}.weight`);
      return swiglu(r, we('w1'), we('w2'), we('w3'));
    };
    const out = moeFfn(rows, w('router')(t), expert, config.moe!, positions);
    if (out.auxLoss) model.addAuxLoss(out.auxLoss);
    stats.push({ layer: l, tower: t, ...out.stats });
    moe.push({ tower: t, positions, probabilities: out.probabilities });
    return out.y;
  });
  model.routing.push({ layer: l, towers: stats.sort((p, q) => p.tower - q.tower) });
  return { y, moe };
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
