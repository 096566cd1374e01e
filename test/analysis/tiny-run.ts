/** A real tiny training run in a temporary folder, for analysis tests that read real metrics. */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { MetricsRecord } from '../../src-main/common/metrics.ts';
import { metricsOf, motlab } from '../training/helpers.ts';

export interface TinyRun {
  records: MetricsRecord[];
  /** run.json's model config. */
  model: Record<string, unknown>;
}

/** Trains `preset` at size tiny for `steps` steps on the built-in data (wasm), then runs `use` on its records. */
export function withTinyRun(preset: string, steps: number, evalEvery: number, use: (run: TinyRun) => void): void {
  const root = mkdtempSync(path.join(tmpdir(), 'motlab-analysis-'));
  try {
    const out = path.join(root, 'run');
    const r = motlab([
      'train',
      '--config',
      preset,
      '--size',
      'tiny',
      '--out',
      out,
      '--steps',
      `${steps}`,
      '--eval-every',
      `${evalEvery}`,
      '--checkpoint-every',
      `${steps}`,
      '--engine',
      'wasm',
    ]);
    assert.equal(r.status, 0, r.stderr);
    use({
      records: metricsOf(out) as unknown as MetricsRecord[],
      model: JSON.parse(readFileSync(path.join(out, 'run.json'), 'utf8')).model,
    });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
