/**
 * Three loops as a tiny WebAssembly (SIMD) module that works in place on the tfjs-wasm heap:
 * the AdamW update and a sum of squares, which replace ~15 tfjs kernel calls per parameter per
 * step (each a pass over memory plus JS dispatch) with one pass, and a tiled SIMD transpose
 * (several times faster than tfjs-wasm's, which the matMul fast path leans on). The module is assembled here,
 * byte by byte (no toolchain needed), and instantiated against the backend's own
 * WebAssembly.Memory, so it reads and writes tensors by their heap offsets.
 *
 * Every operation is IEEE float32 and in the same order as the tf ops it replaces (wasm has no
 * fused multiply-add), so the results are bit-identical to them.
 */

// --- a minimal encoder ---------------------------------------------------------------------------

const I32 = 0x7f;
const F32 = 0x7d;
const V128 = 0x7b;

function uleb(n: number): number[] {
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

const str = (s: string) => [...uleb(s.length), ...Array.from(s, (c) => c.charCodeAt(0))];
const vec = (items: number[][]) => [...uleb(items.length), ...items.flat()];
const section = (id: number, body: number[]) => [id, ...uleb(body.length), ...body];

/** Instructions used below. */
const op = {
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
const v = {
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
interface Lanes {
  load: number[];
  store: number[];
  add: number[];
  sub: number[];
  mul: number[];
  div: number[];
  sqrt: number[];
  bytes: number;
}
const VEC: Lanes = { ...v, bytes: 16 };
const SCALAR: Lanes = {
  load: op.f32Load,
  store: op.f32Store,
  add: op.f32Add,
  sub: op.f32Sub,
  mul: op.f32Mul,
  div: op.f32Div,
  sqrt: op.f32Sqrt,
  bytes: 4,
};

/**
 * `for (; i < end; i += lanes.bytes) body` where local `i` and `end` are byte offsets.
 */
function loop(i: number, end: number, lanes: Lanes, body: number[]): number[] {
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

// --- adamw(p, g, m, v, pOut, mOut, vOut, n, scale, b1, c1, b2, c2, bc1, bc2, eps, decay, lr) ----
// Per element, in float32 and in this order (the AdamW of training/optimizer.ts):
//   gs = g·scale; m' = m·b1 + gs·c1; v' = v·b2 + (gs·gs)·c2;
//   p' = p·decay − ((m'/bc1) / (sqrt(v'/bc2) + eps))·lr

const ADAM_PTRS = 7; // p g m v pOut mOut vOut
const ADAM_N = 7;
const ADAM_F = ['scale', 'b1', 'c1', 'b2', 'c2', 'bc1', 'bc2', 'eps', 'decay', 'lr'] as const;
const adamParams = [...new Array<number>(ADAM_PTRS + 1).fill(I32), ...ADAM_F.map(() => F32)];

function adamBody(): number[] {
  const nParams = adamParams.length;
  const [P, G, M, Vv, PO, MO, VO] = [0, 1, 2, 3, 4, 5, 6];
  const fParam = (name: (typeof ADAM_F)[number]) => ADAM_PTRS + 1 + ADAM_F.indexOf(name);
  // Locals after the params: i, endVec, endAll (i32); splats (v128, one per float param);
  // gs, m', v' for each lane width (v128 and f32).
  const i = nParams;
  const endVec = i + 1;
  const endAll = i + 2;
  const splat = (name: (typeof ADAM_F)[number]) => endAll + 1 + ADAM_F.indexOf(name);
  const vTmp = endAll + 1 + ADAM_F.length; // gs, m', v' as v128
  const fTmp = vTmp + 3; // gs, m', v' as f32
  const locals = [
    [...uleb(3), I32],
    [...uleb(ADAM_F.length + 3), V128],
    [...uleb(3), F32],
  ];

  const element = (lanes: Lanes, tmp: number, constant: (name: (typeof ADAM_F)[number]) => number[]) => {
    const at = (ptr: number) => [...op.get(ptr), ...op.get(i), ...op.i32Add];
    const [gs, m2, v2] = [tmp, tmp + 1, tmp + 2];
    return [
      ...at(G),
      ...lanes.load,
      ...constant('scale'),
      ...lanes.mul,
      ...op.set(gs),
      // m' = m·b1 + gs·c1 → mOut
      ...at(M),
      ...lanes.load,
      ...constant('b1'),
      ...lanes.mul,
      ...op.get(gs),
      ...constant('c1'),
      ...lanes.mul,
      ...lanes.add,
      ...op.set(m2),
      ...at(MO),
      ...op.get(m2),
      ...lanes.store,
      // v' = v·b2 + (gs·gs)·c2 → vOut
      ...at(Vv),
      ...lanes.load,
      ...constant('b2'),
      ...lanes.mul,
      ...op.get(gs),
      ...op.get(gs),
      ...lanes.mul,
      ...constant('c2'),
      ...lanes.mul,
      ...lanes.add,
      ...op.set(v2),
      ...at(VO),
      ...op.get(v2),
      ...lanes.store,
      // p' = p·decay − ((m'/bc1) / (sqrt(v'/bc2) + eps))·lr → pOut
      ...at(PO),
      ...at(P),
      ...lanes.load,
      ...constant('decay'),
      ...lanes.mul,
      ...op.get(m2),
      ...constant('bc1'),
      ...lanes.div,
      ...op.get(v2),
      ...constant('bc2'),
      ...lanes.div,
      ...lanes.sqrt,
      ...constant('eps'),
      ...lanes.add,
      ...lanes.div,
      ...constant('lr'),
      ...lanes.mul,
      ...lanes.sub,
      ...lanes.store,
    ];
  };

  const code = [
    // endAll = n·4; endVec = (n & ~3)·4; i = 0 (locals start at zero)
    ...op.get(ADAM_N),
    ...op.i32(2),
    ...op.i32Shl,
    ...op.set(endAll),
    ...op.get(ADAM_N),
    ...op.i32(-4),
    ...op.i32And,
    ...op.i32(2),
    ...op.i32Shl,
    ...op.set(endVec),
    ...ADAM_F.flatMap((name) => [...op.get(fParam(name)), ...v.splat, ...op.set(splat(name))]),
    ...loop(
      i,
      endVec,
      VEC,
      element(VEC, vTmp, (name) => op.get(splat(name))),
    ),
    ...loop(
      i,
      endAll,
      SCALAR,
      element(SCALAR, fTmp, (name) => op.get(fParam(name))),
    ),
    ...op.end,
  ];
  return [...vec(locals), ...code];
}

// --- sumsq(x, n) → Σ x², accumulated in float32 one element at a time (as tfjs-wasm's Sum) --------

function sumSquaresBody(): number[] {
  const [X, N, i, end, acc] = [0, 1, 2, 3, 4];
  const locals = [
    [...uleb(2), I32],
    [...uleb(1), F32],
  ];
  const code = [
    ...op.get(N),
    ...op.i32(2),
    ...op.i32Shl,
    ...op.set(end),
    ...loop(i, end, SCALAR, [
      ...op.get(acc),
      ...op.get(X),
      ...op.get(i),
      ...op.i32Add,
      ...op.f32Load,
      ...op.get(X),
      ...op.get(i),
      ...op.i32Add,
      ...op.f32Load,
      ...op.f32Mul,
      ...op.f32Add,
      ...op.set(acc),
    ]),
    ...op.get(acc),
    ...op.end,
  ];
  return [...vec(locals), ...code];
}

// --- transpose(src, dst, rows, cols): dst[j, i] = src[i, j] for a row-major float32 [rows, cols] --
// 4×4 blocks through SIMD shuffles, visited in 32×32 tiles so that both sides stay in L1;
// the ragged edges (rows or cols not a multiple of 4) element by element.

function transposeBody(): number[] {
  const [SRC, DST, ROWS, COLS] = [0, 1, 2, 3];
  const [rows4, cols4, ib, jb, iEnd, jEnd, i, j, sAddr, dAddr, rowsB, colsB] = [4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];
  const [r0, r1, r2, r3, t0, t1, t2, t3] = [16, 17, 18, 19, 20, 21, 22, 23];
  const TILE = 32;
  const locals = [
    [...uleb(12), I32],
    [...uleb(8), V128],
  ];
  const min = (a: number[], b: number[]) => [...a, ...b, ...a, ...b, ...op.i32LtU, ...op.select];
  /** for (v = from; v < end; v += step) body — all i32 locals. */
  const forLoop = (vr: number, from: number[], end: number[], step: number, body: number[]) => [
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
  const addr = (base: number, a: number, stride: number, b: number) => [
    ...op.get(base),
    ...op.get(a),
    ...op.get(stride),
    ...op.i32Mul,
    ...op.get(b),
    ...op.i32Add,
    ...op.i32(2),
    ...op.i32Shl,
    ...op.i32Add,
  ];
  const plus = (local: number, k: number, strideB: number) => [
    ...op.get(local),
    ...(k ? [...op.get(strideB), ...op.i32(k), ...op.i32Mul, ...op.i32Add] : []),
  ];
  const block4 = [
    // sAddr = src + (i·cols + j)·4 ; dAddr = dst + (j·rows + i)·4
    ...addr(SRC, i, COLS, j),
    ...op.set(sAddr),
    ...addr(DST, j, ROWS, i),
    ...op.set(dAddr),
    ...[r0, r1, r2, r3].flatMap((r, k) => [...plus(sAddr, k, colsB), ...v.load, ...op.set(r)]),
    ...op.get(r0),
    ...op.get(r1),
    ...v.shuffle32([0, 4, 1, 5]),
    ...op.set(t0),
    ...op.get(r0),
    ...op.get(r1),
    ...v.shuffle32([2, 6, 3, 7]),
    ...op.set(t1),
    ...op.get(r2),
    ...op.get(r3),
    ...v.shuffle32([0, 4, 1, 5]),
    ...op.set(t2),
    ...op.get(r2),
    ...op.get(r3),
    ...v.shuffle32([2, 6, 3, 7]),
    ...op.set(t3),
    ...plus(dAddr, 0, rowsB),
    ...op.get(t0),
    ...op.get(t2),
    ...v.shuffle32([0, 1, 4, 5]),
    ...v.store,
    ...plus(dAddr, 1, rowsB),
    ...op.get(t0),
    ...op.get(t2),
    ...v.shuffle32([2, 3, 6, 7]),
    ...v.store,
    ...plus(dAddr, 2, rowsB),
    ...op.get(t1),
    ...op.get(t3),
    ...v.shuffle32([0, 1, 4, 5]),
    ...v.store,
    ...plus(dAddr, 3, rowsB),
    ...op.get(t1),
    ...op.get(t3),
    ...v.shuffle32([2, 3, 6, 7]),
    ...v.store,
  ];
  const one = [...addr(DST, j, ROWS, i), ...addr(SRC, i, COLS, j), ...op.f32Load, ...op.f32Store];
  const code = [
    ...op.get(ROWS),
    ...op.i32(-4),
    ...op.i32And,
    ...op.set(rows4),
    ...op.get(COLS),
    ...op.i32(-4),
    ...op.i32And,
    ...op.set(cols4),
    ...op.get(ROWS),
    ...op.i32(2),
    ...op.i32Shl,
    ...op.set(rowsB),
    ...op.get(COLS),
    ...op.i32(2),
    ...op.i32Shl,
    ...op.set(colsB),
    ...forLoop(ib, op.i32(0), op.get(rows4), TILE, [
      ...min([...op.get(ib), ...op.i32(TILE), ...op.i32Add], op.get(rows4)),
      ...op.set(iEnd),
      ...forLoop(jb, op.i32(0), op.get(cols4), TILE, [
        ...min([...op.get(jb), ...op.i32(TILE), ...op.i32Add], op.get(cols4)),
        ...op.set(jEnd),
        ...forLoop(i, op.get(ib), op.get(iEnd), 4, forLoop(j, op.get(jb), op.get(jEnd), 4, block4)),
      ]),
    ]),
    // Edges: the last cols % 4 columns of the first rows4 rows, then the last rows % 4 rows.
    ...forLoop(i, op.i32(0), op.get(rows4), 1, forLoop(j, op.get(cols4), op.get(COLS), 1, one)),
    ...forLoop(i, op.get(rows4), op.get(ROWS), 1, forLoop(j, op.i32(0), op.get(COLS), 1, one)),
    ...op.end,
  ];
  return [...vec(locals), ...code];
}

// --- elementwise kernels: f(ptr_0 … ptr_{k−1}, n), SIMD over n & ~3 elements, then the tail ------

interface ElementwiseCtx {
  lanes: Lanes;
  /** Push the address of element i of pointer parameter p. */
  at: (p: number) => number[];
  /** Local index of temporary k (v128 in the SIMD loop, f32 in the tail). */
  tmp: (k: number) => number;
  /** Push 1.0 (a vector of ones in the SIMD loop). */
  one: number[];
}

function elementwiseBody(pointers: number, temps: number, body: (c: ElementwiseCtx) => number[]): number[] {
  const N = pointers;
  const [i, endVec, endAll] = [N + 1, N + 2, N + 3];
  const ones = N + 4; // v128
  const vTmp = N + 5;
  const fTmp = vTmp + temps;
  const locals = [
    [...uleb(3), I32],
    [...uleb(1 + temps), V128],
    [...uleb(temps), F32],
  ];
  const ctx = (lanes: Lanes, tmpBase: number, one: number[]): ElementwiseCtx => ({
    lanes,
    one,
    tmp: (k) => tmpBase + k,
    at: (p) => [...op.get(p), ...op.get(i), ...op.i32Add],
  });
  return [
    ...vec(locals),
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

// rope(x, cos, sin, out, rows, S, hd, inverse): rows of hd values, row r at position r mod S;
// with h = hd/2 (a multiple of 4), forward:  out[j] = x[j]·c[j] − x[j+h]·s[j], out[j+h] = x[j+h]·c[j+h] + x[j]·s[j+h];
// inverse (the gradient):                    out[j] = x[j]·c[j] + x[j+h]·s[j+h], out[j+h] = x[j+h]·c[j+h] − x[j]·s[j].
function ropeBody(): number[] {
  const [X, COS, SIN, OUT, ROWS, SS, HD, INV] = [0, 1, 2, 3, 4, 5, 6, 7];
  const [r, pos, j, halfB, rowB, xRow, tRow, oRow] = [8, 9, 10, 11, 12, 13, 14, 15];
  const [xa, xb, ca, cb, sa, sb] = [16, 17, 18, 19, 20, 21];
  const locals = [
    [...uleb(8), I32],
    [...uleb(6), V128],
  ];
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
  const code = [
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
  return [...vec(locals), ...code];
}

// --- rowScaleFwd(x, w, out, rows, d): out[r, :] = x[r, :]·w  (d a multiple of 4)
// --- rowScaleBwd(dy, x, w, dx, dw, rows, d): dx[r, :] = dy[r, :]·w; dw += dy[r, :]·x[r, :], row after row

function rowScaleBody(backward: boolean): number[] {
  const P = backward ? { DY: 0, X: 1, W: 2, DX: 3, DW: 4, ROWS: 5, D: 6 } : { DY: -1, X: 0, W: 1, DX: 2, DW: -1, ROWS: 3, D: 4 };
  const base = backward ? 7 : 5;
  const [r, j, rowOff, rowB] = [base, base + 1, base + 2, base + 3];
  const locals = [[...uleb(4), I32]];
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
  const code = [
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
  return [...vec(locals), ...code];
}

// --- headsGather(src, dst, idx, n, heads, hd, toHeads): permute rows and regroup them by head ----
// toHeads:  dst[j, p, :] = src[idx[p], j·hd … (j+1)·hd]   (src [n, heads·hd] → dst [heads, n, hd])
// else:     dst[r, j·hd …] = src[j, idx[r], :]            (src [heads, n, hd] → dst [n, heads·hd])

function headsGatherBody(): number[] {
  const [SRC, DST, IDX, N, J, HD, TO_HEADS] = [0, 1, 2, 3, 4, 5, 6];
  const [p, j, q, rowB, chunkB, planeB] = [7, 8, 9, 10, 11, 12];
  const locals = [[...uleb(6), I32]];
  const mul = (a: number[], b: number[]) => [...a, ...b, ...op.i32Mul];
  const add = (...xs: number[][]) => xs.reduce((acc, x, i) => (i === 0 ? x : [...acc, ...x, ...op.i32Add]), [] as number[]);
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
  const counted = (v: number, end: number, body: number[]) => [
    ...op.i32(0),
    ...op.set(v),
    ...op.block,
    ...op.loop,
    ...op.get(v),
    ...op.get(end),
    ...op.i32GeU,
    ...op.brIf(1),
    ...body,
    ...op.get(v),
    ...op.i32(1),
    ...op.i32Add,
    ...op.set(v),
    ...op.br(0),
    ...op.end,
    ...op.end,
  ];
  const code = [
    ...op.get(HD),
    ...op.i32(2),
    ...op.i32Shl,
    ...op.set(chunkB),
    ...mul(op.get(J), op.get(chunkB)),
    ...op.set(rowB),
    ...mul(op.get(N), op.get(chunkB)),
    ...op.set(planeB),
    ...counted(p, N, [
      ...op.get(IDX),
      ...op.get(p),
      ...op.i32(2),
      ...op.i32Shl,
      ...op.i32Add,
      ...op.i32Load,
      ...op.set(q),
      ...counted(j, J, inner),
    ]),
    ...op.end,
  ];
  return [...vec(locals), ...code];
}

function moduleBytes(): Uint8Array {
  const funcType = (params: number[], results: number[]) => [0x60, ...vec(params.map((t) => [t])), ...vec(results.map((t) => [t]))];
  const body = (b: number[]) => [...uleb(b.length), ...b];
  return Uint8Array.from([
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00,
    ...section(
      1,
      vec([
        funcType(adamParams, []),
        funcType([I32, I32], [F32]),
        funcType([I32, I32, I32, I32], []),
        funcType([I32, I32, I32, I32, I32], []),
        funcType([I32, I32, I32, I32, I32, I32, I32], []),
        funcType([I32, I32, I32, I32, I32, I32, I32, I32], []),
      ]),
    ),
    ...section(2, vec([[...str('env'), ...str('memory'), 0x02, 0x00, 0x00]])), // memory, no minimum, no maximum
    ...section(3, vec([[0], [1], [2], [3], [4], [5], [3], [4], [4]])),
    ...section(
      7,
      vec(
        ['adamw', 'sumsq', 'transpose', 'swigluFwd', 'swigluBwd', 'rope', 'rowScaleFwd', 'rowScaleBwd', 'headsGather'].map((name, i) => [
          ...str(name),
          0x00,
          i,
        ]),
      ),
    ),
    ...section(
      10,
      vec(
        [
          adamBody(),
          sumSquaresBody(),
          transposeBody(),
          swigluFwdBody(),
          swigluBwdBody(),
          ropeBody(),
          rowScaleBody(false),
          rowScaleBody(true),
          headsGatherBody(),
        ].map(body),
      ),
    ),
  ]);
}

// --- instantiation -----------------------------------------------------------------------------

export interface FusedLoops {
  /** Byte offsets into the memory; n elements; float arguments are rounded to float32. */
  adamw(
    p: number,
    g: number,
    m: number,
    v: number,
    pOut: number,
    mOut: number,
    vOut: number,
    n: number,
    scale: number,
    b1: number,
    c1: number,
    b2: number,
    c2: number,
    bc1: number,
    bc2: number,
    eps: number,
    decay: number,
    lr: number,
  ): void;
  sumsq(x: number, n: number): number;
  /** dst[j·rows + i] = src[i·cols + j] (byte offsets; the two must not overlap). */
  transpose(src: number, dst: number, rows: number, cols: number): void;
  /** out = (a·s)·b elementwise. */
  swigluFwd(a: number, s: number, b: number, out: number, n: number): void;
  /** The gradients of (a·s)·b, s = sigmoid(a), with respect to a and b. */
  swigluBwd(dy: number, a: number, s: number, b: number, da: number, db: number, n: number): void;
  /** Rotate-half RoPE (or its gradient, inverse = 1) of `rows` rows of hd values; hd must be a multiple of 8. */
  rope(x: number, cos: number, sin: number, out: number, rows: number, seqLen: number, hd: number, inverse: number): void;
  /** out[r, :] = x[r, :]·w for `rows` rows of d values (d a multiple of 4). */
  rowScaleFwd(x: number, w: number, out: number, rows: number, d: number): void;
  /** dx[r, :] = dy[r, :]·w and dw += dy[r, :]·x[r, :] (in float32, row after row). */
  rowScaleBwd(dy: number, x: number, w: number, dx: number, dw: number, rows: number, d: number): void;
  /** Row permutation plus regrouping by head (see headsGatherBody); idx is an int32 array of n entries. */
  headsGather(src: number, dst: number, idx: number, n: number, heads: number, hd: number, toHeads: number): void;
}

/** The parts of the WebAssembly JS API used here (the project's TypeScript lib has no DOM types). */
export interface WasmMemory {
  buffer: ArrayBuffer | SharedArrayBuffer;
}
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
}
const wasmApi = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;

let compiled: object | null | undefined;
const instances = new WeakMap<WasmMemory, FusedLoops>();

/** The loops bound to `memory`, or null where this runtime lacks wasm SIMD or the memory is shared. */
export function fusedLoops(memory: WasmMemory | undefined): FusedLoops | null {
  if (compiled === undefined) {
    const bytes = moduleBytes();
    compiled = wasmApi && wasmApi.validate(bytes) ? new wasmApi.Module(bytes) : null;
  }
  if (!compiled || !wasmApi || !memory) return null;
  if (typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer) return null;
  let loops = instances.get(memory);
  if (!loops) {
    loops = new wasmApi.Instance(compiled, { env: { memory } }).exports as FusedLoops;
    instances.set(memory, loops);
  }
  return loops;
}
