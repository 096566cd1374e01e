/**
 * TensorFlow.js 4.22 gap fixes — every patch to tfjs lives in this one module.
 * `initEngine` calls `installTfjsFixes()`; it is idempotent and safe to call before or after a
 * backend initialises. Kernels are patched for the backends that run here (`wasm`, `cpu`);
 * gradients are global, so they also apply to tfjs-node.
 *
 * Fixed here:
 *  0. No gradients at all in Node: tfjs-core's Node bundle (its package `main`) registers none,
 *     and the official `@tensorflow/tfjs-core/dist/register_all_gradients` is ESM with
 *     extensionless imports that Node cannot load. tfjs-layers' Node bundle inlines exactly that
 *     file and registers every core gradient in the shared global registry, so we import it.
 *  1. `UnsortedSegmentSum` kernel (wasm: missing; cpu: O(segments × elements), ~9 s for the
 *     gradient of a [1024,128] → 512-row gather). Replaced by a linear-time scatter-add on both.
 *     The gradient of `tf.gather` (embeddings, token grouping by tower) is built on it.
 *  2. Gradients that tfjs does not register: `TopK` (values' gradient goes back to the chosen
 *     input positions; indices get none), `ScatterNd` (d updates = gatherND(dy, indices)), and
 *     zero gradients for comparisons / logical ops (`Greater`, `Less`, `LessEqual`, `Equal`,
 *     `NotEqual`, `Logical*`) so a `tf.where` whose mask is computed inside the differentiated
 *     function no longer fails with "gradient function not found for Greater".
 *  3. Gradients that tfjs registers wrongly:
 *     - `BatchMatMul` with broadcast batch dimensions (e.g. [B,H,T,D]·[D,F] or ·[1,1,D,F])
 *       returned a gradient with the broadcast shape; it is now summed back to the input shape.
 *     - `Cumsum` along any axis but the last transposed its gradient (shape error on a
 *       non-square 2-D input, silently wrong values on a square one). Now correct on every axis.
 *     - `GatherV2` returned the int32 indices as their own "gradient", which throws when the
 *       indices depend on the differentiated input (e.g. indices from `tf.topk`). Now zeros. Along
 *       axis 0 the gradient is now one scatter-add (tfjs's adds two identity transposes, copies).
 *  4. wasm matMul speed. The wasm `BatchMatMul` kernel only reaches XNNPACK when
 *     `!transposeA && !transposeB` and both operands have batch size 1 (the C++ test is on the
 *     3-D shapes it is given: `a_shape[0] == 1 && b_shape[0] == 1`); everything else — every
 *     matMul gradient, all of attention — runs a naive blocked loop at 0.4–2.3 GFLOP/s.
 *     The replacement kernel materialises transposes with the wasm `Transpose` kernel, then
 *     calls the same C entry point (`_BatchMatMul`) once per batch slice with zero-copy views
 *     (tensor ids registered at an offset inside the operand's buffer), so every call takes
 *     the XNNPACK path. When `b` has no batch (weights), the batches of `a` are stacked into one
 *     call. Broadcast batch dimensions are handled in full generality.
 *     XNNPACK packs `b` into an operator that the C++ side caches per tensor id. Upstream keys
 *     that on the tensor's own id, which goes stale if the same buffer is later used as `b`
 *     under another [K, N] (reshape shares the id). We give an untransposed, unbatched `b` a
 *     view id per (buffer, K, N), kept until the buffer is freed (a hook on the backend's
 *     disposeData), so weights are packed once — which matters for small M (decoding) — and
 *     every other `b` (transposed copies, batch slices) gets a fresh, short-lived view id.
 *  5. wasm data movement. `Slice` (and `SplitV`, which calls it) read the whole input through
 *     `readSync`, a copy of the full buffer per piece, so splitting [N, D] rows into towers cost
 *     O(pieces × N·D); `Identity` (tf.clone, customGrad's saved tensors) and same-dtype `Cast`
 *     (every mul/div gradient casts its inputs to float32) copied their input; `GatherV2` ran a
 *     per-element strided loop ~10× slower than a row copy. Now: slices copy contiguous runs
 *     straight from the heap, Identity/same-dtype Cast share the buffer (reference-counted, as
 *     on cpu), and axis-0 gathers (embeddings, row permutations, MoE experts) copy whole rows —
 *     also on cpu, whose gather was as slow.
 *  6. Not fixes but our own fused kernels (fused-kernels.ts: AdamW, sums of squares, SwiGLU, RoPE,
 *     per-tower row scale, row permutation + head regrouping, per-tower linear layers),
 *     registered here for wasm and cpu. On wasm they run a small SIMD module (wasm-simd.ts) on the
 *     backend's heap. That module's tiled SIMD transpose also replaces
 *     tfjs-wasm's `Transpose` for swaps of the last two axes (4–6× faster; the matMul fast path
 *     transposes an operand of most gradient matMuls). Both are bit-identical to the tf ops they replace;
 *     `fusedAdamW` / `sumOfSquares` fall back to those ops on other backends.
 *
 * Not fixed — model code must avoid these:
 *  - `tf.fused.matMul` (`_FusedMatMul`) on wasm still has the slow path for transposed or
 *    batched operands: use `tf.matMul` plus a separate bias add.
 *  - The cpu backend's `BatchMatMul` maps batch indices modulo the flattened batch size, so
 *    broadcasting is only right when one operand's batch dims are all 1 or both match exactly.
 *    (The wasm replacement here broadcasts correctly.) Do not rely on [2,1]×[1,3]-style batches.
 *  - `tf.pow(x, 3)` is ~25× slower than `tf.mul(tf.mul(x, x), x)`; 5-D transposes are ~70×
 *    slower than 4-D ones. Write cubes as products and keep transposes at rank ≤ 4.
 *  - For activations × weights, reshape to 2-D ([B·T, D]·[D, F]) rather than [B,T,D]·[D,F]:
 *    the weight gradient is then one matMul instead of B of them plus a sum over B.
 *  - Chained tensor methods (`x.mul(y)`) are not registered by tfjs-core's Node bundle; use the
 *    `tf.*` functions.
 *  - wasm runs single-threaded in Node (tfjs turns threads off when it detects Node).
 */
import * as tf from '@tensorflow/tfjs-core';
// Imported for their side effect of registering kernels: ours must be registered after theirs.
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
// Registers tfjs-core's gradients (see 0. above); must run before our gradient overrides.
import '@tensorflow/tfjs-layers';
import { fusedLoops, type WasmMemory } from './wasm-simd.ts';
import { registerFusedKernels } from './fused-kernels.ts';

export type TypedArray = Float32Array | Int32Array | Uint8Array;
export type KernelArgs = Parameters<tf.KernelFunc>[0];

// ---------------------------------------------------------------------------------------------
// Minimal views of backend internals we rely on (present in tfjs-backend-wasm / -cpu 4.22).

export interface WasmModule {
  asm?: { memory?: WasmMemory };
  cwrap(name: string, returnType: null, argTypes: string[]): (...args: unknown[]) => void;
  tfjs: {
    registerTensor(id: number, size: number, memoryOffset: number): void;
    disposeData(id: number): void;
  };
}
export interface WasmBackend {
  wasm: WasmModule;
  dataIdNextNumber: number;
  dataIdMap: { get(dataId: tf.DataId): { id: number; memoryOffset: number } };
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  disposeData(dataId: tf.DataId, force?: boolean): boolean;
  typedArrayFromHeap(info: tf.TensorInfo): TypedArray;
}
export interface CpuBackend {
  readSync(dataId: tf.DataId): unknown;
  makeTensorInfo(shape: number[], dtype: tf.DataType, values?: TypedArray): tf.TensorInfo;
}

// ---------------------------------------------------------------------------------------------
// 1. Linear-time UnsortedSegmentSum.

/** out[ids[i], j] += x[i, j] for i < ids.length, j < inner. Ids outside [0, numSegments) are dropped (as in TF). */
export function segmentSumInto(x: TypedArray, ids: TypedArray, inner: number, out: TypedArray, numSegments: number): void {
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
// 4. wasm BatchMatMul through XNNPACK for every operand layout.

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

type CBatchMatMul = (
  aId: number,
  aShape: Uint8Array,
  aRank: number,
  bId: number,
  bShape: Uint8Array,
  bRank: number,
  transposeA: boolean,
  transposeB: boolean,
  outId: number,
) => void;
const cBatchMatMulByModule = new WeakMap<WasmModule, CBatchMatMul>();

function cBatchMatMul(wasm: WasmModule): CBatchMatMul {
  let fn = cBatchMatMulByModule.get(wasm);
  if (!fn) {
    fn = wasm.cwrap('BatchMatMul', null, [
      'number',
      'array',
      'number',
      'number',
      'array',
      'number',
      'number',
      'number',
      'number',
    ]) as CBatchMatMul;
    cBatchMatMulByModule.set(wasm, fn);
  }
  return fn;
}

function shapeBytes(shape: number[]): Uint8Array {
  return new Uint8Array(new Int32Array(shape).buffer);
}

/** For each flat index of the broadcast batch shape `outer`, the flat batch index into an operand with batch shape `dims`. */
export function broadcastBatchIndex(outer: number[], dims: number[]): Int32Array {
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

/** Per backend: buffer (dataId) → "K,N" → long-lived view id whose XNNPACK operator holds the packed weights. */
const weightViews = new WeakMap<WasmBackend, Map<tf.DataId, Map<string, number>>>();

export function weightView(backend: WasmBackend, dataId: tf.DataId, offset: number, k: number, n: number): number {
  let byBuffer = weightViews.get(backend);
  if (!byBuffer) {
    const views = (byBuffer = new Map());
    weightViews.set(backend, views);
    // When a buffer is freed, drop its views so the C++ side deletes their operators (the packed
    // copies). Correctness does not depend on this: a new tensor has a new dataId, hence new views.
    const disposeData = backend.disposeData.bind(backend);
    backend.disposeData = (id: tf.DataId, force?: boolean): boolean => {
      const freed = disposeData(id, force);
      const ids = views.get(id);
      if (freed && ids) {
        for (const viewId of ids.values()) backend.wasm.tfjs.disposeData(viewId);
        views.delete(id);
      }
      return freed;
    };
  }
  let byShape = byBuffer.get(dataId);
  if (!byShape) byBuffer.set(dataId, (byShape = new Map()));
  const key = `${k},${n}`;
  let viewId = byShape.get(key);
  if (viewId === undefined) {
    viewId = backend.dataIdNextNumber++;
    backend.wasm.tfjs.registerTensor(viewId, k * n, offset);
    byShape.set(key, viewId);
  }
  return viewId;
}

/** A short-lived tensor id over `size` floats at byte `offset` of the heap (a zero-copy view); free it with disposeView. */
export function tempView(backend: WasmBackend, offset: number, size: number): number {
  const id = backend.dataIdNextNumber++;
  backend.wasm.tfjs.registerTensor(id, size, offset);
  return id;
}

/** Drop a view's registry entry (and any XNNPACK operator cached on it); the memory is not freed. */
export function disposeView(backend: WasmBackend, id: number): void {
  backend.wasm.tfjs.disposeData(id);
}

/**
 * out[m, n] (at byte offset outOff) = a[m, k] (at aOff) · B[k, n], B a registered view id, all
 * row-major float32: one XNNPACK call, exactly as the matMul fast path makes it.
 */
export function xnnMatMulRows(backend: WasmBackend, aOff: number, m: number, k: number, bId: number, n: number, outOff: number): void {
  const aId = tempView(backend, aOff, m * k);
  const outId = tempView(backend, outOff, m * n);
  try {
    cBatchMatMul(backend.wasm)(aId, shapeBytes([1, m, k]), 3, bId, shapeBytes([1, k, n]), 3, false, false, outId);
  } finally {
    disposeView(backend, aId);
    disposeView(backend, outId);
  }
}

/** Does `perm` swap the last two axes and keep the others? */
function swapsLast2(perm: number[]): boolean {
  const r = perm.length;
  return r >= 2 && perm[r - 2] === r - 1 && perm[r - 1] === r - 2 && perm.slice(0, -2).every((p, i) => p === i);
}

/**
 * Swap the last two dims of x: our SIMD transpose per matrix (wasm-simd.ts) for float32, else
 * the backend's own Transpose kernel.
 */
export function transposeLast2(x: tf.TensorInfo, backend: WasmBackend, original?: tf.KernelFunc): tf.TensorInfo {
  const r = x.shape.length;
  const perm = [...Array(r - 2).keys(), r - 1, r - 2];
  const loops = x.dtype === 'float32' && fastDataKernels ? fusedLoops(backend.wasm.asm?.memory) : null;
  if (!loops) {
    const kernel = original ?? tf.getKernel('Transpose', 'wasm')?.kernelFunc;
    if (!kernel) throw new Error('wasm Transpose kernel is not registered');
    return kernel({ inputs: { x }, backend, attrs: { perm } }) as tf.TensorInfo;
  }
  const [rows, cols] = x.shape.slice(-2);
  const out = backend.makeOutput(
    perm.map((p) => x.shape[p]),
    'float32',
  );
  const xOff = backend.dataIdMap.get(x.dataId).memoryOffset;
  const outOff = backend.dataIdMap.get(out.dataId).memoryOffset;
  const bytes = 4 * rows * cols;
  const batch = tf.util.sizeFromShape(x.shape.slice(0, -2));
  if (bytes > 0) for (let b = 0; b < batch; b++) loops.transpose(xOff + b * bytes, outOff + b * bytes, rows, cols);
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
    const aOff = backend.dataIdMap.get(aMat.dataId).memoryOffset;
    const bOff = backend.dataIdMap.get(bMat.dataId).memoryOffset;
    const outOff = backend.dataIdMap.get(out.dataId).memoryOffset;

    // Zero-copy views: a tensor id registered at an offset inside an existing buffer. Only the
    // C++ registry entry is removed afterwards; the memory belongs to the viewed tensor.
    const views: number[] = [];
    const view = (offset: number, size: number): number => {
      const id = backend.dataIdNextNumber++;
      backend.wasm.tfjs.registerTensor(id, size, offset);
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
      for (const id of views) backend.wasm.tfjs.disposeData(id);
      for (const t of temps) backend.disposeData(t.dataId);
    }
    return out;
  };
}

// ---------------------------------------------------------------------------------------------
// 5. Data movement: row gathers, slices, splits, identity and same-dtype casts.

/** out[i, :] = x[indices[i], :] for rows of `inner` values; throws on an index outside [0, rows). */
export function gatherRowsInto(x: TypedArray, indices: TypedArray, inner: number, out: TypedArray, rows: number): void {
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
export function sliceInto(x: TypedArray, xShape: number[], begin: number[], size: number[], out: TypedArray): void {
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
// 2./3. Gradients.

/** Sum a broadcast gradient back to the shape of the input it belongs to. */
export function sumToShape(g: tf.Tensor, shape: number[]): tf.Tensor {
  if (tf.util.arraysEqual(g.shape, shape)) return g;
  const lead = g.rank - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.rank; i++) {
    if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
  }
  const summed = axes.length > 0 ? tf.sum(g, axes) : g;
  return tf.reshape(summed, shape);
}

const floatZeros = (t: tf.Tensor) => () => tf.zeros(t.shape, 'float32');

function topKGrad(dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]): ReturnType<tf.GradFunc> {
  const [x, indices] = saved;
  const dValues = Array.isArray(dy) ? dy[0] : dy;
  return {
    x: () => {
      const n = x.shape[x.rank - 1];
      const k = indices.shape[indices.rank - 1];
      if (k === 0 || x.size === 0) return tf.zeros(x.shape, 'float32');
      const rows = indices.size / k;
      // Flat position of each chosen element: row * n + index; scatter-add the values' gradient there.
      const rowStart = tf.reshape(tf.range(0, rows * n, n, 'int32'), [rows, 1]);
      const flat = tf.reshape(tf.add(tf.reshape(indices, [rows, k]), rowStart), [rows * k]) as tf.Tensor1D;
      const summed = tf.unsortedSegmentSum(tf.reshape(tf.cast(dValues, 'float32'), [rows * k]), flat, rows * n);
      return tf.reshape(summed, x.shape);
    },
  };
}

function installGradients(): void {
  tf.registerGradient({ kernelName: 'TopK', inputsToSave: ['x'], outputsToSave: [false, true], gradFunc: topKGrad });

  tf.registerGradient({
    kernelName: 'ScatterNd',
    inputsToSave: ['indices'],
    gradFunc: (dy, saved) => {
      const [indices] = saved;
      return { updates: () => tf.gatherND(dy as tf.Tensor, indices), indices: floatZeros(indices) };
    },
  });

  tf.registerGradient({
    kernelName: 'Cumsum',
    gradFunc: (dy, _saved, attrs) => {
      const { axis, exclusive, reverse } = attrs as unknown as tf.CumsumAttrs;
      // y = cumsum(x) along axis  ⇒  dx = reverse-direction cumsum of dy along the same axis.
      return { x: () => tf.cumsum(dy as tf.Tensor, axis, exclusive, !reverse) };
    },
  });

  const matMulGrad = tf.getGradient('BatchMatMul');
  if (matMulGrad) {
    tf.registerGradient({
      ...matMulGrad,
      gradFunc: (dy, saved, attrs) => {
        const [a, b] = saved;
        const g = matMulGrad.gradFunc(dy, saved, attrs);
        return { a: () => sumToShape(g.a(), a.shape), b: () => sumToShape(g.b(), b.shape) };
      },
    });
  }

  const gatherGrad = tf.getGradient('GatherV2');
  if (gatherGrad) {
    tf.registerGradient({
      ...gatherGrad,
      gradFunc: (dy, saved, attrs) => {
        const [x, indices] = saved;
        const { axis, batchDims } = attrs as unknown as tf.GatherV2Attrs;
        const zeros = { indices: floatZeros(indices) };
        if (tf.util.parseAxisParam(axis, x.shape)[0] === 0 && !batchDims && x.rank > 0) {
          // Axis 0: a plain scatter-add of dy's rows (tfjs's generic gradient adds two transposes).
          const rows = tf.reshape(dy as tf.Tensor, [indices.size, ...x.shape.slice(1)]);
          return { x: () => tf.unsortedSegmentSum(rows, tf.reshape(indices, [-1]) as tf.Tensor1D, x.shape[0]), ...zeros };
        }
        return { x: gatherGrad.gradFunc(dy, saved, attrs).x, ...zeros };
      },
    });
  }

  // Masks are not differentiable; give their inputs zero gradients (only where tfjs has none).
  for (const name of ['Greater', 'Less', 'LessEqual', 'Equal', 'NotEqual', 'LogicalAnd', 'LogicalOr', 'LogicalXor']) {
    if (tf.getGradient(name)) continue;
    tf.registerGradient({
      kernelName: name,
      inputsToSave: ['a', 'b'],
      gradFunc: (_dy, [a, b]) => ({ a: floatZeros(a), b: floatZeros(b) }),
    });
  }
  if (!tf.getGradient('LogicalNot')) {
    tf.registerGradient({ kernelName: 'LogicalNot', inputsToSave: ['x'], gradFunc: (_dy, [x]) => ({ x: floatZeros(x) }) });
  }
}

// ---------------------------------------------------------------------------------------------

function replaceKernel(config: tf.KernelConfig): void {
  if (tf.getKernel(config.kernelName, config.backendName)) tf.unregisterKernel(config.kernelName, config.backendName);
  tf.registerKernel(config);
}

let installed = false;

/** Install every fix above (idempotent). Kernels apply to `wasm` and `cpu`; gradients to all backends. */
export function installTfjsFixes(): void {
  if (installed) return;
  installed = true;
  installGradients();
  replaceKernel({ kernelName: 'UnsortedSegmentSum', backendName: 'wasm', kernelFunc: unsortedSegmentSumWasm as tf.KernelFunc });
  replaceKernel({ kernelName: 'UnsortedSegmentSum', backendName: 'cpu', kernelFunc: unsortedSegmentSumCpu as tf.KernelFunc });
  // Keep each original setupFunc: it binds the C function the original kernel (our fallback) uses.
  const wrap = (name: string, backendName: string, make: (original: tf.KernelFunc) => tf.KernelFunc) => {
    const original = tf.getKernel(name, backendName);
    if (original) replaceKernel({ ...original, kernelFunc: make(original.kernelFunc) });
  };
  registerFusedKernels();
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
