/**
 * Feature capture of a run's checkpoints (the expensive half of the run PCA, analysis/pca-collect.ts)
 * on this thread and on worker threads, in one run, from a clean cache each time. Reports ms per
 * checkpoint and the ratio, with the load average (other processes on the machine skew it).
 *
 *   npx tsx bench/capture-workers.ts --run DIR [--workers 2] [--probe-tokens 2000]
 *
 * DIR is a trained run (e.g. the `small` MoT run bench/pca-run.ts trains: 8 steps, a checkpoint every step).
 */
import { rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { initEngine } from '../src-main/engine/engine.ts';
import { capturePcaFeatures } from '../src-main/analysis/pca-collect.ts';

const { values } = parseArgs({
  options: {
    run: { type: 'string' },
    workers: { type: 'string', default: String(os.availableParallelism()) },
    'probe-tokens': { type: 'string', default: '2000' },
  },
});
if (!values.run) throw new Error('--run DIR is required');
const runDir = path.resolve(values.run);
await initEngine('wasm');
const time = async (workers: number) => {
  rmSync(path.join(runDir, 'analyses', 'pca'), { recursive: true, force: true });
  const load = os.loadavg()[0];
  const t = performance.now();
  const cpu = process.cpuUsage();
  const result = await capturePcaFeatures({ runDir, probeTokens: Number(values['probe-tokens']), workers });
  const ms = performance.now() - t;
  const used = process.cpuUsage(cpu);
  const cpuMs = (used.user + used.system) / 1000;
  console.log(
    `  ${result.workers} thread(s): ${result.captured.length} checkpoints in ${ms.toFixed(0)} ms, ${cpuMs.toFixed(0)} ms of CPU time (load average ${load.toFixed(2)})`,
  );
  return ms;
};
console.log(`Feature capture of ${runDir}`);
const one = await time(1);
const many = await time(Number(values.workers));
console.log(`  ratio ${(many / one).toFixed(2)}`);
