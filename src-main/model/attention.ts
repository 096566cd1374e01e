/**
 * Global causal self-attention over the whole window, whatever each position's modality
 * (docs/architecture.md, step 2): RoPE (rotate-half), softmax(q kᵀ/√hd + causal) v per head.
 * The model keeps rows in tower order (./batch.ts); attention needs sequence order and a
 * head-major layout, and regroups its input and output accordingly.
 */
import * as tf from '@tensorflow/tfjs-core';
import { fusedHeadsToRows, fusedRowsToHeads } from '../engine/kernels/heads-gather.ts';
import { fusedRope } from '../engine/kernels/rope.ts';
import { CAUSAL_MASK_VALUE, fusedCausalAttention } from '../engine/kernels/causal-attention.ts';
import { toSequenceOrder, toTowerOrder, type PreparedBatch } from './batch.ts';

/**
 * softmax(q kᵀ/√hd + causal) v over the whole window for H heads; qkv [N, 3D] (q, k and v side
 * by side, each head's columns contiguous) and the result [N, D] in tower order.
 */
export function causalAttention(qkv: tf.Tensor2D, batch: PreparedBatch, H: number, theta: number): tf.Tensor2D {
  const { batchSize: B, seqLen: S } = batch;
  const hd = qkv.shape[1] / 3 / H;
  const c = attentionConstants(S, hd, theta);
  const [qk, v] = tf.split(rowsToHeads(qkv, batch, 3 * H), [2 * H, H], 0); // [2H | H, B, S, hd]
  const [q, k] = tf.split(rope(qk, c), 2, 0).map((t) => tf.reshape(t, [H * B, S, hd]) as tf.Tensor3D);
  const scaled = tf.mul(q, 1 / Math.sqrt(hd)) as tf.Tensor3D;
  const values = tf.reshape(v, [H * B, S, hd]) as tf.Tensor3D;
  // [H·B, S, hd]; the fused kernels skip the masked half (same values).
  const out: tf.Tensor3D =
    fusedCausalAttention(scaled, k, values) ?? tf.matMul(tf.softmax(tf.add(tf.matMul(scaled, k, false, true), c.mask)), values);
  return headsToRows(out, batch, H);
}

/**
 * Rows [N, J·hd] in tower order → heads [J, B, S, hd] in sequence order (head-major, so that
 * splitting q, k, v is along axis 0: contiguous, several times faster on wasm than inner-axis
 * splits). With a permutation (MoT) one fused copy where the engine has it, else a row gather
 * and a transpose.
 */
function rowsToHeads(x: tf.Tensor2D, batch: PreparedBatch, J: number): tf.Tensor4D {
  const { batchSize: B, seqLen: S, permutation: perm } = batch;
  const hd = x.shape[1] / J;
  const fused = perm ? fusedRowsToHeads(x, perm.inverse, perm.order, J) : null;
  return fused ? tf.reshape(fused, [J, B, S, hd]) : tf.transpose(tf.reshape(toSequenceOrder(x, batch), [B, S, J, hd]), [2, 0, 1, 3]);
}

/** The converse for the attention output: [H·B, S, hd] in sequence order → rows [N, H·hd] in tower order. */
function headsToRows(y: tf.Tensor3D, batch: PreparedBatch, H: number): tf.Tensor2D {
  const { batchSize: B, seqLen: S, permutation: perm } = batch;
  const hd = y.shape[2];
  const fused = perm ? fusedHeadsToRows(tf.reshape(y, [H, B * S, hd]), perm.order, perm.inverse) : null;
  return fused ?? toTowerOrder(tf.reshape(tf.transpose(tf.reshape(y, [H, B, S, hd]), [1, 2, 0, 3]), [B * S, H * hd]), batch);
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

/** RoPE tables and the causal mask, built once per (backend, S, hd, θ) and kept. */
interface AttentionConstants {
  cos: tf.Tensor2D; // [S, hd]: cos(pos · θ^(−2j/hd)) at columns j and j + hd/2
  sin: tf.Tensor2D;
  rotateHalf: tf.Tensor2D; // [hd, hd]: x · rotateHalf = [−x2, x1]
  mask: tf.Tensor2D; // [S, S]: 0 on and below the diagonal, CAUSAL_MASK_VALUE above
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
  for (let i = 0; i < S; i++) for (let j = i + 1; j < S; j++) mask[i * S + j] = CAUSAL_MASK_VALUE;
  const made = {
    cos: tf.keep(tf.tensor2d(cos, [S, hd])),
    sin: tf.keep(tf.tensor2d(sin, [S, hd])),
    rotateHalf: tf.keep(tf.tensor2d(rotateHalf, [hd, hd])),
    mask: tf.keep(tf.tensor2d(mask, [S, S])),
  };
  constantsCache.set(key, made);
  return made;
}
