/**
 * AᵀA in float64 for the covariance (and Gram) matrices of pca.ts: the one hot loop of the PCA,
 * as a tiny WebAssembly SIMD module (f64x2) assembled byte by byte (wasm.ts) — about twice the
 * throughput of the same loop in JavaScript, which keeps 20000×256 well under the 0.5 s
 * budget. The caller hands over A in blocks of rows (JS fills each block); the kernel adds each
 * block's AᵀA into an accumulator in wasm memory. Every product and sum is IEEE float64.
 *
 * Kernel `tiles(block, rows, width, acc)` (byte offsets; `width` a multiple of 4): for each 4×4
 * tile (a, b ≥ a) of the output it keeps eight f64x2 sums over the block's rows — per row two
 * loads of A[p, a..a+3] and four splat loads of A[p, b+j] for sixteen multiply-adds — and adds
 * them into acc rows b..b+3, columns a..a+3: the lower triangle (the upper is its mirror).
 */

import { MotlabError } from '../../common/errors.ts';
import {
  compileSimd,
  end,
  f64x2Add,
  f64x2Mul,
  get,
  I32,
  i32Add,
  i32Const,
  i32Mul,
  i32Shl,
  i32ShrU,
  load64Splat,
  section,
  set,
  str,
  uleb,
  V128,
  v128Load,
  v128Store,
  v128Zero,
  vec,
  whileBelow,
  type WasmApi,
} from './wasm.ts';

/** Rows of A per block: 64 × width float64 stays in L2 for width ≤ 1024. */
const BLOCK_ROWS = 64;

function tilesBody(): number[] {
  // Params: 0 block, 1 rows, 2 width, 3 acc. i32 locals 4–10, v128 locals 11–21.
  const [BLOCK, ROWS, WIDTH, ACC] = [0, 1, 2, 3];
  const [ROW_BYTES, P_END, A_BYTES, B_BYTES, P, ACC_ROW, PTR] = [4, 5, 6, 7, 8, 9, 10];
  const S = (i: number) => 11 + i; // s0..s7: column pairs (a, a+1) then (a+2, a+3) for b+0..3
  const [X01, X23, Y] = [19, 20, 21];

  const rowStep: number[] = [];
  for (let j = 0; j < 4; j++) {
    rowStep.push(...get(P), ...get(B_BYTES), ...i32Add, ...load64Splat(8 * j), ...set(Y));
    for (const [sum, x] of [
      [S(j), X01],
      [S(4 + j), X23],
    ])
      rowStep.push(...get(sum), ...get(x), ...get(Y), ...f64x2Mul, ...f64x2Add, ...set(sum));
  }
  const rowsLoop = whileBelow(get(P), get(P_END), [
    ...get(P),
    ...get(A_BYTES),
    ...i32Add,
    ...set(PTR),
    ...get(PTR),
    ...v128Load(0),
    ...set(X01),
    ...get(PTR),
    ...v128Load(16),
    ...set(X23),
    ...rowStep,
    ...get(P),
    ...get(ROW_BYTES),
    ...i32Add,
    ...set(P),
  ]);
  const flush: number[] = [...get(ACC_ROW), ...get(A_BYTES), ...i32Add, ...set(PTR)];
  for (let j = 0; j < 4; j++) {
    for (const [sum, offset] of [
      [S(j), 0],
      [S(4 + j), 16],
    ])
      flush.push(...get(PTR), ...get(PTR), ...v128Load(offset), ...get(sum), ...f64x2Add, ...v128Store(offset));
    flush.push(...get(PTR), ...get(ROW_BYTES), ...i32Add, ...set(PTR));
  }
  const zero: number[] = [];
  for (let i = 0; i < 8; i++) zero.push(...v128Zero, ...set(S(i)));
  const bLoop = whileBelow(get(B_BYTES), get(ROW_BYTES), [
    ...zero,
    ...get(BLOCK),
    ...set(P),
    ...rowsLoop,
    ...flush,
    ...get(B_BYTES),
    ...i32Const(32),
    ...i32Add,
    ...set(B_BYTES),
    ...get(ACC_ROW),
    ...get(ROW_BYTES),
    ...i32Const(2),
    ...i32Shl,
    ...i32Add,
    ...set(ACC_ROW),
  ]);
  const aLoop = whileBelow(get(A_BYTES), get(ROW_BYTES), [
    ...get(A_BYTES),
    ...set(B_BYTES),
    // accRow = acc + (aBytes / 8) · rowBytes: acc row b = a
    ...get(ACC),
    ...get(A_BYTES),
    ...i32Const(3),
    ...i32ShrU,
    ...get(ROW_BYTES),
    ...i32Mul,
    ...i32Add,
    ...set(ACC_ROW),
    ...bLoop,
    ...get(A_BYTES),
    ...i32Const(32),
    ...i32Add,
    ...set(A_BYTES),
  ]);
  const code = [
    ...get(WIDTH),
    ...i32Const(3),
    ...i32Shl,
    ...set(ROW_BYTES),
    ...get(BLOCK),
    ...get(ROWS),
    ...get(ROW_BYTES),
    ...i32Mul,
    ...i32Add,
    ...set(P_END),
    ...aLoop,
    ...end,
  ];
  const locals = vec([
    [...uleb(7), I32],
    [...uleb(11), V128],
  ]);
  return [...uleb(locals.length + code.length), ...locals, ...code];
}

function moduleBytes(): Uint8Array {
  const type = section(1, vec([[0x60, ...vec([[I32], [I32], [I32], [I32]]), ...vec([])]]));
  const imports = section(2, vec([[...str('env'), ...str('memory'), 0x02, 0x00, 0x01]])); // memory, min 1 page
  const functions = section(3, vec([[0]]));
  const exports = section(7, vec([[...str('tiles'), 0x00, 0x00]]));
  const code = section(10, [...uleb(1), ...tilesBody()]);
  return Uint8Array.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, ...type, ...imports, ...functions, ...exports, ...code]);
}

let compiled: { api: WasmApi; module: object } | null = null;

function kernel(): { api: WasmApi; module: object } {
  compiled ??= compileSimd(moduleBytes(), 'PCA');
  return compiled;
}

/**
 * AᵀA (cols × cols, row-major, float64) for an implicit [rows, cols] matrix A delivered in
 * blocks by `fill(block, firstRow, count, width)`: write rows firstRow…firstRow+count−1 into
 * `block`, row-major with row stride `width` (cols rounded up to 4; leave the padding alone, it
 * is zero).
 */
export function symmetricCrossProduct(
  rows: number,
  cols: number,
  fill: (block: Float64Array, firstRow: number, count: number, width: number) => void,
): Float64Array {
  const width = Math.ceil(cols / 4) * 4;
  const blockBytes = BLOCK_ROWS * width * 8;
  const accBytes = width * width * 8;
  if (blockBytes + accBytes > 2 ** 31)
    throw new MotlabError('invalid_request', `a ${cols}×${cols} covariance is too large for one WebAssembly memory (2 GB)`);
  const { api, module } = kernel();
  const memory = new api.Memory({ initial: Math.ceil((blockBytes + accBytes) / 65536) });
  const { tiles } = new api.Instance(module, { env: { memory } }).exports;
  const blockView = new Float64Array(memory.buffer, 0, BLOCK_ROWS * width);
  for (let first = 0; first < rows; first += BLOCK_ROWS) {
    const count = Math.min(BLOCK_ROWS, rows - first);
    fill(blockView, first, count, width);
    tiles(0, count, width, blockBytes);
  }
  const acc = new Float64Array(memory.buffer, blockBytes, width * width);
  const out = new Float64Array(cols * cols);
  for (let i = 0; i < cols; i++) {
    for (let j = 0; j <= i; j++) {
      const v = acc[i * width + j];
      out[i * cols + j] = v;
      out[j * cols + i] = v;
    }
  }
  return out;
}
