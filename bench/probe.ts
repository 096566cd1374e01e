/**
 * Modality separability of a run's real captured features: the logistic probe, the silhouette
 * and the whole PCA + separability step per (checkpoint, layer), as analyzeRunPca runs them,
 * against scikit-learn on the same matrices, split and subsample in the same run
 * (LogisticRegression(C=1, multinomial, lbfgs, tol 1e-4, max_iter 300) on the same standardised
 * training rows; silhouette_score on the same rows of the same coordinates). Reports times,
 * iterations, and how far the accuracies and silhouettes are from scikit-learn's.
 *
 *   npx tsx bench/probe.ts [--run DIR] [--checkpoints 8] [--probe-tokens 2000]
 *
 * Without --run, a `small` MoT run is trained for 8 steps (a checkpoint every step) and its
 * features are captured first (not timed); with --run, cached features are reused.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { initEngine } from '../src-main/engine/engine.ts';
import { trainSmallMotRun } from './small-mot-run.ts';
import { capturePcaFeatures } from '../src-main/analysis/pca-collect.ts';
import { fitPca } from '../src-main/analysis/pca/pca.ts';
import { probeAccuracy, separability, silhouetteScore } from '../src-main/analysis/pca/separability.ts';
import { stratifiedSplit, stratifiedSubsample } from '../src-main/analysis/pca/sampling.ts';
import { Rng } from '../src-main/util/rng.ts';

const { values } = parseArgs({
  options: {
    run: { type: 'string' },
    checkpoints: { type: 'string', default: '8' },
    'probe-tokens': { type: 'string', default: '2000' },
  },
});
const count = Number(values.checkpoints);
const work = mkdtempSync(path.join(os.tmpdir(), 'motlab-bench-probe-'));

try {
  const runDir = values.run ? path.resolve(values.run) : path.join(work, 'mot-small');
  if (!values.run) {
    trainSmallMotRun(runDir, count);
  }
  await initEngine('wasm');
  const capture = await capturePcaFeatures({ runDir, checkpoints: 'all', probeTokens: Number(values['probe-tokens']) });
  const steps = capture.steps.filter((_, i) => i % Math.max(1, Math.floor(capture.steps.length / count)) === 0).slice(-count);
  const labels = capture.probe.positions.modality;
  const n = labels.length;
  const d = capture.config.d_model;
  const L = capture.config.n_layers;
  const classes = Math.max(...labels) + 1;
  // What separability() draws with its default seed: the split, then the silhouette subsample.
  const rng = new Rng(capture.seed);
  const testIndices = stratifiedSplit(labels, 0.25, rng.fork()).testIndices;
  const sample = stratifiedSubsample(labels, Math.min(n, 2000), rng.fork());

  const ours = { whole: 0, pca: 0, probe: 0, silhouette: 0 };
  // CPU time of this process over the whole loop (the wall times above include waiting for a
  // core when the machine is shared).
  let cpuMs = 0;
  const accuracies: number[] = [];
  const iterations: number[] = [];
  const silhouettes: number[] = [];
  const coordinates: Float32Array[] = [];
  let unconverged = 0;
  for (const step of steps) {
    const bytes = readFileSync(path.join(capture.cacheDir, `features-step-${step}.f32`));
    const all = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
    for (let layer = 0; layer < L; layer++) {
      const x = all.slice(layer * n * d, (layer + 1) * n * d);
      let t = performance.now();
      const cpu = process.cpuUsage();
      const fit = fitPca(x, n, d, 10);
      separability(x, n, d, labels, { seed: capture.seed, projection: { data: fit.projection, k: 10 } });
      ours.whole += performance.now() - t;
      const used = process.cpuUsage(cpu);
      cpuMs += (used.user + used.system) / 1000;

      t = performance.now();
      fitPca(x, n, d, 10);
      ours.pca += performance.now() - t;
      t = performance.now();
      const probe = probeAccuracy(x, n, d, labels, classes, testIndices);
      ours.probe += performance.now() - t;
      const sampleCoords = new Float32Array(sample.length * 10);
      sample.forEach((row, i) => sampleCoords.set(fit.projection.subarray(row * 10, row * 10 + 10), i * 10));
      const sampleLabels = Int32Array.from(sample, (row) => labels[row]);
      t = performance.now();
      silhouettes.push(silhouetteScore(sampleCoords, sample.length, 10, sampleLabels));
      ours.silhouette += performance.now() - t;
      accuracies.push(probe.accuracy);
      iterations.push(probe.iterations);
      if (!probe.converged) unconverged++;
      coordinates.push(sampleCoords);
    }
  }

  const dir = path.join(work, 'py');
  rmSync(dir, { recursive: true, force: true });
  const files = steps.map((s) => path.join(capture.cacheDir, `features-step-${s}.f32`));
  writeFileSync(path.join(work, 'labels.bin'), labels);
  writeFileSync(path.join(work, 'test.bin'), testIndices);
  writeFileSync(path.join(work, 'sample.bin'), sample);
  const coordsAll = new Float32Array(coordinates.length * sample.length * 10);
  coordinates.forEach((c, i) => coordsAll.set(c, i * c.length));
  writeFileSync(path.join(work, 'coords.bin'), coordsAll);
  const script = `
import json, sys, time, os, warnings
import numpy as np, sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from sklearn.metrics import silhouette_score
warnings.filterwarnings('ignore')
work, files = sys.argv[1], json.loads(sys.argv[2])
n, d, L, m = ${n}, ${d}, ${L}, ${sample.length}
y = np.fromfile(os.path.join(work, 'labels.bin'), dtype='<i4')
test = np.fromfile(os.path.join(work, 'test.bin'), dtype='<i4')
rows = np.fromfile(os.path.join(work, 'sample.bin'), dtype='<i4')
coords = np.fromfile(os.path.join(work, 'coords.bin'), dtype='<f4').reshape(-1, m, 10).astype(np.float64)
train = np.setdiff1d(np.arange(n), test)
probe_s, sil_s, acc, iters, sil = 0.0, 0.0, [], [], []
for f in files:
    x = np.fromfile(f, dtype='<f4').reshape(L, n, d).astype(np.float64)
    for layer in range(L):
        scaler = StandardScaler().fit(x[layer][train])
        xt, xs = scaler.transform(x[layer][train]), scaler.transform(x[layer][test])
        t = time.perf_counter()
        model = LogisticRegression(C=1.0, multi_class='multinomial', solver='lbfgs', tol=1e-4, max_iter=300).fit(xt, y[train])
        probe_s += time.perf_counter() - t
        acc.append(model.score(xs, y[test]))
        iters.append(int(model.n_iter_[0]))
        c = coords[len(sil)]
        t = time.perf_counter()
        sil.append(silhouette_score(c, y[rows]))
        sil_s += time.perf_counter() - t
print(json.dumps({'version': sklearn.__version__, 'probe_ms': probe_s * 1000, 'silhouette_ms': sil_s * 1000,
                  'accuracy': acc, 'iterations': iters, 'silhouette': sil}))
`;
  const py = spawnSync('/usr/bin/python3', ['-c', script, work, JSON.stringify(files)], {
    encoding: 'utf8',
    maxBuffer: 1 << 26,
    env: { ...process.env, OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1', MKL_NUM_THREADS: '1' },
  });
  if (py.status !== 0) throw new Error(`scikit-learn failed:\n${py.stderr}`);
  const sk = JSON.parse(py.stdout) as {
    version: string;
    probe_ms: number;
    silhouette_ms: number;
    accuracy: number[];
    iterations: number[];
    silhouette: number[];
  };

  const fits = steps.length * L;
  const maxGap = (a: number[], b: number[]) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
  const range = (xs: number[]) => `${Math.min(...xs)}–${Math.max(...xs)}`;
  console.log(
    `Separability of real features: ${steps.length} checkpoints × ${L} layers, ${n} probe tokens × d ${d}, ${classes} modalities` +
      ` (load average ${os.loadavg()[0].toFixed(1)})`,
  );
  console.log(`  PCA + separability, ${fits} fits (as analyzeRunPca):   ${ours.whole.toFixed(0)} ms (CPU ${cpuMs.toFixed(0)} ms)`);
  console.log(
    `    of which fitPca ${ours.pca.toFixed(0)} ms, probe ${ours.probe.toFixed(0)} ms, silhouette ${ours.silhouette.toFixed(0)} ms`,
  );
  console.log(
    `  probe: ours ${ours.probe.toFixed(0)} ms (iterations ${range(iterations)}, ${unconverged} not converged)` +
      ` vs scikit-learn ${sk.version} ${sk.probe_ms.toFixed(0)} ms (iterations ${range(sk.iterations)}), 1 thread;` +
      ` ours / scikit-learn ${(ours.probe / sk.probe_ms).toFixed(2)}`,
  );
  console.log(
    `    held-out accuracy ${range(accuracies.map((a) => Number(a.toFixed(3))))}; largest gap to scikit-learn's ${maxGap(accuracies, sk.accuracy).toFixed(4)}` +
      ` (${Math.round(maxGap(accuracies, sk.accuracy) * testIndices.length)} of ${testIndices.length} test rows)`,
  );
  console.log(
    `  silhouette (${sample.length} rows, 10 PCs): ours ${ours.silhouette.toFixed(0)} ms vs scikit-learn ${sk.silhouette_ms.toFixed(0)} ms;` +
      ` ours / scikit-learn ${(ours.silhouette / sk.silhouette_ms).toFixed(2)}; largest difference ${maxGap(silhouettes, sk.silhouette).toExponential(1)}`,
  );
} finally {
  rmSync(work, { recursive: true, force: true });
}
