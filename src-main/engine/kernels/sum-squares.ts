/**
 * MotlabSumSquares: Σx² of many tensors in one kernel and one read-back (the gradient norms),
 * accumulated exactly as tfjs's Sum of a Square is on each backend.
 */
import * as tf from '@tensorflow/tfjs-core';
import { F32, I32, locals, loop, op, SCALAR } from '../simd/assembler.ts';
import { simdModule } from '../simd/module.ts';
import { heapF32, heapOf, offsetOf, type CpuBackend, type KernelArgs, type WasmBackend } from '../tfjs-fixes/backend-memory.ts';
import { registered, type FusedKernel } from './shared.ts';

export const SUM_SQUARES_KERNEL = 'MotlabSumSquares';

/** Σx² of each tensor, read back in one go: the fused kernel where registered, else tf ops. */
export function sumOfSquares(tensors: tf.Tensor[]): Float32Array {
  if (tensors.length === 0) return new Float32Array(0);
  if (registered(SUM_SQUARES_KERNEL)) {
    const out = tf.engine().runKernel(SUM_SQUARES_KERNEL, tensors as unknown as tf.NamedTensorMap) as tf.Tensor;
    const values = out.dataSync() as Float32Array;
    out.dispose();
    return values;
  }
  return tf.tidy(() => tf.stack(tensors.map((g) => tf.sum(tf.square(g)))).dataSync() as Float32Array);
}

// --- wasm: sumsq(x, n) → Σ x², accumulated in float32 one element at a time (as tfjs-wasm's Sum) ---

function sumSquaresBody(): number[] {
  const [X, N, i, end, acc] = [0, 1, 2, 3, 4];
  return [
    ...locals([2, I32], [1, F32]),
    ...op.get(N),
    ...op.i32(2),
    ...op.i32Shl,
    ...op.set(end),
    ...loop(i, end, SCALAR, [
      ...op.get(acc),
      ...op.get(X),
      ...op.get(i),
      ...op.i32Add,
      ...op.f32Load,
      ...op.get(X),
      ...op.get(i),
      ...op.i32Add,
      ...op.f32Load,
      ...op.f32Mul,
      ...op.f32Add,
      ...op.set(acc),
    ]),
    ...op.get(acc),
    ...op.end,
  ];
}

const sumSquaresSimd = simdModule<{ sumsq(x: number, n: number): number }>({
  sumsq: { params: ['i32', 'i32'], result: 'f32', body: sumSquaresBody },
});

function squaresInputs(args: KernelArgs): tf.TensorInfo[] {
  const ts = Object.values(args.inputs) as tf.TensorInfo[];
  if (ts.some((t) => t.dtype !== 'float32')) throw new Error(`${SUM_SQUARES_KERNEL}: inputs must be float32`);
  return ts;
}

function sumSquaresWasm(args: KernelArgs): tf.TensorInfo {
  const backend = args.backend as WasmBackend;
  const ts = squaresInputs(args);
  const out = backend.makeOutput([ts.length], 'float32');
  const simd = sumSquaresSimd.on(heapOf(backend));
  const sums = ts.map((t) => {
    if (simd) return simd.sumsq(offsetOf(backend, t), tf.util.sizeFromShape(t.shape));
    // Same order and float32 rounding as tfjs-wasm's Sum of a Square.
    const x = backend.typedArrayFromHeap(t);
    let acc = 0;
    for (let i = 0; i < x.length; i++) acc = Math.fround(acc + Math.fround(x[i] * x[i]));
    return acc;
  });
  heapF32(backend, out).set(sums);
  return out;
}

function sumSquaresCpu(args: KernelArgs): tf.TensorInfo {
  const backend = args.backend as CpuBackend;
  // As tfjs-cpu's Sum of a Square: float32 squares, accumulated in float64.
  const sums = squaresInputs(args).map((t) => {
    const x = backend.readSync(t.dataId) as Float32Array;
    let acc = 0;
    for (let i = 0; i < x.length; i++) acc += Math.fround(x[i] * x[i]);
    return acc;
  });
  return backend.makeTensorInfo([sums.length], 'float32', Float32Array.from(sums));
}

export const sumSquaresKernels: FusedKernel[] = [{ name: SUM_SQUARES_KERNEL, wasm: sumSquaresWasm, cpu: sumSquaresCpu }];
