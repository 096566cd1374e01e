/** What every `motlab analyze` subcommand shares: the output flags, CSV files and aligned text tables. */
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { PlottedTable } from '../../common/charts/marks.ts';
import { MotlabError } from '../../common/errors.ts';
import { terminalSafe } from '../../common/text.ts';
import { tableToCsv } from '../../figures/csv.ts';

/** Flags every analysis takes (parseCommandFlags adds --help). */
export const OUTPUT_OPTIONS = {
  json: { type: 'boolean', default: false },
  csv: { type: 'string' },
} as const;

/** Writes a chart's plotted table as CSV (header row, then one row per x; gaps are empty fields). */
export async function writeTableCsv(file: string, table: PlottedTable): Promise<string> {
  const path = resolve(file);
  try {
    await writeFile(path, tableToCsv(table));
  } catch (error) {
    throw new MotlabError('invalid_request', `cannot write ${path}: ${(error as Error).message}`);
  }
  return path;
}

/**
 * `--csv FILE`: the chart's plotted table as CSV; `--json`: the report. True when the JSON was
 * printed (stdout is then the JSON alone).
 */
export async function writeOutputs(values: { json: boolean; csv?: string }, report: unknown, table: () => PlottedTable): Promise<boolean> {
  if (values.csv) {
    const t = table();
    const file = await writeTableCsv(values.csv, t);
    if (!values.json) printSafe(`wrote ${file} (${t.rows.length} rows, ${t.columns.length} columns)`);
  }
  if (values.json) printSafe(JSON.stringify(report, null, 2));
  return values.json;
}

/** Columns padded to their widest cell; `right` marks columns aligned right (numbers). */
export function textTable(header: readonly string[], rows: readonly (readonly string[])[], right: readonly boolean[] = []): string {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, c) => (right[c] ? cell.padStart(widths[c]) : cell.padEnd(widths[c])))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/** A loss for people: four decimals; a dash for none. */
export const fmtLoss = (v: number | null | undefined): string =>
  v === null || v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(4);

/** A position on an x axis: whole steps and tokens, FLOPs in scientific notation, seconds to 0.1 s. */
export function fmtX(v: number | null | undefined, axis: string): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  if (axis === 'flops') return v.toExponential(3);
  if (axis === 'wall') return v.toFixed(1);
  return Number.isInteger(v) ? String(v) : v.toFixed(1);
}

/** Prints to stdout with control characters escaped (run names and notes come from run folders). */
export function printSafe(text: string): void {
  console.log(terminalSafe(text));
}
