/**
 * The two passes over the training rows in one evaluation of the logistic probe (logistic.ts),
 * as a tiny WebAssembly SIMD module (f64x2) assembled byte by byte (encoder in wasm.ts): about
 * twice the throughput of the same loops in JavaScript. Every product and sum is IEEE float64.
 *
 * The rows live in the module's memory, each padded with zeros to an even width and their
 * count padded with zero rows to a multiple of four, so the kernels need no remainder loops:
 *
 * - `dots(x, pairs, rowBytes, a, b, out)`: for every row i, out[2i] = xᵢ·a and out[2i+1] = xᵢ·b
 *   (two rows at a time: four independent f64x2 sums, each load of a or b serving two rows);
 * - `sums(x, quads, rowBytes, r, g, h)`: g += Σᵢ r[2i]·xᵢ and h += Σᵢ r[2i+1]·xᵢ (four rows at a
 *   time: each update of g and h adds four products).
 */
import {
  compileSimd,
  end,
  f64x2Add,
  f64x2Interleave,
  f64x2Mul,
  get,
  I32,
  i32Add,
  i32Const,
  i32Mul,
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

function dotsBody(): number[] {
  const [X, PAIRS, ROW_BYTES, A, B, OUT] = [0, 1, 2, 3, 4, 5];
  const [P, P1, P_END, O] = [6, 7, 8, 9];
  const [SA0, SA1, SB0, SB1, VA, VB, X0, X1] = [10, 11, 12, 13, 14, 15, 16, 17];
  const at = (base: number) => [...get(base), ...get(O), ...i32Add, ...v128Load(0)];
  const madd = (sum: number, x: number, w: number) => [...get(sum), ...get(x), ...get(w), ...f64x2Mul, ...f64x2Add, ...set(sum)];
  const inner = whileBelow(get(O), get(ROW_BYTES), [
    ...at(A),
    ...set(VA),
    ...at(B),
    ...set(VB),
    ...at(P),
    ...set(X0),
    ...at(P1),
    ...set(X1),
    ...madd(SA0, X0, VA),
    ...madd(SA1, X1, VA),
    ...madd(SB0, X0, VB),
    ...madd(SB1, X1, VB),
    ...get(O),
    ...i32Const(16),
    ...i32Add,
    ...set(O),
  ]);
  // [Σ lanes of sa, Σ lanes of sb] stored at OUT + offset.
  const store = (sa: number, sb: number, offset: number) => [
    ...get(OUT),
    ...get(sa),
    ...get(sb),
    ...f64x2Interleave(0),
    ...get(sa),
    ...get(sb),
    ...f64x2Interleave(1),
    ...f64x2Add,
    ...v128Store(offset),
  ];
  const outer = whileBelow(get(P), get(P_END), [
    ...[SA0, SA1, SB0, SB1].flatMap((s) => [...v128Zero, ...set(s)]),
    ...get(P),
    ...get(ROW_BYTES),
    ...i32Add,
    ...set(P1),
    ...i32Const(0),
    ...set(O),
    ...inner,
    ...store(SA0, SB0, 0),
    ...store(SA1, SB1, 16),
    ...get(OUT),
    ...i32Const(32),
    ...i32Add,
    ...set(OUT),
    ...get(P1),
    ...get(ROW_BYTES),
    ...i32Add,
    ...set(P),
  ]);
  const code = [
    ...get(X),
    ...set(P),
    ...get(X),
    ...get(PAIRS),
    ...get(ROW_BYTES),
    ...i32Mul,
    ...get(ROW_BYTES),
    ...get(PAIRS),
    ...i32Mul,
    ...i32Add,
    ...i32Add,
    ...set(P_END),
    ...outer,
    ...end,
  ];
  const locals = vec([
    [...uleb(4), I32],
    [...uleb(8), V128],
  ]);
  return [...uleb(locals.length + code.length), ...locals, ...code];
}

function sumsBody(): number[] {
  const [X, QUADS, ROW_BYTES, R, G, H] = [0, 1, 2, 3, 4, 5];
  const [P0, P1, P2, P3, P_END, O, GO, HO] = [6, 7, 8, 9, 10, 11, 12, 13];
  const W = (i: number) => 14 + i; // a0..a3 (weights for g), then b0..b3 (for h)
  const XS = (i: number) => 22 + i; // x0..x3
  const rowAt = (p: number, x: number) => [...get(p), ...get(O), ...i32Add, ...v128Load(0), ...set(XS(x))];
  // target[o] += (w0·x0 + w1·x1) + (w2·x2 + w3·x3)
  const update = (target: number, first: number) => [
    ...get(target),
    ...get(target),
    ...v128Load(0),
    ...get(W(first)),
    ...get(XS(0)),
    ...f64x2Mul,
    ...get(W(first + 1)),
    ...get(XS(1)),
    ...f64x2Mul,
    ...f64x2Add,
    ...get(W(first + 2)),
    ...get(XS(2)),
    ...f64x2Mul,
    ...get(W(first + 3)),
    ...get(XS(3)),
    ...f64x2Mul,
    ...f64x2Add,
    ...f64x2Add,
    ...f64x2Add,
    ...v128Store(0),
  ];
  const inner = whileBelow(get(O), get(ROW_BYTES), [
    ...rowAt(P0, 0),
    ...rowAt(P1, 1),
    ...rowAt(P2, 2),
    ...rowAt(P3, 3),
    ...get(G),
    ...get(O),
    ...i32Add,
    ...set(GO),
    ...get(H),
    ...get(O),
    ...i32Add,
    ...set(HO),
    ...update(GO, 0),
    ...update(HO, 4),
    ...get(O),
    ...i32Const(16),
    ...i32Add,
    ...set(O),
  ]);
  const splats: number[] = [];
  for (let row = 0; row < 4; row++) {
    splats.push(...get(R), ...load64Splat(16 * row), ...set(W(row)));
    splats.push(...get(R), ...load64Splat(16 * row + 8), ...set(W(4 + row)));
  }
  const next = (to: number, from: number) => [...get(from), ...get(ROW_BYTES), ...i32Add, ...set(to)];
  const outer = whileBelow(get(P0), get(P_END), [
    ...splats,
    ...next(P1, P0),
    ...next(P2, P1),
    ...next(P3, P2),
    ...i32Const(0),
    ...set(O),
    ...inner,
    ...next(P0, P3),
    ...get(R),
    ...i32Const(32),
    ...i32Add,
    ...i32Const(32),
    ...i32Add,
    ...set(R),
  ]);
  const code = [
    ...get(X),
    ...set(P0),
    ...get(X),
    ...get(QUADS),
    ...get(ROW_BYTES),
    ...i32Mul,
    ...i32Const(4),
    ...i32Mul,
    ...i32Add,
    ...set(P_END),
    ...outer,
    ...end,
  ];
  const locals = vec([
    [...uleb(8), I32],
    [...uleb(12), V128],
  ]);
  return [...uleb(locals.length + code.length), ...locals, ...code];
}

function moduleBytes(): Uint8Array {
  const type = section(1, vec([[0x60, ...vec([[I32], [I32], [I32], [I32], [I32], [I32]]), ...vec([])]]));
  const imports = section(2, vec([[...str('env'), ...str('memory'), 0x02, 0x00, 0x01]])); // memory, min 1 page
  const functions = section(3, vec([[0], [0]]));
  const exports = section(
    7,
    vec([
      [...str('dots'), 0x00, 0x00],
      [...str('sums'), 0x00, 0x01],
    ]),
  );
  const code = section(10, [...uleb(2), ...dotsBody(), ...sumsBody()]);
  return Uint8Array.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, ...type, ...imports, ...functions, ...exports, ...code]);
}

let compiled: { api: WasmApi; module: object } | null = null;
/** One memory and instance for every fit, grown when a fit needs more: fits run one at a time in
 * a thread, and a fresh WebAssembly memory per fit cost more than copying the rows into it. */
let shared: { memory: { buffer: ArrayBuffer; grow(pages: number): number }; exports: Record<string, (...args: number[]) => void> } | null =
  null;

/**
 * The probe's training rows in WebAssembly memory, with room for two weight vectors (`a`, `b`),
 * the per-row pairs (`pairs`: scores, then residuals) and two gradient accumulators (`g`, `h`),
 * all Float64Array views of length `width` (d rounded up to even) or 2 × rows. The memory is
 * shared by all instances: only the latest one constructed is valid.
 */
export class ProbeRows {
  readonly width: number;
  readonly a: Float64Array;
  readonly b: Float64Array;
  /** [2i], [2i + 1]: row i's two values. */
  readonly pairs: Float64Array;
  readonly g: Float64Array;
  readonly h: Float64Array;
  private readonly run: { dots: (...args: number[]) => void; sums: (...args: number[]) => void };
  private readonly layout: { rows: number; rowBytes: number; a: number; b: number; pairs: number; g: number; h: number };

  constructor(x: Float64Array, n: number, d: number) {
    compiled ??= compileSimd(moduleBytes(), 'The logistic probe');
    const { api, module } = compiled;
    const width = Math.ceil(d / 2) * 2;
    const rows = Math.ceil(n / 4) * 4;
    const rowBytes = width * 8;
    const a = rows * rowBytes;
    const b = a + rowBytes;
    const pairs = b + rowBytes;
    const g = pairs + rows * 16;
    const h = g + rowBytes;
    const pages = Math.ceil((h + rowBytes) / 65536);
    if (!shared) {
      const memory = new api.Memory({ initial: pages });
      shared = { memory, exports: new api.Instance(module, { env: { memory } }).exports };
    } else if (shared.memory.buffer.byteLength < pages * 65536) {
      shared.memory.grow(pages - shared.memory.buffer.byteLength / 65536);
    }
    const { buffer } = shared.memory;
    const rowsView = new Float64Array(buffer, 0, rows * width);
    if (width === d) rowsView.set(x.subarray(0, n * d));
    else for (let i = 0; i < n; i++) rowsView.set(x.subarray(i * d, (i + 1) * d), i * width);
    // Padding (columns, rows, and everything after) must be zero; earlier fits may have left values.
    if (width !== d) for (let i = 0; i < n; i++) rowsView.fill(0, i * width + d, (i + 1) * width);
    new Float64Array(buffer, n * rowBytes, (h + rowBytes - n * rowBytes) / 8).fill(0);
    this.width = width;
    this.a = new Float64Array(buffer, a, width);
    this.b = new Float64Array(buffer, b, width);
    this.pairs = new Float64Array(buffer, pairs, 2 * rows);
    this.g = new Float64Array(buffer, g, width);
    this.h = new Float64Array(buffer, h, width);
    const { dots, sums } = shared.exports;
    this.run = { dots, sums };
    this.layout = { rows, rowBytes, a, b, pairs, g, h };
  }

  /** pairs[2i] = xᵢ·a, pairs[2i + 1] = xᵢ·b for every row (padding rows included: 0). */
  dots(): void {
    const { rows, rowBytes, a, b, pairs } = this.layout;
    this.run.dots(0, rows / 2, rowBytes, a, b, pairs);
  }

  /** g += Σᵢ pairs[2i]·xᵢ, h += Σᵢ pairs[2i + 1]·xᵢ (padding rows are zero: they add nothing). */
  sums(): void {
    const { rows, rowBytes, pairs, g, h } = this.layout;
    this.run.sums(0, rows / 4, rowBytes, pairs, g, h);
  }
}
