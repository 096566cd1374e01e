/**
 * MotlabHeadsGather: a row permutation fused with attention's regrouping by head
 * ([N, J·hd] rows in tower order ↔ [J, N, hd] in sequence order), a copy each way instead of a
 * gather plus a 4-D transpose.
 */
import * as tf from '@tensorflow/tfjs-core';
import { forLoop, i32, I32, locals, op } from '../simd/assembler.ts';
import { simdModule } from '../simd/module.ts';
import { heapOf, offsetOf, type CpuBackend, type KernelArgs, type WasmBackend } from '../tfjs-fixes/backend-memory.ts';
import { registered, type FusedKernel } from './shared.ts';

export const HEADS_GATHER_KERNEL = 'MotlabHeadsGather';

function headsGather(x: tf.Tensor, index: tf.Tensor1D, inverse: tf.Tensor1D, heads: number, toHeads: boolean): tf.Tensor {
  const regroup = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [input] = args as [tf.Tensor];
    const run = (t: tf.Tensor, idx: tf.Tensor1D, forward: boolean) =>
      tf
        .engine()
        .runKernel(HEADS_GATHER_KERNEL, { x: t, indices: idx }, { heads, toHeads: forward } as unknown as tf.NamedAttrMap) as tf.Tensor;
    // The gradient of a permutation is the inverse permutation, regrouped the other way.
    return { value: run(input, index, toHeads), gradFunc: (dy: tf.Tensor) => run(dy, inverse, !toHeads) };
  });
  return regroup(x);
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

/**
 * toHeads: out[j, p, :] = x[idx[p], j·hd … (j+1)·hd] (x [n, heads·hd] → [heads, n, hd]);
 * else:    out[r, j·hd …] = x[j, idx[r], :]          (x [heads, n, hd] → [n, heads·hd]).
 */
function headsGatherInto(x: Float32Array, idx: Int32Array, heads: number, hd: number, toHeads: boolean, out: Float32Array): void {
  const n = idx.length;
  for (let p = 0; p < n; p++) {
    const q = idx[p];
    for (let j = 0; j < heads; j++) {
      const [src, dst] = toHeads ? [(q * heads + j) * hd, (j * n + p) * hd] : [(j * n + q) * hd, (p * heads + j) * hd];
      out.set(x.subarray(src, src + hd), dst);
    }
  }
}

// --- wasm ---------------------------------------------------------------------------------------

// headsGather(src, dst, idx, n, heads, hd, toHeads): permute rows and regroup them by head ----
// toHeads:  dst[j, p, :] = src[idx[p], j·hd … (j+1)·hd]   (src [n, heads·hd] → dst [heads, n, hd])
// else:     dst[r, j·hd …] = src[j, idx[r], :]            (src [heads, n, hd] → dst [n, heads·hd])

function headsGatherBody(): number[] {
  const [SRC, DST, IDX, N, J, HD, TO_HEADS] = [0, 1, 2, 3, 4, 5, 6];
  const [p, j, q, rowB, chunkB, planeB] = [7, 8, 9, 10, 11, 12];
  const { add, mul } = i32;
  const inner = [
    ...op.get(TO_HEADS),
    ...op.if,
    ...add(op.get(DST), mul(op.get(j), op.get(planeB)), mul(op.get(p), op.get(chunkB))),
    ...add(op.get(SRC), mul(op.get(q), op.get(rowB)), mul(op.get(j), op.get(chunkB))),
    ...op.get(chunkB),
    ...op.memoryCopy,
    ...op.else,
    ...add(op.get(DST), mul(op.get(p), op.get(rowB)), mul(op.get(j), op.get(chunkB))),
    ...add(op.get(SRC), mul(op.get(j), op.get(planeB)), mul(op.get(q), op.get(chunkB))),
    ...op.get(chunkB),
    ...op.memoryCopy,
    ...op.end,
  ];
  return [
    ...locals([6, I32]),
    ...op.get(HD),
    ...op.i32(2),
    ...op.i32Shl,
    ...op.set(chunkB),
    ...mul(op.get(J), op.get(chunkB)),
    ...op.set(rowB),
    ...mul(op.get(N), op.get(chunkB)),
    ...op.set(planeB),
    ...forLoop(p, op.i32(0), op.get(N), 1, [
      ...op.get(IDX),
      ...op.get(p),
      ...op.i32(2),
      ...op.i32Shl,
      ...op.i32Add,
      ...op.i32Load,
      ...op.set(q),
      ...forLoop(j, op.i32(0), op.get(J), 1, inner),
    ]),
    ...op.end,
  ];
}

const headsGatherSimd = simdModule<{
  /** Row permutation plus regrouping by head (see headsGatherBody); idx is an int32 array of n entries. */
  headsGather(src: number, dst: number, idx: number, n: number, heads: number, hd: number, toHeads: number): void;
}>({
  headsGather: { params: ['i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32'], body: headsGatherBody },
});

// --- backends -----------------------------------------------------------------------------------

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
  const simd = headsGatherSimd.on(heapOf(backend));
  const at = (t: tf.TensorInfo) => offsetOf(backend, t);
  if (simd) simd.headsGather(at(x), at(out), at(idx), idx.shape[0], heads, hd, toHeads ? 1 : 0);
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

export const headsGatherKernels: FusedKernel[] = [{ name: HEADS_GATHER_KERNEL, wasm: headsGatherWasm, cpu: headsGatherCpu }];
