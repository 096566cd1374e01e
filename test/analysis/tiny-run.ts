/** Real tiny training runs in temporary folders, for analysis tests that read real metrics. */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { MetricsRecord } from '../../src-main/common/metrics.ts';
import { metricsOf, trainTiny } from '../training/helpers.ts';

export interface TinyRun {
  records: MetricsRecord[];
  /** run.json's model config. */
  model: Record<string, unknown>;
}

/** Trains `preset` at size tiny for `steps` steps on the built-in data (wasm) into the folder `out`, with the real CLI. */
export function trainTinyRun(out: string, preset: string, steps: number, evalEvery: number): void {
  trainTiny(out, { config: preset, steps, evalEvery });
}

/** Trains `preset` at size tiny for `steps` steps on the built-in data (wasm), then runs `use` on its records. */
export function withTinyRun(preset: string, steps: number, evalEvery: number, use: (run: TinyRun) => void): void {
  const root = mkdtempSync(path.join(tmpdir(), 'motlab-analysis-'));
  try {
    const out = path.join(root, 'run');
    trainTinyRun(out, preset, steps, evalEvery);
    use({
      records: metricsOf(out) as unknown as MetricsRecord[],
      model: JSON.parse(readFileSync(path.join(out, 'run.json'), 'utf8')).model,
    });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

/** The runs the loss-curve and step-matching tests (and the e2e views) compare: dense, MoT and MoE. */
export const TINY_COMPARISON = [
  { name: 'dense', preset: 'dense' },
  { name: 'mot', preset: 'mot' },
  { name: 'moe', preset: 'moe4x-topk' },
] as const;

/** Trains the comparison runs into `<root>/<name>` (20 steps, an evaluation every 5). */
export function trainComparisonRuns(root: string, steps = 20, evalEvery = 5): string[] {
  return TINY_COMPARISON.map(({ name, preset }) => {
    const out = path.join(root, name);
    trainTinyRun(out, preset, steps, evalEvery);
    return out;
  });
}
