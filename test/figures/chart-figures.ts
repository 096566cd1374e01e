/**
 * A `small` run's figure set drawn by the real chart functions (common/charts) on synthetic,
 * seeded data: losses, step matching, PCA (single and grid), separability, routing and towers.
 * Sized by the figure options, as an export would be. Used by the tests and bench/figures.ts.
 */
import {
  barChart,
  heatmap,
  lineChart,
  multiLine,
  pcaGrid,
  scatterChart,
  stepMatchChart,
  type ChartGeometry,
  type LineSeries,
  type ScatterData,
} from '../../src-main/common/charts/index.ts';
import type { FigureOptions } from '../../src-main/common/views.ts';
import { figureLayout, parseFigureOptions, type FigureLayout } from '../../src-main/figures/presets.ts';
import { seeded } from './fixtures.ts';

const MODALITIES = ['text', 'image', 'speech'];

function gaussian(random: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

/** EMA with bias correction (TensorBoard's), for the smoothed columns. */
function ema(values: readonly (number | null)[], weight: number): (number | null)[] {
  let mean = 0;
  let n = 0;
  return values.map((v) => {
    if (v === null) return null;
    n++;
    mean = weight * mean + (1 - weight) * v;
    return mean / (1 - weight ** n);
  });
}

export function lossesFigure(layout: FigureLayout, runs: string[], seed = 1): ChartGeometry {
  const random = seeded(seed);
  const series: LineSeries[] = [];
  const steps = Array.from({ length: 300 }, (_, i) => i * 10);
  runs.forEach((run, r) =>
    MODALITIES.forEach((modality, m) => {
      const raw = steps.map((s) =>
        s === 1500 && r === 1 ? null : 1.1 + m * 0.3 + 3 * Math.exp(-s / (400 + 150 * r + 100 * m)) + 0.08 * gaussian(random),
      );
      series.push({ run, modality, x: steps, raw, smoothed: ema(raw, 0.6) });
    }),
  );
  return lineChart({ series, xTitle: 'step', yTitle: 'loss (nats)', smoothing: 0.6 }, layout.size, layout.theme, {
    ...layout.options,
    title: `Losses: ${runs.join(' vs ')}`,
  });
}

export function stepMatchFigure(layout: FigureLayout, runs: string[]): ChartGeometry {
  const panels = MODALITIES.map((modality, m) => ({
    modality,
    runs: runs.map((run, r) => {
      const slope = m === 2 ? null : 0.45 + 0.12 * m + 0.05 * r;
      const matches = Array.from({ length: 30 }, (_, i) => ({
        referenceStep: (i + 1) * 100,
        matchedStep: slope === null ? null : Math.round((i + 1) * 100 * slope),
      }));
      return { run, fit: { matches, slope } };
    }),
  }));
  return stepMatchChart({ reference: 'dense', panels }, layout.size, layout.theme, { ...layout.options, title: 'Steps to match dense' });
}

function cloud(n: number, seed: number): ScatterData {
  const random = seeded(seed);
  const x = new Float64Array(n);
  const y = new Float64Array(n);
  const index = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const m = i % 3;
    x[i] = [-2, 1.5, 0.2][m] + 0.8 * gaussian(random);
    y[i] = [0.5, 1, -1.6][m] + 0.6 * gaussian(random);
    index[i] = m;
  }
  return { x, y, colour: { kind: 'category', index, labels: MODALITIES }, xTitle: 'PC 1', yTitle: 'PC 2', explained: [0.412, 0.179] };
}

export function pcaFigure(layout: FigureLayout, n: number, seed = 2): ChartGeometry {
  return scatterChart(cloud(n, seed), layout.size, layout.theme, { ...layout.options, title: `PCA, layer 2 (${n} tokens)` });
}

export function pcaGridFigure(layout: FigureLayout, layers: number, checkpoints: number, n: number): ChartGeometry {
  const cells = Array.from({ length: layers }, (_, l) => Array.from({ length: checkpoints }, (_, c) => cloud(n, 100 + l * 10 + c)));
  return pcaGrid(
    {
      rows: cells.map((_, l) => `layer ${l}`),
      columns: cells[0].map((_, c) => `step ${(c + 1) * 1000}`),
      cells,
      rowTitle: 'layer',
      columnTitle: 'checkpoint',
    },
    layout.size,
    layout.theme,
    { ...layout.options, title: 'PCA by layer and checkpoint' },
  );
}

export function separabilityFigure(layout: FigureLayout): ChartGeometry {
  const layers = Array.from({ length: 8 }, (_, i) => i);
  const series = [1000, 2000, 3000, 4000].map((step, k) => ({
    label: `step ${step}`,
    x: layers,
    y: layers.map((l) => 0.34 + 0.6 * (1 - Math.exp(-(l + 1) * (0.2 + 0.1 * k)))),
  }));
  return multiLine({ series, xTitle: 'layer', yTitle: 'probe accuracy' }, layout.size, layout.theme, {
    ...layout.options,
    title: 'Modality separability',
    colour: 'sequential',
    integerX: true,
  });
}

export function routingFigure(layout: FigureLayout, experts: number, steps: number): ChartGeometry {
  const values = Array.from({ length: experts }, (_, e) =>
    Array.from({ length: steps }, (_, s) => 1 / experts + 0.1 * Math.sin(e + s / 20)),
  );
  return heatmap(
    {
      rows: values.map((_, e) => `expert ${e}`),
      columns: values[0].map((_, s) => String(s * 10)),
      columnValues: values[0].map((_, s) => s * 10),
      values,
      xTitle: 'step',
      yTitle: 'expert',
      valueTitle: 'load',
    },
    layout.size,
    layout.theme,
    { ...layout.options, title: 'Expert load' },
  );
}

export function towersFigure(layout: FigureLayout): ChartGeometry {
  const layers = 4;
  const checkpoints = 10;
  const values = Array.from({ length: layers }, (_, l) =>
    Array.from({ length: checkpoints }, (_, c) => 1 - (c / checkpoints) * (0.2 + 0.15 * l)),
  );
  return heatmap(
    {
      rows: values.map((_, l) => `layer ${l}`),
      columns: values[0].map((_, c) => String((c + 1) * 100)),
      values,
      xTitle: 'checkpoint',
      yTitle: 'layer',
      valueTitle: 'CKA to dense',
    },
    layout.size,
    layout.theme,
    { ...layout.options, title: 'Tower drift' },
  );
}

export function tokensFigure(layout: FigureLayout): ChartGeometry {
  return barChart(
    {
      categories: MODALITIES,
      series: [
        { label: 'tower 0', values: [0.52, 0.31, 0.17] },
        { label: 'tower 1', values: [0.12, 0.61, null] },
      ],
      yTitle: 'share of tokens',
    },
    layout.size,
    layout.theme,
    { ...layout.options, title: 'Tokens per tower' },
  );
}

/** 20 figures, as `motlab figure --all` would write for a small run and its comparisons. */
export function smallRunFigureSet(options: Partial<FigureOptions> = {}): { name: string; geometry: ChartGeometry }[] {
  const column = figureLayout(parseFigureOptions({ preset: 'icml-column', title: true, ...options }));
  const full = figureLayout(parseFigureOptions({ preset: 'icml-full', title: true, ...options }));
  const runs = ['dense', 'mot', 'mot-ffn', 'moe-4x'];
  return [
    { name: 'losses', geometry: lossesFigure(full, runs) },
    ...runs.map((run, i) => ({ name: `losses-${run}`, geometry: lossesFigure(column, [run], 10 + i) })),
    { name: 'step-match', geometry: stepMatchFigure(full, runs.slice(1)) },
    { name: 'pca', geometry: pcaFigure(column, 3_000) },
    { name: 'pca-all-tokens', geometry: pcaFigure(column, 30_000, 3) },
    { name: 'pca-grid', geometry: pcaGridFigure(full, 3, 4, 1_500) },
    { name: 'separability', geometry: separabilityFigure(column) },
    ...[0, 1, 2, 3].map((layer) => ({ name: `routing-layer-${layer}`, geometry: routingFigure(column, 4, 300) })),
    { name: 'routing-long', geometry: routingFigure(full, 8, 400) },
    { name: 'towers', geometry: towersFigure(column) },
    { name: 'towers-full', geometry: towersFigure(full) },
    { name: 'tokens', geometry: tokensFigure(column) },
    { name: 'pca-small', geometry: pcaFigure(column, 500, 4) },
    { name: 'pca-10k', geometry: pcaFigure(full, 10_000, 5) },
  ];
}
