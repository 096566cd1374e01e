/**
 * MotlabRope: rotate-half RoPE x·cos + rotate_half(x)·sin on [..., S, hd] (rotate_half(x) =
 * [−x2, x1]) and its gradient, one kernel each way instead of a rotation matMul, two muls and an add.
 */
import * as tf from '@tensorflow/tfjs-core';
import { I32, locals, loop, op, v, V128, VEC } from '../simd/assembler.ts';
import { simdModule } from '../simd/module.ts';
import { heapOf, type CpuBackend, type KernelArgs, type WasmBackend } from '../tfjs-fixes/backend-memory.ts';
import { registered, wasmElementwise, type FusedKernel } from './shared.ts';

export const ROPE_KERNEL = 'MotlabRope';

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

/**
 * Rotate-half RoPE of rows of hd values (row r at position r mod S), op by op as
 * x·cos + rotate_half(x)·sin with rotate_half(x) = [−x2, x1]; `inverse` gives the gradient,
 * dy·cos + rotate_halfᵀ(dy·sin).
 */
function ropeInto(
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

// --- wasm ---------------------------------------------------------------------------------------

// rope(x, cos, sin, out, rows, S, hd, inverse): rows of hd values, row r at position r mod S;
// with h = hd/2 (a multiple of 4), forward:  out[j] = x[j]·c[j] − x[j+h]·s[j], out[j+h] = x[j+h]·c[j+h] + x[j]·s[j+h];
// inverse (the gradient):                    out[j] = x[j]·c[j] + x[j+h]·s[j+h], out[j+h] = x[j+h]·c[j+h] − x[j]·s[j].
function ropeBody(): number[] {
  const [X, COS, SIN, OUT, ROWS, SS, HD, INV] = [0, 1, 2, 3, 4, 5, 6, 7];
  const [r, pos, j, halfB, rowB, xRow, tRow, oRow] = [8, 9, 10, 11, 12, 13, 14, 15];
  const [xa, xb, ca, cb, sa, sb] = [16, 17, 18, 19, 20, 21];
  const ld = (row: number, plusHalf: boolean, base = 0) => [
    ...(base ? op.get(base) : []),
    ...op.get(row),
    ...(base ? op.i32Add : []),
    ...op.get(j),
    ...op.i32Add,
    ...(plusHalf ? [...op.get(halfB), ...op.i32Add] : []),
    ...v.load,
  ];
  const st = (plusHalf: boolean) => [...op.get(oRow), ...op.get(j), ...op.i32Add, ...(plusHalf ? [...op.get(halfB), ...op.i32Add] : [])];
  const pair = (p: number, q: number) => [...op.get(p), ...op.get(q), ...v.mul];
  const rowBody = [
    ...ld(xRow, false),
    ...op.set(xa),
    ...ld(xRow, true),
    ...op.set(xb),
    ...ld(tRow, false, COS),
    ...op.set(ca),
    ...ld(tRow, true, COS),
    ...op.set(cb),
    ...ld(tRow, false, SIN),
    ...op.set(sa),
    ...ld(tRow, true, SIN),
    ...op.set(sb),
    ...op.get(INV),
    ...op.i32Eqz,
    ...op.if,
    ...st(false),
    ...pair(xa, ca),
    ...pair(xb, sa),
    ...v.sub,
    ...v.store,
    ...st(true),
    ...pair(xb, cb),
    ...pair(xa, sb),
    ...v.add,
    ...v.store,
    ...op.else,
    ...st(false),
    ...pair(xa, ca),
    ...pair(xb, sb),
    ...v.add,
    ...v.store,
    ...st(true),
    ...pair(xb, cb),
    ...pair(xa, sa),
    ...v.sub,
    ...v.store,
    ...op.end,
  ];
  return [
    ...locals([8, I32], [6, V128]),
    ...op.get(HD),
    ...op.i32(1),
    ...op.i32Shl,
    ...op.set(halfB), // (hd/2)·4 bytes
    ...op.get(HD),
    ...op.i32(2),
    ...op.i32Shl,
    ...op.set(rowB),
    ...op.block,
    ...op.loop,
    ...op.get(r),
    ...op.get(ROWS),
    ...op.i32GeU,
    ...op.brIf(1),
    // xRow = x + r·rowB (offset into x and out); tRow = pos·rowB (offset into cos and sin)
    ...op.get(r),
    ...op.get(rowB),
    ...op.i32Mul,
    ...op.set(tRow),
    ...op.get(X),
    ...op.get(tRow),
    ...op.i32Add,
    ...op.set(xRow),
    ...op.get(OUT),
    ...op.get(tRow),
    ...op.i32Add,
    ...op.set(oRow),
    ...op.get(pos),
    ...op.get(rowB),
    ...op.i32Mul,
    ...op.set(tRow),
    ...op.i32(0),
    ...op.set(j),
    ...loop(j, halfB, VEC, rowBody),
    ...op.get(r),
    ...op.i32(1),
    ...op.i32Add,
    ...op.set(r),
    // pos = (pos + 1) mod S
    ...op.get(pos),
    ...op.i32(1),
    ...op.i32Add,
    ...op.set(pos),
    ...op.get(pos),
    ...op.get(SS),
    ...op.i32GeU,
    ...op.if,
    ...op.i32(0),
    ...op.set(pos),
    ...op.end,
    ...op.br(0),
    ...op.end,
    ...op.end,
    ...op.end,
  ];
}

const ropeSimd = simdModule<{
  /** Rotate-half RoPE (or its gradient, inverse = 1) of `rows` rows of hd values; hd must be a multiple of 8. */
  rope(x: number, cos: number, sin: number, out: number, rows: number, seqLen: number, hd: number, inverse: number): void;
}>({
  rope: { params: ['i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32'], body: ropeBody },
});

// --- backends -----------------------------------------------------------------------------------

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
  const simd = hd % 8 === 0 ? ropeSimd.on(heapOf(backend)) : null;
  const rows = tf.util.sizeFromShape(x.shape) / hd;
  return wasmElementwise(
    backend,
    [x, cos, sin],
    1,
    x,
    simd && (([xo, c, s, out]) => simd.rope(xo, c, s, out, rows, seqLen, hd, inverse ? 1 : 0)),
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

export const ropeKernels: FusedKernel[] = [{ name: ROPE_KERNEL, wasm: ropeWasm, cpu: ropeCpu }];
