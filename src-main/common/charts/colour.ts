/**
 * Continuous colour: viridis / cividis ramps (d3-scale-chromatic), quantised ramps for point
 * clouds, and the colour bar that explains a heatmap or a value-coloured scatter.
 */
import { interpolateCividis, interpolateViridis } from 'd3-scale-chromatic';
import { color } from 'd3-color';
import type { ChartTheme, SequentialScaleName } from '../palette.ts';
import { numericAxis, yAxisWidth } from './axes.ts';
import { text, type Box } from './geometry.ts';
import type { Mark } from './marks.ts';
import { fitText } from './text.ts';

const INTERPOLATORS: Record<SequentialScaleName, (t: number) => string> = { viridis: interpolateViridis, cividis: interpolateCividis };

/** Colour at t ∈ [0, 1] (clamped) of a sequential scale, as #rrggbb. */
export function sequentialColour(name: SequentialScaleName, t: number): string {
  const c = color(INTERPOLATORS[name](Math.min(1, Math.max(0, t))));
  return c ? c.formatHex() : '#000000';
}

/** `steps` evenly spaced colours of the scale, low to high. */
export function sequentialRamp(name: SequentialScaleName, steps: number): string[] {
  return Array.from({ length: steps }, (_, i) => sequentialColour(name, steps === 1 ? 0.5 : i / (steps - 1)));
}

/** Where a value falls in [0, 1] of the domain (NaN for missing values). */
export function unitPosition(value: number | null | undefined, domain: readonly [number, number]): number {
  if (value === null || value === undefined || !Number.isFinite(value)) return NaN;
  const span = domain[1] - domain[0];
  return span === 0 ? 0.5 : Math.min(1, Math.max(0, (value - domain[0]) / span));
}

/** Readable text colour on a background: black on light cells, white on dark ones. */
export function contrastText(background: string): string {
  const c = color(background)?.rgb();
  if (!c) return '#000000';
  const lin = (v: number): number => {
    const s = v / 255;
    return s <= 0.03928 ? s / 12.92 : Math.pow((s + 0.055) / 1.055, 2.4);
  };
  const luminance = 0.2126 * lin(c.r) + 0.7152 * lin(c.g) + 0.0722 * lin(c.b);
  return luminance > 0.35 ? '#000000' : '#ffffff';
}

const BAR_STEPS = 64;

/** Width a vertical colour bar with its ticks and title needs beside a plot. */
export function colourBarWidth(domain: [number, number], height: number, theme: ChartTheme): number {
  const axis = numericAxis('linear', domain, [height, 0], theme, 'y');
  return theme.fontSize * 0.8 + theme.tickFontSize + yAxisWidth(axis.ticks, theme) + theme.fontSize * 1.5;
}

/**
 * A vertical colour bar filling `box` (bar on the left, ticks and labels to its right, title
 * rotated at the right edge), keyed "colour-bar".
 */
export function colourBarMarks(box: Box, domain: [number, number], scale: SequentialScaleName, theme: ChartTheme, title: string): Mark[] {
  const barWidth = theme.tickFontSize;
  const bar: Box = { x: box.x + theme.fontSize * 0.8, y: box.y, width: barWidth, height: box.height };
  const axis = numericAxis('linear', domain, [bar.y + bar.height, bar.y], theme, 'y');
  const len = theme.tickFontSize * 0.45;
  const right = bar.x + bar.width;
  const ticks: Mark = {
    kind: 'line',
    points: axis.ticks.flatMap((t, i) => [...(i > 0 ? [null] : []), [right, t.position] as const, [right + len, t.position] as const]),
    stroke: theme.axis,
    strokeWidth: theme.lineWidth * 0.5,
    key: 'colour-bar-ticks',
  };
  const labels = axis.ticks.map((t) =>
    text(right + len + theme.tickFontSize * 0.3, t.position, t.label, theme.tickFontSize, theme.muted, 'start', 'middle', {
      key: 'colour-bar-tick',
    }),
  );
  const colours = sequentialRamp(scale, BAR_STEPS).reverse(); // row 0 at the top holds the high end
  const marks: Mark[] = [
    { kind: 'cells', x: bar.x, y: bar.y, width: bar.width, height: bar.height, columns: 1, rows: BAR_STEPS, colours },
    ticks,
    ...labels,
  ];
  if (title) {
    const label = fitText(title, theme.fontSize, box.height);
    marks.push(
      text(box.x + box.width - theme.fontSize * 0.6, box.y + box.height / 2, label, theme.fontSize, theme.foreground, 'middle', 'middle', {
        rotate: -90,
        key: 'colour-bar-title',
      }),
    );
  }
  return [{ kind: 'group', key: 'colour-bar', marks }];
}
