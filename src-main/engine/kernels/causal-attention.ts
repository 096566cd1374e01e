/**
 * MotlabCausalScores / MotlabCausalMix (wasm only): causal attention's two products without the
 * half that the mask throws away. For q (already scaled by 1/√hd), k, v [B, S, hd]:
 *
 *   scores = q kᵀ + mask   (mask: 0 on and below the diagonal, −1e9 above)
 *   out    = softmax(scores) v
 *
 * tfjs computes both products in full through XNNPACK — packing k and v anew for every head and
 * window — and adds the mask in another pass. Here the scores are computed only up to the
 * diagonal (the rest is written as −1e9, which softmax turns into exact zeros, as before), the
 * softmax stays tfjs's, and the mix stops at the diagonal (the products it skips are exact zeros).
 * Each dot product accumulates in the order XNNPACK's GEMM does (one float32 sum per output, in
 * order of the inner index, no fused multiply-add), so the values are bit-identical to the matMul
 * chain (tested), and the gradient is the chain's own, written out.
 */
import * as tf from '@tensorflow/tfjs-core';
import { forLoop, i32, I32, locals, op, V128, v } from '../simd/assembler.ts';
import { simdModule } from '../simd/module.ts';
import { heapF32, heapOf, offsetOf, type KernelArgs, type WasmBackend } from '../tfjs-fixes/backend-memory.ts';
import { transposeLast2 } from '../tfjs-fixes/kernel-replacements.ts';
import { registered, type FusedKernel } from './shared.ts';

export const CAUSAL_SCORES_KERNEL = 'MotlabCausalScores';
export const CAUSAL_MIX_KERNEL = 'MotlabCausalMix';

/**
 * What the causal mask adds above the diagonal (model/attention.ts's mask, and what the scores
 * kernel writes there): softmax gives it weight exactly 0.
 */
export const CAUSAL_MASK_VALUE = -1e9;

/**
 * softmax(q kᵀ + causal mask) v for q, k, v [B, S, hd] (q already scaled), as the tf ops would
 * compute it, value and gradient; null where the kernels are not registered, or where S or hd is
 * not a multiple of 8 (the kernels' blocks; the caller then uses the tf ops).
 */
export function fusedCausalAttention(q: tf.Tensor3D, k: tf.Tensor3D, v: tf.Tensor3D): tf.Tensor3D | null {
  const [, S, hd] = q.shape;
  if (S % 8 !== 0 || hd % 8 !== 0 || !registered(CAUSAL_SCORES_KERNEL, CAUSAL_MIX_KERNEL)) return null;
  const attend = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [qs, ks, vs, save] = args as [tf.Tensor3D, tf.Tensor3D, tf.Tensor3D, tf.GradSaveFunc];
    const scores = tf.engine().runKernel(CAUSAL_SCORES_KERNEL, { q: qs, k: ks }) as tf.Tensor3D;
    const p = tf.softmax(scores);
    scores.dispose();
    save([qs, ks, vs, p]);
    return {
      value: tf.engine().runKernel(CAUSAL_MIX_KERNEL, { p, v: vs }) as tf.Tensor3D,
      // The chain's gradients, as tfjs writes them for matMul(p, v), softmax and matMul(q, k, false, true).
      gradFunc: (dy: tf.Tensor3D, [sq, sk, sv, sp]: tf.Tensor[]) => {
        const dp = tf.matMul(dy, sv as tf.Tensor3D, false, true);
        const dv = tf.matMul(sp as tf.Tensor3D, dy, true, false);
        const dyTimesY = tf.mul(dp, sp);
        const dScores = tf.sub(dyTimesY, tf.mul(tf.sum(dyTimesY, [-1], true), sp)) as tf.Tensor3D;
        return [tf.matMul(dScores, sk as tf.Tensor3D, false, false), tf.matMul(dScores, sq as tf.Tensor3D, true, false), dv];
      },
    };
  });
  return attend(q, k, v) as tf.Tensor3D;
}

// --- the JS reference (where wasm SIMD is missing) ------------------------------------------------

/** scores[b, i, j] = Σ_e q[b, i, e]·kT[b, e, j] for j ≤ i, in e order; −1e9 for j > i. */
export function causalScoresInto(q: Float32Array, kT: Float32Array, out: Float32Array, B: number, S: number, hd: number): void {
  const f = Math.fround;
  for (let b = 0; b < B; b++)
    for (let i = 0; i < S; i++)
      for (let j = 0; j < S; j++) {
        if (j > i) {
          out[(b * S + i) * S + j] = CAUSAL_MASK_VALUE;
          continue;
        }
        let acc = 0;
        for (let e = 0; e < hd; e++) acc = f(acc + f(q[(b * S + i) * hd + e] * kT[(b * hd + e) * S + j]));
        out[(b * S + i) * S + j] = acc;
      }
}

/** out[b, i, e] = Σ_{j ≤ i} p[b, i, j]·v[b, j, e], in j order. */
export function causalMixInto(p: Float32Array, v: Float32Array, out: Float32Array, B: number, S: number, hd: number): void {
  const f = Math.fround;
  for (let b = 0; b < B; b++)
    for (let i = 0; i < S; i++)
      for (let e = 0; e < hd; e++) {
        let acc = 0;
        for (let j = 0; j <= i; j++) acc = f(acc + f(p[(b * S + i) * S + j] * v[(b * S + j) * hd + e]));
        out[(b * S + i) * hd + e] = acc;
      }
}

// --- wasm ---------------------------------------------------------------------------------------
// Both kernels work on blocks of 4 rows × 8 columns (8 f32x4 accumulators): per step of the inner
// index, two vector loads and four scalar splats feed 32 multiply-adds, as XNNPACK's 4×8 kernels do.

/**
 * The skeleton both kernels share, f(a, b, out, batch, S, hd): `for (batch) for (i0 = 0; i0 < S;
 * i0 += 4) rowBlock`, with the addresses of row i0 of a and of out, and of b's matrix, set for
 * it (b is [S, hd] or [hd, S]: S·hd floats per batch either way). `aRowsOfS` says whether a's
 * rows hold S values (else hd); out's rows hold the other.
 */
function blockKernel(aRowsOfS: boolean, rowBlock: (c: BlockCtx) => number[]): number[] {
  const [A, B, OUT, BATCH, S, HD] = [0, 1, 2, 3, 4, 5];
  const i32s = 13;
  const local = (k: number) => 6 + k;
  const [b, rowS, rowHd, aBase, outBase] = [0, 1, 2, 3, 4].map(local);
  const [aRowBytes, outRowBytes] = aRowsOfS ? [rowS, rowHd] : [rowHd, rowS];
  const c: BlockCtx = {
    S,
    HD,
    rowS,
    rowHd,
    aRowBytes,
    outRowBytes,
    i0: local(5),
    aRow: local(6),
    outRow: local(7),
    bBase: local(8),
    local: (k: number) => local(9 + k),
    acc: (k: number) => 6 + i32s + k,
    x0: 6 + i32s + 8,
    x1: 6 + i32s + 9,
    splat: 6 + i32s + 10,
  };
  const get = op.get;
  const body = [
    ...i32.shl2(get(HD)),
    ...op.set(rowHd),
    ...i32.shl2(get(S)),
    ...op.set(rowS),
    ...forLoop(b, op.i32(0), get(BATCH), 1, [
      ...i32.add(get(A), i32.mul(i32.mul(get(b), get(S)), get(aRowBytes))),
      ...op.set(aBase),
      ...i32.add(get(B), i32.mul(i32.mul(get(b), get(S)), get(rowHd))),
      ...op.set(c.bBase),
      ...i32.add(get(OUT), i32.mul(i32.mul(get(b), get(S)), get(outRowBytes))),
      ...op.set(outBase),
      ...forLoop(c.i0, op.i32(0), get(S), 4, [
        ...i32.add(get(aBase), i32.mul(get(c.i0), get(aRowBytes))),
        ...op.set(c.aRow),
        ...i32.add(get(outBase), i32.mul(get(c.i0), get(outRowBytes))),
        ...op.set(c.outRow),
        ...rowBlock(c),
      ]),
    ]),
  ];
  return [...locals([i32s, I32], [11, V128]), ...body, ...op.end];
}

interface BlockCtx {
  /** Parameters S and hd. */
  S: number;
  HD: number;
  /** Bytes of a row of S values, of hd values. */
  rowS: number;
  rowHd: number;
  /** The locals holding the bytes of a's rows and of out's rows (b's rows are as long as out's). */
  aRowBytes: number;
  outRowBytes: number;
  /** The block's first row, and the addresses of that row of a and of out, and of b's matrix. */
  i0: number;
  aRow: number;
  outRow: number;
  bBase: number;
  /** The kernel's own i32 local k (0–3). */
  local: (k: number) => number;
  /** Accumulator k = 2·row + half (0–7). */
  acc: (k: number) => number;
  x0: number;
  x1: number;
  splat: number;
}

const vload = (offset: number) => op.simd(0x00, 2, offset);
const vstore = (offset: number) => op.simd(0x0b, 2, offset);

/**
 * The 4×8 step: x0, x1 = the two vectors at `vecAddr` (and +16); for each of the 4 rows r,
 * acc[2r + h] += splat(scalar at scalarAddr(r)) · x_h.
 */
function step4x8(c: BlockCtx, vecAddr: number[], scalarAddr: (r: number) => number[]): number[] {
  return [
    ...vecAddr,
    ...vload(0),
    ...op.set(c.x0),
    ...vecAddr,
    ...vload(16),
    ...op.set(c.x1),
    ...[0, 1, 2, 3].flatMap((r) => [
      ...scalarAddr(r),
      ...op.f32Load,
      ...v.splat,
      ...op.set(c.splat),
      ...op.get(c.acc(2 * r)),
      ...op.get(c.splat),
      ...op.get(c.x0),
      ...v.mul,
      ...v.add,
      ...op.set(c.acc(2 * r)),
      ...op.get(c.acc(2 * r + 1)),
      ...op.get(c.splat),
      ...op.get(c.x1),
      ...v.mul,
      ...v.add,
      ...op.set(c.acc(2 * r + 1)),
    ]),
  ];
}

const zeroAccumulators = (c: BlockCtx) => [0, 1, 2, 3, 4, 5, 6, 7].flatMap((k) => [...op.f32Const(0), ...v.splat, ...op.set(c.acc(k))]);

/** Store the accumulators: row r's two vectors at out's row i0 + r, from byte `column`. */
const storeAccumulators = (c: BlockCtx, rowBytes: number, column: number[]) =>
  [0, 1, 2, 3].flatMap((r) => {
    const at = i32.add(i32.add(op.get(c.outRow), i32.mul(op.i32(r), op.get(rowBytes))), column);
    return [...at, ...op.get(c.acc(2 * r)), ...vstore(0), ...at, ...op.get(c.acc(2 * r + 1)), ...vstore(16)];
  });

/** The scalar of row r at `ptr` (row 0's address) for rows `rowBytes` apart. */
const rowScalar = (ptr: number, rowBytes: number) => (r: number) =>
  r === 0 ? op.get(ptr) : i32.add(op.get(ptr), i32.mul(op.i32(r), op.get(rowBytes)));

/**
 * out's rows i0…i0+3 at the 8 columns from float `column`: Σ over the inner index (a's row i0 from
 * its start up to byte address `end`, walked by `aPtr`) of a's scalars times b's 8-wide rows from
 * that column (walked by `bPtr`), in the inner index's order.
 */
function blockProduct(c: BlockCtx, column: number, end: number[], aPtr: number, bPtr: number): number[] {
  const get = op.get;
  return [
    ...zeroAccumulators(c),
    ...i32.add(get(c.bBase), i32.shl2(get(column))),
    ...op.set(bPtr),
    ...forLoop(aPtr, get(c.aRow), end, 4, [
      ...step4x8(c, get(bPtr), rowScalar(aPtr, c.aRowBytes)),
      ...i32.add(get(bPtr), get(c.outRowBytes)),
      ...op.set(bPtr),
    ]),
    ...storeAccumulators(c, c.outRowBytes, i32.shl2(get(column))),
  ];
}

// causalScores(q, kT, out, batch, S, hd): q [batch, S, hd], kT [batch, hd, S], out [batch, S, S].
function causalScoresBody(): number[] {
  return blockKernel(false, (c) => {
    const [j, qPtr, qEnd, kPtr] = [0, 1, 2, 3].map(c.local);
    const [jj, r] = [qPtr, qEnd]; // reused by the mask's loops, after the products
    const get = op.get;
    return [
      // Columns up to the block's last row (i0 + 3), in blocks of 8; the inner index e runs along
      // row i0 of q and down kT's column block j.
      ...i32.add(get(c.aRow), get(c.rowHd)),
      ...op.set(qEnd),
      ...forLoop(
        j,
        op.i32(0),
        [...get(c.i0), ...op.i32(4 + 7), ...op.i32Add, ...op.i32(-8), ...op.i32And],
        8,
        blockProduct(c, j, get(qEnd), qPtr, kPtr),
      ),
      // Above the diagonal: the mask's value (overwriting what the last block computed there).
      ...forLoop(r, op.i32(0), op.i32(4), 1, [
        ...forLoop(jj, i32.add(i32.add(get(c.i0), get(r)), op.i32(1)), get(c.S), 1, [
          ...i32.add(i32.add(get(c.outRow), i32.mul(get(r), get(c.rowS))), i32.shl2(get(jj))),
          ...op.f32Const(CAUSAL_MASK_VALUE),
          ...op.f32Store,
        ]),
      ]),
    ];
  });
}

// causalMix(p, v, out, batch, S, hd): p [batch, S, S], v [batch, S, hd], out [batch, S, hd].
function causalMixBody(): number[] {
  return blockKernel(true, (c) => {
    const [eb, pPtr, pEnd, vPtr] = [0, 1, 2, 3].map(c.local);
    const get = op.get;
    return [
      // j runs to the block's last row (i0 + 3); the rows above it get p = 0 there, exactly.
      ...i32.add(get(c.aRow), i32.shl2(i32.add(get(c.i0), op.i32(4)))),
      ...op.set(pEnd),
      // The inner index j runs along row i0 of p and down v's column block eb.
      ...forLoop(eb, op.i32(0), get(c.HD), 8, blockProduct(c, eb, get(pEnd), pPtr, vPtr)),
    ];
  });
}

const causalSimd = simdModule<{
  causalScores(q: number, kT: number, out: number, batch: number, S: number, hd: number): void;
  causalMix(p: number, v: number, out: number, batch: number, S: number, hd: number): void;
}>({
  causalScores: { params: ['i32', 'i32', 'i32', 'i32', 'i32', 'i32'], body: causalScoresBody },
  causalMix: { params: ['i32', 'i32', 'i32', 'i32', 'i32', 'i32'], body: causalMixBody },
});

// --- backends -----------------------------------------------------------------------------------

function shapes(a: tf.TensorInfo, b: tf.TensorInfo, kernel: string): { B: number; S: number; hd: number } {
  const [B, S, inner] = a.shape;
  const ok =
    a.shape.length === 3 &&
    b.shape.length === 3 &&
    a.dtype === 'float32' &&
    b.dtype === 'float32' &&
    b.shape[0] === B &&
    S % 8 === 0 &&
    (kernel === CAUSAL_SCORES_KERNEL ? b.shape[1] === S && b.shape[2] === inner : inner === S && b.shape[1] === S);
  const hd = kernel === CAUSAL_SCORES_KERNEL ? inner : b.shape[2];
  if (!ok || hd % 8 !== 0) throw new Error(`${kernel}: inputs [${a.shape}] and [${b.shape}] do not fit (S and hd multiples of 8)`);
  return { B, S, hd };
}

function causalScoresWasm(args: KernelArgs): tf.TensorInfo {
  const backend = args.backend as WasmBackend;
  const q = args.inputs.q as tf.TensorInfo;
  const k = args.inputs.k as tf.TensorInfo;
  const { B, S, hd } = shapes(q, k, CAUSAL_SCORES_KERNEL);
  const out = backend.makeOutput([B, S, S], 'float32');
  const kT = transposeLast2(k, backend);
  try {
    const simd = causalSimd.on(heapOf(backend));
    if (simd) simd.causalScores(offsetOf(backend, q), offsetOf(backend, kT), offsetOf(backend, out), B, S, hd);
    else causalScoresInto(heapF32(backend, q), heapF32(backend, kT), heapF32(backend, out), B, S, hd);
  } finally {
    backend.disposeData(kT.dataId);
  }
  return out;
}

function causalMixWasm(args: KernelArgs): tf.TensorInfo {
  const backend = args.backend as WasmBackend;
  const p = args.inputs.p as tf.TensorInfo;
  const v = args.inputs.v as tf.TensorInfo;
  const { B, S, hd } = shapes(p, v, CAUSAL_MIX_KERNEL);
  const out = backend.makeOutput([B, S, hd], 'float32');
  const simd = causalSimd.on(heapOf(backend));
  if (simd) simd.causalMix(offsetOf(backend, p), offsetOf(backend, v), offsetOf(backend, out), B, S, hd);
  else causalMixInto(heapF32(backend, p), heapF32(backend, v), heapF32(backend, out), B, S, hd);
  return out;
}

export const causalAttentionKernels: FusedKernel[] = [
  { name: CAUSAL_SCORES_KERNEL, wasm: causalScoresWasm },
  { name: CAUSAL_MIX_KERNEL, wasm: causalMixWasm },
];
