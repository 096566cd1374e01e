/**
 * wasm matMul GFLOP/s with and without the fast path of src-main/engine/tfjs-fixes/kernel-replacements.ts, in one run.
 * Usage: npx tsx bench/matmul.ts [milliseconds per measurement, default 300]
 */
import * as tf from '@tensorflow/tfjs-core';
import { initEngine } from '../src-main/engine/engine.ts';
import { setWasmMatMulFastPath } from '../src-main/engine/tfjs-fixes/kernel-replacements.ts';

const budgetMs = Number(process.argv[2] ?? 300);

interface Case {
  name: string;
  a: number[];
  b: number[];
  transposeA: boolean;
  transposeB: boolean;
}
const N = 256;
const cases: Case[] = [
  { name: 'plain      [256x256]·[256x256]', a: [N, N], b: [N, N], transposeA: false, transposeB: false },
  { name: 'transposeA [256x256]ᵀ·[256x256]', a: [N, N], b: [N, N], transposeA: true, transposeB: false },
  { name: 'transposeB [256x256]·[256x256]ᵀ', a: [N, N], b: [N, N], transposeA: false, transposeB: true },
  { name: 'batched  4×[256x256]·[256x256]', a: [4, N, N], b: [4, N, N], transposeA: false, transposeB: false },
  { name: 'attention 32×[128x32]·[128x32]ᵀ', a: [32, 128, 32], b: [32, 128, 32], transposeA: false, transposeB: true },
];

function flops(c: Case): number {
  const r = c.a.length;
  const m = c.transposeA ? c.a[r - 1] : c.a[r - 2];
  const k = c.transposeA ? c.a[r - 2] : c.a[r - 1];
  const n = c.transposeB ? c.b[r - 2] : c.b[r - 1];
  const batch = c.a.slice(0, -2).reduce((p, d) => p * d, 1);
  return 2 * batch * m * k * n;
}

function gflops(c: Case, a: tf.Tensor, b: tf.Tensor): number {
  const once = () => tf.matMul(a, b, c.transposeA, c.transposeB).dispose(); // wasm kernels are synchronous
  once();
  let runs = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < budgetMs) {
    once();
    runs++;
  }
  return (flops(c) * runs) / ((performance.now() - t0) / 1000) / 1e9;
}

const info = await initEngine('wasm');
console.log(`engine: ${info.detail}; ${budgetMs} ms per measurement`);
console.log('case                               before   after   ratio   (GFLOP/s)');
for (const c of cases) {
  const a = tf.randomNormal(c.a);
  const b = tf.randomNormal(c.b);
  setWasmMatMulFastPath(false);
  const before = gflops(c, a, b);
  setWasmMatMulFastPath(true);
  const after = gflops(c, a, b);
  console.log(
    `${c.name.padEnd(34)} ${before.toFixed(2).padStart(6)} ${after.toFixed(2).padStart(7)} ${(after / before).toFixed(1).padStart(6)}×`,
  );
  tf.dispose([a, b]);
}
