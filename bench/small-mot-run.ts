/**
 * The run the PCA benches analyse (bench/pca-run.ts, bench/probe.ts): a `small` MoT run on
 * fashion-tri trained for `steps` steps with a checkpoint every step, by the real CLI. The weights
 * barely move in so few steps, but the work per checkpoint is that of a long run.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export function trainSmallMotRun(runDir: string, steps: number): void {
  const args = ['train', '--config', 'mot', '--size', 'small', '--out', runDir, '--steps', String(steps)];
  const r = spawnSync(
    process.execPath,
    [path.join(repo, 'bin', 'motlab.mjs'), ...args, '--checkpoint-every', '1', '--eval-every', String(steps), '--engine', 'wasm'],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`training the bench run failed:\n${r.stderr}`);
}
