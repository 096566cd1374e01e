/**
 * A minimal WebAssembly (SIMD) assembler: the byte encodings and loop shapes our kernels are
 * written in (no toolchain needed). A kernel's function body is a plain number[] of bytes built
 * from these; `simdModule` (./module.ts) turns a table of such bodies into a module.
 *
 * Every kernel body does its float arithmetic in IEEE float32, in the same order as the tf ops it
 * replaces (wasm has no fused multiply-add), so its results are bit-identical to them.
 */

export const I32 = 0x7f;
export const F32 = 0x7d;
export const V128 = 0x7b;

export function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

export const str = (s: string) => [...uleb(s.length), ...Array.from(s, (c) => c.charCodeAt(0))];
export const vec = (items: number[][]) => [...uleb(items.length), ...items.flat()];

/** A function body's local declarations: runs of (count, type). */
export const locals = (...runs: [count: number, type: number][]) => vec(runs.map(([count, type]) => [...uleb(count), type]));

/** Instructions. */
export const op = {
  get: (i: number) => [0x20, ...uleb(i)],
  set: (i: number) => [0x21, ...uleb(i)],
  i32: (n: number) => [0x41, ...sleb(n)],
  i32Add: [0x6a],
  i32Sub: [0x6b],
  i32Mul: [0x6c],
  i32LtU: [0x49],
  select: [0x1b],
  i32And: [0x71],
  i32Shl: [0x74],
  i32GeU: [0x4f],
  i32Eqz: [0x45],
  if: [0x04, 0x40],
  else: [0x05],
  f32Const: (x: number) => [0x43, ...new Uint8Array(Float32Array.of(x).buffer)],
  i32Load: [0x28, 2, 0],
  memoryCopy: [0xfc, 0x0a, 0x00, 0x00],
  block: [0x02, 0x40],
  loop: [0x03, 0x40],
  br: (depth: number) => [0x0c, ...uleb(depth)],
  brIf: (depth: number) => [0x0d, ...uleb(depth)],
  end: [0x0b],
  f32Load: [0x2a, 2, 0],
  f32Store: [0x38, 2, 0],
  f32Add: [0x92],
  f32Sub: [0x93],
  f32Mul: [0x94],
  f32Div: [0x95],
  f32Sqrt: [0x91],
  simd: (code: number, ...imm: number[]) => [0xfd, ...uleb(code), ...imm],
};

/** i32 arithmetic on pushed operands (address computations). */
export const i32 = {
  /** a + b + …, left to right. */
  add: (...xs: number[][]) => xs.reduce((acc, x, i) => (i === 0 ? x : [...acc, ...x, ...op.i32Add]), [] as number[]),
  mul: (a: number[], b: number[]) => [...a, ...b, ...op.i32Mul],
  /** a · 4: a float index to a byte offset. */
  shl2: (a: number[]) => [...a, ...op.i32(2), ...op.i32Shl],
};

/** f32x4 instructions. */
export const v = {
  load: op.simd(0x00, 2, 0),
  store: op.simd(0x0b, 2, 0),
  splat: op.simd(0x13),
  sqrt: op.simd(0xe3),
  add: op.simd(0xe4),
  sub: op.simd(0xe5),
  mul: op.simd(0xe6),
  div: op.simd(0xe7),
  /** i8x16.shuffle of two vectors, given as four 32-bit lanes (0–3 first operand, 4–7 second). */
  shuffle32: (lanes: number[]) => op.simd(0x0d, ...lanes.flatMap((l) => [4 * l, 4 * l + 1, 4 * l + 2, 4 * l + 3])),
};

/** Typed ops for one lane width: the same expression tree emits either f32x4 or f32 code. */
export interface Lanes {
  load: number[];
  store: number[];
  add: number[];
  sub: number[];
  mul: number[];
  div: number[];
  sqrt: number[];
  bytes: number;
}
export const VEC: Lanes = { ...v, bytes: 16 };
export const SCALAR: Lanes = {
  load: op.f32Load,
  store: op.f32Store,
  add: op.f32Add,
  sub: op.f32Sub,
  mul: op.f32Mul,
  div: op.f32Div,
  sqrt: op.f32Sqrt,
  bytes: 4,
};

/** `for (; i < end; i += lanes.bytes) body` where local `i` and `end` are byte offsets. */
export function loop(i: number, end: number, lanes: Lanes, body: number[]): number[] {
  return [
    ...op.block,
    ...op.loop,
    ...op.get(i),
    ...op.get(end),
    ...op.i32GeU,
    ...op.brIf(1),
    ...body,
    ...op.get(i),
    ...op.i32(lanes.bytes),
    ...op.i32Add,
    ...op.set(i),
    ...op.br(0),
    ...op.end,
    ...op.end,
  ];
}

/** `for (v = from; v < end; v += step) body`, all i32 locals. */
export function forLoop(vr: number, from: number[], end: number[], step: number, body: number[]): number[] {
  return [
    ...from,
    ...op.set(vr),
    ...op.block,
    ...op.loop,
    ...op.get(vr),
    ...end,
    ...op.i32GeU,
    ...op.brIf(1),
    ...body,
    ...op.get(vr),
    ...op.i32(step),
    ...op.i32Add,
    ...op.set(vr),
    ...op.br(0),
    ...op.end,
    ...op.end,
  ];
}

// --- elementwise kernels: f(ptr_0 … ptr_{k−1}, n), SIMD over n & ~3 elements, then the tail ------

export interface ElementwiseCtx {
  lanes: Lanes;
  /** Push the address of element i of pointer parameter p. */
  at: (p: number) => number[];
  /** Local index of temporary k (v128 in the SIMD loop, f32 in the tail). */
  tmp: (k: number) => number;
  /** Push 1.0 (a vector of ones in the SIMD loop). */
  one: number[];
}

/**
 * The body of f(ptr_0, …, ptr_{pointers−1}, n): `body` once per element, emitted twice — as
 * f32x4 over the first n & ~3 elements, then as f32 over the rest.
 */
export function elementwiseBody(pointers: number, temps: number, body: (c: ElementwiseCtx) => number[]): number[] {
  const N = pointers;
  const [i, endVec, endAll] = [N + 1, N + 2, N + 3];
  const ones = N + 4; // v128
  const vTmp = N + 5;
  const fTmp = vTmp + temps;
  const ctx = (lanes: Lanes, tmpBase: number, one: number[]): ElementwiseCtx => ({
    lanes,
    one,
    tmp: (k) => tmpBase + k,
    at: (p) => [...op.get(p), ...op.get(i), ...op.i32Add],
  });
  return [
    ...locals([3, I32], [1 + temps, V128], [temps, F32]),
    ...op.get(N),
    ...op.i32(2),
    ...op.i32Shl,
    ...op.set(endAll),
    ...op.get(N),
    ...op.i32(-4),
    ...op.i32And,
    ...op.i32(2),
    ...op.i32Shl,
    ...op.set(endVec),
    ...op.f32Const(1),
    ...v.splat,
    ...op.set(ones),
    ...loop(i, endVec, VEC, body(ctx(VEC, vTmp, op.get(ones)))),
    ...loop(i, endAll, SCALAR, body(ctx(SCALAR, fTmp, op.f32Const(1)))),
    ...op.end,
  ];
}
