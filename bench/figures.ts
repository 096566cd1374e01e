/**
 * `npx tsx bench/figures.ts [--repeat N] [--concurrency N]`: exports the figure set of a `small` run and its
 * comparisons (20 figures drawn by the chart functions: losses, step matching, PCA single, big
 * and grid, separability, routing and tower heatmaps, tokens per tower) in every format — PDF,
 * SVG, PNG at 300 dpi, CSV — and reports the time (target: the whole set under 5 s). The data is
 * synthetic (test/figures/chart-figures.ts) so the time is the charts' and the exporter's alone.
 */
import { parseArgs } from 'node:util';
import { FIGURE_FORMATS, type FigureFormat } from '../src-main/common/views.ts';
import { exportFigure } from '../src-main/figures/export.ts';
import { smallRunFigureSet } from '../test/figures/chart-figures.ts';

const { values } = parseArgs({ options: { repeat: { type: 'string', default: '3' }, concurrency: { type: 'string', default: '4' } } });
const repeats = Math.max(1, Number(values.repeat));
const CONCURRENCY = Math.max(1, Number(values.concurrency));

const bytes: Record<FigureFormat, number> = { pdf: 0, svg: 0, png: 0, csv: 0 };
const runs: { total: number; cpu: number; charts: number; perFormat: Record<FigureFormat, number> }[] = [];
let figures = 0;
for (let r = 0; r < repeats; r++) {
  const perFormat: Record<FigureFormat, number> = { pdf: 0, svg: 0, png: 0, csv: 0 };
  const cpu = process.cpuUsage();
  const start = performance.now();
  // Chart geometry is part of exporting a view.
  const set = smallRunFigureSet({ title: true });
  const charts = performance.now() - start;
  figures = set.length;
  // Figures are exported CONCURRENCY (4) at a time, every format at once, as `motlab figure --all`
  // should: PNGs render in resvg's worker threads while PDFs and SVGs are written on the main
  // thread, so both cores work. Per-format times therefore overlap.
  const queue = [...set];
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      for (let figure = queue.shift(); figure; figure = queue.shift()) {
        const { geometry } = figure;
        await Promise.all(
          FIGURE_FORMATS.map(async (format) => {
            const t = performance.now();
            const out = await exportFigure(geometry, { format, creationDate: new Date(0) });
            perFormat[format] += performance.now() - t;
            if (r === 0) bytes[format] += out.length;
          }),
        );
      }
    }),
  );
  const used = process.cpuUsage(cpu);
  runs.push({ total: performance.now() - start, cpu: (used.user + used.system) / 1000, charts, perFormat });
}

const best = runs.reduce((a, b) => (b.total < a.total ? b : a));
console.log(
  `figure set: ${figures} figures × ${FIGURE_FORMATS.length} formats, best of ${repeats}, ${CONCURRENCY} figures at a time (per-format times overlap)`,
);
console.log(`  charts ${best.charts.toFixed(0).padStart(4)} ms (geometry of all figures)`);
for (const format of FIGURE_FORMATS) {
  console.log(
    `  ${format.padEnd(4)} ${best.perFormat[format].toFixed(0).padStart(6)} ms   ${(bytes[format] / 1024).toFixed(0).padStart(6)} KiB in all`,
  );
}
console.log(
  `  total ${best.total.toFixed(0)} ms wall, ${best.cpu.toFixed(0)} ms CPU (all runs: ${runs.map((x) => x.total.toFixed(0)).join(', ')} ms) — target < 5000 ms`,
);
