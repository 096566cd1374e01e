/**
 * Mixture-of-Experts FFN for the tokens of one ffn tower (docs/architecture.md, "MoE FFN in a tower").
 *
 * `x` holds the tower's tokens; `positions` gives each row's place in the batch (b·S+s), which
 * fixes "sequence order" for the capacity rule and tie-breaks. The router is differentiable;
 * the routing *decisions* (which expert serves which token) are made in plain JS from the router
 * probabilities (read back once per call, outside the gradient), then:
 *   - each expert runs only on the rows it was given (tf.gather),
 *   - its output is scaled by a gate gathered from the differentiable probabilities, so the
 *     router learns through the gates,
 *   - the rows are summed back per token with tf.unsortedSegmentSum (its gradient is a gather);
 *     a token no expert kept gets zero (the residual stream carries it).
 *
 * Token-choice: token i's top-k experts (ties → lower expert index). Tokens are visited in
 * sequence order and, within a token, in rank order; expert e accepts a choice while it holds
 * fewer than ceil(capacity_factor · n · k / E) tokens (evaluated left to right in float64), else
 * the choice is dropped. Gates are the chosen probabilities, divided by the sum of the k chosen
 * ones (dropped included) when `renormalize`. Auxiliary losses: α·E·Σ_e f_e P_e (f_e share of
 * tokens whose first choice is e, P_e mean probability of e) and β·mean(logsumexp(logits)²).
 *
 * Expert-choice: expert e takes the min(n, ceil(capacity_factor · n / E)) tokens with the
 * largest p[:, e] (ties → earlier token), gate = p. A token may get 0, 1 or several experts.
 * It sees the whole batch, so it is not causal. The spec defines no auxiliary loss for it:
 * none is added (the diagnostics below are still reported).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { MoeConfig } from './config.ts';

import type { MoeRoutingStats } from '../common/metrics.ts';
export type { MoeRoutingStats } from '../common/metrics.ts';

export interface MoeOutput {
  y: tf.Tensor2D;
  /** α·load-balance + β·z-loss (token-choice), or null when nothing is added. */
  auxLoss: tf.Scalar | null;
  stats: Omit<MoeRoutingStats, 'layer' | 'tower'>;
  /** The router probabilities as read back for the decisions, [n, E] row-major (rows as in x). */
  probabilities: Float32Array;
}

/** Expert `e` applied to the rows it was given ([n_e, D] → [n_e, D]). */
export type ExpertFn = (x: tf.Tensor2D, e: number) => tf.Tensor2D;

/** Which token rows each expert keeps; all indices are rows of the tower's `x`. */
export interface Decision {
  capacity: number;
  rows: number[][]; // per expert, the token rows it processes
  topChoices: Int32Array | null; // token-choice: [n, k] chosen experts (for renormalising)
  dropped: number;
}

/** Experts ordered by descending probability for one token (stable: ties → lower index). */
function rankExperts(p: Float32Array, i: number, E: number): number[] {
  const order = Array.from({ length: E }, (_, e) => e);
  return order.sort((a, b) => p[i * E + b] - p[i * E + a] || a - b);
}

/** Rows sorted by their position in the batch (sequence order). */
function sequenceOrder(positions: ArrayLike<number>): number[] {
  return Array.from({ length: positions.length }, (_, i) => i).sort((a, b) => positions[a] - positions[b]);
}

function tokenChoice(p: Float32Array, n: number, moe: MoeConfig, positions: ArrayLike<number>): Decision {
  const E = moe.experts;
  const k = moe.top_k;
  const capacity = Math.ceil((moe.capacity_factor * n * k) / E);
  const rows: number[][] = Array.from({ length: E }, () => []);
  const topChoices = new Int32Array(n * k);
  let dropped = 0;
  for (const i of sequenceOrder(positions)) {
    const ranked = rankExperts(p, i, E);
    for (let r = 0; r < k; r++) {
      const e = ranked[r];
      topChoices[i * k + r] = e;
      if (rows[e].length < capacity) rows[e].push(i);
      else dropped++;
    }
  }
  return { capacity, rows, topChoices, dropped };
}

function expertChoice(p: Float32Array, n: number, moe: MoeConfig, positions: ArrayLike<number>): Decision {
  const E = moe.experts;
  const capacity = Math.min(n, Math.ceil((moe.capacity_factor * n) / E));
  const rows: number[][] = [];
  const picked = new Uint8Array(n);
  for (let e = 0; e < E; e++) {
    const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => p[b * E + e] - p[a * E + e] || positions[a] - positions[b]);
    const chosen = order.slice(0, capacity).sort((a, b) => a - b);
    chosen.forEach((i) => (picked[i] = 1));
    rows.push(chosen);
  }
  const dropped = n - picked.reduce((s, v) => s + v, 0);
  return { capacity, rows, topChoices: null, dropped };
}

/**
 * Which rows each expert keeps for router probabilities p ([n, E] row-major) of rows at `positions`
 * (sequence order fixes the capacity rule): the training rule, shared with the routing analysis.
 */
export function decideRouting(p: Float32Array, n: number, moe: MoeConfig, positions: ArrayLike<number>): Decision {
  return moe.routing === 'token_choice' ? tokenChoice(p, n, moe, positions) : expertChoice(p, n, moe, positions);
}

/** Diagnostics from the read-back router logits and probabilities (plain JS). */
function routingStats(logits: Float32Array, p: Float32Array, n: number, moe: MoeConfig, d: Decision): MoeOutput['stats'] {
  const E = moe.experts;
  const meanProb = new Array<number>(E).fill(0);
  const firstChoiceShare = new Array<number>(E).fill(0);
  let zLoss = 0;
  for (let i = 0; i < n; i++) {
    let best = 0;
    let max = -Infinity;
    for (let e = 0; e < E; e++) {
      meanProb[e] += p[i * E + e] / n;
      if (p[i * E + e] > p[i * E + best]) best = e;
      max = Math.max(max, logits[i * E + e]);
    }
    firstChoiceShare[best] += 1 / n;
    let sum = 0;
    for (let e = 0; e < E; e++) sum += Math.exp(logits[i * E + e] - max);
    const lse = max + Math.log(sum);
    zLoss += (lse * lse) / n;
  }
  let expertsPerToken: number[] | null = null;
  if (moe.routing === 'expert_choice') {
    const count = new Int32Array(n);
    d.rows.forEach((r) => r.forEach((i) => count[i]++));
    expertsPerToken = new Array<number>(E + 1).fill(0);
    count.forEach((c) => expertsPerToken![c]++);
  }
  return {
    routing: moe.routing,
    tokens: n,
    capacity: d.capacity,
    tokensPerExpert: d.rows.map((r) => r.length),
    dropped: d.dropped,
    meanProb,
    firstChoiceShare,
    expertsPerToken,
    loadBalance: E * firstChoiceShare.reduce((s, f, e) => s + f * meanProb[e], 0),
    zLoss,
  };
}

/**
 * MoE FFN over `x` ([n, D], the tower's tokens) with router weight `router` ([E, D]);
 * `expert(rows, e)` applies expert e's SwiGLU; `positions[i]` is row i's place in the batch
 * (default: rows are already in sequence order).
 */
export function moeFfn(x: tf.Tensor2D, router: tf.Tensor, expert: ExpertFn, moe: MoeConfig, positions?: ArrayLike<number>): MoeOutput {
  const n = x.shape[0];
  const E = moe.experts;
  const logits = tf.matMul(x, router as tf.Tensor2D, false, true); // [n, E]
  const probs = tf.softmax(logits); // [n, E]
  const pData = probs.dataSync() as Float32Array;
  const pos = positions ?? Int32Array.from({ length: n }, (_, i) => i);
  const decision = decideRouting(pData, n, moe, pos);
  const stats = routingStats(logits.dataSync() as Float32Array, pData, n, moe, decision);

  // Every (token, expert) pair kept, expert by expert; gates come from the differentiable probs.
  const tokenRows = decision.rows.flat();
  const flatProbs = tf.reshape(probs, [n * E]);
  const gateIndex = decision.rows.flatMap((r, e) => r.map((i) => i * E + e));
  let gates = tf.gather(flatProbs, tf.tensor1d(gateIndex, 'int32'));
  if (moe.routing === 'token_choice' && moe.renormalize) {
    const k = moe.top_k;
    const chosen = Array.from(decision.topChoices!, (e, j) => Math.floor(j / k) * E + e);
    const chosenSum = tf.sum(tf.reshape(tf.gather(flatProbs, tf.tensor1d(chosen, 'int32')), [n, k]), 1);
    gates = tf.div(gates, tf.gather(chosenSum, tf.tensor1d(tokenRows, 'int32')));
  }

  const outputs: tf.Tensor2D[] = [];
  decision.rows.forEach((r, e) => {
    if (r.length > 0) outputs.push(expert(tf.gather(x, tf.tensor1d(r, 'int32')), e));
  });
  const weighted = tf.mul(tf.concat(outputs, 0), tf.reshape(gates, [-1, 1]));
  const y = tf.unsortedSegmentSum(weighted, tf.tensor1d(tokenRows, 'int32'), n) as tf.Tensor2D;

  let auxLoss: tf.Scalar | null = null;
  if (moe.routing === 'token_choice') {
    const terms: tf.Scalar[] = [];
    if (moe.aux_loss > 0) {
      const f = tf.tensor1d(stats.firstChoiceShare);
      terms.push(tf.mul(tf.sum(tf.mul(f, tf.mean(probs, 0))), moe.aux_loss * E));
    }
    if (moe.z_loss > 0) {
      const lse = tf.logSumExp(logits, 1);
      terms.push(tf.mul(tf.mean(tf.mul(lse, lse)), moe.z_loss));
    }
    if (terms.length > 0) auxLoss = tf.addN(terms) as tf.Scalar;
  }
  return { y, auxLoss, stats, probabilities: pData };
}
