/** The `table` of a chart: exactly what was plotted, as columns (the CSV export writes it as is). */
import type { PlottedTable } from './marks.ts';

export interface TableSeries {
  name: string;
  x: ArrayLike<number>;
  values: ArrayLike<number | null>;
  /** Indices of the points plotted (default: all). */
  indices?: readonly number[];
}

/**
 * One wide table: an x column (the union of every series' x, ascending) and one column per
 * series, empty (null) where a series has no point at that x.
 */
export function wideTable(xName: string, series: readonly TableSeries[]): PlottedTable {
  const rows = new Map<number, (number | string | null)[]>();
  series.forEach((s, column) => {
    const indices = s.indices ?? Array.from({ length: s.x.length }, (_, i) => i);
    for (const i of indices) {
      const x = s.x[i];
      if (!Number.isFinite(x)) continue;
      let row = rows.get(x);
      if (!row) {
        row = [x, ...new Array<null>(series.length).fill(null)];
        rows.set(x, row);
      }
      const v = s.values[i];
      row[column + 1] = finiteOrNull(v);
    }
  });
  return {
    columns: [xName, ...series.map((s) => s.name)],
    rows: [...rows.values()].sort((a, b) => (a[0] as number) - (b[0] as number)),
  };
}

/** Column names must be unique for a CSV; repeated names get " (2)", " (3)" … */
export function uniqueNames(names: readonly string[]): string[] {
  const seen = new Map<string, number>();
  return names.map((n) => {
    const count = (seen.get(n) ?? 0) + 1;
    seen.set(n, count);
    return count === 1 ? n : `${n} (${count})`;
  });
}

/** A table cell: the number, or null when it is missing or not finite. */
export function finiteOrNull(v: number | null | undefined): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}
