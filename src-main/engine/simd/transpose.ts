/**
 * transpose(src, dst, rows, cols): dst[j, i] = src[i, j] for a row-major float32 [rows, cols]
 * (byte offsets; the two must not overlap). 4×4 blocks through SIMD shuffles, visited in 32×32
 * tiles so that both sides stay in L1; the ragged edges (rows or cols not a multiple of 4)
 * element by element. Several times faster than tfjs-wasm's Transpose, which the matMul fast
 * path (../tfjs-fixes/kernel-replacements.ts) and the segment-linear kernel lean on.
 */
import { forLoop, I32, locals, op, v, V128 } from './assembler.ts';
import { simdModule } from './module.ts';

function transposeBody(): number[] {
  const [SRC, DST, ROWS, COLS] = [0, 1, 2, 3];
  const [rows4, cols4, ib, jb, iEnd, jEnd, i, j, sAddr, dAddr, rowsB, colsB] = [4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];
  const [r0, r1, r2, r3, t0, t1, t2, t3] = [16, 17, 18, 19, 20, 21, 22, 23];
  const TILE = 32;
  const min = (a: number[], b: number[]) => [...a, ...b, ...a, ...b, ...op.i32LtU, ...op.select];
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
  return [
    ...locals([12, I32], [8, V128]),
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
}

export const transposeSimd = simdModule<{ transpose(src: number, dst: number, rows: number, cols: number): void }>({
  transpose: { params: ['i32', 'i32', 'i32', 'i32'], body: transposeBody },
});
