/**
 * Feature PCA of a whole run, the way the explorer does it: capture + PCA (+ separability) for 8
 * checkpoints × all layers of a `small` MoT run on fashion-tri, against scikit-learn's PCA of the
 * same captured matrices in the same run. Reports the time of each phase, the peak resident
 * memory of this process (the capture streams to disk: memory stays bounded), and the ratio of
 * our PCA fits to scikit-learn's on the same matrices. Target: capture + PCA under 10 s here.
 *
 *   npx tsx bench/pca-run.ts [--run DIR] [--checkpoints 8] [--probe-tokens 2000]
 *
 * Without --run, a `small` MoT run is trained for 8 steps (a checkpoint every step) first; the
 * weights barely move in 8 steps, but the work per checkpoint is the same as for a long run.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { initEngine } from '../src-main/engine/engine.ts';
import { trainSmallMotRun } from './small-mot-run.ts';
import { analyzeRunPca } from '../src-main/analysis/pca-collect.ts';
import { readRunJson } from '../src-main/runs/run-json.ts';
import { fitPca } from '../src-main/analysis/pca/pca.ts';
import { readFileSync } from 'node:fs';

const { values } = parseArgs({
  options: {
    run: { type: 'string' },
    checkpoints: { type: 'string', default: '8' },
    'probe-tokens': { type: 'string', default: '2000' },
  },
});
const count = Number(values.checkpoints);
const probeTokens = Number(values['probe-tokens']);
const work = mkdtempSync(path.join(os.tmpdir(), 'motlab-bench-pca-run-'));

try {
  const runDir = values.run ? path.resolve(values.run) : path.join(work, 'mot-small');
  if (!values.run) {
    trainSmallMotRun(runDir, count);
  } else {
    // Analyse a copy's worth of nothing: the cache lives in the run folder, so start from a clean one.
    const cache = path.join(runDir, 'analyses', 'pca');
    rmSync(cache, { recursive: true, force: true });
  }
  const steps = readdirSync(path.join(runDir, 'checkpoints'))
    .map((d) => Number(/^step-(\d+)$/.exec(d)?.[1]))
    .filter((s) => Number.isFinite(s))
    .sort((a, b) => a - b);
  const chosen = steps.filter((_, i) => i % Math.max(1, Math.floor(steps.length / count)) === 0).slice(-count);
  const run = await readRunJson(runDir);
  await initEngine('wasm');

  const phases: Record<'capture' | 'pca', number> = { capture: 0, pca: 0 };
  // CPU time of the whole process (every thread) per phase: how full the cores were.
  const cpu: Record<'capture' | 'pca', number> = { capture: 0, pca: 0 };
  const cpuNow = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  };
  let phase: 'capture' | 'pca' = 'capture';
  let mark = performance.now();
  let cpuMark = cpuNow();
  const started = mark;
  const result = await analyzeRunPca({
    runDir,
    checkpoints: chosen,
    probeTokens,
    onProgress: (p) => {
      if (p.phase !== phase) {
        phases[phase] += performance.now() - mark;
        cpu[phase] += cpuNow() - cpuMark;
        mark = performance.now();
        cpuMark = cpuNow();
        phase = p.phase;
      }
    },
  });
  phases[phase] += performance.now() - mark;
  cpu[phase] += cpuNow() - cpuMark;
  const total = performance.now() - started;
  const peakMiB = process.resourceUsage().maxRSS / 1024;
  const n = result.points.modality.length;
  const d = run.model.d_model;
  const L = run.model.n_layers;
  const cacheBytes = readdirSync(result.cache!.dir)
    .filter((f) => f.endsWith('.f32'))
    .reduce((s, f) => s + statSync(path.join(result.cache!.dir, f)).size, 0);

  // Our PCA alone (no separability) on the same matrices, for the ratio to scikit-learn.
  let oursPcaMs = 0;
  for (const step of chosen) {
    const bytes = readFileSync(path.join(result.cache!.dir, `features-step-${step}.f32`));
    const all = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
    for (let layer = 0; layer < L; layer++) {
      const x = all.subarray(layer * n * d, (layer + 1) * n * d);
      const t = performance.now();
      fitPca(x, n, d, result.components);
      oursPcaMs += performance.now() - t;
    }
  }

  // scikit-learn on the very matrices we fitted: the cached features, layer-major [L, n, d] per checkpoint.
  const script = `
import json, sys, time, glob, os
import numpy as np, sklearn
from sklearn.decomposition import PCA
n, d, L, k = ${n}, ${d}, ${L}, ${result.components}
files = [os.path.join(sys.argv[1], f'features-step-{s}.f32') for s in json.loads(sys.argv[2])]
seconds = 0.0
for f in files:
    x = np.fromfile(f, dtype='<f4').reshape(L, n, d).astype(np.float64)
    for layer in range(L):
        t = time.perf_counter()
        PCA(n_components=k, svd_solver='full').fit_transform(x[layer])
        seconds += time.perf_counter() - t
print(json.dumps({'version': sklearn.__version__, 'ms': seconds * 1000}))
`;
  const py = spawnSync('/usr/bin/python3', ['-c', script, result.cache!.dir, JSON.stringify(chosen)], {
    encoding: 'utf8',
    env: { ...process.env, OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1', MKL_NUM_THREADS: '1' },
  });
  if (py.status !== 0) throw new Error(`scikit-learn failed:\n${py.stderr}`);
  const sklearn = JSON.parse(py.stdout) as { version: string; ms: number };

  const fits = chosen.length * L;
  console.log(
    `Run PCA: ${chosen.length} checkpoints × ${L} layers of a ${run.size} ${run.preset} run, ${n} probe tokens × d ${d} (load average ${os.loadavg()[0].toFixed(1)})`,
  );
  const busy = (p: 'capture' | 'pca') => `${(cpu[p] / phases[p]).toFixed(2)} cores busy of ${os.availableParallelism()}`;
  console.log(
    `  capture (the model on every checkpoint, streamed to ${(cacheBytes / 2 ** 20).toFixed(0)} MiB of cache)  ${phases.capture.toFixed(0)} ms (${busy('capture')})`,
  );
  console.log(`  PCA + separability, ${fits} fits                                    ${phases.pca.toFixed(0)} ms (${busy('pca')})`);
  console.log(`  total                                                                ${total.toFixed(0)} ms (target < 10000)`);
  console.log(
    `  scikit-learn ${sklearn.version} PCA(svd_solver='full') of the same ${fits} matrices, 1 thread: ${sklearn.ms.toFixed(0)} ms`,
  );
  console.log(
    `  ours, fitPca alone on the same matrices: ${oursPcaMs.toFixed(0)} ms; ours / scikit-learn ${(oursPcaMs / sklearn.ms).toFixed(2)}`,
  );
  console.log(`  peak RSS of this process: ${peakMiB.toFixed(0)} MiB`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
