/**
 * MotlabRowScale / MotlabRowScaleGrad: x·w_t with a different weight vector w_t for each run of
 * rows (per-tower RMSNorm weights), and its gradients — the weights' summed over each run's rows
 * in float32, row after row, as the scatter-add of a gathered weight would.
 */
import * as tf from '@tensorflow/tfjs-core';
import { I32, locals, loop, op, v, VEC } from '../simd/assembler.ts';
import { simdModule } from '../simd/module.ts';
import { heapF32, heapOf, offsetOf, type CpuBackend, type KernelArgs, type WasmBackend } from '../tfjs-fixes/backend-memory.ts';
import { registered, segmentWeights, weightsMap, type FusedKernel, type SegmentAttrs } from './shared.ts';

export const ROW_SCALE_KERNEL = 'MotlabRowScale';
export const ROW_SCALE_GRAD_KERNEL = 'MotlabRowScaleGrad';

/** x·w_t for each run of rows (sizes[t] rows use ws[t], shape [d]) — one kernel each way; null where not registered. */
export function fusedRowScale(x: tf.Tensor2D, ws: tf.Tensor[], sizes: number[]): tf.Tensor2D | null {
  if (!registered(ROW_SCALE_KERNEL, ROW_SCALE_GRAD_KERNEL)) return null;
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

/** out[r, :] = x[r, :]·ws[t] for the rows of run t. */
function rowScaleInto(x: Float32Array, ws: Float32Array[], sizes: number[], d: number, out: Float32Array): void {
  let r = 0;
  sizes.forEach((size, t) => {
    const w = ws[t];
    for (const end = r + size; r < end; r++) for (let j = 0; j < d; j++) out[r * d + j] = Math.fround(x[r * d + j] * w[j]);
  });
}

/** dx[r, :] = dy[r, :]·ws[t]; dws[t] (zeroed) += dy[r, :]·x[r, :], accumulated in float32 row after row. */
function rowScaleGradInto(
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

// --- wasm ---------------------------------------------------------------------------------------

// rowScaleFwd(x, w, out, rows, d): out[r, :] = x[r, :]·w  (d a multiple of 4)
// rowScaleBwd(dy, x, w, dx, dw, rows, d): dx[r, :] = dy[r, :]·w; dw += dy[r, :]·x[r, :], row after row

function rowScaleBody(backward: boolean): number[] {
  const P = backward ? { DY: 0, X: 1, W: 2, DX: 3, DW: 4, ROWS: 5, D: 6 } : { DY: -1, X: 0, W: 1, DX: 2, DW: -1, ROWS: 3, D: 4 };
  const base = backward ? 7 : 5;
  const [r, j, rowOff, rowB] = [base, base + 1, base + 2, base + 3];
  const at = (ptr: number, row: boolean) => [...op.get(ptr), ...(row ? [...op.get(rowOff), ...op.i32Add] : []), ...op.get(j), ...op.i32Add];
  const body = backward
    ? [
        ...at(P.DX, true),
        ...at(P.DY, true),
        ...v.load,
        ...at(P.W, false),
        ...v.load,
        ...v.mul,
        ...v.store,
        ...at(P.DW, false),
        ...at(P.DW, false),
        ...v.load,
        ...at(P.DY, true),
        ...v.load,
        ...at(P.X, true),
        ...v.load,
        ...v.mul,
        ...v.add,
        ...v.store,
      ]
    : [...at(P.DX, true), ...at(P.X, true), ...v.load, ...at(P.W, false), ...v.load, ...v.mul, ...v.store];
  return [
    ...locals([4, I32]),
    ...op.get(P.D),
    ...op.i32(2),
    ...op.i32Shl,
    ...op.set(rowB),
    ...op.block,
    ...op.loop,
    ...op.get(r),
    ...op.get(P.ROWS),
    ...op.i32GeU,
    ...op.brIf(1),
    ...op.get(r),
    ...op.get(rowB),
    ...op.i32Mul,
    ...op.set(rowOff),
    ...op.i32(0),
    ...op.set(j),
    ...loop(j, rowB, VEC, body),
    ...op.get(r),
    ...op.i32(1),
    ...op.i32Add,
    ...op.set(r),
    ...op.br(0),
    ...op.end,
    ...op.end,
    ...op.end,
  ];
}

const rowScaleSimd = simdModule<{
  /** out[r, :] = x[r, :]·w for `rows` rows of d values (d a multiple of 4). */
  rowScaleFwd(x: number, w: number, out: number, rows: number, d: number): void;
  /** dx[r, :] = dy[r, :]·w and dw += dy[r, :]·x[r, :] (in float32, row after row). */
  rowScaleBwd(dy: number, x: number, w: number, dx: number, dw: number, rows: number, d: number): void;
}>({
  rowScaleFwd: { params: ['i32', 'i32', 'i32', 'i32', 'i32'], body: () => rowScaleBody(false) },
  rowScaleBwd: { params: ['i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32'], body: () => rowScaleBody(true) },
});

// --- backends -----------------------------------------------------------------------------------

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
  const simd = d % 4 === 0 ? rowScaleSimd.on(heapOf(backend)) : null;
  const at = (t: tf.TensorInfo) => offsetOf(backend, t);
  if (!simd) {
    const view = (t: tf.TensorInfo) => heapF32(backend, t);
    rowScaleInto(view(x), ws.map(view), sizes, d, view(out));
    return out;
  }
  let start = 0;
  sizes.forEach((size, t) => {
    simd.rowScaleFwd(at(x) + 4 * start * d, at(ws[t]), at(out) + 4 * start * d, size, d);
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
  const simd = d % 4 === 0 ? rowScaleSimd.on(heapOf(backend)) : null;
  const at = (t: tf.TensorInfo) => offsetOf(backend, t);
  if (!simd) {
    const view = (t: tf.TensorInfo) => heapF32(backend, t);
    rowScaleGradInto(view(dy), view(x), ws.map(view), sizes, d, view(dx), dws.map(view));
    return [dx, ...dws];
  }
  let start = 0;
  sizes.forEach((size, t) => {
    const o = 4 * start * d;
    simd.rowScaleBwd(at(dy) + o, at(x) + o, at(ws[t]), at(dx) + o, at(dws[t]), size, d);
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

export const rowScaleKernels: FusedKernel[] = [
  { name: ROW_SCALE_KERNEL, wasm: rowScaleWasm, cpu: rowScaleCpu },
  { name: ROW_SCALE_GRAD_KERNEL, wasm: rowScaleGradWasm, cpu: rowScaleGradCpu },
];
