import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chartTheme, GREYSCALE, LINE_DASHES, OKABE_ITO } from '../../src-main/common/palette.ts';
import { lineChart, multiLine, type LineSeries } from '../../src-main/common/charts/line-chart.ts';
import { stepMatchChart } from '../../src-main/common/charts/step-match-chart.ts';
import { LEGEND_POSITIONS } from '../../src-main/common/charts/legend.ts';
import type { LineMark } from '../../src-main/common/charts/marks.ts';
import { assertDeterministic, assertInside, assertWellFormedSvg, byKind, texts } from './chart-checks.ts';

const theme = chartTheme('light');
const size = { width: 486, height: 200 }; // 6.75 in × 2.8 in in points

function series(run: string, modality: string, offset: number, n = 50): LineSeries {
  const x = Array.from({ length: n }, (_, i) => (i + 1) * 10);
  const raw = x.map((v, i) => (i === 20 ? null : 3 + offset - Math.log10(v)));
  return { run, modality, x, raw, smoothed: raw.map((v) => (v === null ? null : v - 0.05)) };
}

const data = {
  series: [series('dense', 'text', 0), series('dense', 'image', 0.5), series('mot', 'text', -0.2), series('mot', 'image', 0.1)],
  xTitle: 'step',
  yTitle: 'training loss',
  smoothing: 0.6,
};

function line(g: ReturnType<typeof lineChart>, key: string): LineMark {
  const found = byKind(g, 'line').find((l) => l.key === key);
  assert.ok(found, `no line ${key}`);
  return found;
}

test('points at the ends of the x domain land on the frame edges; y follows the hand formula', () => {
  const g = lineChart(data, size, theme);
  const frame = g.frames.find((f) => f.id === 'panel:text')!;
  assert.deepEqual(frame.xDomain, [10, 500]);
  const smoothed = line(g, 'dense · text:smoothed').points;
  const first = smoothed[0]!;
  const last = smoothed.at(-1)!;
  assert.ok(Math.abs(first[0] - frame.x) < 1e-9);
  assert.ok(Math.abs(last[0] - (frame.x + frame.width)) < 1e-9);
  // y = bottom − (v − y0)/(y1 − y0) · height for the value at x = 500.
  const v = 3 - Math.log10(500) - 0.05;
  const [y0, y1] = frame.yDomain;
  assert.ok(Math.abs(last[1] - (frame.y + frame.height - ((v - y0) / (y1 - y0)) * frame.height)) < 1e-9);
});

test('one panel per modality; the overlay layout puts every series in one frame', () => {
  const g = lineChart(data, size, theme);
  assert.deepEqual(
    g.frames.map((f) => f.id),
    ['panel:text', 'panel:image'],
  );
  assert.deepEqual(
    texts(g, 'panel-title:').map((t) => t.text),
    ['text', 'image'],
  );
  const overlay = lineChart(data, size, theme, { layout: 'overlay' });
  assert.deepEqual(
    overlay.frames.map((f) => f.id),
    ['plot'],
  );
  assert.equal(byKind(overlay, 'line').filter((l) => l.key?.endsWith(':smoothed')).length, 4);
});

test('a null breaks the line: the polyline has a gap where the value is missing', () => {
  const g = lineChart(data, size, theme);
  const points = line(g, 'dense · text:raw').points;
  assert.equal(points.length, 50); // 49 values and one gap
  assert.equal(points[20], null);
  assert.ok(points[19] && points[21]);
});

test('colour by run, dash by modality, raw faint under smoothed; greyscale keeps modalities apart by dash', () => {
  const g = lineChart(data, size, theme);
  const denseText = line(g, 'dense · text:smoothed');
  const motImage = line(g, 'mot · image:smoothed');
  assert.notEqual(denseText.stroke, motImage.stroke);
  assert.equal(line(g, 'dense · image:smoothed').stroke, denseText.stroke);
  assert.equal(denseText.dash, undefined); // modality 0: solid
  assert.deepEqual(
    motImage.dash,
    LINE_DASHES[1].map((d) => d * theme.lineWidth),
  );
  assert.equal(line(g, 'dense · text:raw').opacity, 0.25);
  const grey = lineChart(data, size, chartTheme('light', { palette: 'greyscale' }));
  const greyLines = byKind(grey, 'line').filter((l) => l.key?.endsWith(':smoothed'));
  assert.ok(greyLines.every((l) => (GREYSCALE as readonly string[]).includes(l.stroke!)));
  assert.equal(new Set(greyLines.map((l) => JSON.stringify(l.dash ?? []))).size, 2);
});

test('legend entries are the runs, the modalities, and raw / EMA with its weight', () => {
  const g = lineChart(data, size, theme);
  assert.deepEqual(
    texts(g, 'legend:').map((t) => t.text),
    ['dense', 'mot', 'text', 'image', 'raw', 'EMA 0.6'],
  );
  const noRaw = lineChart(data, size, theme, { showRaw: false });
  assert.deepEqual(
    texts(noRaw, 'legend:').map((t) => t.text),
    ['dense', 'mot', 'text', 'image'],
  );
  assert.equal(texts(lineChart(data, size, theme, { legend: 'none' }), 'legend:').length, 0);
});

test('the table is what was plotted: x and a raw and smoothed column per series', () => {
  const g = lineChart(data, size, theme);
  assert.deepEqual(g.table.columns, [
    'step',
    'dense · text raw',
    'dense · text smoothed (EMA 0.6)',
    'dense · image raw',
    'dense · image smoothed (EMA 0.6)',
    'mot · text raw',
    'mot · text smoothed (EMA 0.6)',
    'mot · image raw',
    'mot · image smoothed (EMA 0.6)',
  ]);
  assert.equal(g.table.rows.length, 50);
  assert.deepEqual(g.table.rows[0].slice(0, 3), [10, 3 - 1, 3 - 1 - 0.05]);
  assert.equal(g.table.rows[20][1], null);
  // Zoomed to 100–200: the points inside and one beyond each edge.
  const zoomed = lineChart(data, size, theme, { xDomain: [100, 200] });
  assert.deepEqual(
    zoomed.table.rows.map((r) => r[0]),
    [90, 100, 110, 120, 130, 140, 150, 160, 170, 180, 190, 200, 210],
  );
  assert.deepEqual(zoomed.frames[0].xDomain, [100, 200]);
  assertInside(zoomed); // lines crossing the zoomed frame are cut at its edge
});

test('log axes: step 0 is left out, ticks at powers of ten, points at their log positions', () => {
  const s: LineSeries = { run: 'r', modality: 'text', x: [0, 1, 10, 100, 1000], raw: [5, 4, 3, 2, 1] };
  const g = lineChart({ series: [s], xTitle: 'step', yTitle: 'loss' }, size, theme, { xScale: 'log' });
  const frame = g.frames[0];
  assert.deepEqual(frame.xDomain, [1, 1000]);
  const points = line(g, 'r · text:raw').points;
  assert.equal(points.length, 4);
  assert.ok(Math.abs(points[1]![0] - (frame.x + frame.width / 3)) < 1e-9); // x = 10 is one decade of three
  const labels = texts(g, 'tick-x').map((t) => t.text);
  assert.deepEqual(labels, ['1', '10', '100', '1000']);
});

test('every legend position keeps marks inside the chart, at column and full width, in both themes', () => {
  const charts = [];
  for (const legend of LEGEND_POSITIONS) {
    for (const chartSize of [size, { width: 234, height: 145 }]) {
      for (const name of ['light', 'dark'] as const) {
        const g = lineChart(data, chartSize, chartTheme(name), { legend, title: 'Training loss', yScale: 'log' });
        assertInside(g);
        charts.push(g);
      }
    }
  }
  assertWellFormedSvg(charts.slice(0, 4));
  assertDeterministic(() => lineChart(data, size, theme, { legend: 'inside' }));
});

test('multiLine: one legend entry per series, markers at points, whole-number layer ticks', () => {
  const g = multiLine(
    {
      series: ['dense', 'mot', 'moe'].map((label, k) => ({
        label,
        x: [0, 1, 2, 3, 4, 5],
        y: [0.3, 0.4, k === 2 ? null : 0.5, 0.6, 0.7, 0.8 - 0.1 * k],
      })),
      xTitle: 'layer',
      yTitle: 'probe accuracy',
    },
    { width: 234, height: 145 },
    theme,
    { integerX: true, yDomain: [0, 1], legend: 'inside' },
  );
  assert.deepEqual(
    texts(g, 'legend:').map((t) => t.text),
    ['dense', 'mot', 'moe'],
  );
  assert.equal(byKind(g, 'symbol').filter((s) => s.key === 'moe').length, 5);
  assert.ok(texts(g, 'tick-x').every((t) => Number.isInteger(Number(t.text))));
  assert.deepEqual(g.table.columns, ['layer', 'dense', 'mot', 'moe']);
  assert.deepEqual(g.frames[0].yDomain, [0, 1]);
  assertInside(g);
  assertWellFormedSvg([g]);
});

test('a run keeps its colour (its place in `runs`) in a chart that draws only some runs; the legend names those drawn', () => {
  const only = { ...data, series: data.series.filter((s) => s.run === 'mot'), runs: ['dense', 'mot'] };
  const g = lineChart(only, size, theme);
  assert.equal(line(g, 'mot · text:smoothed').stroke, OKABE_ITO[1]);
  assert.deepEqual(
    texts(g, 'legend:').map((t) => t.text),
    ['mot', 'text', 'image', 'raw', 'EMA 0.6'],
  );
  // Without `runs`, the first run drawn takes the first colour.
  assert.equal(line(lineChart({ ...only, runs: undefined }, size, theme), 'mot · text:smoothed').stroke, OKABE_ITO[0]);
});

test('a run has the same colour in the Losses chart of [reference, ...runs] and in the step-matching chart against that reference', () => {
  const losses = lineChart({ ...data, series: [...data.series, series('moe', 'text', 0.3)], runs: ['dense', 'mot', 'moe'] }, size, theme);
  const fit = (slope: number) => ({ slope, matches: [10, 20, 30].map((s) => ({ referenceStep: s, matchedStep: s * slope })) });
  const stepMatch = stepMatchChart(
    {
      reference: 'dense',
      panels: [
        {
          modality: 'text',
          runs: [
            { run: 'mot', fit: fit(0.6) },
            { run: 'moe', fit: fit(0.8) },
          ],
        },
      ],
    },
    size,
    theme,
  );
  for (const run of ['mot', 'moe'])
    assert.equal(
      line(stepMatch as ReturnType<typeof lineChart>, `${run}:text:fit`).stroke,
      line(losses, `${run} · text:smoothed`).stroke,
      run,
    );
});
