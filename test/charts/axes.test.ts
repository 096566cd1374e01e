import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chartTheme } from '../../src-main/common/palette.ts';
import { categoryAxis, numericAxis, numericDomain } from '../../src-main/common/charts/axes.ts';
import { clipPolyline } from '../../src-main/common/charts/geometry.ts';
import { sequentialColour } from '../../src-main/common/charts/colour.ts';
import { textWidth, fitText } from '../../src-main/common/charts/text.ts';

const theme = chartTheme('light');

test('linear axis: values map by the hand formula; ticks are round numbers inside the domain', () => {
  const axis = numericAxis('linear', [0, 4000], [50, 250], theme, 'x');
  assert.equal(axis.map(0), 50);
  assert.equal(axis.map(4000), 250);
  assert.equal(axis.map(1000), 100); // 50 + 1000/4000 · 200
  for (const t of axis.ticks) {
    assert.ok(t.value >= 0 && t.value <= 4000);
    assert.equal(t.value % 500, 0);
    assert.equal(t.position, 50 + (t.value / 4000) * 200);
  }
  const y = numericAxis('linear', [0, 2], [300, 100], theme, 'y'); // y runs upwards
  assert.equal(y.map(0.5), 250);
});

test('log axis: labelled ticks at the powers of ten, minor ticks at 2…9 ×, positions in log space', () => {
  const axis = numericAxis('log', [0.5, 2000], [0, 400], theme, 'x');
  assert.deepEqual(
    axis.ticks.map((t) => t.value),
    [1, 10, 100, 1000],
  );
  assert.deepEqual(
    axis.ticks.map((t) => t.label),
    ['1', '10', '100', '1000'],
  );
  const span = Math.log10(2000 / 0.5);
  for (const t of axis.ticks) assert.ok(Math.abs(t.position - (Math.log10(t.value / 0.5) / span) * 400) < 1e-9);
  // 0.5 … 0.9, 2 … 9, 20 … 90, 200 … 900, 2000 are the minor ticks.
  assert.equal(axis.minor.length, 5 + 8 + 8 + 8 + 1);
  const wide = numericAxis('log', [1e-6, 1e6], [0, 400], theme, 'x');
  assert.ok(wide.ticks.every((t) => Number.isInteger(Math.log10(t.value))));
  assert.ok(
    wide.ticks.some((t) => t.label === '10⁻⁶' || t.label === '10⁶'),
    wide.ticks.map((t) => t.label).join(' '),
  );
});

test('tick labels never overlap, whatever the axis length', () => {
  for (const length of [40, 90, 200, 600]) {
    const axis = numericAxis('linear', [0, 123456], [0, length], theme, 'x');
    const boxes = axis.ticks.map((t) => [
      t.position - textWidth(t.label, theme.tickFontSize) / 2,
      t.position + textWidth(t.label, theme.tickFontSize) / 2,
    ]);
    for (let i = 1; i < boxes.length; i++) assert.ok(boxes[i][0] > boxes[i - 1][1], `length ${length}: ${axis.ticks.map((t) => t.label)}`);
    assert.ok(axis.ticks.length >= 1);
  }
});

test('domains: nice rounding, zero on request, log skips non-positive values, empty data has a unit domain', () => {
  assert.deepEqual(numericDomain([0.13, 0.87], 'linear', { nice: true }), [0.1, 0.9]);
  assert.deepEqual(numericDomain([3, 5], 'linear', { includeZero: true }), [0, 5]);
  assert.deepEqual(numericDomain([0, -1, 10, 100, null, NaN], 'log'), [10, 100]);
  assert.deepEqual(numericDomain([], 'linear'), [0, 1]);
  assert.deepEqual(numericDomain([null], 'log'), [1, 10]);
  assert.deepEqual(numericDomain([2, 2], 'linear'), [1.8, 2.2]);
  assert.deepEqual(numericDomain([1, 2], 'linear', { override: [5, 6] }), [5, 6]);
});

test('category axis: ticks at band centres; crowded labels are thinned', () => {
  const axis = categoryAxis(['a', 'b', 'c', 'd'], [0, 100], theme, 'x');
  assert.deepEqual(
    axis.ticks.map((t) => t.position),
    [12.5, 37.5, 62.5, 87.5],
  );
  const crowded = categoryAxis(
    Array.from({ length: 500 }, (_, i) => `${i * 10}`),
    [0, 300],
    theme,
    'x',
  );
  assert.ok(crowded.ticks.length < 50 && crowded.ticks.length > 5);
});

test('clipping: segments crossing the frame end on its edge; outside parts become gaps', () => {
  const box = { x: 0, y: 0, width: 10, height: 10 };
  assert.deepEqual(
    clipPolyline(
      [
        [5, 5],
        [15, 5],
      ],
      box,
    ),
    [
      [5, 5],
      [10, 5],
    ],
  );
  // In, out, back in: two runs separated by one gap.
  assert.deepEqual(
    clipPolyline(
      [
        [2, 2],
        [2, 20],
        [4, 20],
        [4, 2],
      ],
      box,
    ),
    [[2, 2], [2, 10], null, [4, 10], [4, 2]],
  );
  // Gaps in the data stay gaps; a fully outside line vanishes.
  assert.deepEqual(clipPolyline([[1, 1], [2, 2], null, [3, 3]], box), [[1, 1], [2, 2], null, [3, 3]]);
  assert.deepEqual(
    clipPolyline(
      [
        [20, 20],
        [30, 30],
      ],
      box,
    ),
    [],
  );
});

test('sequential colours: viridis as published, cividis brightening steadily; text fits with an ellipsis', () => {
  // Published colours of matplotlib's viridis at 0, 0.5 and 1.
  assert.equal(sequentialColour('viridis', 0), '#440154');
  assert.equal(sequentialColour('viridis', 0.5), '#21918c');
  assert.equal(sequentialColour('viridis', 1), '#fde725');
  assert.equal(sequentialColour('viridis', 2), '#fde725'); // clamped
  const luminance = (hex: string): number => {
    const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255);
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const cividis = Array.from({ length: 11 }, (_, i) => luminance(sequentialColour('cividis', i / 10)));
  for (let i = 1; i < cividis.length; i++) assert.ok(cividis[i] > cividis[i - 1], `cividis luminance ${cividis.map((v) => v.toFixed(2))}`);
  // DejaVu Sans: "0" is 1303/2048 em wide.
  assert.ok(Math.abs(textWidth('00', 10) - (2 * 1303 * 10) / 2048) < 0.01);
  const long = fitText('a-very-long-run-name-indeed', 7, 40);
  assert.ok(long.endsWith('…') && textWidth(long, 7) <= 40);
  assert.equal(fitText('short', 7, 40), 'short');
});
