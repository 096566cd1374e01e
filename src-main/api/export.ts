/** Metrics as CSV: one row per logged record, one loss column per modality. */
import type { MetricsRecord } from '../common/metrics.ts';

function cell(value: unknown): string {
  if (value === undefined || value === null) return '';
  const s = typeof value === 'number' ? (Number.isFinite(value) ? String(value) : '') : String(value);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** Rows of cells as CSV text (numbers that are not finite become empty cells). */
export function csvText(rows: readonly (readonly unknown[])[]): string {
  return rows.map((row) => row.map(cell).join(',')).join('\n') + '\n';
}

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
    ]
      .map(cell)
      .join(',');
  });
  return [header.join(','), ...rows].join('\n') + '\n';
}
