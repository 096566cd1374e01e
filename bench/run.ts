/**
 * `npm run bench`: training step time of the `small` dense and MoT presets on every engine that
 * loads here, with 1 gradient worker and with one per core (docs/workers.md), against the same
 * model in PyTorch (bench/torch_mot.py, Debian python3-torch) with 1 thread and with all, in the
 * same run. Reported as ratios (ours / PyTorch, all workers / 1, MoT / dense): these machines
 * are noisy, so the load average is printed with them.
 *
 *   npm run bench -- [--steps N] [--engines wasm,cpu] [--presets dense,mot] [--workers 1,2] [--torch-threads 1,2]
 *       [--torch-nproc 1,2] [--only training]
 *
 * The lab's torch engine (`motlab train --engine torch --nproc N`, the PyTorch trainer with N
 * DDP processes of 1 thread) is timed the same way, for each --torch-nproc, when a Python with
 * PyTorch is found.
 *
 * Then the other benches, each against its own reference in the same run: the ceiling this
 * machine puts under "N workers / 1 worker", for ours and for PyTorch (bench/parallel-ceiling.ts),
 * PCA against
 * scikit-learn (bench/pca.ts, and for a whole run bench/pca-run.ts), the separability probe and
 * silhouette against scikit-learn on a run's features (bench/probe.ts), a whole figure set
 * (bench/figures.ts), and frame times while panning in Chromium: a 50-run × 10,000-step Losses
 * chart (bench/chart-pan.ts) and a 100,000-point PCA scatter (bench/scatter-pan.ts).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { listEngines } from '../src-main/engine/engine.ts';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const motlab = path.join(repo, 'bin', 'motlab.mjs');
const python = '/usr/bin/python3';

const { values } = parseArgs({
  options: {
    steps: { type: 'string', default: '12' },
    warmup: { type: 'string', default: '3' },
    engines: { type: 'string' },
    presets: { type: 'string', default: 'dense,mot' },
    size: { type: 'string', default: 'small' },
    /** Worker counts (wasm and cpu engines) and PyTorch thread counts; default: 1 and all cores. */
    workers: { type: 'string' },
    'torch-threads': { type: 'string' },
    'torch-nproc': { type: 'string', default: '1,2' },
    only: { type: 'string' },
  },
});
const timedSteps = Number(values.steps);
const warmupSteps = Number(values.warmup);
const presets = values.presets!.split(',');
const cores = os.availableParallelism();
const counts = (flag: string | undefined) => [...new Set((flag ?? `1,${cores}`).split(',').map(Number))];
const workerCounts = counts(values.workers);
const torchThreads = counts(values['torch-threads']);
/** Engines on which gradient workers apply (training/workers/count.ts). */
const WORKER_ENGINES = new Set(['wasm', 'cpu']);
const work = mkdtempSync(path.join(os.tmpdir(), 'motlab-bench-'));

function cpuModel(): string {
  return os.cpus()[0]?.model.trim() ?? 'unknown CPU';
}

function loadAverage(): string {
  return os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** The pure-JS cpu backend takes ~20 s a step here: time it over fewer steps. */
const SLOW_ENGINES = new Set(['cpu']);

/** Our step time: a real `motlab train` run, read back from its metrics.jsonl (median after warm-up). */
function oursMsPerStep(
  engine: string,
  preset: string,
  workers: number,
  data: string,
  torchArgs: string[] = [],
): { ms: number; config: unknown; batch: number } {
  const out = path.join(work, `${engine}-${preset}-${workers}-${torchArgs.join('')}`);
  const [steps, warmup] = SLOW_ENGINES.has(engine) ? [2, 1] : [timedSteps, warmupSteps];
  const result = spawnSync(
    process.execPath,
    [
      motlab,
      'train',
      '--config',
      preset,
      '--size',
      values.size!,
      '--data',
      data,
      '--out',
      out,
      '--engine',
      engine,
      '--steps',
      String(steps + warmup),
      '--eval-every',
      '100000',
      '--checkpoint-every',
      '100000',
      ...(engine === 'torch' ? torchArgs : ['--workers', String(workers)]),
    ],
    { encoding: 'utf8' },
  );
  if (result.status !== 0) throw new Error(`motlab train (${engine}, ${preset}) failed:\n${result.stderr}${result.stdout}`);
  const records = readFileSync(path.join(out, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  const times = records.filter((r) => r.type === 'train' && r.step > warmup).map((r) => r.step_ms as number);
  const run = JSON.parse(readFileSync(path.join(out, 'run.json'), 'utf8'));
  return { ms: median(times), config: run.model, batch: run.training.batch_size };
}

function torchMsPerStep(config: unknown, batch: number, threads: number): number | null {
  if (!existsSync(python)) return null;
  const cfg = path.join(work, `torch-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(cfg, JSON.stringify(config));
  try {
    const out = execFileSync(
      python,
      [
        path.join(repo, 'bench', 'torch_mot.py'),
        'bench',
        '--config',
        cfg,
        '--batch',
        String(batch),
        '--steps',
        String(timedSteps + warmupSteps),
        '--warmup',
        String(warmupSteps),
        '--threads',
        String(threads),
      ],
      { encoding: 'utf8' },
    );
    return JSON.parse(out.trim().split('\n').at(-1)!).ms_per_step as number;
  } catch (error) {
    console.error(`PyTorch peer unavailable: ${(error as Error).message.split('\n')[0]}`);
    return null;
  }
}

const data = path.join(work, 'data');
execFileSync(process.execPath, [motlab, 'data', 'synth', '--out', data, '--tokens', '200000', '--seed', '1'], { stdio: 'inherit' });

const available = (await listEngines()).filter((e) => e.available).map((e) => e.name);
const engines = values.engines ? values.engines.split(',') : available;
console.log(
  `engines available here: ${available.join(', ')}; benchmarking ${engines.join(', ')}; ${values.size} presets ${presets.join(', ')}`,
);
console.log(
  `${timedSteps} timed steps after ${warmupSteps} warm-up steps (cpu engine: 2 after 1); ` +
    `workers ${workerCounts.join(', ')}; PyTorch threads ${torchThreads.join(', ')}`,
);
console.log(`CPU: ${cpuModel()}, ${cores} cores; load average at start: ${loadAverage()}\n`);

const rows: { engine: string; preset: string; workers: number; ours: number }[] = [];
const torch = new Map<string, number | null>(); // `${preset}/${threads}`
for (const engine of engines) {
  for (const preset of presets) {
    for (const workers of WORKER_ENGINES.has(engine) ? workerCounts : [1]) {
      const ours = oursMsPerStep(engine, preset, workers, data);
      rows.push({ engine, preset, workers, ours: ours.ms });
      console.log(`${engine.padEnd(15)} ${preset.padEnd(6)} ${String(workers).padStart(2)} worker(s)  ours ${ours.ms.toFixed(1)} ms/step`);
      for (const threads of torchThreads) {
        const key = `${preset}/${threads}`;
        if (torch.has(key)) continue;
        torch.set(key, torchMsPerStep(ours.config, ours.batch, threads));
        console.log(
          `${'PyTorch'.padEnd(15)} ${preset.padEnd(6)} ${String(threads).padStart(2)} thread(s)  ${torch.get(key)?.toFixed(1) ?? 'n/a'} ms/step`,
        );
      }
    }
  }
}

// The torch engine as the lab runs it: the PyTorch trainer, 1 and more DDP processes of 1 thread.
const torchProcesses =
  spawnSync(python, ['-c', 'import torch, numpy']).status === 0 ? values['torch-nproc']!.split(',').filter(Boolean) : [];
if (!torchProcesses.length) console.log('torch engine: no Python with PyTorch here, skipped');
const torchEngineRows: { preset: string; processes: string; ms: number }[] = [];
for (const n of torchProcesses) {
  for (const preset of presets) {
    const ms = oursMsPerStep('torch', preset, 1, data, ['--nproc', n, '--threads', '1', '--python', python]).ms;
    torchEngineRows.push({ preset, processes: n, ms });
    console.log(`${`torch ×${n}`.padEnd(15)} ${preset.padEnd(6)} lab torch engine ${ms.toFixed(1)} ms/step (${n} process(es) × 1 thread)`);
  }
}

console.log(`\nratios (same run; load average now ${loadAverage()}):`);
const fmt = (x: number) => `${x.toFixed(2)}×`;
for (const engine of engines) {
  for (const preset of presets) {
    const mine = rows.filter((r) => r.engine === engine && r.preset === preset);
    for (const r of mine) {
      // Ours with n workers against PyTorch with as many threads (or its nearest).
      const threads = torchThreads.includes(r.workers) ? r.workers : torchThreads[0];
      const t = torch.get(`${preset}/${threads}`);
      if (t) console.log(`  ${engine} ${preset}, ${r.workers} worker(s) / PyTorch ${threads} thread(s) = ${fmt(r.ours / t)}`);
    }
    const one = mine.find((r) => r.workers === 1);
    for (const r of mine.filter((x) => x.workers > 1))
      if (one) console.log(`  ${engine} ${preset}, ${r.workers} workers / 1 worker = ${fmt(r.ours / one.ours)}`);
    const t1 = torch.get(`${preset}/1`);
    for (const threads of torchThreads.filter((n) => n > 1)) {
      const tn = torch.get(`${preset}/${threads}`);
      if (t1 && tn) console.log(`  PyTorch ${preset}, ${threads} threads / 1 thread = ${fmt(tn / t1)}`);
    }
  }
  for (const workers of WORKER_ENGINES.has(engine) ? workerCounts : [1]) {
    const dense = rows.find((x) => x.engine === engine && x.preset === 'dense' && x.workers === workers);
    for (const r of rows.filter((x) => x.engine === engine && x.preset !== 'dense' && x.workers === workers)) {
      if (dense) console.log(`  ${engine} ${r.preset} / dense, ${workers} worker(s) = ${fmt(r.ours / dense.ours)} (equal FLOPs per token)`);
    }
  }
}
for (const r of torchEngineRows) {
  const wasm = rows.find((x) => x.engine === 'wasm' && x.preset === r.preset && x.workers === 1);
  if (wasm) console.log(`  torch engine ×${r.processes} ${r.preset}: wasm 1 worker / torch engine = ${fmt(wasm.ours / r.ms)}`);
  // PyTorch's own data parallelism on this machine, the reference for "N workers / 1 worker".
  const one = torchEngineRows.find((x) => x.preset === r.preset && x.processes === '1');
  if (one && r !== one) console.log(`  torch engine ${r.preset}, ${r.processes} processes / 1 process = ${fmt(r.ms / one.ms)}`);
}
const td = torch.get('dense/1');
const tm = torch.get('mot/1');
if (td && tm) console.log(`  PyTorch mot / dense (1 thread) = ${fmt(tm / td)}`);
rmSync(work, { recursive: true, force: true });

/** The other benches, run as they are run alone (each prints its own ratios). */
const OTHER_BENCHES = ['parallel-ceiling.ts', 'pca.ts', 'pca-run.ts', 'probe.ts', 'figures.ts', 'chart-pan.ts', 'scatter-pan.ts'];
if (values.only !== 'training') {
  for (const bench of OTHER_BENCHES) {
    console.log(`\n== bench/${bench}`);
    const result = spawnSync(process.execPath, ['--import', 'tsx', path.join(repo, 'bench', bench)], { stdio: 'inherit' });
    if (result.status !== 0) console.error(`bench/${bench} failed (exit ${result.status})`);
  }
}
