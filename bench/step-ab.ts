/**
 * Median CPU ms per training step (the trainer's step) of several presets, alternating steps
 * between them in one process so that load changes hit all alike.
 *   npx tsx bench/step-ab.ts --data DIR [--presets dense,mot] [--steps 6] [--ab data-kernels|matmul|fused-optimizer|fused-ops|segment-linear|row-scale|heads-gather|causal-attention]
 */
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { initEngine, type EngineName } from '../src-main/engine/engine.ts';
import { loadDataset, sampleTrainBatch } from '../src-main/data/dataset.ts';
import { buildModelConfig } from '../src-main/model/presets.ts';
import type { PresetName, SizeName } from '../src-main/common/vocabulary.ts';
import { computeLoss, initParams, prepareBatch } from '../src-main/model/mot.ts';
import { setFastDataKernels, setWasmMatMulFastPath } from '../src-main/engine/tfjs-fixes/kernel-replacements.ts';
import { ADAMW_KERNEL } from '../src-main/engine/kernels/adamw.ts';
import { CAUSAL_MIX_KERNEL, CAUSAL_SCORES_KERNEL } from '../src-main/engine/kernels/causal-attention.ts';
import { HEADS_GATHER_KERNEL } from '../src-main/engine/kernels/heads-gather.ts';
import { ROPE_KERNEL } from '../src-main/engine/kernels/rope.ts';
import { ROW_SCALE_GRAD_KERNEL, ROW_SCALE_KERNEL } from '../src-main/engine/kernels/row-scale.ts';
import { SEGMENT_LINEAR_GRAD_W_KERNEL, SEGMENT_LINEAR_KERNEL } from '../src-main/engine/kernels/segment-linear.ts';
import { SUM_SQUARES_KERNEL, sumOfSquares } from '../src-main/engine/kernels/sum-squares.ts';
import { SWIGLU_GRAD_KERNEL, SWIGLU_KERNEL } from '../src-main/engine/kernels/swiglu.ts';
import { AdamW } from '../src-main/training/optimizer.ts';
import { Rng } from '../src-main/util/rng.ts';

const { values } = parseArgs({
  options: {
    data: { type: 'string' },
    presets: { type: 'string', default: 'dense,mot' },
    ab: { type: 'string', default: '' },
    size: { type: 'string', default: 'small' },
    engine: { type: 'string', default: 'wasm' },
    steps: { type: 'string', default: '6' },
    batch: { type: 'string', default: '8' },
  },
});
await initEngine(values.engine as EngineName);
const dataset = await loadDataset(values.data!);
const B = Number(values.batch);
const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Switches for --ab NAME: every preset then runs twice, with the switch off (-) and on (+). */
/** Register (on) or unregister (off) some of our fused kernels; their callers then use tf ops. */
const kernelSwitch = (names: string[]) => {
  const kernels = names.map((name) => tf.getKernel(name, values.engine!)!);
  return (on: boolean) => {
    for (const k of kernels) {
      if (tf.getKernel(k.kernelName, k.backendName)) tf.unregisterKernel(k.kernelName, k.backendName);
      if (on) tf.registerKernel(k);
    }
  };
};
const toggles: Record<string, (on: boolean) => void> = {
  'data-kernels': setFastDataKernels,
  matmul: setWasmMatMulFastPath,
  'fused-optimizer': kernelSwitch([ADAMW_KERNEL, SUM_SQUARES_KERNEL]),
  'fused-ops': kernelSwitch([SWIGLU_KERNEL, SWIGLU_GRAD_KERNEL, ROPE_KERNEL]),
  'segment-linear': kernelSwitch([SEGMENT_LINEAR_KERNEL, SEGMENT_LINEAR_GRAD_W_KERNEL]),
  'row-scale': kernelSwitch([ROW_SCALE_KERNEL, ROW_SCALE_GRAD_KERNEL]),
  'heads-gather': kernelSwitch([HEADS_GATHER_KERNEL]),
  'causal-attention': kernelSwitch([CAUSAL_SCORES_KERNEL, CAUSAL_MIX_KERNEL]),
};
const flag = values.ab!;
if (flag && !toggles[flag]) throw new Error(`--ab takes one of ${Object.keys(toggles).join(', ')}`);
const variants = values.presets!.split(',').flatMap(
  (p) =>
    (flag
      ? [
          [p, false],
          [p, true],
        ]
      : [[p, false]]) as [string, boolean][],
);
const models = variants.map(([preset, on]) => {
  const config = buildModelConfig(preset as PresetName, values.size as SizeName, dataset.spec);
  const params = new Map<string, tf.Variable>();
  for (const [name, t] of Object.entries(initParams(config, 1))) params.set(name, tf.variable(t, true, `${preset}${on}/${name}`));
  const opt = new AdamW(new Map([...params].map(([n, v]) => [`${preset}${on}/${n}`, v])), {
    beta1: 0.9,
    beta2: 0.95,
    eps: 1e-8,
    weight_decay: 0.1,
  });
  const rng = new Rng(7);
  const varList = [...params.values()];
  const names = [...params.keys()];
  const times = { total: [] as number[], grads: [] as number[], rest: [] as number[] };
  const step = () => {
    if (flag) toggles[flag](on);
    const t0 = cpuMs();
    const { inputs, targets } = sampleTrainBatch(dataset.splits.train, config.seq_len, B, rng);
    const batch = prepareBatch(config, inputs, targets, B);
    const { value, grads } = tf.variableGrads(() => computeLoss(config, Object.fromEntries(params), batch).loss, varList);
    value.dataSync();
    value.dispose();
    const t1 = cpuMs();
    const list = varList.map((v) => grads[v.name] ?? tf.zerosLike(v));
    const squares = sumOfSquares(list);
    const norm = Math.sqrt(Array.from(squares).reduce((s, x) => s + x, 0));
    const scale = Math.min(1, 1 / (norm + 1e-6));
    opt.apply(new Map(names.map((n, i) => [`${preset}${on}/${n}`, list[i]])), 1e-3, scale);
    list.forEach((g) => g.dispose());
    batch.dispose();
    const t2 = cpuMs();
    times.total.push(t2 - t0);
    times.grads.push(t1 - t0);
    times.rest.push(t2 - t1);
  };
  return { preset: flag ? `${preset}${on ? '+' : '-'}${flag}` : preset, step, times };
});

for (const m of models) m.step(); // warm-up
for (const m of models) m.times.total.length = m.times.grads.length = m.times.rest.length = 0;
for (let i = 0; i < Number(values.steps); i++) for (const m of models) m.step();
const base = median(models[0].times.total);
for (const m of models) {
  const t = m.times;
  console.log(
    `${m.preset.padEnd(12)} ${median(t.total).toFixed(1).padStart(7)} CPU ms/step (loss+grads ${median(t.grads).toFixed(1)}, ` +
      `norms+AdamW ${median(t.rest).toFixed(1)})  ${(median(t.total) / base).toFixed(2)}× ${models[0].preset}, ` +
      `median of paired ratios ${median(t.total.map((x, i) => x / models[0].times.total[i])).toFixed(2)}×, ` +
      `min ${Math.min(...t.total).toFixed(1)} (${(Math.min(...t.total) / Math.min(...models[0].times.total)).toFixed(2)}×)`,
  );
}
