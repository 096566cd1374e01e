/**
 * Per-kernel time of one training step (the trainer's step: loss + grads, gradient norms, AdamW),
 * from tf.profile, on one engine. Scopes of custom gradients nest, so their times overlap others.
 *
 *   npx tsx bench/profile-step.ts --data DIR [--preset mot] [--size small] [--engine wasm] [--steps 3]
 */
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { initEngine, type EngineName } from '../src-main/engine/engine.ts';
import { loadDataset, sampleTrainBatch } from '../src-main/data/dataset.ts';
import { buildModelConfig } from '../src-main/model/presets.ts';
import type { PresetName, SizeName } from '../src-main/common/vocabulary.ts';
import { computeLoss, initParams, prepareBatch } from '../src-main/model/mot.ts';
import { AdamW } from '../src-main/training/optimizer.ts';
import { sumOfSquares } from '../src-main/engine/kernels/sum-squares.ts';
import { Rng } from '../src-main/util/rng.ts';

const { values } = parseArgs({
  options: {
    data: { type: 'string' },
    preset: { type: 'string', default: 'mot' },
    size: { type: 'string', default: 'small' },
    engine: { type: 'string', default: 'wasm' },
    steps: { type: 'string', default: '3' },
    batch: { type: 'string', default: '8' },
    top: { type: 'string', default: '25' },
  },
});
await initEngine(values.engine as EngineName);
const dataset = await loadDataset(values.data!);
const config = buildModelConfig(values.preset as PresetName, values.size as SizeName, dataset.spec);
const B = Number(values.batch);
const params = new Map<string, tf.Variable>();
for (const [name, t] of Object.entries(initParams(config, 1))) params.set(name, tf.variable(t, true, name));
const opt = new AdamW(params, { beta1: 0.9, beta2: 0.95, eps: 1e-8, weight_decay: 0.1 });
const rng = new Rng(7);
const varList = [...params.values()];
const names = [...params.keys()];

const phases = { grads: 0, norms: 0, optimizer: 0 };
const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

function step(): void {
  let t = cpuMs();
  const lap = (k: keyof typeof phases) => {
    const now = cpuMs();
    phases[k] += now - t;
    t = now;
  };
  const { inputs, targets } = sampleTrainBatch(dataset.splits.train, config.seq_len, B, rng);
  const batch = prepareBatch(config, inputs, targets, B);
  const { value, grads } = tf.variableGrads(() => computeLoss(config, Object.fromEntries(params), batch).loss, varList);
  value.dataSync();
  value.dispose();
  lap('grads');
  const list = varList.map((v) => grads[v.name] ?? tf.zerosLike(v));
  const squares = sumOfSquares(list);
  const norm = Math.sqrt(Array.from(squares).reduce((s, x) => s + x, 0));
  const scale = Math.min(1, 1 / (norm + 1e-6));
  lap('norms');
  opt.apply(new Map(names.map((n, i) => [n, list[i]])), 1e-3, scale);
  list.forEach((g) => g.dispose());
  batch.dispose();
  lap('optimizer');
}

step(); // warm-up
const n = Number(values.steps);
phases.grads = phases.norms = phases.optimizer = 0;
let t0 = performance.now();
const c0 = cpuMs();
for (let i = 0; i < n; i++) step();
const wallMs = (performance.now() - t0) / n;
const stepCpu = (cpuMs() - c0) / n;
console.log(
  `CPU ms/step ${stepCpu.toFixed(1)}: grads ${(phases.grads / n).toFixed(1)}, norms ${(phases.norms / n).toFixed(1)}, ` +
    `AdamW ${(phases.optimizer / n).toFixed(1)}`,
);
const byKernel = new Map<string, { ms: number; count: number }>();
const byShape = new Map<string, { ms: number; count: number }>();
t0 = performance.now();
const info = await tf.profile(() => {
  for (let i = 0; i < n; i++) step();
});
const profWall = (performance.now() - t0) / n;
let total = 0;
for (const k of info.kernels) {
  const ms = Number(k.kernelTimeMs) / n;
  const e = byKernel.get(k.name) ?? { ms: 0, count: 0 };
  e.ms += ms;
  e.count += 1 / n;
  byKernel.set(k.name, e);
  const key = `${k.name} ${JSON.stringify(k.inputShapes)}`;
  const s = byShape.get(key) ?? { ms: 0, count: 0 };
  s.ms += ms;
  s.count += 1 / n;
  byShape.set(key, s);
  total += ms;
}
console.log(
  `${values.preset} ${values.size} on ${values.engine}: ${wallMs.toFixed(1)} ms/step unprofiled, ` +
    `${profWall.toFixed(1)} profiled; kernels ${total.toFixed(1)} ms, ${(info.kernels.length / n).toFixed(0)} kernel calls/step`,
);
// The question: how much of the step is matrix multiplication (XNNPACK against OpenBLAS),
// and how much everything else (element-wise, reductions, data movement, our fused kernels).
const matmulMs = [...byKernel].filter(([name]) => /MatMul|SegmentLinear/i.test(name)).reduce((s, [, e]) => s + e.ms, 0);
console.log(
  `  matmul kernels ${matmulMs.toFixed(1)} ms (${((100 * matmulMs) / total).toFixed(0)}%), ` +
    `everything else ${(total - matmulMs).toFixed(1)} ms (${((100 * (total - matmulMs)) / total).toFixed(0)}%)`,
);
const top = Number(values.top);
for (const [name, e] of [...byKernel].sort((a, b) => b[1].ms - a[1].ms).slice(0, top))
  console.log(`  ${name.padEnd(24)} ${e.ms.toFixed(1).padStart(8)} ms ${e.count.toFixed(0).padStart(6)} calls`);
console.log('by shape:');
for (const [name, e] of [...byShape].sort((a, b) => b[1].ms - a[1].ms).slice(0, top))
  console.log(`  ${e.ms.toFixed(1).padStart(8)} ms ${e.count.toFixed(0).padStart(5)}×  ${name}`);
