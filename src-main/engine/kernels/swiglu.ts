/**
 * MotlabSwiGLU / MotlabSwiGLUGrad: SwiGLU's gate h = (a·s)·b with s = sigmoid(a), and its two
 * gradients, one kernel each way. The sigmoid itself stays tfjs's, so its approximation is
 * unchanged; the rest is the same float32 operations in the same order as the tf ops.
 */
import * as tf from '@tensorflow/tfjs-core';
import { elementwiseBody, op } from '../simd/assembler.ts';
import { simdModule } from '../simd/module.ts';
import { heapOf, type CpuBackend, type KernelArgs, type WasmBackend } from '../tfjs-fixes/backend-memory.ts';
import { cpuElementwise, float32Inputs, registered, wasmElementwise, type FusedKernel } from './shared.ts';

export const SWIGLU_KERNEL = 'MotlabSwiGLU';
export const SWIGLU_GRAD_KERNEL = 'MotlabSwiGLUGrad';

/**
 * (a·sigmoid(a))·b — SwiGLU's gate — as one kernel forward and one backward, or null where the
 * kernels are not registered for the active backend (then write it with tf ops).
 */
export function fusedSwiGLU(a: tf.Tensor, b: tf.Tensor): tf.Tensor | null {
  if (!registered(SWIGLU_KERNEL, SWIGLU_GRAD_KERNEL)) return null;
  const gate = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, y, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    const s = tf.sigmoid(x);
    save([x, s, y]);
    const value = tf.engine().runKernel(SWIGLU_KERNEL, { a: x, s, b: y }) as tf.Tensor;
    return {
      value,
      gradFunc: (dy: tf.Tensor, [xs, ss, ys]: tf.Tensor[]) =>
        tf.engine().runKernel(SWIGLU_GRAD_KERNEL, { dy, a: xs, s: ss, b: ys }) as tf.Tensor[],
    };
  });
  return gate(a, b);
}

/** out = (a·s)·b in float32, op by op as tf.mul(tf.mul(a, s), b). */
function swigluInto(a: Float32Array, s: Float32Array, b: Float32Array, out: Float32Array): void {
  const f = Math.fround;
  for (let i = 0; i < a.length; i++) out[i] = f(f(a[i] * s[i]) * b[i]);
}

/** The gradients of (a·s)·b, s = sigmoid(a), as tfjs's mul and sigmoid gradients compute them. */
function swigluGradInto(dy: Float32Array, a: Float32Array, s: Float32Array, b: Float32Array, da: Float32Array, db: Float32Array): void {
  const f = Math.fround;
  for (let i = 0; i < a.length; i++) {
    const dsilu = f(dy[i] * b[i]);
    db[i] = f(dy[i] * f(a[i] * s[i]));
    da[i] = f(f(dsilu * s[i]) + f(f(dsilu * a[i]) * f(s[i] * f(1 - s[i]))));
  }
}

// --- wasm ---------------------------------------------------------------------------------------

// swigluFwd(a, s, b, out, n): out = (a·s)·b, where s = sigmoid(a) computed by tfjs.
function swigluFwdBody(): number[] {
  const [A, S, B, OUT] = [0, 1, 2, 3];
  return elementwiseBody(4, 0, ({ lanes: l, at }) => [
    ...at(OUT),
    ...at(A),
    ...l.load,
    ...at(S),
    ...l.load,
    ...l.mul,
    ...at(B),
    ...l.load,
    ...l.mul,
    ...l.store,
  ]);
}

// swigluBwd(dy, a, s, b, da, db, n), the gradients of (a·s)·b as tfjs computes them op by op:
//   dsilu = dy·b; db = dy·(a·s); da = dsilu·s + (dsilu·a)·(s·(1 − s))
function swigluBwdBody(): number[] {
  const [DY, A, S, B, DA, DB] = [0, 1, 2, 3, 4, 5];
  return elementwiseBody(6, 4, ({ lanes: l, at, tmp, one }) => {
    const [dy, a, sg, dsilu] = [tmp(0), tmp(1), tmp(2), tmp(3)];
    return [
      ...at(DY),
      ...l.load,
      ...op.set(dy),
      ...at(A),
      ...l.load,
      ...op.set(a),
      ...at(S),
      ...l.load,
      ...op.set(sg),
      ...op.get(dy),
      ...at(B),
      ...l.load,
      ...l.mul,
      ...op.set(dsilu),
      ...at(DB),
      ...op.get(dy),
      ...op.get(a),
      ...op.get(sg),
      ...l.mul,
      ...l.mul,
      ...l.store,
      ...at(DA),
      ...op.get(dsilu),
      ...op.get(sg),
      ...l.mul,
      ...op.get(dsilu),
      ...op.get(a),
      ...l.mul,
      ...op.get(sg),
      ...one,
      ...op.get(sg),
      ...l.sub,
      ...l.mul,
      ...l.mul,
      ...l.add,
      ...l.store,
    ];
  });
}

const swigluSimd = simdModule<{
  /** out = (a·s)·b elementwise. */
  swigluFwd(a: number, s: number, b: number, out: number, n: number): void;
  /** The gradients of (a·s)·b, s = sigmoid(a), with respect to a and b. */
  swigluBwd(dy: number, a: number, s: number, b: number, da: number, db: number, n: number): void;
}>({
  swigluFwd: { params: ['i32', 'i32', 'i32', 'i32', 'i32'], body: swigluFwdBody },
  swigluBwd: { params: ['i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32'], body: swigluBwdBody },
});

// --- backends -----------------------------------------------------------------------------------

const swigluJs = ([a, s, b, out]: Float32Array[]) => swigluInto(a, s, b, out);
const swigluGradJs = ([dy, a, s, b, da, db]: Float32Array[]) => swigluGradInto(dy, a, s, b, da, db);

function swigluWasm(args: KernelArgs): tf.TensorInfo {
  const backend = args.backend as WasmBackend;
  const ins = float32Inputs(args, ['a', 's', 'b'], SWIGLU_KERNEL);
  const simd = swigluSimd.on(heapOf(backend));
  return wasmElementwise(backend, ins, 1, ins[0], simd && (([a, s, b, out], n) => simd.swigluFwd(a, s, b, out, n)), swigluJs)[0];
}

function swigluGradWasm(args: KernelArgs): tf.TensorInfo[] {
  const backend = args.backend as WasmBackend;
  const ins = float32Inputs(args, ['dy', 'a', 's', 'b'], SWIGLU_GRAD_KERNEL);
  const simd = swigluSimd.on(heapOf(backend));
  return wasmElementwise(
    backend,
    ins,
    2,
    ins[1],
    simd && (([dy, a, s, b, da, db], n) => simd.swigluBwd(dy, a, s, b, da, db, n)),
    swigluGradJs,
  );
}

const swigluCpu = (args: KernelArgs) =>
  cpuElementwise(args.backend as CpuBackend, float32Inputs(args, ['a', 's', 'b'], SWIGLU_KERNEL), 1, swigluJs)[0];
const swigluGradCpu = (args: KernelArgs) =>
  cpuElementwise(args.backend as CpuBackend, float32Inputs(args, ['dy', 'a', 's', 'b'], SWIGLU_GRAD_KERNEL), 2, swigluGradJs);

export const swigluKernels: FusedKernel[] = [
  { name: SWIGLU_KERNEL, wasm: swigluWasm, cpu: swigluCpu },
  { name: SWIGLU_GRAD_KERNEL, wasm: swigluGradWasm, cpu: swigluGradCpu },
];
