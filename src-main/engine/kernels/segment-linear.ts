/**
 * MotlabSegmentLinear / MotlabSegmentLinearGradW (wasm only): y = x·W_tᵀ with a different weight
 * W_t for each run of rows (a MoT tower's tokens), and its gradients — the same XNNPACK call per
 * run as a split, per-tower matMuls and a concat would make, minus the split, the concat and
 * their gradients (copies, and ~10 tfjs ops per layer and direction). On cpu the caller splits,
 * multiplies per run and concatenates.
 */
import * as tf from '@tensorflow/tfjs-core';
import { transposeSimd } from '../simd/transpose.ts';
import {
  disposeView,
  heapOf,
  offsetOf,
  tempView,
  transposedWeightView,
  weightView,
  xnnMatMulRows,
  type KernelArgs,
  type WasmBackend,
} from '../tfjs-fixes/backend-memory.ts';
import { transposeLast2 } from '../tfjs-fixes/kernel-replacements.ts';
import { registered, segmentWeights, weightsMap, type FusedKernel, type SegmentAttrs } from './shared.ts';

export const SEGMENT_LINEAR_KERNEL = 'MotlabSegmentLinear';
export const SEGMENT_LINEAR_GRAD_W_KERNEL = 'MotlabSegmentLinearGradW';

/**
 * y = x·W_tᵀ for each run of rows (sizes[t] rows use ws[t], PyTorch layout [out, in]) — one
 * kernel each way on wasm; null elsewhere (then split, matMul per run, concat).
 */
export function fusedSegmentLinear(x: tf.Tensor2D, ws: tf.Tensor[], sizes: number[]): tf.Tensor2D | null {
  if (!registered(SEGMENT_LINEAR_KERNEL, SEGMENT_LINEAR_GRAD_W_KERNEL)) return null;
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

/**
 * mode 'y':  x [N, k], w_t [n, k] → y [N, n], rows of run t times w_tᵀ (a transposed copy of w_t
 *            as XNNPACK's weights, made and packed once per weight buffer: transposedWeightView).
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
  const xOff = offsetOf(backend, x);
  const outOff = offsetOf(backend, out);
  let start = 0;
  sizes.forEach((size, t) => {
    if (size > 0) {
      if (mode === 'y') {
        const bId = transposedWeightView(backend, ws[t], (w) => transposeLast2(w, backend));
        xnnMatMulRows(backend, xOff + 4 * start * k, size, k, bId, n, outOff + 4 * start * n);
      } else {
        const bId = weightView(backend, ws[t].dataId, offsetOf(backend, ws[t]), k, n);
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
  const simd = transposeSimd.on(heapOf(backend));
  if (!simd || x.shape[0] !== rows || rows !== sizes.reduce((a, b) => a + b, 0))
    throw new Error(`${SEGMENT_LINEAR_GRAD_W_KERNEL}: dy [${dy.shape}] and x [${x.shape}] do not fit runs ${sizes}`);
  const outs = sizes.map(() => backend.makeOutput([n, k], 'float32'));
  let start = 0;
  sizes.forEach((size, t) => {
    const outOff = offsetOf(backend, outs[t]);
    if (size === 0) backend.typedArrayFromHeap(outs[t]).fill(0);
    else {
      const dyT = backend.makeOutput([n, size], 'float32');
      const dyTOff = offsetOf(backend, dyT);
      simd.transpose(offsetOf(backend, dy) + 4 * start * n, dyTOff, size, n);
      const bId = tempView(backend, offsetOf(backend, x) + 4 * start * k, size * k);
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

export const segmentLinearKernels: FusedKernel[] = [
  { name: SEGMENT_LINEAR_KERNEL, wasm: segmentLinearWasm },
  { name: SEGMENT_LINEAR_GRAD_W_KERNEL, wasm: segmentLinearGradWWasm },
];
