/**
 * Axes: domains from data, d3 scales and ticks (log axes label the powers of ten), category
 * axes for bars and heatmap cells, and the marks of an axis: gridlines, axis lines, ticks,
 * tick labels (thinned so they never overlap) and axis titles.
 */
import { scaleLinear, scaleLog, tickFormat } from 'd3-scale';
import { format } from 'd3-format';
import type { ChartTheme } from '../palette.ts';
import { text, type Box } from './geometry.ts';
import type { LineMark, Mark, Point } from './marks.ts';
import { fitText, textWidth } from './text.ts';

export type ScaleKind = 'linear' | 'log';

export interface Tick {
  value: number;
  /** Position along the axis in user units. */
  position: number;
  label: string;
}

export interface NumericAxis {
  kind: ScaleKind;
  domain: [number, number];
  /** User units the domain maps to: [left, right] for x, [bottom, top] for y. */
  range: [number, number];
  map: (value: number) => number;
  /** Labelled ticks. */
  ticks: Tick[];
  /** Positions of unlabelled minor ticks (log axes). */
  minor: number[];
}

/** Whether a value can be drawn on a scale of this kind (finite; positive on log scales). */
export function drawable(value: number | null | undefined, kind: ScaleKind): value is number {
  return typeof value === 'number' && Number.isFinite(value) && (kind === 'linear' || value > 0);
}

export interface DomainOptions {
  /** Use exactly this domain (zoom). */
  override?: readonly [number, number] | null;
  /** Round outwards to tick values (linear only). */
  nice?: boolean;
  includeZero?: boolean;
  /** Extra room on both sides, as a fraction of the span (linear) or of the decades (log). */
  pad?: number;
}

/** The domain of the drawable values; a sensible unit domain when there are none. */
export function numericDomain(values: Iterable<number | null | undefined>, kind: ScaleKind, options: DomainOptions = {}): [number, number] {
  if (options.override) return [options.override[0], options.override[1]];
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (!drawable(v, kind)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (options.includeZero && kind === 'linear') {
    lo = Math.min(lo, 0);
    hi = Math.max(hi, 0);
  }
  if (lo > hi) return kind === 'log' ? [1, 10] : [0, 1];
  if (kind === 'log') {
    if (lo === hi) return [lo / 2, hi * 2];
    const f = Math.pow(hi / lo, options.pad ?? 0);
    return [lo / f, hi * f];
  }
  if (lo === hi) {
    const d = Math.abs(lo) * 0.1 || 1;
    lo -= d;
    hi += d;
  }
  const p = (hi - lo) * (options.pad ?? 0);
  const domain: [number, number] = [options.includeZero && lo === 0 ? 0 : lo - p, options.includeZero && hi === 0 ? 0 : hi + p];
  if (!options.nice) return domain;
  const niced = scaleLinear().domain(domain).nice(6).domain();
  return [niced[0], niced[1]];
}

/** About how many ticks an axis of this length should carry. */
export function tickCount(length: number, theme: ChartTheme, orientation: 'x' | 'y'): number {
  return Math.max(2, Math.floor(length / (theme.tickFontSize * (orientation === 'x' ? 5 : 3.2))));
}

const SUPERSCRIPT: Record<string, string> = {
  '-': '⁻',
  '0': '⁰',
  '1': '¹',
  '2': '²',
  '3': '³',
  '4': '⁴',
  '5': '⁵',
  '6': '⁶',
  '7': '⁷',
  '8': '⁸',
  '9': '⁹',
};

function powerLabel(exponent: number, plain: boolean): string {
  if (plain) return format('~f')(Math.pow(10, exponent));
  return '10' + Array.from(String(exponent), (c) => SUPERSCRIPT[c]).join('');
}

/** Label every tick; large linear values in SI form (10k, 2M, 1G), small with just enough digits. */
function linearTicks(domain: [number, number], count: number): { values: number[]; labels: string[] } {
  const values = scaleLinear().domain(domain).ticks(count);
  const big = Math.max(Math.abs(domain[0]), Math.abs(domain[1])) >= 1e4;
  const f = big ? format('~s') : tickFormat(domain[0], domain[1], count, '~f');
  return { values, labels: values.map((v) => f(v)) };
}

/** Powers of ten when the domain holds two or more of them (minor ticks at 2…9 ×), else d3's log ticks. */
function logTicks(domain: [number, number], count: number): { values: number[]; labels: string[]; minor: number[] } {
  const lo = Math.log10(Math.min(domain[0], domain[1]));
  const hi = Math.log10(Math.max(domain[0], domain[1]));
  const e0 = Math.ceil(lo - 1e-9);
  const e1 = Math.floor(hi + 1e-9);
  if (e1 > e0) {
    const step = Math.ceil((e1 - e0 + 1) / Math.max(2, count));
    const exponents: number[] = [];
    for (let e = e0; e <= e1; e += step) exponents.push(e);
    const plain = exponents.every((e) => e >= -3 && e <= 4);
    const minor: number[] = [];
    if (step === 1 && e1 - e0 <= 8) {
      for (let e = e0 - 1; e <= e1; e++) {
        for (let k = 2; k <= 9; k++) {
          const v = k * Math.pow(10, e);
          if (v >= Math.pow(10, lo) && v <= Math.pow(10, hi)) minor.push(v);
        }
      }
    }
    return { values: exponents.map((e) => Math.pow(10, e)), labels: exponents.map((e) => powerLabel(e, plain)), minor };
  }
  const values = scaleLog().domain(domain).ticks(count);
  const every = Math.ceil(values.length / Math.max(2, count));
  const kept = values.filter((_, i) => i % every === 0);
  return { values: kept, labels: kept.map((v) => format('.3~g')(v)), minor: [] };
}

/** Keeps labels in order while each clears the previous kept one by `gap` and stays within `bounds`. */
function thin(ticks: Tick[], extent: (t: Tick) => number, gap: number, bounds: readonly [number, number] = [-Infinity, Infinity]): Tick[] {
  const kept: Tick[] = [];
  let end = -Infinity;
  const ordered = [...ticks].sort((a, b) => a.position - b.position);
  for (const t of ordered) {
    const half = extent(t) / 2;
    if (t.position - half < bounds[0] || t.position + half > bounds[1]) continue;
    if (t.position - half >= end + gap) {
      kept.push(t);
      end = t.position + half;
    }
  }
  return kept;
}

/**
 * A numeric axis over `range` (x: [left, right]; y: [bottom, top]), with labelled ticks that do
 * not overlap at the theme's tick font size.
 */
export function numericAxis(
  kind: ScaleKind,
  domain: [number, number],
  range: [number, number],
  theme: ChartTheme,
  orientation: 'x' | 'y',
): NumericAxis {
  // The mapping is written out rather than d3's scale function: loss charts map ~10⁶ points per draw.
  const transform = kind === 'log' ? Math.log : (v: number) => v;
  const t0 = transform(domain[0]);
  const perUnit = (range[1] - range[0]) / (transform(domain[1]) - t0);
  const scale = (v: number): number => range[0] + (transform(v) - t0) * perUnit;
  const count = tickCount(Math.abs(range[1] - range[0]), theme, orientation);
  const t = kind === 'log' ? logTicks(domain, count) : { ...linearTicks(domain, count), minor: [] as number[] };
  const ticks = t.values.map((value, i) => ({ value, position: scale(value), label: t.labels[i] }));
  const fs = theme.tickFontSize;
  const kept = orientation === 'x' ? thin(ticks, (tick) => textWidth(tick.label, fs), fs * 0.4) : thin(ticks, () => fs, fs * 0.3);
  return { kind, domain, range, map: scale, ticks: kept, minor: t.minor.map(scale) };
}

export interface CategoryAxis {
  labels: readonly string[];
  range: [number, number];
  band: number;
  /** Centre of category i. */
  centre: (i: number) => number;
  ticks: Tick[];
}

/**
 * Equal bands, one per category, ticks at band centres. x labels are shortened to their band
 * when bands are wide enough for a few characters (otherwise thinned), and reach at most
 * `overhang` beyond the range; y labels are shortened to maxLabelWidth.
 */
export function categoryAxis(
  labels: readonly string[],
  range: [number, number],
  theme: ChartTheme,
  orientation: 'x' | 'y',
  maxLabelWidth = Infinity,
  overhang = 0,
): CategoryAxis {
  const band = (range[1] - range[0]) / Math.max(1, labels.length);
  const centre = (i: number): number => range[0] + (i + 0.5) * band;
  const fs = theme.tickFontSize;
  const width = orientation === 'x' && band >= fs * 2.5 ? Math.min(maxLabelWidth, band * 0.95) : maxLabelWidth;
  const ticks = labels.map((label, i) => ({ value: i, position: centre(i), label: fitText(label, fs, width) }));
  const kept =
    orientation === 'x'
      ? thin(ticks, (tick) => textWidth(tick.label, fs), fs * 0.4, [range[0] - overhang, range[1] + overhang])
      : thin(ticks, () => fs, fs * 0.2);
  return { labels, range, band, centre, ticks: kept };
}

function tickLength(theme: ChartTheme): number {
  return theme.tickFontSize * 0.45;
}

function labelGap(theme: ChartTheme): number {
  return theme.tickFontSize * 0.3;
}

/** Height below a frame taken by x ticks and their labels. */
export function xAxisHeight(theme: ChartTheme, labelled = true): number {
  return tickLength(theme) + (labelled ? labelGap(theme) + theme.tickFontSize : 0);
}

/** Width left of a frame taken by y ticks and the widest of their labels. */
export function yAxisWidth(ticks: readonly Tick[], theme: ChartTheme, labelled = true): number {
  const widest = labelled ? Math.max(0, ...ticks.map((t) => textWidth(t.label, theme.tickFontSize))) : 0;
  return tickLength(theme) + (labelled ? labelGap(theme) + widest : 0);
}

/** Room for a shared axis title beside or below the plots. */
export function axisTitleSpace(theme: ChartTheme): number {
  return theme.fontSize * 1.5;
}

export interface AxisSpec {
  ticks: readonly Tick[];
  /** Minor tick positions (short, unlabelled, no gridline). */
  minor?: readonly number[];
  /** Draw tick labels (default true). */
  labels?: boolean;
  /** Draw gridlines across the frame at labelled ticks (default true). */
  grid?: boolean;
}

function segments(pairs: readonly [Point, Point][], stroke: string, strokeWidth: number, key: string): LineMark {
  const points: (Point | null)[] = [];
  pairs.forEach(([a, b], i) => {
    if (i > 0) points.push(null);
    points.push(a, b);
  });
  return { kind: 'line', points, stroke, strokeWidth, key };
}

/** Gridlines, the left and bottom axis lines, ticks and tick labels of one frame. */
export function axisMarks(frame: Box, x: AxisSpec | null, y: AxisSpec | null, theme: ChartTheme): Mark[] {
  const marks: Mark[] = [];
  const left = frame.x;
  const right = frame.x + frame.width;
  const top = frame.y;
  const bottom = frame.y + frame.height;
  const len = tickLength(theme);
  const thinLine = theme.lineWidth * 0.5;
  const grid: [Point, Point][] = [];
  if (x && x.grid !== false)
    for (const t of x.ticks)
      grid.push([
        [t.position, top],
        [t.position, bottom],
      ]);
  if (y && y.grid !== false)
    for (const t of y.ticks)
      grid.push([
        [left, t.position],
        [right, t.position],
      ]);
  if (grid.length > 0) marks.push(segments(grid, theme.grid, thinLine, 'grid'));
  const ticks: [Point, Point][] = [];
  if (x) {
    for (const t of x.ticks)
      ticks.push([
        [t.position, bottom],
        [t.position, bottom + len],
      ]);
    for (const p of x.minor ?? [])
      ticks.push([
        [p, bottom],
        [p, bottom + len * 0.6],
      ]);
  }
  if (y) {
    for (const t of y.ticks)
      ticks.push([
        [left, t.position],
        [left - len, t.position],
      ]);
    for (const p of y.minor ?? [])
      ticks.push([
        [left, p],
        [left - len * 0.6, p],
      ]);
  }
  const lines: [Point, Point][] = [];
  if (x)
    lines.push([
      [left, bottom],
      [right, bottom],
    ]);
  if (y)
    lines.push([
      [left, top],
      [left, bottom],
    ]);
  if (ticks.length > 0) marks.push(segments(ticks, theme.axis, thinLine, 'ticks'));
  if (lines.length > 0) marks.push(segments(lines, theme.axis, theme.lineWidth * 0.75, 'axis'));
  const fs = theme.tickFontSize;
  if (x && x.labels !== false) {
    for (const t of x.ticks)
      marks.push(text(t.position, bottom + len + labelGap(theme), t.label, fs, theme.muted, 'middle', 'top', { key: 'tick-x' }));
  }
  if (y && y.labels !== false) {
    for (const t of y.ticks)
      marks.push(text(left - len - labelGap(theme), t.position, t.label, fs, theme.muted, 'end', 'middle', { key: 'tick-y' }));
  }
  return marks;
}

/**
 * Shared axis titles: the x title centred under the frames (below their tick labels), the y
 * title rotated, centred beside them at the left edge of `region`.
 */
export function axisTitleMarks(region: Box, frames: Box, theme: ChartTheme, xTitle: string | null, yTitle: string | null): Mark[] {
  const marks: Mark[] = [];
  const fs = theme.fontSize;
  if (xTitle) {
    const label = fitText(xTitle, fs, region.width);
    marks.push(
      text(
        frames.x + frames.width / 2,
        frames.y + frames.height + xAxisHeight(theme) + fs * 0.3,
        label,
        fs,
        theme.foreground,
        'middle',
        'top',
        { key: 'x-title' },
      ),
    );
  }
  if (yTitle) {
    const label = fitText(yTitle, fs, frames.height);
    marks.push(
      text(region.x + fs * 0.6, frames.y + frames.height / 2, label, fs, theme.foreground, 'middle', 'middle', {
        rotate: -90,
        key: 'y-title',
      }),
    );
  }
  return marks;
}
