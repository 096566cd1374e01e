/**
 * Our own fused kernels (not tfjs's), one file each in this folder, registered from the table
 * below. Each replaces a chain of tfjs kernels — each a pass over memory plus JS dispatch and,
 * under tf.variableGrads, saved tensors and tape nodes — with one pass, computing the same
 * float32 operations in the same order, so results are bit-identical to the chain (tested on
 * both backends). On wasm they run their own small SIMD module on the backend's heap (plain JS on
 * heap views where wasm SIMD is unavailable); on cpu, plain JS. Each file's public op (fusedRope,
 * fusedSwiGLU, …) returns null, or computes with tf ops, where its kernels are not registered for
 * the active backend (e.g. tfjs-node).
 *
 * A kernel file holds the public op, the JS reference, the wasm body (a table of SIMD functions:
 * name, signature, body), the wasm and cpu implementations and the gradient (a tf.customGrad in
 * the op). Adding a kernel: write ./<name>.ts exporting its `FusedKernel[]`, and add it below.
 */
import * as tf from '@tensorflow/tfjs-core';
import { adamwKernels } from './adamw.ts';
import { causalAttentionKernels } from './causal-attention.ts';
import { headsGatherKernels } from './heads-gather.ts';
import { ropeKernels } from './rope.ts';
import { rowScaleKernels } from './row-scale.ts';
import { segmentLinearKernels } from './segment-linear.ts';
import type { FusedKernel } from './shared.ts';
import { sumSquaresKernels } from './sum-squares.ts';
import { swigluKernels } from './swiglu.ts';

const FUSED_KERNELS: readonly FusedKernel[][] = [
  adamwKernels, // the optimizer step
  sumSquaresKernels, // gradient norms
  swigluKernels, // SwiGLU's gate
  ropeKernels, // rotate-half RoPE
  rowScaleKernels, // per-tower RMSNorm weights
  headsGatherKernels, // MoT attention's row permutation + regrouping by head
  segmentLinearKernels, // per-tower linear layers (wasm only)
  causalAttentionKernels, // attention's products up to the diagonal (wasm only)
];

let registeredOnce = false;

/** Register every kernel of the table for the backends it has implementations for (idempotent). */
export function registerFusedKernels(): void {
  if (registeredOnce) return;
  registeredOnce = true;
  for (const kernel of FUSED_KERNELS.flat()) {
    for (const [backendName, kernelFunc] of [
      ['wasm', kernel.wasm],
      ['cpu', kernel.cpu],
    ] as const) {
      if (!kernelFunc) continue;
      if (tf.getKernel(kernel.name, backendName)) tf.unregisterKernel(kernel.name, backendName);
      tf.registerKernel({ kernelName: kernel.name, backendName, kernelFunc });
    }
  }
}
