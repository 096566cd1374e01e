/** Metrics as CSV (util/csv.ts): one row per logged record, one loss column per modality. */
import type { MetricsRecord } from '../common/metrics.ts';
import { csvText } from '../util/csv.ts';

export function metricsCsv(records: MetricsRecord[]): string {
  const lossKeys: string[] = [];
  for (const r of records) for (const k of Object.keys(r.loss ?? {})) if (!lossKeys.includes(k)) lossKeys.push(k);
  lossKeys.sort((a, b) => (a === 'all' ? -1 : b === 'all' ? 1 : 0));
  const header = [
    'type',
    'step',
    'split',
    'time',
    'elapsed_s',
    'tokens',
    'flops',
    'lr',
    'grad_norm',
    'tokens_per_s',
    ...lossKeys.map((k) => `loss_${k}`),
  ];
  const rows = records.map((r) => {
    const t = r.type === 'train' ? r : undefined;
    const e = r.type === 'eval' ? r : undefined;
    return [
      r.type,
      r.step,
      e?.split ?? 'train',
      t?.time ?? (r as { time?: number }).time,
      t?.elapsed_s,
      t?.tokens,
      t?.flops,
      t?.lr,
      t?.grad_norm,
      t?.tokens_per_s,
      ...lossKeys.map((k) => r.loss?.[k]),
    ];
  });
  return csvText([header, ...rows]);
}
