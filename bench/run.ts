/**
 * `npm run bench`: training step time of the `small` dense and MoT presets on every engine that
 * loads here, against the same model in PyTorch (bench/torch_mot.py, Debian python3-torch) in
 * the same run. Reported as ratios (ours / PyTorch, MoT / dense): these machines are noisy.
 *
 *   npm run bench -- [--steps N] [--engines wasm,cpu] [--presets dense,mot] [--torch-threads 1] [--only training]
 *
 * Then the other benches, each against its own reference in the same run: PCA against
 * scikit-learn (bench/pca.ts), a whole figure set (bench/figures.ts), and the frame time while
 * panning a 50-run × 10,000-step Losses chart in Chromium (bench/chart-pan.ts).
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
    'torch-threads': { type: 'string', default: '1' },
    only: { type: 'string' },
  },
});
const timedSteps = Number(values.steps);
const warmupSteps = Number(values.warmup);
const presets = values.presets!.split(',');
const work = mkdtempSync(path.join(os.tmpdir(), 'motlab-bench-'));

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** The pure-JS cpu backend takes ~20 s a step here: time it over fewer steps. */
const SLOW_ENGINES = new Set(['cpu']);

/** Our step time: a real `motlab train` run, read back from its metrics.jsonl (median after warm-up). */
function oursMsPerStep(engine: string, preset: string, data: string): { ms: number; config: unknown; batch: number } {
  const out = path.join(work, `${engine}-${preset}`);
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

function torchMsPerStep(config: unknown, batch: number): number | null {
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
        values['torch-threads']!,
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
  `${timedSteps} timed steps after ${warmupSteps} warm-up steps (cpu engine: 2 after 1); PyTorch threads = ${values['torch-threads']}\n`,
);

const rows: { engine: string; preset: string; ours: number; torch: number | null }[] = [];
const torchCache = new Map<string, number | null>();
for (const engine of engines) {
  for (const preset of presets) {
    const ours = oursMsPerStep(engine, preset, data);
    if (!torchCache.has(preset)) torchCache.set(preset, torchMsPerStep(ours.config, ours.batch));
    rows.push({ engine, preset, ours: ours.ms, torch: torchCache.get(preset)! });
    console.log(
      `${engine.padEnd(15)} ${preset.padEnd(6)} ours ${ours.ms.toFixed(1)} ms/step   PyTorch ${torchCache.get(preset)?.toFixed(1) ?? 'n/a'} ms/step`,
    );
  }
}

console.log('\nratios (same run):');
for (const engine of engines) {
  for (const r of rows.filter((x) => x.engine === engine)) {
    if (r.torch) console.log(`  ${engine} ${r.preset}: ours / PyTorch = ${(r.ours / r.torch).toFixed(2)}×`);
  }
  const dense = rows.find((x) => x.engine === engine && x.preset === 'dense');
  for (const r of rows.filter((x) => x.engine === engine && x.preset !== 'dense')) {
    if (dense) console.log(`  ${engine} ${r.preset} / dense = ${(r.ours / dense.ours).toFixed(2)}× (equal FLOPs per token)`);
  }
}
const td = torchCache.get('dense');
const tm = torchCache.get('mot');
if (td && tm) console.log(`  PyTorch mot / dense = ${(tm / td).toFixed(2)}×`);
rmSync(work, { recursive: true, force: true });

/** The other benches, run as they are run alone (each prints its own ratios). */
const OTHER_BENCHES = ['pca.ts', 'figures.ts', 'chart-pan.ts'];
if (values.only !== 'training') {
  for (const bench of OTHER_BENCHES) {
    console.log(`\n== bench/${bench}`);
    const result = spawnSync(process.execPath, ['--import', 'tsx', path.join(repo, 'bench', bench)], { stdio: 'inherit' });
    if (result.status !== 0) console.error(`bench/${bench} failed (exit ${result.status})`);
  }
}
