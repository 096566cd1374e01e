/**
 * tfjs kernels replaced on the backends that run here (`wasm`, `cpu`), each keeping the
 * original as its fallback for the cases it does not take:
 *
 *  - `UnsortedSegmentSum` (wasm: missing; cpu: O(segments × elements), ~9 s for the gradient of
 *    a [1024,128] → 512-row gather): a linear-time scatter-add on both. The gradient of
 *    `tf.gather` (embeddings, token grouping by tower) is built on it.
 *  - wasm `BatchMatMul`: tfjs's kernel only reaches XNNPACK when `!transposeA && !transposeB`
 *    and both operands have batch size 1 (the C++ test is on the 3-D shapes it is given:
 *    `a_shape[0] == 1 && b_shape[0] == 1`); everything else — every matMul gradient, all of
 *    attention — runs a naive blocked loop at 0.4–2.3 GFLOP/s. The replacement materialises
 *    transposes (our SIMD transpose), then calls the same C entry point once per batch slice
 *    with zero-copy views (./backend-memory.ts), so every call takes the XNNPACK path. When `b`
 *    has no batch (weights), the batches of `a` are stacked into one call. Broadcast batch
 *    dimensions are handled in full generality. An untransposed, unbatched `b` gets a view id per
 *    (buffer, K, N) so its packed weights are reused (see weightView), which matters for small M
 *    (decoding); every other `b` gets a fresh, short-lived view id.
 *  - wasm `Transpose` of the last two axes: our tiled SIMD transpose (../simd/transpose.ts),
 *    4–6× faster.
 *  - Data movement. `Slice` (and `SplitV`, which calls it) read the whole input through
 *    `readSync`, a copy of the full buffer per piece, so splitting [N, D] rows into towers cost
 *    O(pieces × N·D); `Identity` (tf.clone, customGrad's saved tensors) and same-dtype `Cast`
 *    (every mul/div gradient casts its inputs to float32) copied their input; `GatherV2` ran a
 *    per-element strided loop ~10× slower than a row copy. Now: slices copy contiguous runs
 *    straight from the heap, Identity/same-dtype Cast share the buffer (reference-counted, as
 *    on cpu), and axis-0 gathers (embeddings, row permutations, MoE experts) copy whole rows —
 *    also on cpu, whose gather was as slow.
 *
 * All are bit-identical to the kernels they replace.
 */
import * as tf from '@tensorflow/tfjs-core';
import { transposeSimd } from '../simd/transpose.ts';
import {
  cBatchMatMul,
  disposeView,
  heapOf,
  offsetOf,
  shapeBytes,
  tempView,
  weightView,
  type CpuBackend,
  type KernelArgs,
  type TypedArray,
  type WasmBackend,
} from './backend-memory.ts';

// ---------------------------------------------------------------------------------------------
// Switches (for benchmarks and A/B tests); on by default.

let wasmMatMulFastPath = true;
let fastDataKernels = true;

/** Turn the wasm matMul fast path on/off (for benchmarks and A/B tests); on by default. */
export function setWasmMatMulFastPath(enabled: boolean): void {
  wasmMatMulFastPath = enabled;
}

/** Turn the data-movement kernels of 5. on/off (for benchmarks and A/B tests); on by default. */
export function setFastDataKernels(enabled: boolean): void {
  fastDataKernels = enabled;
}

// ---------------------------------------------------------------------------------------------
// UnsortedSegmentSum in linear time.

/** out[ids[i], j] += x[i, j] for i < ids.length, j < inner. Ids outside [0, numSegments) are dropped (as in TF). */
function segmentSumInto(x: TypedArray, ids: TypedArray, inner: number, out: TypedArray, numSegments: number): void {
  out.fill(0);
  for (let i = 0; i < ids.length; i++) {
    const s = ids[i];
    if (s < 0 || s >= numSegments) continue;
    const src = i * inner;
    const dst = s * inner;
    for (let j = 0; j < inner; j++) out[dst + j] += x[src + j];
  }
}

function segmentSumShape(args: KernelArgs): { outShape: number[]; inner: number; numSegments: number } {
  const x = args.inputs.x as tf.TensorInfo;
  const ids = args.inputs.segmentIds as tf.TensorInfo;
  const numSegments = Number((args.attrs ?? {}).numSegments);
  const rest = x.shape.slice(ids.shape.length);
  return { outShape: [numSegments, ...rest], inner: tf.util.sizeFromShape(rest), numSegments };
}

function unsortedSegmentSumWasm(args: KernelArgs): tf.TensorInfo {
  const backend = args.backend as WasmBackend;
  const x = args.inputs.x as tf.TensorInfo;
  const ids = args.inputs.segmentIds as tf.TensorInfo;
  const { outShape, inner, numSegments } = segmentSumShape(args);
  const out = backend.makeOutput(outShape, x.dtype);
  // Views are taken after makeOutput: its malloc may grow (and detach) the wasm heap.
  segmentSumInto(backend.typedArrayFromHeap(x), backend.typedArrayFromHeap(ids), inner, backend.typedArrayFromHeap(out), numSegments);
  return out;
}

function unsortedSegmentSumCpu(args: KernelArgs): tf.TensorInfo {
  const backend = args.backend as CpuBackend;
  const x = args.inputs.x as tf.TensorInfo;
  const ids = args.inputs.segmentIds as tf.TensorInfo;
  const { outShape, inner, numSegments } = segmentSumShape(args);
  const out = x.dtype === 'int32' ? new Int32Array(tf.util.sizeFromShape(outShape)) : new Float32Array(tf.util.sizeFromShape(outShape));
  segmentSumInto(backend.readSync(x.dataId) as TypedArray, backend.readSync(ids.dataId) as TypedArray, inner, out, numSegments);
  return backend.makeTensorInfo(outShape, x.dtype, out);
}

// ---------------------------------------------------------------------------------------------
// wasm BatchMatMul through XNNPACK for every operand layout; SIMD Transpose.

/** For each flat index of the broadcast batch shape `outer`, the flat batch index into an operand with batch shape `dims`. */
function broadcastBatchIndex(outer: number[], dims: number[]): Int32Array {
  const total = tf.util.sizeFromShape(outer);
  const result = new Int32Array(total);
  const pad = outer.length - dims.length;
  for (let flat = 0; flat < total; flat++) {
    let rem = flat;
    let idx = 0;
    let stride = 1;
    for (let d = outer.length - 1; d >= 0; d--) {
      const coord = rem % outer[d];
      rem = Math.floor(rem / outer[d]);
      if (d >= pad) {
        const size = dims[d - pad];
        idx += (size === 1 ? 0 : coord) * stride;
        stride *= size;
      }
    }
    result[flat] = idx;
  }
  return result;
}

/** Does `perm` swap the last two axes and keep the others? */
function swapsLast2(perm: number[]): boolean {
  const r = perm.length;
  return r >= 2 && perm[r - 2] === r - 1 && perm[r - 1] === r - 2 && perm.slice(0, -2).every((p, i) => p === i);
}

/**
 * Swap the last two dims of x: our SIMD transpose per matrix (../simd/transpose.ts) for float32,
 * else the backend's own Transpose kernel.
 */
export function transposeLast2(x: tf.TensorInfo, backend: WasmBackend, original?: tf.KernelFunc): tf.TensorInfo {
  const r = x.shape.length;
  const perm = [...Array(r - 2).keys(), r - 1, r - 2];
  const simd = x.dtype === 'float32' && fastDataKernels ? transposeSimd.on(heapOf(backend)) : null;
  if (!simd) {
    const kernel = original ?? tf.getKernel('Transpose', 'wasm')?.kernelFunc;
    if (!kernel) throw new Error('wasm Transpose kernel is not registered');
    return kernel({ inputs: { x }, backend, attrs: { perm } }) as tf.TensorInfo;
  }
  const [rows, cols] = x.shape.slice(-2);
  const out = backend.makeOutput(
    perm.map((p) => x.shape[p]),
    'float32',
  );
  const xOff = offsetOf(backend, x);
  const outOff = offsetOf(backend, out);
  const bytes = 4 * rows * cols;
  const batch = tf.util.sizeFromShape(x.shape.slice(0, -2));
  if (bytes > 0) for (let b = 0; b < batch; b++) simd.transpose(xOff + b * bytes, outOff + b * bytes, rows, cols);
  return out;
}

function makeTransposeWasm(original: tf.KernelFunc): tf.KernelFunc {
  return (args: KernelArgs) => {
    const x = args.inputs.x as tf.TensorInfo;
    const { perm } = (args.attrs ?? {}) as unknown as tf.TransposeAttrs;
    if (x.dtype !== 'float32' || !swapsLast2(perm)) return original(args);
    return transposeLast2(x, args.backend as WasmBackend, original);
  };
}

function makeWasmBatchMatMul(original: tf.KernelFunc): tf.KernelFunc {
  return (args: KernelArgs) => {
    const a = args.inputs.a as tf.TensorInfo;
    const b = args.inputs.b as tf.TensorInfo;
    const attrs = args.attrs ?? {};
    const transposeA = Boolean(attrs.transposeA);
    const transposeB = Boolean(attrs.transposeB);
    if (!wasmMatMulFastPath || a.dtype !== 'float32' || b.dtype !== 'float32') return original(args);
    const backend = args.backend as WasmBackend;
    const ra = a.shape.length;
    const rb = b.shape.length;
    const m = transposeA ? a.shape[ra - 1] : a.shape[ra - 2];
    const k = transposeA ? a.shape[ra - 2] : a.shape[ra - 1];
    const kb = transposeB ? b.shape[rb - 1] : b.shape[rb - 2];
    const n = transposeB ? b.shape[rb - 2] : b.shape[rb - 1];
    tf.util.assert(
      k === kb,
      () =>
        `Error in matMul: inner shapes (${k}) and (${kb}) of tensors with shapes ` +
        `${a.shape} and ${b.shape} and transposeA=${transposeA} and transposeB=${transposeB} must match.`,
    );
    const outerA = a.shape.slice(0, -2);
    const outerB = b.shape.slice(0, -2);
    const outer = tf.broadcast_util.assertAndGetBroadcastShape(outerA, outerB);
    const out = backend.makeOutput([...outer, m, n], 'float32');
    const batch = tf.util.sizeFromShape(outer);
    if (batch * m * n === 0) return out;
    if (k === 0) {
      backend.typedArrayFromHeap(out).fill(0);
      return out;
    }

    const temps: tf.TensorInfo[] = [];
    const aMat = transposeA ? transposeLast2(a, backend) : a; // [...outerA, m, k]
    const bMat = transposeB ? transposeLast2(b, backend) : b; // [...outerB, k, n]
    if (transposeA) temps.push(aMat);
    if (transposeB) temps.push(bMat);
    const aOff = offsetOf(backend, aMat);
    const bOff = offsetOf(backend, bMat);
    const outOff = offsetOf(backend, out);

    // Zero-copy views: a tensor id registered at an offset inside an existing buffer. Only the
    // C++ registry entry is removed afterwards; the memory belongs to the viewed tensor.
    const views: number[] = [];
    const view = (offset: number, size: number): number => {
      const id = tempView(backend, offset, size);
      views.push(id);
      return id;
    };
    const run = cBatchMatMul(backend.wasm);
    try {
      const batchB = tf.util.sizeFromShape(outerB);
      if (batchB === 1) {
        // Shared weights: stack every batch of a into one [batch·m, k] · [k, n] call.
        const batchA = tf.util.sizeFromShape(outerA);
        const rows = batchA * m;
        const bId = transposeB ? view(bOff, k * n) : weightView(backend, b.dataId, bOff, k, n);
        run(view(aOff, rows * k), shapeBytes([1, rows, k]), 3, bId, shapeBytes([1, k, n]), 3, false, false, view(outOff, rows * n));
      } else {
        const ia = broadcastBatchIndex(outer, outerA);
        const ib = broadcastBatchIndex(outer, outerB);
        const aIds = new Map<number, number>();
        const bIds = new Map<number, number>(); // reusing a b view reuses its packed XNNPACK weights
        const aShape = shapeBytes([1, m, k]);
        const bShape = shapeBytes([1, k, n]);
        for (let i = 0; i < batch; i++) {
          let aId = aIds.get(ia[i]);
          if (aId === undefined) aIds.set(ia[i], (aId = view(aOff + 4 * ia[i] * m * k, m * k)));
          let bId = bIds.get(ib[i]);
          if (bId === undefined) bIds.set(ib[i], (bId = view(bOff + 4 * ib[i] * k * n, k * n)));
          run(aId, aShape, 3, bId, bShape, 3, false, false, view(outOff + 4 * i * m * n, m * n));
        }
      }
    } finally {
      // disposeData in C++ also deletes the XNNPACK operators cached on these ids.
      for (const id of views) disposeView(backend, id);
      for (const t of temps) backend.disposeData(t.dataId);
    }
    return out;
  };
}

// ---------------------------------------------------------------------------------------------
// Data movement: row gathers, slices, splits, identity and same-dtype casts.

/** out[i, :] = x[indices[i], :] for rows of `inner` values; throws on an index outside [0, rows). */
function gatherRowsInto(x: TypedArray, indices: TypedArray, inner: number, out: TypedArray, rows: number): void {
  for (let i = 0; i < indices.length; i++) {
    const r = indices[i];
    if (!(r >= 0 && r < rows)) throw new Error(`GatherV2: the index value ${r} is not in [0, ${rows - 1}]`);
    const src = r * inner;
    if (inner === 1) out[i] = x[src];
    else out.set(x.subarray(src, src + inner), i * inner);
  }
}

/** Is this a gather of whole rows along axis 0 (the only case the fast kernels take)? */
function axis0Gather(args: KernelArgs): { x: tf.TensorInfo; indices: tf.TensorInfo; inner: number; outShape: number[] } | null {
  const x = args.inputs.x as tf.TensorInfo;
  const indices = args.inputs.indices as tf.TensorInfo;
  const { axis, batchDims } = (args.attrs ?? {}) as { axis?: number; batchDims?: number };
  if (x.dtype === 'string' || indices.dtype !== 'int32' || (batchDims ?? 0) !== 0 || x.shape.length === 0) return null;
  if (tf.util.parseAxisParam(axis ?? 0, x.shape)[0] !== 0) return null;
  const rest = x.shape.slice(1);
  return { x, indices, inner: tf.util.sizeFromShape(rest), outShape: [...indices.shape, ...rest] };
}

function makeGatherWasm(original: tf.KernelFunc): tf.KernelFunc {
  return (args: KernelArgs) => {
    const g = axis0Gather(args);
    if (!g || !fastDataKernels) return original(args);
    const backend = args.backend as WasmBackend;
    const out = backend.makeOutput(g.outShape, g.x.dtype);
    if (tf.util.sizeFromShape(g.outShape) === 0) return out;
    gatherRowsInto(
      backend.typedArrayFromHeap(g.x),
      backend.typedArrayFromHeap(g.indices),
      g.inner,
      backend.typedArrayFromHeap(out),
      g.x.shape[0],
    );
    return out;
  };
}

function makeGatherCpu(original: tf.KernelFunc): tf.KernelFunc {
  return (args: KernelArgs) => {
    const g = axis0Gather(args);
    if (!g || !fastDataKernels) return original(args);
    const backend = args.backend as CpuBackend;
    const values = backend.readSync(g.x.dataId) as TypedArray;
    const out = new (values.constructor as new (n: number) => TypedArray)(tf.util.sizeFromShape(g.outShape));
    gatherRowsInto(values, backend.readSync(g.indices.dataId) as TypedArray, g.inner, out, g.x.shape[0]);
    return backend.makeTensorInfo(g.outShape, g.x.dtype, out);
  };
}

/** Copy the box begin..begin+size of x (row-major, shape xShape) into out, a run of contiguous innermost values at a time. */
function sliceInto(x: TypedArray, xShape: number[], begin: number[], size: number[], out: TypedArray): void {
  const rank = xShape.length;
  if (rank === 0) {
    out[0] = x[0];
    return;
  }
  // Merge trailing dims that are taken whole into the innermost run.
  let inner = 1;
  let d = rank - 1;
  while (d > 0 && begin[d] === 0 && size[d] === xShape[d]) inner *= xShape[d--];
  const run = size[d] * inner;
  const stride = new Array<number>(rank).fill(1);
  for (let i = rank - 2; i >= 0; i--) stride[i] = stride[i + 1] * xShape[i + 1];
  const outer = tf.util.sizeFromShape(size.slice(0, d));
  const coord = new Array<number>(d).fill(0);
  for (let o = 0; o < outer; o++) {
    let src = begin[d] * stride[d];
    for (let i = 0; i < d; i++) src += (begin[i] + coord[i]) * stride[i];
    out.set(x.subarray(src, src + run), o * run);
    for (let i = d - 1; i >= 0; i--) {
      if (++coord[i] < size[i]) break;
      coord[i] = 0;
    }
  }
}

function sliceWasmInfo(x: tf.TensorInfo, begin: number[], size: number[], backend: WasmBackend): tf.TensorInfo {
  const out = backend.makeOutput(size, x.dtype);
  if (tf.util.sizeFromShape(size) > 0) sliceInto(backend.typedArrayFromHeap(x), x.shape, begin, size, backend.typedArrayFromHeap(out));
  return out;
}

function makeSliceWasm(original: tf.KernelFunc): tf.KernelFunc {
  return (args: KernelArgs) => {
    const x = args.inputs.x as tf.TensorInfo;
    if (x.dtype === 'string' || !fastDataKernels) return original(args);
    const { begin, size } = (args.attrs ?? {}) as unknown as tf.SliceAttrs;
    const [b, s] = tf.slice_util.parseSliceParams(x as tf.Tensor, begin, size);
    return sliceWasmInfo(x, b, s, args.backend as WasmBackend);
  };
}

function makeSplitVWasm(original: tf.KernelFunc): tf.KernelFunc {
  return (args: KernelArgs) => {
    const x = args.inputs.x as tf.TensorInfo;
    if (x.dtype === 'string' || !fastDataKernels) return original(args);
    const { numOrSizeSplits, axis } = (args.attrs ?? {}) as unknown as tf.SplitVAttrs;
    const ax = tf.util.parseAxisParam(axis, x.shape)[0];
    const sizes = tf.backend_util.prepareSplitSize(x as tf.Tensor, numOrSizeSplits, ax);
    const begin = new Array<number>(x.shape.length).fill(0);
    return sizes.map((n) => {
      const size = x.shape.slice();
      size[ax] = n;
      const out = sliceWasmInfo(x, begin, size, args.backend as WasmBackend);
      begin[ax] += n;
      return out;
    });
  };
}

/**
 * Identity (tf.clone, and every cast to the same dtype) shares the buffer, as the cpu backend
 * does, instead of copying it: tensors are immutable, and the backend counts references.
 */
function makeIdentityWasm(original: tf.KernelFunc): tf.KernelFunc {
  return (args: KernelArgs) => {
    const x = args.inputs.x as tf.TensorInfo;
    if (x.dtype === 'string' || !fastDataKernels) return original(args);
    (args.backend as tf.KernelBackend).incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  };
}

function makeCastWasm(original: tf.KernelFunc, identity: tf.KernelFunc): tf.KernelFunc {
  return (args: KernelArgs) => {
    const x = args.inputs.x as tf.TensorInfo;
    return (args.attrs ?? {}).dtype === x.dtype && fastDataKernels ? identity(args) : original(args);
  };
}

// ---------------------------------------------------------------------------------------------

function replaceKernel(config: tf.KernelConfig): void {
  if (tf.getKernel(config.kernelName, config.backendName)) tf.unregisterKernel(config.kernelName, config.backendName);
  tf.registerKernel(config);
}

/** Replace the kernels above for `wasm` and `cpu` (installTfjsFixes calls this once). */
export function installKernelReplacements(): void {
  replaceKernel({ kernelName: 'UnsortedSegmentSum', backendName: 'wasm', kernelFunc: unsortedSegmentSumWasm });
  replaceKernel({ kernelName: 'UnsortedSegmentSum', backendName: 'cpu', kernelFunc: unsortedSegmentSumCpu });
  // Keep each original setupFunc: it binds the C function the original kernel (our fallback) uses.
  const wrap = (name: string, backendName: string, make: (original: tf.KernelFunc) => tf.KernelFunc) => {
    const original = tf.getKernel(name, backendName);
    if (original) replaceKernel({ ...original, kernelFunc: make(original.kernelFunc) });
  };
  wrap('BatchMatMul', 'wasm', makeWasmBatchMatMul);
  wrap('GatherV2', 'wasm', makeGatherWasm);
  wrap('GatherV2', 'cpu', makeGatherCpu);
  wrap('Slice', 'wasm', makeSliceWasm);
  wrap('Transpose', 'wasm', makeTransposeWasm);
  wrap('SplitV', 'wasm', makeSplitVWasm);
  wrap('Identity', 'wasm', makeIdentityWasm);
  const identity = tf.getKernel('Identity', 'wasm');
  if (identity) wrap('Cast', 'wasm', (original) => makeCastWasm(original, identity.kernelFunc));
}
