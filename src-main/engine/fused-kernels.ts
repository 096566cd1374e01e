/**
 * Our own fused kernels (not tfjs's), registered for the wasm and cpu backends by
 * `installTfjsFixes`. Each replaces a chain of tfjs kernels — each a pass over memory plus JS
 * dispatch and, under tf.variableGrads, saved tensors and tape nodes — with one pass, computing
 * the same float32 operations in the same order, so results are bit-identical to the chain
 * (tested on both backends). On wasm they run the SIMD loops of wasm-simd.ts on the backend's
 * heap (plain JS on heap views where that module cannot load); on cpu, plain JS.
 * The helpers below (fusedAdamW, sumOfSquares, fusedSwiGLU, fusedRope) return null or use the
 * tf ops themselves on backends without the kernel (e.g. tfjs-node).
 *
 *  - MotlabAdamW: one parameter's whole AdamW update (grad scale, moments, decay, step).
 *  - MotlabSumSquares: Σx² of many tensors in one kernel and one read-back (gradient norms).
 *  - MotlabSwiGLU / MotlabSwiGLUGrad: (a·sigmoid(a))·b and its two gradients (the sigmoid
 *    itself stays tfjs's, so its approximation is unchanged).
 *  - MotlabRope: rotate-half RoPE x·cos + rotate_half(x)·sin and its gradient.
 *  - MotlabRowScale / MotlabRowScaleGrad: x·w_t with a different weight vector w_t for each run
 *    of rows (per-tower RMSNorm weights) and its gradients, the weights' summed over each run's
 *    rows in float32, row after row (as the scatter-add of a gathered weight would).
 *  - MotlabHeadsGather: a row permutation fused with attention's regrouping by head
 *    ([N, J·hd] rows in tower order ↔ [J, N, hd] in sequence order), a copy each way instead
 *    of a gather plus a 4-D transpose.
 *  - MotlabSegmentLinear / MotlabSegmentLinearGradW (wasm only): y = x·W_tᵀ with a different
 *    weight W_t for each run of rows (a MoT tower's tokens), and its gradients — the same XNNPACK
 *    call per run as a split, per-tower matMuls and a concat would make, minus the split, the
 *    concat and their gradients (copies, and ~10 tfjs ops per layer and direction).
 */
import * as tf from '@tensorflow/tfjs-core';
import { fusedLoops } from './wasm-simd.ts';
import {
  disposeView,
  tempView,
  transposeLast2,
  weightView,
  xnnMatMulRows,
  type CpuBackend,
  type KernelArgs,
  type WasmBackend,
} from './tfjs-fixes.ts';

// ---------------------------------------------------------------------------------------------
// AdamW and per-tensor sums of squares (the optimizer step).

export const ADAMW_KERNEL = 'MotlabAdamW';
export const SUM_SQUARES_KERNEL = 'MotlabSumSquares';

/**
 * Attributes of one AdamW update; every number is used as a float32, exactly as the tf ops
 * `g·scale`, `m·beta1 + g·(1−beta1)`, `v·beta2 + g²·(1−beta2)`, `p·decay − (m/bc1 / (sqrt(v/bc2) + eps))·lr`.
 */
export interface AdamWAttrs {
  scale: number;
  beta1: number;
  beta2: number;
  eps: number;
  bc1: number;
  bc2: number;
  decay: number;
  lr: number;
}

/** The AdamW update in plain JS, rounding to float32 after every operation as the tf ops do. */
export function adamwInto(
  p: Float32Array,
  g: Float32Array,
  m: Float32Array,
  v: Float32Array,
  pOut: Float32Array,
  mOut: Float32Array,
  vOut: Float32Array,
  a: AdamWAttrs,
): void {
  const f = Math.fround;
  const [scale, b1, c1, b2, c2, bc1, bc2, eps, decay, lr] = [
    a.scale,
    a.beta1,
    1 - a.beta1,
    a.beta2,
    1 - a.beta2,
    a.bc1,
    a.bc2,
    a.eps,
    a.decay,
    a.lr,
  ].map(f);
  for (let i = 0; i < p.length; i++) {
    const gs = f(g[i] * scale);
    const m2 = f(f(m[i] * b1) + f(gs * c1));
    const v2 = f(f(v[i] * b2) + f(f(gs * gs) * c2));
    mOut[i] = m2;
    vOut[i] = v2;
    pOut[i] = f(f(p[i] * decay) - f(f(f(m2 / bc1) / f(f(Math.sqrt(f(v2 / bc2))) + eps)) * lr));
  }
}

function adamwInputs(args: KernelArgs): tf.TensorInfo[] {
  const ts = ['p', 'g', 'm', 'v'].map((k) => args.inputs[k] as tf.TensorInfo);
  const n = tf.util.sizeFromShape(ts[0].shape);
  for (const t of ts) {
    if (t.dtype !== 'float32' || tf.util.sizeFromShape(t.shape) !== n)
      throw new Error(`${ADAMW_KERNEL}: p, g, m, v must be float32 tensors of one size`);
  }
  return ts;
}

function adamwWasm(args: KernelArgs): tf.TensorInfo[] {
  const backend = args.backend as WasmBackend;
  const [p, g, m, v] = adamwInputs(args);
  const a = args.attrs as unknown as AdamWAttrs;
  const outs = [0, 1, 2].map(() => backend.makeOutput(p.shape, 'float32'));
  const n = tf.util.sizeFromShape(p.shape);
  const loops = fusedLoops(backend.wasm.asm?.memory);
  if (loops) {
    const at = (t: tf.TensorInfo) => backend.dataIdMap.get(t.dataId).memoryOffset;
    loops.adamw(
      at(p),
      at(g),
      at(m),
      at(v),
      at(outs[0]),
      at(outs[1]),
      at(outs[2]),
      n,
      a.scale,
      a.beta1,
      1 - a.beta1,
      a.beta2,
      1 - a.beta2,
      a.bc1,
      a.bc2,
      a.eps,
      a.decay,
      a.lr,
    );
  } else {
    const view = (t: tf.TensorInfo) => backend.typedArrayFromHeap(t) as Float32Array;
    adamwInto(view(p), view(g), view(m), view(v), view(outs[0]), view(outs[1]), view(outs[2]), a);
  }
  return outs;
}

function adamwCpu(args: KernelArgs): tf.TensorInfo[] {
  const backend = args.backend as CpuBackend;
  const [p, g, m, v] = adamwInputs(args).map((t) => backend.readSync(t.dataId) as Float32Array);
  const outs = [0, 1, 2].map(() => new Float32Array(p.length));
  adamwInto(p, g, m, v, outs[0], outs[1], outs[2], args.attrs as unknown as AdamWAttrs);
  const shape = (args.inputs.p as tf.TensorInfo).shape;
  return outs.map((o) => backend.makeTensorInfo(shape, 'float32', o));
}

function squaresInputs(args: KernelArgs): tf.TensorInfo[] {
  const ts = Object.values(args.inputs) as tf.TensorInfo[];
  if (ts.some((t) => t.dtype !== 'float32')) throw new Error(`${SUM_SQUARES_KERNEL}: inputs must be float32`);
  return ts;
}

function sumSquaresWasm(args: KernelArgs): tf.TensorInfo {
  const backend = args.backend as WasmBackend;
  const ts = squaresInputs(args);
  const out = backend.makeOutput([ts.length], 'float32');
  const loops = fusedLoops(backend.wasm.asm?.memory);
  const sums = ts.map((t) => {
    if (loops) return loops.sumsq(backend.dataIdMap.get(t.dataId).memoryOffset, tf.util.sizeFromShape(t.shape));
    // Same order and float32 rounding as tfjs-wasm's Sum of a Square.
    const x = backend.typedArrayFromHeap(t);
    let acc = 0;
    for (let i = 0; i < x.length; i++) acc = Math.fround(acc + Math.fround(x[i] * x[i]));
    return acc;
  });
  (backend.typedArrayFromHeap(out) as Float32Array).set(sums);
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

/** Σx² of each tensor, read back in one go: the fused kernel where registered, else tf ops. */
export function sumOfSquares(tensors: tf.Tensor[]): Float32Array {
  if (tensors.length === 0) return new Float32Array(0);
  if (tf.getKernel(SUM_SQUARES_KERNEL, tf.getBackend())) {
    const out = tf.engine().runKernel(SUM_SQUARES_KERNEL, tensors as unknown as tf.NamedTensorMap) as tf.Tensor;
    const values = out.dataSync() as Float32Array;
    out.dispose();
    return values;
  }
  return tf.tidy(() => tf.stack(tensors.map((g) => tf.sum(tf.square(g)))).dataSync() as Float32Array);
}

/** One fused AdamW update → [p', m', v'], or null where the kernel is not registered (then use tf ops). */
export function fusedAdamW(p: tf.Tensor, g: tf.Tensor, m: tf.Tensor, v: tf.Tensor, attrs: AdamWAttrs): tf.Tensor[] | null {
  if (!tf.getKernel(ADAMW_KERNEL, tf.getBackend())) return null;
  return tf.engine().runKernel(ADAMW_KERNEL, { p, g, m, v }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
}

// ---------------------------------------------------------------------------------------------
// SwiGLU's gate: h = (a·s)·b with s = sigmoid(a), and its gradients.

export const SWIGLU_KERNEL = 'MotlabSwiGLU';
export const SWIGLU_GRAD_KERNEL = 'MotlabSwiGLUGrad';

/** out = (a·s)·b in float32, op by op as tf.mul(tf.mul(a, s), b). */
export function swigluInto(a: Float32Array, s: Float32Array, b: Float32Array, out: Float32Array): void {
  const f = Math.fround;
  for (let i = 0; i < a.length; i++) out[i] = f(f(a[i] * s[i]) * b[i]);
}

/** The gradients of (a·s)·b, s = sigmoid(a), as tfjs's mul and sigmoid gradients compute them. */
export function swigluGradInto(
  dy: Float32Array,
  a: Float32Array,
  s: Float32Array,
  b: Float32Array,
  da: Float32Array,
  db: Float32Array,
): void {
  const f = Math.fround;
  for (let i = 0; i < a.length; i++) {
    const dsilu = f(dy[i] * b[i]);
    db[i] = f(dy[i] * f(a[i] * s[i]));
    da[i] = f(f(dsilu * s[i]) + f(f(dsilu * a[i]) * f(s[i] * f(1 - s[i]))));
  }
}

function float32Inputs(args: KernelArgs, names: string[], kernel: string): tf.TensorInfo[] {
  const ts = names.map((k) => args.inputs[k] as tf.TensorInfo);
  const n = tf.util.sizeFromShape(ts[0].shape);
  for (const t of ts) {
    if (t.dtype !== 'float32' || tf.util.sizeFromShape(t.shape) !== n)
      throw new Error(`${kernel}: ${names.join(', ')} must be float32 tensors of one size`);
  }
  return ts;
}

/** Run `outputs` float32 outputs shaped like `like` through the SIMD loop, or plain JS on heap views. */
function wasmElementwise(
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
      all.map((t) => backend.dataIdMap.get(t.dataId).memoryOffset),
      n,
    );
  else js(all.map((t) => backend.typedArrayFromHeap(t) as Float32Array));
  return outs;
}

function cpuElementwise(
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

const swigluJs = ([a, s, b, out]: Float32Array[]) => swigluInto(a, s, b, out);
const swigluGradJs = ([dy, a, s, b, da, db]: Float32Array[]) => swigluGradInto(dy, a, s, b, da, db);

function swigluWasm(args: KernelArgs): tf.TensorInfo {
  const backend = args.backend as WasmBackend;
  const ins = float32Inputs(args, ['a', 's', 'b'], SWIGLU_KERNEL);
  const loops = fusedLoops(backend.wasm.asm?.memory);
  return wasmElementwise(backend, ins, 1, ins[0], loops && (([a, s, b, out], n) => loops.swigluFwd(a, s, b, out, n)), swigluJs)[0];
}

function swigluGradWasm(args: KernelArgs): tf.TensorInfo[] {
  const backend = args.backend as WasmBackend;
  const ins = float32Inputs(args, ['dy', 'a', 's', 'b'], SWIGLU_GRAD_KERNEL);
  const loops = fusedLoops(backend.wasm.asm?.memory);
  return wasmElementwise(
    backend,
    ins,
    2,
    ins[1],
    loops && (([dy, a, s, b, da, db], n) => loops.swigluBwd(dy, a, s, b, da, db, n)),
    swigluGradJs,
  );
}

const swigluCpu = (args: KernelArgs) =>
  cpuElementwise(args.backend as CpuBackend, float32Inputs(args, ['a', 's', 'b'], SWIGLU_KERNEL), 1, swigluJs)[0];
const swigluGradCpu = (args: KernelArgs) =>
  cpuElementwise(args.backend as CpuBackend, float32Inputs(args, ['dy', 'a', 's', 'b'], SWIGLU_GRAD_KERNEL), 2, swigluGradJs);

const registered = (name: string) => tf.getKernel(name, tf.getBackend()) !== undefined;

/**
 * (a·sigmoid(a))·b — SwiGLU's gate — as one kernel forward and one backward, or null where the
 * kernels are not registered for the active backend (then write it with tf ops).
 */
export function fusedSwiGLU(a: tf.Tensor, b: tf.Tensor): tf.Tensor | null {
  if (!registered(SWIGLU_KERNEL) || !registered(SWIGLU_GRAD_KERNEL)) return null;
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

// ---------------------------------------------------------------------------------------------
// Rotate-half RoPE.

export const ROPE_KERNEL = 'MotlabRope';

/**
 * Rotate-half RoPE of rows of hd values (row r at position r mod S), op by op as
 * x·cos + rotate_half(x)·sin with rotate_half(x) = [−x2, x1]; `inverse` gives the gradient,
 * dy·cos + rotate_halfᵀ(dy·sin).
 */
export function ropeInto(
  x: Float32Array,
  cos: Float32Array,
  sin: Float32Array,
  out: Float32Array,
  seqLen: number,
  hd: number,
  inverse: boolean,
): void {
  const f = Math.fround;
  const h = hd / 2;
  for (let r = 0; r * hd < x.length; r++) {
    const o = r * hd;
    const t = (r % seqLen) * hd;
    for (let j = 0; j < h; j++) {
      const [x1, x2] = [x[o + j], x[o + j + h]];
      if (inverse) {
        out[o + j] = f(f(x1 * cos[t + j]) + f(x2 * sin[t + j + h]));
        out[o + j + h] = f(f(x2 * cos[t + j + h]) - f(x1 * sin[t + j]));
      } else {
        out[o + j] = f(f(x1 * cos[t + j]) - f(x2 * sin[t + j]));
        out[o + j + h] = f(f(x2 * cos[t + j + h]) + f(x1 * sin[t + j + h]));
      }
    }
  }
}

function ropeShape(args: KernelArgs): {
  x: tf.TensorInfo;
  cos: tf.TensorInfo;
  sin: tf.TensorInfo;
  seqLen: number;
  hd: number;
  inverse: boolean;
} {
  const [x, cos, sin] = ['x', 'cos', 'sin'].map((k) => args.inputs[k] as tf.TensorInfo);
  const r = x.shape.length;
  const [seqLen, hd] = cos.shape;
  if (
    r < 2 ||
    x.shape[r - 2] !== seqLen ||
    x.shape[r - 1] !== hd ||
    hd % 2 !== 0 ||
    sin.shape.join() !== cos.shape.join() ||
    [x, cos, sin].some((t) => t.dtype !== 'float32')
  )
    throw new Error(
      `${ROPE_KERNEL}: x [..., S, hd] and cos, sin [S, hd] (hd even) must be float32, got [${x.shape}], [${cos.shape}], [${sin.shape}]`,
    );
  return { x, cos, sin, seqLen, hd, inverse: Boolean((args.attrs ?? {}).inverse) };
}

function ropeWasm(args: KernelArgs): tf.TensorInfo {
  const backend = args.backend as WasmBackend;
  const { x, cos, sin, seqLen, hd, inverse } = ropeShape(args);
  const loops = hd % 8 === 0 ? fusedLoops(backend.wasm.asm?.memory) : null;
  const rows = tf.util.sizeFromShape(x.shape) / hd;
  return wasmElementwise(
    backend,
    [x, cos, sin],
    1,
    x,
    loops && (([xo, c, s, out]) => loops.rope(xo, c, s, out, rows, seqLen, hd, inverse ? 1 : 0)),
    ([xv, c, s, out]) => ropeInto(xv, c, s, out, seqLen, hd, inverse),
  )[0];
}

function ropeCpu(args: KernelArgs): tf.TensorInfo {
  const backend = args.backend as CpuBackend;
  const { x, cos, sin, seqLen, hd, inverse } = ropeShape(args);
  const [xv, c, s] = [x, cos, sin].map((t) => backend.readSync(t.dataId) as Float32Array);
  const out = new Float32Array(xv.length);
  ropeInto(xv, c, s, out, seqLen, hd, inverse);
  return backend.makeTensorInfo(x.shape, 'float32', out);
}

/** RoPE of x [..., S, hd] with tables cos, sin [S, hd] as one kernel each way, or null where not registered. */
export function fusedRope(x: tf.Tensor, cos: tf.Tensor, sin: tf.Tensor): tf.Tensor | null {
  if (!registered(ROPE_KERNEL)) return null;
  const rope = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [input] = args as [tf.Tensor];
    const value = tf.engine().runKernel(ROPE_KERNEL, { x: input, cos, sin }, { inverse: false }) as tf.Tensor;
    return { value, gradFunc: (dy: tf.Tensor) => tf.engine().runKernel(ROPE_KERNEL, { x: dy, cos, sin }, { inverse: true }) as tf.Tensor };
  });
  return rope(x);
}

// ---------------------------------------------------------------------------------------------
// Linear layers with one weight per run of rows (MoT towers).

export const SEGMENT_LINEAR_KERNEL = 'MotlabSegmentLinear';
export const SEGMENT_LINEAR_GRAD_W_KERNEL = 'MotlabSegmentLinearGradW';

interface SegmentAttrs {
  sizes: number[];
}

function segmentWeights(args: KernelArgs, count: number): tf.TensorInfo[] {
  return Array.from({ length: count }, (_, t) => args.inputs[`w${t}`] as tf.TensorInfo);
}

/**
 * mode 'y':  x [N, k], w_t [n, k] → y [N, n], rows of run t times w_tᵀ (a transposed copy of w_t
 *            as XNNPACK's weights, as the matMul fast path does for transposeB).
 * mode 'dx': x = dy [N, n], w_t [n, k] → dx [N, k], rows of run t times w_t (w_t's packing cached).
 */
function segmentLinearWasm(args: KernelArgs): tf.TensorInfo {
  const backend = args.backend as WasmBackend;
  const { sizes, mode } = args.attrs as unknown as SegmentAttrs & { mode: 'y' | 'dx' };
  const x = args.inputs.x as tf.TensorInfo;
  const ws = segmentWeights(args, sizes.length);
  const [rows, inner] = x.shape;
  const [wOut, wIn] = ws[0].shape;
  const k = mode === 'y' ? wIn : wOut;
  const n = mode === 'y' ? wOut : wIn;
  if (
    x.shape.length !== 2 ||
    inner !== k ||
    rows !== sizes.reduce((a, b) => a + b, 0) ||
    [x, ...ws].some((t) => t.dtype !== 'float32') ||
    ws.some((w) => w.shape.join() !== ws[0].shape.join())
  )
    throw new Error(`${SEGMENT_LINEAR_KERNEL}: x [${x.shape}] does not fit weights [${ws[0].shape}] and runs ${sizes}`);
  const out = backend.makeOutput([rows, n], 'float32');
  const xOff = backend.dataIdMap.get(x.dataId).memoryOffset;
  const outOff = backend.dataIdMap.get(out.dataId).memoryOffset;
  let start = 0;
  sizes.forEach((size, t) => {
    if (size > 0) {
      if (mode === 'y') {
        const wT = transposeLast2(ws[t], backend);
        const bId = tempView(backend, backend.dataIdMap.get(wT.dataId).memoryOffset, k * n);
        try {
          xnnMatMulRows(backend, xOff + 4 * start * k, size, k, bId, n, outOff + 4 * start * n);
        } finally {
          disposeView(backend, bId);
          backend.disposeData(wT.dataId);
        }
      } else {
        const bId = weightView(backend, ws[t].dataId, backend.dataIdMap.get(ws[t].dataId).memoryOffset, k, n);
        xnnMatMulRows(backend, xOff + 4 * start * k, size, k, bId, n, outOff + 4 * start * n);
      }
    }
    start += size;
  });
  return out;
}

/** dy [N, n], x [N, k] → dW_t = dy_tᵀ · x_t [n, k] per run (dy_t transposed by the SIMD loop, x_t as XNNPACK's weights). */
function segmentLinearGradWWasm(args: KernelArgs): tf.TensorInfo[] {
  const backend = args.backend as WasmBackend;
  const { sizes } = args.attrs as unknown as SegmentAttrs;
  const dy = args.inputs.dy as tf.TensorInfo;
  const x = args.inputs.x as tf.TensorInfo;
  const [rows, n] = dy.shape;
  const k = x.shape[1];
  const loops = fusedLoops(backend.wasm.asm?.memory);
  if (!loops || x.shape[0] !== rows || rows !== sizes.reduce((a, b) => a + b, 0))
    throw new Error(`${SEGMENT_LINEAR_GRAD_W_KERNEL}: dy [${dy.shape}] and x [${x.shape}] do not fit runs ${sizes}`);
  const outs = sizes.map(() => backend.makeOutput([n, k], 'float32'));
  let start = 0;
  sizes.forEach((size, t) => {
    const outOff = backend.dataIdMap.get(outs[t].dataId).memoryOffset;
    if (size === 0) backend.typedArrayFromHeap(outs[t]).fill(0);
    else {
      const dyT = backend.makeOutput([n, size], 'float32');
      const dyTOff = backend.dataIdMap.get(dyT.dataId).memoryOffset;
      loops.transpose(backend.dataIdMap.get(dy.dataId).memoryOffset + 4 * start * n, dyTOff, size, n);
      const bId = tempView(backend, backend.dataIdMap.get(x.dataId).memoryOffset + 4 * start * k, size * k);
      try {
        xnnMatMulRows(backend, dyTOff, n, size, bId, k, outOff);
      } finally {
        disposeView(backend, bId);
        backend.disposeData(dyT.dataId);
      }
    }
    start += size;
  });
  return outs;
}

/**
 * y = x·W_tᵀ for each run of rows (sizes[t] rows use ws[t], PyTorch layout [out, in]) — one
 * kernel each way on wasm; null elsewhere (then split, matMul per run, concat).
 */
export function fusedSegmentLinear(x: tf.Tensor2D, ws: tf.Tensor[], sizes: number[]): tf.Tensor2D | null {
  if (!registered(SEGMENT_LINEAR_KERNEL) || !registered(SEGMENT_LINEAR_GRAD_W_KERNEL)) return null;
  const weightsMap = (list: tf.Tensor[]) => Object.fromEntries(list.map((w, t) => [`w${t}`, w]));
  const linear = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const save = args[args.length - 1] as tf.GradSaveFunc;
    const [input, ...weights] = args.slice(0, -1) as tf.Tensor[];
    save([input, ...weights]);
    const value = tf.engine().runKernel(SEGMENT_LINEAR_KERNEL, { x: input, ...weightsMap(weights) }, {
      sizes,
      mode: 'y',
    } as unknown as tf.NamedAttrMap) as tf.Tensor2D;
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sx, ...sw] = saved;
        const dx = tf
          .engine()
          .runKernel(SEGMENT_LINEAR_KERNEL, { x: dy, ...weightsMap(sw) }, { sizes, mode: 'dx' } as unknown as tf.NamedAttrMap) as tf.Tensor;
        const dws = tf
          .engine()
          .runKernel(SEGMENT_LINEAR_GRAD_W_KERNEL, { dy, x: sx }, { sizes } as unknown as tf.NamedAttrMap) as tf.Tensor[];
        return [dx, ...dws];
      },
    };
  });
  return linear(x, ...ws) as tf.Tensor2D;
}

// ---------------------------------------------------------------------------------------------
// Row scaling with one weight vector per run of rows (per-tower RMSNorm weights).

export const ROW_SCALE_KERNEL = 'MotlabRowScale';
export const ROW_SCALE_GRAD_KERNEL = 'MotlabRowScaleGrad';

/** out[r, :] = x[r, :]·ws[t] for the rows of run t. */
export function rowScaleInto(x: Float32Array, ws: Float32Array[], sizes: number[], d: number, out: Float32Array): void {
  let r = 0;
  sizes.forEach((size, t) => {
    const w = ws[t];
    for (const end = r + size; r < end; r++) for (let j = 0; j < d; j++) out[r * d + j] = Math.fround(x[r * d + j] * w[j]);
  });
}

/** dx[r, :] = dy[r, :]·ws[t]; dws[t] (zeroed) += dy[r, :]·x[r, :], accumulated in float32 row after row. */
export function rowScaleGradInto(
  dy: Float32Array,
  x: Float32Array,
  ws: Float32Array[],
  sizes: number[],
  d: number,
  dx: Float32Array,
  dws: Float32Array[],
): void {
  const f = Math.fround;
  let r = 0;
  sizes.forEach((size, t) => {
    const [w, dw] = [ws[t], dws[t]];
    for (const end = r + size; r < end; r++) {
      for (let j = 0; j < d; j++) {
        dx[r * d + j] = f(dy[r * d + j] * w[j]);
        dw[j] = f(dw[j] + f(dy[r * d + j] * x[r * d + j]));
      }
    }
  });
}

function rowScaleShape(args: KernelArgs, xName: string): { x: tf.TensorInfo; ws: tf.TensorInfo[]; sizes: number[]; d: number } {
  const { sizes } = args.attrs as unknown as SegmentAttrs;
  const x = args.inputs[xName] as tf.TensorInfo;
  const ws = segmentWeights(args, sizes.length);
  const d = x.shape[1];
  if (
    x.shape.length !== 2 ||
    x.shape[0] !== sizes.reduce((a, b) => a + b, 0) ||
    ws.some((w) => w.shape.join() !== `${d}`) ||
    [x, ...ws].some((t) => t.dtype !== 'float32')
  )
    throw new Error(`${ROW_SCALE_KERNEL}: x [${x.shape}] does not fit weights [${ws[0]?.shape}] and runs ${sizes}`);
  return { x, ws, sizes, d };
}

function rowScaleWasm(args: KernelArgs): tf.TensorInfo {
  const backend = args.backend as WasmBackend;
  const { x, ws, sizes, d } = rowScaleShape(args, 'x');
  const out = backend.makeOutput(x.shape, 'float32');
  const loops = d % 4 === 0 ? fusedLoops(backend.wasm.asm?.memory) : null;
  const at = (t: tf.TensorInfo) => backend.dataIdMap.get(t.dataId).memoryOffset;
  if (!loops) {
    const view = (t: tf.TensorInfo) => backend.typedArrayFromHeap(t) as Float32Array;
    rowScaleInto(view(x), ws.map(view), sizes, d, view(out));
    return out;
  }
  let start = 0;
  sizes.forEach((size, t) => {
    loops.rowScaleFwd(at(x) + 4 * start * d, at(ws[t]), at(out) + 4 * start * d, size, d);
    start += size;
  });
  return out;
}

function rowScaleGradWasm(args: KernelArgs): tf.TensorInfo[] {
  const backend = args.backend as WasmBackend;
  const { x, ws, sizes, d } = rowScaleShape(args, 'x');
  const dy = args.inputs.dy as tf.TensorInfo;
  const dx = backend.makeOutput(x.shape, 'float32');
  const dws = ws.map(() => backend.makeOutput([d], 'float32'));
  dws.forEach((t) => backend.typedArrayFromHeap(t).fill(0));
  const loops = d % 4 === 0 ? fusedLoops(backend.wasm.asm?.memory) : null;
  const at = (t: tf.TensorInfo) => backend.dataIdMap.get(t.dataId).memoryOffset;
  if (!loops) {
    const view = (t: tf.TensorInfo) => backend.typedArrayFromHeap(t) as Float32Array;
    rowScaleGradInto(view(dy), view(x), ws.map(view), sizes, d, view(dx), dws.map(view));
    return [dx, ...dws];
  }
  let start = 0;
  sizes.forEach((size, t) => {
    const o = 4 * start * d;
    loops.rowScaleBwd(at(dy) + o, at(x) + o, at(ws[t]), at(dx) + o, at(dws[t]), size, d);
    start += size;
  });
  return [dx, ...dws];
}

function rowScaleCpu(args: KernelArgs): tf.TensorInfo {
  const backend = args.backend as CpuBackend;
  const { x, ws, sizes, d } = rowScaleShape(args, 'x');
  const read = (t: tf.TensorInfo) => backend.readSync(t.dataId) as Float32Array;
  const out = new Float32Array(tf.util.sizeFromShape(x.shape));
  rowScaleInto(read(x), ws.map(read), sizes, d, out);
  return backend.makeTensorInfo(x.shape, 'float32', out);
}

function rowScaleGradCpu(args: KernelArgs): tf.TensorInfo[] {
  const backend = args.backend as CpuBackend;
  const { x, ws, sizes, d } = rowScaleShape(args, 'x');
  const read = (t: tf.TensorInfo) => backend.readSync(t.dataId) as Float32Array;
  const dx = new Float32Array(tf.util.sizeFromShape(x.shape));
  const dws = ws.map(() => new Float32Array(d));
  rowScaleGradInto(read(args.inputs.dy as tf.TensorInfo), read(x), ws.map(read), sizes, d, dx, dws);
  return [backend.makeTensorInfo(x.shape, 'float32', dx), ...dws.map((w) => backend.makeTensorInfo([d], 'float32', w))];
}

/** x·w_t for each run of rows (sizes[t] rows use ws[t], shape [d]) — one kernel each way; null where not registered. */
export function fusedRowScale(x: tf.Tensor2D, ws: tf.Tensor[], sizes: number[]): tf.Tensor2D | null {
  if (!registered(ROW_SCALE_KERNEL) || !registered(ROW_SCALE_GRAD_KERNEL)) return null;
  const weightsMap = (list: tf.Tensor[]) => Object.fromEntries(list.map((w, t) => [`w${t}`, w]));
  const attrs = { sizes } as unknown as tf.NamedAttrMap;
  const scale = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const save = args[args.length - 1] as tf.GradSaveFunc;
    const [input, ...weights] = args.slice(0, -1) as tf.Tensor[];
    save([input, ...weights]);
    return {
      value: tf.engine().runKernel(ROW_SCALE_KERNEL, { x: input, ...weightsMap(weights) }, attrs) as tf.Tensor2D,
      gradFunc: (dy: tf.Tensor, [sx, ...sw]: tf.Tensor[]) =>
        tf.engine().runKernel(ROW_SCALE_GRAD_KERNEL, { dy, x: sx, ...weightsMap(sw) }, attrs) as tf.Tensor[],
    };
  });
  return scale(x, ...ws) as tf.Tensor2D;
}

// ---------------------------------------------------------------------------------------------
// Row permutation + regrouping by attention head.

export const HEADS_GATHER_KERNEL = 'MotlabHeadsGather';

/**
 * toHeads: out[j, p, :] = x[idx[p], j·hd … (j+1)·hd] (x [n, heads·hd] → [heads, n, hd]);
 * else:    out[r, j·hd …] = x[j, idx[r], :]          (x [heads, n, hd] → [n, heads·hd]).
 */
export function headsGatherInto(x: Float32Array, idx: Int32Array, heads: number, hd: number, toHeads: boolean, out: Float32Array): void {
  const n = idx.length;
  for (let p = 0; p < n; p++) {
    const q = idx[p];
    for (let j = 0; j < heads; j++) {
      const [src, dst] = toHeads ? [(q * heads + j) * hd, (j * n + p) * hd] : [(j * n + q) * hd, (p * heads + j) * hd];
      out.set(x.subarray(src, src + hd), dst);
    }
  }
}

function headsGatherShape(args: KernelArgs): {
  x: tf.TensorInfo;
  idx: tf.TensorInfo;
  heads: number;
  hd: number;
  toHeads: boolean;
  outShape: number[];
} {
  const x = args.inputs.x as tf.TensorInfo;
  const idx = args.inputs.indices as tf.TensorInfo;
  const { heads, toHeads } = args.attrs as unknown as { heads: number; toHeads: boolean };
  const n = idx.shape[0];
  const hd = toHeads ? x.shape[1] / heads : x.shape[2];
  const ok =
    x.dtype === 'float32' &&
    idx.dtype === 'int32' &&
    idx.shape.length === 1 &&
    Number.isInteger(hd) &&
    (toHeads ? x.shape.length === 2 && x.shape[0] === n : x.shape.length === 3 && x.shape[0] === heads && x.shape[1] === n);
  if (!ok) throw new Error(`${HEADS_GATHER_KERNEL}: x [${x.shape}] and indices [${idx.shape}] do not fit ${heads} heads`);
  return { x, idx, heads, hd, toHeads: Boolean(toHeads), outShape: toHeads ? [heads, n, hd] : [n, heads * hd] };
}

function checkPermutationRange(idx: ArrayLike<number>): void {
  for (let i = 0; i < idx.length; i++)
    if (!(idx[i] >= 0 && idx[i] < idx.length)) throw new Error(`${HEADS_GATHER_KERNEL}: index ${idx[i]} out of range`);
}

function headsGatherWasm(args: KernelArgs): tf.TensorInfo {
  const backend = args.backend as WasmBackend;
  const { x, idx, heads, hd, toHeads, outShape } = headsGatherShape(args);
  const out = backend.makeOutput(outShape, 'float32');
  checkPermutationRange(backend.typedArrayFromHeap(idx));
  const loops = fusedLoops(backend.wasm.asm?.memory);
  const at = (t: tf.TensorInfo) => backend.dataIdMap.get(t.dataId).memoryOffset;
  if (loops) loops.headsGather(at(x), at(out), at(idx), idx.shape[0], heads, hd, toHeads ? 1 : 0);
  else
    headsGatherInto(
      backend.typedArrayFromHeap(x) as Float32Array,
      backend.typedArrayFromHeap(idx) as Int32Array,
      heads,
      hd,
      toHeads,
      backend.typedArrayFromHeap(out) as Float32Array,
    );
  return out;
}

function headsGatherCpu(args: KernelArgs): tf.TensorInfo {
  const backend = args.backend as CpuBackend;
  const { x, idx, heads, hd, toHeads, outShape } = headsGatherShape(args);
  const indices = backend.readSync(idx.dataId) as Int32Array;
  checkPermutationRange(indices);
  const out = new Float32Array(tf.util.sizeFromShape(outShape));
  headsGatherInto(backend.readSync(x.dataId) as Float32Array, indices, heads, hd, toHeads, out);
  return backend.makeTensorInfo(outShape, 'float32', out);
}

function headsGather(x: tf.Tensor, index: tf.Tensor1D, inverse: tf.Tensor1D, heads: number, toHeads: boolean): tf.Tensor {
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [input] = args as [tf.Tensor];
    const run = (t: tf.Tensor, idx: tf.Tensor1D, forward: boolean) =>
      tf
        .engine()
        .runKernel(HEADS_GATHER_KERNEL, { x: t, indices: idx }, { heads, toHeads: forward } as unknown as tf.NamedAttrMap) as tf.Tensor;
    // The gradient of a permutation is the inverse permutation, regrouped the other way.
    return { value: run(input, index, toHeads), gradFunc: (dy: tf.Tensor) => run(dy, inverse, !toHeads) };
  });
  return op(x);
}

/**
 * Rows x [N, heads·hd] permuted by `index` (row p of the result's second axis is x's row
 * index[p]) and regrouped by head → [heads, N, hd]; `inverse` is index's inverse permutation.
 * Null where the kernel is not registered.
 */
export function fusedRowsToHeads(x: tf.Tensor2D, index: tf.Tensor1D, inverse: tf.Tensor1D, heads: number): tf.Tensor3D | null {
  return registered(HEADS_GATHER_KERNEL) ? (headsGather(x, index, inverse, heads, true) as tf.Tensor3D) : null;
}

/** The converse: y [heads, N, hd] → rows [N, heads·hd] with row r = y[:, index[r], :] concatenated. Null where not registered. */
export function fusedHeadsToRows(y: tf.Tensor3D, index: tf.Tensor1D, inverse: tf.Tensor1D): tf.Tensor2D | null {
  return registered(HEADS_GATHER_KERNEL) ? (headsGather(y, index, inverse, y.shape[0], false) as tf.Tensor2D) : null;
}

// ---------------------------------------------------------------------------------------------

/** Register every kernel above for wasm and cpu (installTfjsFixes calls this). */
export function registerFusedKernels(): void {
  const kernels: Array<[string, tf.KernelFunc, tf.KernelFunc]> = [
    [ADAMW_KERNEL, adamwWasm as unknown as tf.KernelFunc, adamwCpu as unknown as tf.KernelFunc],
    [SUM_SQUARES_KERNEL, sumSquaresWasm as tf.KernelFunc, sumSquaresCpu as tf.KernelFunc],
    [SWIGLU_KERNEL, swigluWasm as tf.KernelFunc, swigluCpu as tf.KernelFunc],
    [SWIGLU_GRAD_KERNEL, swigluGradWasm as unknown as tf.KernelFunc, swigluGradCpu as unknown as tf.KernelFunc],
    [ROPE_KERNEL, ropeWasm as tf.KernelFunc, ropeCpu as tf.KernelFunc],
    [ROW_SCALE_KERNEL, rowScaleWasm as tf.KernelFunc, rowScaleCpu as tf.KernelFunc],
    [ROW_SCALE_GRAD_KERNEL, rowScaleGradWasm as unknown as tf.KernelFunc, rowScaleGradCpu as unknown as tf.KernelFunc],
    [HEADS_GATHER_KERNEL, headsGatherWasm as tf.KernelFunc, headsGatherCpu as tf.KernelFunc],
  ];
  const register = (kernelName: string, backendName: string, kernelFunc: tf.KernelFunc) => {
    if (tf.getKernel(kernelName, backendName)) tf.unregisterKernel(kernelName, backendName);
    tf.registerKernel({ kernelName, backendName, kernelFunc });
  };
  for (const [kernelName, wasm, cpu] of kernels) {
    register(kernelName, 'wasm', wasm);
    register(kernelName, 'cpu', cpu);
  }
  // wasm only: on cpu the model splits, multiplies per run and concatenates.
  register(SEGMENT_LINEAR_KERNEL, 'wasm', segmentLinearWasm as tf.KernelFunc);
  register(SEGMENT_LINEAR_GRAD_W_KERNEL, 'wasm', segmentLinearGradWWasm as unknown as tf.KernelFunc);
}
