/**
 * What every fused kernel file (./<name>.ts) is made of: the table-entry type it exports and
 * the small helpers their backend implementations share.
 */
import * as tf from '@tensorflow/tfjs-core';
import { heapF32, offsetOf, type CpuBackend, type KernelArgs, type WasmBackend } from '../tfjs-fixes/backend-memory.ts';

type Impl = (args: KernelArgs) => tf.TensorInfo | tf.TensorInfo[];

/**
 * One tfjs kernel of ours and its implementation per backend. A backend without one does not get
 * the kernel, and the public op falls back to tf ops there (see `registered`).
 */
export interface FusedKernel {
  name: string;
  wasm?: Impl;
  cpu?: Impl;
}

/** Are all these kernels registered for the active backend? (Each public op asks this once per call.) */
export const registered = (...names: string[]): boolean => names.every((name) => tf.getKernel(name, tf.getBackend()) !== undefined);

/** The named inputs, checked to be float32 tensors of one size. */
export function float32Inputs(args: KernelArgs, names: string[], kernel: string): tf.TensorInfo[] {
  const ts = names.map((k) => args.inputs[k] as tf.TensorInfo);
  const n = tf.util.sizeFromShape(ts[0].shape);
  for (const t of ts) {
    if (t.dtype !== 'float32' || tf.util.sizeFromShape(t.shape) !== n)
      throw new Error(`${kernel}: ${names.join(', ')} must be float32 tensors of one size`);
  }
  return ts;
}

/** Run `outputs` float32 outputs shaped like `like` through a SIMD function, or plain JS on heap views. */
export function wasmElementwise(
  backend: WasmBackend,
  inputs: tf.TensorInfo[],
  outputs: number,
  like: tf.TensorInfo,
  simd: ((offsets: number[], n: number) => void) | null,
  js: (views: Float32Array[]) => void,
): tf.TensorInfo[] {
  const outs = Array.from({ length: outputs }, () => backend.makeOutput(like.shape, 'float32'));
  const all = [...inputs, ...outs];
  const n = tf.util.sizeFromShape(like.shape);
  if (simd)
    simd(
      all.map((t) => offsetOf(backend, t)),
      n,
    );
  else js(all.map((t) => heapF32(backend, t)));
  return outs;
}

/** The same on cpu: `js` over the inputs' values and fresh outputs shaped like the first input. */
export function cpuElementwise(
  backend: CpuBackend,
  inputs: tf.TensorInfo[],
  outputs: number,
  js: (views: Float32Array[]) => void,
): tf.TensorInfo[] {
  const ins = inputs.map((t) => backend.readSync(t.dataId) as Float32Array);
  const outs = Array.from({ length: outputs }, () => new Float32Array(ins[0].length));
  js([...ins, ...outs]);
  return outs.map((o) => backend.makeTensorInfo(inputs[0].shape, 'float32', o));
}

// ---------------------------------------------------------------------------------------------
// Kernels with one weight per run of rows (a MoT tower's tokens): inputs w0, w1, … and attribute sizes.

export interface SegmentAttrs {
  sizes: number[];
}

/** The weights w0 … w{count−1} of a segment kernel's inputs. */
export function segmentWeights(args: KernelArgs, count: number): tf.TensorInfo[] {
  return Array.from({ length: count }, (_, t) => args.inputs[`w${t}`] as tf.TensorInfo);
}

/** Weights as a segment kernel's named inputs w0, w1, …. */
export const weightsMap = (list: tf.Tensor[]): Record<string, tf.Tensor> => Object.fromEntries(list.map((w, t) => [`w${t}`, w]));
