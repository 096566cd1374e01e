import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chartTheme, modalityColor } from '../../src-main/common/palette.ts';
import {
  barChart,
  heatmap,
  LEGEND_POSITIONS,
  pcaGrid,
  RECT_CELL_LIMIT,
  scatterChart,
  stepMatchChart,
  type ChartGeometry,
  type ScatterData,
} from '../../src-main/common/charts/index.ts';
import { matchSteps } from '../../src-main/analysis/step-matching.ts';
import { assertDeterministic, assertInside, assertWellFormedSvg, byKind, texts } from './chart-checks.ts';

const theme = chartTheme('light');
const column = { width: 234, height: 145 };
const full = { width: 486, height: 200 };

// ---------------------------------------------------------------------------------------------
// Step matching

const steps = Array.from({ length: 21 }, (_, i) => i * 100);
// Losses linear in the step, so linear interpolation between logged points is exact.
const reference = steps.map((step) => ({ step, loss: 10 - step / 250 }));
/** The other run is the reference time-scaled by `s`: it reaches the loss of step x at step s·x. */
const scaled = (s: number) => steps.map((step) => ({ step, loss: 10 - step / (250 * s) }));
const stepData = {
  reference: 'dense',
  panels: [
    { modality: 'text', runs: [{ run: 'mot', fit: matchSteps(reference, scaled(0.5)) }] },
    { modality: 'image', runs: [{ run: 'mot', fit: matchSteps(reference, scaled(0.25)) }] },
  ],
};

test('step matching: one marker per matched point, the fit line through the origin, its slope in the panel legend', () => {
  const g = stepMatchChart(stepData, full, theme);
  assert.deepEqual(
    g.frames.map((f) => f.id),
    ['panel:text', 'panel:image'],
  );
  const labels = texts(g, 'legend:').map((t) => t.text);
  assert.ok(labels.includes('s = 0.500') && labels.includes('s = 0.250'), labels.join(' | '));
  const fit = byKind(g, 'line').find((l) => l.key === 'mot:text:fit')!;
  const frame = g.frames[0];
  const [x0, y0] = fit.points[0]!;
  assert.ok(Math.abs(x0 - frame.x) < 1e-9 && Math.abs(y0 - (frame.y + frame.height)) < 1e-9, 'fit starts at the origin');
  const markers = byKind(g, 'symbol').filter((s) => s.key === 'mot:text:matched');
  assert.equal(markers.length, 20);
  assert.ok(texts(g, 'legend:').some((t) => t.text === 'y = x (as fast as dense)'));
  assert.deepEqual(g.table.columns, ['dense step', 'mot · text matched', 'mot · text fit', 'mot · image matched', 'mot · image fit']);
  assert.equal(g.table.rows.length, 20);
  const row = g.table.rows[9]; // reference step 1000
  assert.equal(row[0], 1000);
  assert.ok(Math.abs((row[1] as number) - 500) < 1e-9);
  assertInside(g);
});

test('a run that never matches says so in its legend and draws no fit line', () => {
  const never = steps.map((step) => ({ step, loss: 1e9 + step }));
  const g = stepMatchChart(
    { reference: 'dense', panels: [{ modality: 'speech', runs: [{ run: 'mot', fit: matchSteps(reference, never) }] }] },
    column,
    theme,
  );
  assert.ok(texts(g, 'legend:').some((t) => t.text === 's: never matched'));
  assert.equal(byKind(g, 'line').filter((l) => l.key === 'mot:speech:fit').length, 0);
  assertInside(g);
});

// ---------------------------------------------------------------------------------------------
// PCA scatter and grid

function cloud(n: number, shift = 0): ScatterData {
  const modality = Array.from({ length: n }, (_, i) => i % 3);
  return {
    x: modality.map((m, i) => m * 2 + Math.sin(i) + shift),
    y: modality.map((m, i) => m - Math.cos(i * 1.7)),
    colour: { kind: 'category', index: modality, labels: ['text', 'image', 'speech'] },
    xTitle: 'PC1',
    yTitle: 'PC2',
    explained: [0.4123, 0.1],
  };
}

test('scatter: one point-cloud mark with every finite point, coloured by modality, variance in the axis titles', () => {
  const data = cloud(300);
  (data.x as number[])[7] = NaN;
  const g = scatterChart(data, column, theme, { legend: 'right' });
  const [points] = byKind(g, 'points');
  assert.equal(points.x.length, 299);
  assert.deepEqual(points.colours, [modalityColor(0), modalityColor(1), modalityColor(2)]);
  assert.equal(new Set(points.colourIndex).size, 3);
  assert.ok(texts(g, 'x-title').some((t) => t.text === 'PC1 (41.2%)'));
  assert.ok(texts(g, 'y-title').some((t) => t.text === 'PC2 (10.0%)'));
  assert.deepEqual(
    texts(g, 'legend:').map((t) => t.text),
    ['text', 'image', 'speech'],
  );
  assert.deepEqual(g.table.columns, ['PC1 (41.2%)', 'PC2 (10.0%)', 'category']);
  assert.equal(g.table.rows.length, 299);
  // Equal aspect: one data unit is as long on x as on y.
  const f = g.frames[0];
  const perX = f.width / (f.xDomain[1] - f.xDomain[0]);
  const perY = f.height / (f.yDomain[1] - f.yDomain[0]);
  assert.ok(Math.abs(perX - perY) < 1e-9, `${perX} vs ${perY}`);
  // Each point sits where the frame's domains put it.
  const k = 0; // drawing order is shuffled: find point 0 by its coordinates
  const px = f.x + ((data.x[k] - f.xDomain[0]) / (f.xDomain[1] - f.xDomain[0])) * f.width;
  const py = f.y + f.height - ((data.y[k] - f.yDomain[0]) / (f.yDomain[1] - f.yDomain[0])) * f.height;
  assert.ok(
    Array.from(points.x).some((x, i) => Math.abs(x - px) < 1e-3 && Math.abs(points.y[i] - py) < 1e-3),
    'point 0 is drawn at its position',
  );
  assertInside(g);
});

test('scatter coloured by a value: viridis from its minimum to its maximum and a colour bar', () => {
  const base = cloud(200);
  const values = Array.from({ length: 200 }, (_, i) => i);
  const g = scatterChart({ ...base, colour: { kind: 'value', values, label: 'position' } }, column, theme);
  const [points] = byKind(g, 'points');
  assert.equal(points.colours[0], '#440154');
  assert.equal(points.colours[253], '#fde725');
  const lowest = Array.from(points.colourIndex).reduce((a, b) => Math.min(a, b));
  const highest = Array.from(points.colourIndex).reduce((a, b) => Math.max(a, b));
  assert.deepEqual([lowest, highest], [0, 253]);
  assert.ok(texts(g, 'colour-bar-title').some((t) => t.text === 'position'));
  assert.equal(byKind(g, 'cells').length, 1);
  assertInside(g);
});

test('PCA grid: rows × columns panels, labels on the edges, one legend, every point in the table', () => {
  const rows = ['layer 1', 'layer 4', 'layer 8'];
  const columns = ['4%', '50%', '100%'];
  const g = pcaGrid(
    { rows, columns, cells: rows.map((_, r) => columns.map((_, c) => cloud(90, r + c))), rowTitle: 'layer', columnTitle: 'checkpoint' },
    full,
    theme,
  );
  assert.equal(g.frames.length, 9);
  assert.equal(byKind(g, 'points').length, 9);
  assert.deepEqual(
    texts(g, 'column:').map((t) => t.text),
    columns,
  );
  assert.deepEqual(
    texts(g, 'row:').map((t) => t.text),
    rows,
  );
  assert.equal(texts(g, 'legend:').length, 3);
  assert.equal(g.table.rows.length, 9 * 90);
  assert.deepEqual(g.table.columns, ['layer', 'checkpoint', 'x', 'y', 'category']);
  // Frames of one row share y, of one column share x.
  assert.equal(g.frames[0].y, g.frames[2].y);
  assert.equal(g.frames[0].x, g.frames[3].x);
  assertInside(g);
});

// ---------------------------------------------------------------------------------------------
// Bars and heatmaps

test('bars start at zero and their heights follow the values; a missing value draws no bar', () => {
  const g = barChart(
    {
      categories: ['text', 'image', 'speech'],
      series: [
        { label: 'dense', values: [2, 1, 3] },
        { label: 'mot', values: [1.5, null, 3.5] },
      ],
      yTitle: 'final loss',
    },
    column,
    theme,
    { valueLabels: true },
  );
  const bars = byKind(g, 'rect').filter((r) => r.key?.startsWith('bar:'));
  assert.equal(bars.length, 5);
  const frame = g.frames[0];
  const unit = frame.height / (frame.yDomain[1] - frame.yDomain[0]);
  const height = (key: string): number => bars.find((b) => b.key === key)!.height;
  assert.ok(Math.abs(height('bar:dense:text') - 2 * unit) < 1e-9);
  assert.ok(Math.abs(height('bar:mot:speech') - 3.5 * unit) < 1e-9);
  const bottom = (key: string): number => bars.find((b) => b.key === key)!.y + height(key);
  assert.ok(Math.abs(bottom('bar:dense:image') - (frame.y + frame.height)) < 1e-9, 'bars stand on zero');
  assert.deepEqual(
    texts(g, 'legend:').map((t) => t.text),
    ['dense', 'mot'],
  );
  assert.deepEqual(g.table, {
    columns: ['category', 'dense', 'mot'],
    rows: [
      ['text', 2, 1.5],
      ['image', 1, null],
      ['speech', 3, 3.5],
    ],
  });
  assert.deepEqual(g.frames[0].xCategories, ['text', 'image', 'speech']);
  assert.equal(texts(g, 'value-label').length, 5);
  assertInside(g);
});

test('heatmap: cells coloured from the minimum (viridis start) to the maximum (end), rows top to bottom', () => {
  const values = [
    [0, 0.5],
    [1, null],
  ];
  const g = heatmap(
    { rows: ['expert 0', 'expert 1'], columns: ['text', 'image'], values, xTitle: 'modality', yTitle: 'expert', valueTitle: 'share' },
    column,
    theme,
  );
  const cell = (r: number, c: number) => byKind(g, 'rect').find((m) => m.key === `cell:${r}:${c}`)!;
  assert.equal(cell(0, 0).fill, '#440154');
  assert.equal(cell(1, 0).fill, '#fde725');
  assert.equal(cell(0, 1).fill, '#21918c');
  assert.equal(cell(1, 1).fill, theme.grid); // missing
  assert.ok(cell(0, 0).y < cell(1, 0).y, 'row 0 on top');
  assert.deepEqual(
    texts(g, 'cell-value').map((t) => t.text),
    ['0', '0.5', '1'],
  );
  // Hover: invert a cell centre through the frame's domains (yDomain [rows, 0]).
  const f = g.frames[0];
  const c = cell(1, 0);
  const columnIndex = f.xDomain[0] + ((c.x + c.width / 2 - f.x) / f.width) * (f.xDomain[1] - f.xDomain[0]);
  const rowIndex = f.yDomain[0] + (1 - (c.y + c.height / 2 - f.y) / f.height) * (f.yDomain[1] - f.yDomain[0]);
  assert.deepEqual([Math.floor(rowIndex), Math.floor(columnIndex)], [1, 0]);
  assert.deepEqual(g.table.rows, [
    ['expert 0', 0, 0.5],
    ['expert 1', 1, null],
  ]);
  assertInside(g);
});

test('a big heatmap is one cell grid with numeric step ticks', () => {
  const experts = 8;
  const stepCount = Math.ceil(RECT_CELL_LIMIT / experts) + 10;
  const values = Array.from({ length: experts }, (_, e) => Array.from({ length: stepCount }, (_, s) => (e + s) % 7));
  const stepsOf = Array.from({ length: stepCount }, (_, s) => (s + 1) * 10);
  const g = heatmap(
    {
      rows: values.map((_, e) => `${e}`),
      columns: stepsOf.map(String),
      columnValues: stepsOf,
      values,
      xTitle: 'step',
      yTitle: 'expert',
      valueTitle: 'load',
    },
    full,
    theme,
    { scale: 'cividis' },
  );
  const grids = byKind(g, 'cells').filter((m) => m.key === 'cells');
  assert.equal(grids.length, 1);
  assert.equal(grids[0].colours.length, experts * stepCount);
  assert.equal(byKind(g, 'rect').filter((m) => m.key?.startsWith('cell:')).length, 0);
  // Round, evenly spaced step values (1, 2 or 5 × 10^k apart) within the logged steps.
  const ticks = texts(g, 'tick-x').map((t) => Number(t.text.replace('k', 'e3')));
  const gap = ticks[1] - ticks[0];
  assert.ok(
    ticks.every((v, i) => i === 0 || v - ticks[i - 1] === gap),
    ticks.join(' '),
  );
  assert.ok([1, 2, 5].includes(gap / Math.pow(10, Math.floor(Math.log10(gap)))), `gap ${gap}`);
  assert.ok(ticks[0] >= 10 && ticks.at(-1)! <= stepsOf.at(-1)!);
  assertInside(g);
});

test('a heatmap of few checkpoint columns labels each column with its step (no ticks between cells)', () => {
  const steps = [2, 4, 6, 8];
  const g = heatmap(
    {
      rows: ['layer 0', 'layer 1'],
      columns: steps.map(String),
      columnValues: steps,
      values: [
        [0.1, 0.2, 0.3, 0.4],
        [0.5, 0.6, 0.7, 0.8],
      ],
      xTitle: 'checkpoint step',
      yTitle: 'layer',
      valueTitle: 'linear CKA',
    },
    full,
    theme,
  );
  assert.deepEqual(
    texts(g, 'tick-x').map((t) => t.text),
    ['2', '4', '6', '8'],
  );
});

// ---------------------------------------------------------------------------------------------
// Every chart

function everyChart(name: 'light' | 'dark', legend: (typeof LEGEND_POSITIONS)[number]): ChartGeometry[] {
  const t = chartTheme(name);
  const options = { legend, title: 'A chart' };
  return [
    stepMatchChart(stepData, full, t, options),
    scatterChart(cloud(500), column, t, options),
    pcaGrid(
      {
        rows: ['a', 'b'],
        columns: ['1', '2'],
        cells: [
          [cloud(50), null],
          [cloud(50), cloud(50, 1)],
        ],
      },
      full,
      t,
      options,
    ),
    barChart(
      { categories: ['PC1', 'PC2', 'PC3'], series: [{ label: 'explained variance', values: [0.5, 0.3, 0.1] }], yTitle: 'ratio' },
      column,
      t,
      options,
    ),
    heatmap(
      {
        rows: ['0', '1', '2'],
        columns: ['1000', '2000'],
        values: [
          [0.9, 0.8],
          [0.7, 0.5],
          [0.95, 0.2],
        ],
        xTitle: 'checkpoint',
        yTitle: 'layer',
        valueTitle: 'CKA',
      },
      column,
      t,
      options,
    ),
  ];
}

test('every chart stays inside its size with every legend position and theme, and makes a well-formed SVG', () => {
  for (const legend of LEGEND_POSITIONS) for (const name of ['light', 'dark'] as const) everyChart(name, legend).forEach(assertInside);
  assertWellFormedSvg(everyChart('light', 'top'));
  for (let i = 0; i < 5; i++) assertDeterministic(() => everyChart('light', 'inside')[i]);
});
