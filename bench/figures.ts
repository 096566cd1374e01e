/**
 * `npx tsx bench/figures.ts [--run DIR --reference DIR] [--formats pdf,svg,png,csv] [--repeat N]`
 *
 * With --run: the figure set of a real run (`motlab figure --all`, figures/kinds.ts: losses, step
 * matching against --reference, PCA single and grid, separability, tower and routing panels — about
 * 20 figures for a MoT+MoE run such as `small` mot-moe), each in every format. The analyses run once
 * first (PCA captures are cached on disk, fits and probes kept in memory as `--all` keeps them);
 * then the export of the whole set — chart geometry and files — is timed (target: under 5 s).
 *
 * Without --run: the same number of figures drawn by the chart functions from synthetic data
 * (test/figures/chart-figures.ts), so the time is the charts' and the exporter's alone.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { ChartGeometry } from '../src-main/common/charts/marks.ts';
import { FIGURE_FORMATS, type FigureFormat } from '../src-main/common/views.ts';
import { initEngine } from '../src-main/engine/engine.ts';
import { exportFigure } from '../src-main/figures/export.ts';
import { exportViewFigure, runFigureSet, viewFigureGeometry, type FigureContext } from '../src-main/figures/kinds.ts';
import { parseFigureOptions } from '../src-main/figures/presets.ts';
import { smallRunFigureSet } from '../test/figures/chart-figures.ts';

const { values } = parseArgs({
  options: {
    run: { type: 'string' },
    reference: { type: 'string' },
    formats: { type: 'string', default: FIGURE_FORMATS.join(',') },
    repeat: { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '4' },
    engine: { type: 'string', default: 'wasm' },
  },
});
const repeats = Math.max(1, Number(values.repeat));
const CONCURRENCY = Math.max(1, Number(values.concurrency));
const formats = values.formats.split(',') as FigureFormat[];

/** Runs `work` over `items`, CONCURRENCY at a time (PNGs render in resvg's threads meanwhile). */
async function pool<T>(items: readonly T[], work: (item: T) => Promise<void>): Promise<void> {
  const queue = [...items];
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      for (let item = queue.shift(); item !== undefined; item = queue.shift()) await work(item);
    }),
  );
}

const bytes: Record<string, number> = {};
const times: number[] = [];
let figures = 0;

if (values.run) {
  await initEngine(values.engine as 'wasm');
  const ctx: FigureContext = { runDir: (ref) => path.resolve(ref), cache: new Map(), creationDate: new Date(0) };
  const set = await runFigureSet(values.run, values.reference ?? null, ctx);
  figures = set.length;
  const warm = performance.now();
  for (const entry of set) await viewFigureGeometry(entry.view, parseFigureOptions({}), ctx);
  console.log(`analyses of ${set.length} figures (run once, kept in memory): ${((performance.now() - warm) / 1000).toFixed(1)} s`);
  for (let r = 0; r < repeats; r++) {
    const start = performance.now();
    await pool(set, async (entry) => {
      await Promise.all(
        formats.map(async (format) => {
          const out = await exportViewFigure(entry.view, { format }, ctx);
          if (r === 0) bytes[format] = (bytes[format] ?? 0) + out.data.length;
        }),
      );
    });
    times.push(performance.now() - start);
  }
  console.log(`figure set of ${values.run}: ${set.map((e) => e.name).join(', ')}`);
} else {
  for (let r = 0; r < repeats; r++) {
    const start = performance.now();
    const set: { geometry: ChartGeometry }[] = smallRunFigureSet({ title: true });
    figures = set.length;
    await pool(set, async ({ geometry }) => {
      await Promise.all(
        formats.map(async (format) => {
          const out = await exportFigure(geometry, { format, creationDate: new Date(0) });
          if (r === 0) bytes[format] = (bytes[format] ?? 0) + out.length;
        }),
      );
    });
    times.push(performance.now() - start);
  }
  console.log('synthetic figure set (test/figures/chart-figures.ts)');
}

const best = Math.min(...times);
console.log(
  `${figures} figures × ${formats.length} formats (${formats.join(', ')}), ${CONCURRENCY} figures at a time: best ${best.toFixed(0)} ms of ${times
    .map((t) => t.toFixed(0))
    .join(', ')} ms — target < 5000 ms`,
);
for (const format of formats) console.log(`  ${format.padEnd(4)} ${((bytes[format] ?? 0) / 1024).toFixed(0).padStart(7)} KiB in all`);
