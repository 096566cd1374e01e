/**
 * MoE routing rules, checked against an independent plain-JS computation of the same rules:
 * router weights are built so most tokens prefer expert 0; the exact set of kept and dropped
 * tokens, their outputs (dropped → exactly zero), the gates, the statistics and the auxiliary
 * losses. Expert e is "multiply by e+1", so every output row is predictable.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import type { MoeConfig } from '../../src-main/model/config.ts';
import { moeFfn } from '../../src-main/model/moe.ts';
import { Rng } from '../../src-main/util/rng.ts';
import { useBackend } from './helpers.ts';

const n = 12;
const D = 4;
const E = 4;

/** Tokens whose feature 0 is 1 (plus noise elsewhere); router row 0 reads feature 0 strongly. */
function skewedInputs(seed: number) {
  const rng = new Rng(seed);
  const x = Array.from({ length: n }, () => [1, ...Array.from({ length: D - 1 }, () => rng.normal())]);
  const router = Array.from({ length: E }, (_, e) => Array.from({ length: D }, (_, j) => (e === 0 && j === 0 ? 2.5 : 0.6 * rng.normal())));
  const logits = x.map((xi) => router.map((r) => r.reduce((s, w, j) => s + w * xi[j], 0)));
  const p = logits.map((z) => {
    const m = Math.max(...z);
    const ex = z.map((v) => Math.exp(v - m));
    const s = ex.reduce((a, b) => a + b, 0);
    return ex.map((v) => v / s);
  });
  return { x, router, logits, p };
}

function moeConfig(over: Partial<MoeConfig>): MoeConfig {
  return {
    experts: E,
    routing: 'token_choice',
    top_k: 1,
    capacity_factor: 1,
    renormalize: false,
    aux_loss: 0.01,
    z_loss: 0.001,
    towers: [0],
    ...over,
  };
}

function run(x: number[][], router: number[][], moe: MoeConfig) {
  let result: { y: number[][]; aux: number; stats: ReturnType<typeof moeFfn>['stats'] } | null = null;
  tf.tidy(() => {
    const out = moeFfn(tf.tensor2d(x), tf.tensor2d(router), (rows, e) => tf.mul(rows, e + 1), moe);
    result = { y: out.y.arraySync(), aux: out.auxLoss ? out.auxLoss.dataSync()[0] : 0, stats: out.stats };
  });
  return result!;
}

function argsortDesc(values: number[]): number[] {
  return values
    .map((v, i) => [v, i] as const)
    .sort((a, b) => b[0] - a[0] || a[1] - b[1])
    .map(([, i]) => i);
}

it('token-choice top-1: capacity ceil(cf·n·k/E), first come first served, dropped rows are zero', async () => {
  await useBackend('cpu');
  const { x, router, logits, p } = skewedInputs(1);
  const moe = moeConfig({ capacity_factor: 1 });
  const capacity = Math.ceil((1 * n * 1) / E); // 3
  const preferring0 = p.filter((pi) => argsortDesc(pi)[0] === 0).length;
  assert.ok(preferring0 >= 6, `the router skews towards expert 0 (${preferring0} of ${n})`);

  // Independent rule: walk tokens in order; a token keeps its top expert while it has room.
  const load = new Array<number>(E).fill(0);
  const expected = x.map((xi, i) => {
    const e = argsortDesc(p[i])[0];
    if (load[e] >= capacity) return { e, kept: false };
    load[e]++;
    return { e, kept: true };
  });
  const dropped = expected.flatMap((t, i) => (t.kept ? [] : [i]));
  assert.ok(dropped.length >= 3);

  const got = run(x, router, moe);
  got.y.forEach((row, i) => {
    const { e, kept } = expected[i];
    const want = kept ? x[i].map((v) => p[i][e] * (e + 1) * v) : [0, 0, 0, 0];
    row.forEach((v, j) => assert.ok(Math.abs(v - want[j]) < 1e-5, `token ${i}[${j}]: ${v} vs ${want[j]}`));
    if (!kept) assert.deepEqual(row, [0, 0, 0, 0], `dropped token ${i} has exactly zero output`);
  });
  assert.equal(got.stats.capacity, capacity);
  assert.equal(got.stats.dropped, dropped.length);
  assert.deepEqual(got.stats.tokensPerExpert, load);

  // α·E·Σ f_e P_e + β·mean(logsumexp²)
  const f = new Array<number>(E).fill(0);
  expected.forEach((t) => (f[t.e] += 1 / n));
  const P = Array.from({ length: E }, (_, e) => p.reduce((s, pi) => s + pi[e], 0) / n);
  const lse = logits.map((z) => Math.log(z.reduce((s, v) => s + Math.exp(v), 0)));
  const aux = 0.01 * E * f.reduce((s, fe, e) => s + fe * P[e], 0) + (0.001 * lse.reduce((s, v) => s + v * v, 0)) / n;
  assert.ok(Math.abs(got.aux - aux) < 1e-6, `aux ${got.aux} vs ${aux}`);
  assert.ok(Math.abs(got.stats.loadBalance - E * f.reduce((s, fe, e) => s + fe * P[e], 0)) < 1e-6);
  got.stats.meanProb.forEach((v, e) => assert.ok(Math.abs(v - P[e]) < 1e-6));
});

it('token-choice top-2 renormalised: choices visited in sequence order, then rank', async () => {
  await useBackend('cpu');
  const { x, router, p } = skewedInputs(2);
  const moe = moeConfig({ top_k: 2, capacity_factor: 0.75, renormalize: true });
  const capacity = Math.ceil((0.75 * n * 2) / E); // 5
  const load = new Array<number>(E).fill(0);
  const want = x.map((xi, i) => {
    const [a, b] = argsortDesc(p[i]);
    const denom = p[i][a] + p[i][b];
    const y = [0, 0, 0, 0];
    for (const e of [a, b]) {
      if (load[e] >= capacity) continue;
      load[e]++;
      xi.forEach((v, j) => (y[j] += (p[i][e] / denom) * (e + 1) * v));
    }
    return y;
  });
  const got = run(x, router, moe);
  assert.deepEqual(got.stats.tokensPerExpert, load);
  assert.equal(got.stats.dropped, 2 * n - load.reduce((s, v) => s + v, 0));
  assert.ok(got.stats.dropped > 0);
  got.y.forEach((row, i) => row.forEach((v, j) => assert.ok(Math.abs(v - want[i][j]) < 1e-5, `token ${i}`)));
});

it('expert-choice: each expert takes its top ceil(cf·n/E) tokens; tokens may get 0, 1 or more experts', async () => {
  await useBackend('cpu');
  const { x, router, p } = skewedInputs(3);
  const moe = moeConfig({ routing: 'expert_choice', capacity_factor: 1, aux_loss: 0, z_loss: 0 });
  const capacity = Math.ceil(n / E);
  const experts: number[][] = Array.from({ length: n }, () => []);
  for (let e = 0; e < E; e++) {
    argsortDesc(p.map((pi) => pi[e]))
      .slice(0, capacity)
      .forEach((i) => experts[i].push(e));
  }
  const got = run(x, router, moe);
  got.y.forEach((row, i) => {
    const want = x[i].map((v) => experts[i].reduce((s, e) => s + p[i][e] * (e + 1) * v, 0));
    row.forEach((v, j) => assert.ok(Math.abs(v - want[j]) < 1e-5, `token ${i}`));
  });
  const histogram = new Array<number>(E + 1).fill(0);
  experts.forEach((list) => histogram[list.length]++);
  assert.deepEqual(got.stats.expertsPerToken, histogram);
  assert.equal(got.stats.dropped, histogram[0]);
  assert.ok(histogram[0] > 0 && histogram.slice(2).some((c) => c > 0), 'some tokens get no expert, some several');
  assert.deepEqual(got.stats.tokensPerExpert, [capacity, capacity, capacity, capacity]);
  assert.equal(got.aux, 0);
});
