/**
 * `npx tsx bench/figures.ts [--repeat N]`: exports a figure set the size of a `small` run's
 * (20 figures: loss curves, PCA clouds vector and raster, heatmaps vector and raster, panel
 * grids) in every format — PDF, SVG, PNG at 300 dpi, CSV — and reports the time per format and
 * in total (target: the whole set under 5 s). Geometries are built by hand (test/figures/fixtures.ts)
 * so the time is the exporter's alone.
 */
import { parseArgs } from 'node:util';
import type { ChartGeometry } from '../src-main/common/charts/marks.ts';
import { exportFigure } from '../src-main/figures/export.ts';
import { FIGURE_FORMATS, type FigureFormat } from '../src-main/common/views.ts';
import { heatmap, lossCurves, panelGrid, pointCloud } from '../test/figures/fixtures.ts';

const { values } = parseArgs({ options: { repeat: { type: 'string', default: '3' } } });
const repeats = Math.max(1, Number(values.repeat));

function figureSet(): { name: string; geometry: ChartGeometry }[] {
  const set: { name: string; geometry: ChartGeometry }[] = [];
  for (let i = 0; i < 6; i++) set.push({ name: `losses-${i}`, geometry: lossCurves() });
  for (let i = 0; i < 4; i++) set.push({ name: `pca-${i}`, geometry: pointCloud(3_000, undefined, undefined, i) });
  for (let i = 0; i < 2; i++) set.push({ name: `pca-big-${i}`, geometry: pointCloud(30_000, undefined, undefined, 10 + i) });
  for (let i = 0; i < 2; i++) set.push({ name: `towers-${i}`, geometry: heatmap(8, 12) });
  for (let i = 0; i < 2; i++) set.push({ name: `routing-${i}`, geometry: heatmap(40, 60) });
  for (let i = 0; i < 4; i++) set.push({ name: `grid-${i}`, geometry: panelGrid() });
  return set;
}

const set = figureSet();
const bytes: Record<FigureFormat, number> = { pdf: 0, svg: 0, png: 0, csv: 0 };
const runs: { total: number; cpu: number; perFormat: Record<FigureFormat, number> }[] = [];
for (let r = 0; r < repeats; r++) {
  const perFormat: Record<FigureFormat, number> = { pdf: 0, svg: 0, png: 0, csv: 0 };
  const cpu = process.cpuUsage();
  const start = performance.now();
  // A figure's formats are exported together, as `motlab figure --all` would: the PNG renders in
  // resvg's worker thread while the PDF is written on the main one. Per-format times overlap.
  for (const { geometry } of set) {
    await Promise.all(
      FIGURE_FORMATS.map(async (format) => {
        const t = performance.now();
        const out = await exportFigure(geometry, { format, creationDate: new Date(0) });
        perFormat[format] += performance.now() - t;
        if (r === 0) bytes[format] += out.length;
      }),
    );
  }
  const used = process.cpuUsage(cpu);
  runs.push({ total: performance.now() - start, cpu: (used.user + used.system) / 1000, perFormat });
}

const best = runs.reduce((a, b) => (b.total < a.total ? b : a));
console.log(
  `figure set: ${set.length} figures × ${FIGURE_FORMATS.length} formats, best of ${repeats} (first run includes font loading; per-format times overlap)`,
);
for (const format of FIGURE_FORMATS) {
  console.log(
    `  ${format.padEnd(4)} ${best.perFormat[format].toFixed(0).padStart(6)} ms   ${(bytes[format] / 1024).toFixed(0).padStart(6)} KiB in all`,
  );
}
console.log(
  `  total ${best.total.toFixed(0)} ms wall, ${best.cpu.toFixed(0)} ms CPU (all runs: ${runs.map((x) => x.total.toFixed(0)).join(', ')} ms) — target < 5000 ms`,
);
