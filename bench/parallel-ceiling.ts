/**
 * What this machine's cores can give data-parallel training at best: the time of one process
 * computing a batch's gradients alone, against two (or N) independent processes computing half
 * (1/N) of it each, at the same time. No sharing, no summing, no optimizer: the ratio is the
 * floor under "N workers / 1 worker" (npm run bench) for our engine, and the same is measured
 * for PyTorch (bench/torch_mot.py, 1 thread per process) in the same run.
 *
 *   npx tsx bench/parallel-ceiling.ts [--preset mot] [--batch 8] [--processes N] [--steps 12]
 *
 * On a machine whose cores are whole cores the ratio is near 1/N; on one whose "cores" are two
 * hardware threads of one physical core, or that a neighbour shares, it is well above.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { initEngine } from '../src-main/engine/engine.ts';
import { loadDataset, sampleTrainBatch } from '../src-main/data/dataset.ts';
import { buildModelConfig } from '../src-main/model/presets.ts';
import { initParams, prepareBatch } from '../src-main/model/mot.ts';
import { addMicroBatchGradients } from '../src-main/training/gradients.ts';
import type { PresetName } from '../src-main/common/vocabulary.ts';
import { Rng } from '../src-main/util/rng.ts';

const here = fileURLToPath(import.meta.url);
const repo = path.resolve(path.dirname(here), '..');
const python = '/usr/bin/python3';
const { values } = parseArgs({
  options: {
    preset: { type: 'string', default: 'mot' },
    batch: { type: 'string', default: '8' },
    processes: { type: 'string', default: String(os.availableParallelism()) },
    steps: { type: 'string', default: '12' },
    // Internal: this file run as one of the timed processes.
    child: { type: 'string' },
    data: { type: 'string' },
  },
});
const steps = Number(values.steps);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

if (values.child) {
  // One timed process: the median time of the gradients of a `--child`-window batch.
  const B = Number(values.child);
  await initEngine('wasm');
  const dataset = await loadDataset(values.data!);
  const config = buildModelConfig(values.preset as PresetName, 'small', dataset.spec);
  const params: Record<string, tf.Variable> = {};
  for (const [name, t] of Object.entries(initParams(config, 1))) params[name] = tf.variable(t, true, name);
  const varList = Object.values(params);
  const rng = new Rng(7);
  const times: number[] = [];
  for (let i = 0; i < steps + 2; i++) {
    const { inputs, targets } = sampleTrainBatch(dataset.splits.train, config.seq_len, B, rng);
    const batch = prepareBatch(config, inputs, targets, B);
    const t = performance.now();
    const out = await addMicroBatchGradients(config, params, varList, batch, null);
    if (i >= 2) times.push(performance.now() - t);
    out.sum.forEach((g) => g.dispose());
    batch.dispose();
  }
  console.log(JSON.stringify({ ms: median(times) }));
  process.exit(0);
}

/** Runs `commands` at once; each prints a JSON line last; returns the number read from each. */
async function atOnce(commands: { file: string; args: string[]; read: (json: Record<string, number>) => number }[]): Promise<number[]> {
  return Promise.all(
    commands.map(
      ({ file, args, read }) =>
        new Promise<number>((resolve, reject) => {
          const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'inherit'] });
          let out = '';
          child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
          child.on('error', reject);
          child.on('close', (code) =>
            code === 0 ? resolve(read(JSON.parse(out.trim().split('\n').at(-1)!))) : reject(new Error(`${file} exited ${code}`)),
          );
        }),
    ),
  );
}

const B = Number(values.batch);
const N = Number(values.processes);
if (B % N !== 0) throw new Error(`--batch ${B} does not split into ${N} processes`);
const work = mkdtempSync(path.join(os.tmpdir(), 'motlab-bench-ceiling-'));
try {
  const data = path.join(work, 'data');
  execFileSync(
    process.execPath,
    [path.join(repo, 'bin', 'motlab.mjs'), 'data', 'synth', '--out', data, '--tokens', '200000', '--seed', '1'],
    {
      stdio: 'ignore',
    },
  );
  const ours = (windows: number) => ({
    file: process.execPath,
    args: ['--import', 'tsx', here, '--child', String(windows), '--data', data, '--preset', values.preset!, '--steps', String(steps)],
    read: (json: Record<string, number>) => json.ms,
  });
  console.log(`${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.availableParallelism()} cores, load average ${os.loadavg()[0].toFixed(2)}`);
  const [alone] = await atOnce([ours(B)]);
  const split = await atOnce(Array.from({ length: N }, () => ours(B / N)));
  const oursRatio = Math.max(...split) / alone;
  console.log(
    `ours (wasm), ${values.preset} small, gradients of ${B} windows: 1 process ${alone.toFixed(1)} ms; ` +
      `${N} processes of ${B / N} windows at once ${split.map((x) => x.toFixed(1)).join(', ')} ms`,
  );
  let torchRatio: number | null = null;
  if (existsSync(python)) {
    const config = path.join(work, 'config.json');
    const dataset = await loadDataset(data);
    writeFileSync(config, JSON.stringify(buildModelConfig(values.preset as PresetName, 'small', dataset.spec)));
    const torch = (windows: number) => ({
      file: python,
      args: [
        path.join(repo, 'bench', 'torch_mot.py'),
        'bench',
        '--config',
        config,
        '--batch',
        String(windows),
        '--steps',
        String(steps),
        '--threads',
        '1',
      ],
      read: (json: Record<string, number>) => json.ms_per_step,
    });
    try {
      const [torchAlone] = await atOnce([torch(B)]);
      const torchSplit = await atOnce(Array.from({ length: N }, () => torch(B / N)));
      torchRatio = Math.max(...torchSplit) / torchAlone;
      console.log(
        `PyTorch, 1 thread per process, whole AdamW steps: 1 process ${torchAlone.toFixed(1)} ms; ` +
          `${N} processes at once ${torchSplit.map((x) => x.toFixed(1)).join(', ')} ms`,
      );
    } catch (error) {
      console.log(`PyTorch peer unavailable: ${(error as Error).message}`);
    }
  }
  console.log(`ceiling: ${N} processes with 1/${N} of the batch each, at once / 1 process with all of it`);
  console.log(`  ours ${oursRatio.toFixed(2)}× (ideal ${(1 / N).toFixed(2)}×)`);
  if (torchRatio !== null) console.log(`  PyTorch ${torchRatio.toFixed(2)}×`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
