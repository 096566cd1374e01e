/**
 * Loss curves (lineChart): any number of runs, colour by run, line style by modality (so a
 * greyscale print still tells modalities apart), one panel per modality or all in one, raw
 * (faint) and EMA-smoothed values, gaps where a value is missing, log axes, an x-domain
 * override for zoom. And multiLine: a few labelled curves (separability or drift over layers or
 * training) with markers.
 */
import { MotlabError } from '../errors.ts';
import { CATEGORICAL_PALETTES, categoricalColor, LINE_DASHES, MARKER_SHAPES, type ChartTheme } from '../palette.ts';
import { drawable, type ScaleKind } from './axes.ts';
import { sequentialColour } from './colour.ts';
import type { LegendEntry } from './legend.ts';
import type { ChartOptions } from './layout.ts';
import { scaledDash, visibleIndices, type PlotLine } from './lines.ts';
import type { ChartGeometry, ChartSize } from './marks.ts';
import { uniqueNames, wideTable, type TableSeries } from './table.ts';
import { xyChart, type XyPanel } from './xy.ts';

export interface LineSeries {
  run: string;
  modality: string;
  /** 'train' (default) draws a line; 'eval' a line with a marker at every evaluation. */
  variant?: 'train' | 'eval';
  x: ArrayLike<number>;
  raw: ArrayLike<number | null>;
  /** Smoothed values at the same x (drawn solid; raw then drawn faint). */
  smoothed?: ArrayLike<number | null>;
}

export interface LineChartData {
  series: readonly LineSeries[];
  /** Modality order (panels, dashes); default: order of first appearance. */
  modalities?: readonly string[];
  /**
   * Run order (colour i of the palette for run i), so a run keeps its colour in a chart that
   * shows only some of the runs; default: order of first appearance. The legend lists the runs drawn.
   */
  runs?: readonly string[];
  xTitle: string;
  yTitle: string;
  /** EMA weight of the smoothed values, named in the legend. */
  smoothing?: number;
}

export interface LineChartOptions extends ChartOptions {
  /** One panel per modality (default) or every modality in one panel. */
  layout?: 'panels' | 'overlay';
  /** Panels per row (default: up to 3). */
  columns?: number;
  xScale?: ScaleKind;
  yScale?: ScaleKind;
  /** Visible x range (zoom); default: all the data. */
  xDomain?: readonly [number, number] | null;
  yDomain?: readonly [number, number] | null;
  /** One y domain for every panel (default false: modalities' losses differ in scale). */
  shareY?: boolean;
  /** Draw raw values beneath smoothed ones (default true). */
  showRaw?: boolean;
  /** Opacity of raw values under smoothed ones (default 0.25). */
  rawOpacity?: number;
}

function unique<T>(values: Iterable<T>): T[] {
  return [...new Set(values)];
}

/**
 * The smallest and largest drawable value seen: all a domain is computed from (a loss chart
 * redrawn while panning sees ~10⁵ values; collecting them into arrays was most of its time).
 */
class Extremes {
  private lo = Infinity;
  private hi = -Infinity;
  constructor(private readonly scale: ScaleKind) {}
  add(v: number | null | undefined): void {
    if (!drawable(v, this.scale)) return;
    if (v < this.lo) this.lo = v;
    if (v > this.hi) this.hi = v;
  }
  values(): number[] {
    return this.lo <= this.hi ? [this.lo, this.hi] : [];
  }
}

function xExtremes(xs: readonly ArrayLike<number>[], visible: readonly number[][], scale: ScaleKind): number[] {
  const range = new Extremes(scale);
  xs.forEach((x, k) => {
    for (const i of visible[k]) range.add(x[i]);
  });
  return range.values();
}

/** Name of a series in the legend-free places (table columns, mark keys). */
function seriesName(s: LineSeries): string {
  return [s.run, s.modality, s.variant === 'eval' ? 'validation' : null].filter(Boolean).join(' · ');
}

/**
 * Legend: one entry per run (its colour), one per modality when there are several (its dash),
 * "raw" and "EMA w" when raw values are drawn under smoothed ones, and "training" /
 * "validation" when both kinds are drawn.
 */
export function lineChart(data: LineChartData, size: ChartSize, theme: ChartTheme, options: LineChartOptions = {}): ChartGeometry {
  const modalities = data.modalities ? [...data.modalities] : unique(data.series.map((s) => s.modality));
  const series = data.series.filter((s) => modalities.includes(s.modality));
  for (const s of series) {
    if (s.x.length !== s.raw.length || (s.smoothed && s.smoothed.length !== s.x.length)) {
      throw new MotlabError(
        'invalid_request',
        `series ${seriesName(s)}: ${s.x.length} x values, ${s.raw.length} raw, ${s.smoothed?.length ?? 0} smoothed`,
      );
    }
  }
  const drawnRuns = unique(series.map((s) => s.run));
  const runs = data.runs ? [...data.runs, ...drawnRuns.filter((r) => !data.runs!.includes(r))] : drawnRuns;
  const xScale = options.xScale ?? 'linear';
  const yScale = options.yScale ?? 'linear';
  const showRaw = options.showRaw !== false;
  const rawOpacity = options.rawOpacity ?? 0.25;
  const anySmoothed = series.some((s) => s.smoothed);
  const variants = unique(series.map((s) => s.variant ?? 'train'));
  const width = theme.lineWidth;
  const colourOf = (s: LineSeries): string => categoricalColor(runs.indexOf(s.run), theme.palette);
  const dashOf = (s: LineSeries): readonly number[] => LINE_DASHES[modalities.indexOf(s.modality) % LINE_DASHES.length];
  const names = uniqueNames(series.map(seriesName));

  /** A series' faint raw line (drawn under every run's main line) and its main line. */
  const linesOf = (s: LineSeries, k: number): { under: PlotLine[]; over: PlotLine } => {
    const marker = s.variant === 'eval' ? { shape: 'circle' as const, size: width * 1.6 } : undefined;
    const base = { x: s.x, stroke: colourOf(s), dash: scaledDash(dashOf(s), width) };
    if (!s.smoothed) return { under: [], over: { ...base, key: `${names[k]}:raw`, y: s.raw, strokeWidth: width, marker } };
    // Faint raw values stay solid: the dash of a jagged curve is noise, and its smoothed line carries the modality's dash.
    const under = showRaw
      ? [{ ...base, dash: undefined, key: `${names[k]}:raw`, y: s.raw, strokeWidth: width * 0.75, opacity: rawOpacity }]
      : [];
    return { under, over: { ...base, key: `${names[k]}:smoothed`, y: s.smoothed, strokeWidth: width, marker } };
  };

  const xDomain = options.xDomain ?? null;
  const visible = series.map((s) => visibleIndices(s.x, xDomain));
  const groups = options.layout === 'overlay' ? [null] : modalities;
  const panels: XyPanel[] = groups.map((modality) => {
    const members = series.map((s, k) => ({ s, k })).filter(({ s }) => modality === null || s.modality === modality);
    const yRange = new Extremes(yScale);
    for (const { s, k } of members) {
      for (const i of visible[k]) {
        if (showRaw || !s.smoothed) yRange.add(s.raw[i]);
        if (s.smoothed) yRange.add(s.smoothed[i]);
      }
    }
    const drawn = members.map(({ s, k }) => linesOf(s, k));
    return {
      id: modality === null ? 'plot' : `panel:${modality}`,
      title: modality,
      lines: [...drawn.flatMap((d) => d.under), ...drawn.map((d) => d.over)],
      yValues: yRange.values(),
    };
  });

  const legend: LegendEntry[] = drawnRuns.map((run) => ({
    label: run,
    swatch: { kind: 'line', stroke: categoricalColor(runs.indexOf(run), theme.palette) },
  }));
  if (modalities.length > 1) {
    modalities.forEach((m, i) =>
      legend.push({
        label: m,
        swatch: { kind: 'line', stroke: theme.foreground, dash: scaledDash(LINE_DASHES[i % LINE_DASHES.length], width * 1.5) },
      }),
    );
  }
  if (anySmoothed && showRaw) {
    legend.push({ label: 'raw', swatch: { kind: 'line', stroke: theme.muted, opacity: rawOpacity * 2, strokeWidth: width * 0.75 } });
    legend.push({
      label: data.smoothing !== undefined ? `EMA ${data.smoothing}` : 'smoothed',
      swatch: { kind: 'line', stroke: theme.muted },
    });
  }
  if (variants.length > 1) {
    legend.push({ label: 'training', swatch: { kind: 'line', stroke: theme.muted } });
    legend.push({ label: 'validation', swatch: { kind: 'line', stroke: theme.muted, marker: 'circle' } });
  }

  // The weight goes into the column name: a CSV read on its own still says how it was smoothed.
  const smoothedName = data.smoothing !== undefined ? `smoothed (EMA ${data.smoothing})` : 'smoothed';
  const table = () => {
    const columns: TableSeries[] = [];
    series.forEach((s, k) => {
      if (showRaw || !s.smoothed) columns.push({ name: `${names[k]} raw`, x: s.x, values: s.raw, indices: visible[k] });
      if (s.smoothed) columns.push({ name: `${names[k]} ${smoothedName}`, x: s.x, values: s.smoothed, indices: visible[k] });
    });
    return wideTable(data.xTitle, columns);
  };

  return xyChart(
    size,
    theme,
    options,
    panels,
    {
      xTitle: data.xTitle,
      yTitle: data.yTitle,
      xScale,
      yScale,
      xValues: xExtremes(
        series.map((s) => s.x),
        visible,
        xScale,
      ),
      xDomain,
      yDomain: options.yDomain,
      shareY: options.shareY,
      columns: options.columns ?? Math.min(3, panels.length),
    },
    legend,
    table,
  );
}

export interface MultiLineSeries {
  label: string;
  x: ArrayLike<number>;
  y: ArrayLike<number | null>;
}

export interface MultiLineData {
  series: readonly MultiLineSeries[];
  xTitle: string;
  yTitle: string;
}

export interface MultiLineOptions extends ChartOptions {
  xScale?: ScaleKind;
  yScale?: ScaleKind;
  xDomain?: readonly [number, number] | null;
  yDomain?: readonly [number, number] | null;
  /** Markers at data points (default: when no series has more than 50 points). */
  markers?: boolean;
  /** Categorical colours (default), or a viridis ramp for ordered series (checkpoints, layers). */
  colour?: 'categorical' | 'sequential';
  /** Whole-number x ticks only (x = layer index, or steps of a short run). */
  integerX?: boolean;
}

/**
 * A few curves in one panel: colour, marker shape and (in greyscale) dash differ by series, so
 * each stays identifiable in print. Legend: one entry per series.
 */
export function multiLine(data: MultiLineData, size: ChartSize, theme: ChartTheme, options: MultiLineOptions = {}): ChartGeometry {
  const xScale = options.xScale ?? 'linear';
  const yScale = options.yScale ?? 'linear';
  const n = data.series.length;
  const markers = options.markers ?? data.series.every((s) => s.x.length <= 50);
  const width = theme.lineWidth;
  // Sequential series run over viridis up to its yellow; on a dark background from its teal
  // (its dark purple start would vanish there).
  const [low, high] = theme.name === 'dark' ? [0.3, 0.95] : [0, 0.9];
  const colourOf = (i: number): string =>
    options.colour === 'sequential'
      ? sequentialColour('viridis', n === 1 ? 0.5 : low + (i / (n - 1)) * (high - low))
      : categoricalColor(i, theme.palette);
  // Greyscale: every series its own dash. In colour, series beyond the palette's length repeat its
  // colours, so each round of colours gets the next dash pattern.
  const paletteSize = CATEGORICAL_PALETTES[theme.palette].length;
  const dashOf = (i: number): readonly number[] | undefined =>
    theme.palette === 'greyscale'
      ? scaledDash(LINE_DASHES[i % LINE_DASHES.length], width)
      : options.colour !== 'sequential' && i >= paletteSize
        ? scaledDash(LINE_DASHES[Math.floor(i / paletteSize) % LINE_DASHES.length], width)
        : undefined;
  const shapeOf = (i: number) => MARKER_SHAPES[i % MARKER_SHAPES.length];
  const names = uniqueNames(data.series.map((s) => s.label));
  const xDomain = options.xDomain ?? null;
  const visible = data.series.map((s) => visibleIndices(s.x, xDomain));
  const lines: PlotLine[] = data.series.map((s, i) => ({
    key: names[i],
    x: s.x,
    y: s.y,
    stroke: colourOf(i),
    strokeWidth: width,
    dash: dashOf(i),
    marker: markers ? { shape: shapeOf(i), size: width * 1.8 } : undefined,
  }));
  const legend: LegendEntry[] = data.series.map((s, i) => ({
    label: s.label,
    swatch: { kind: 'line', stroke: colourOf(i), dash: dashOf(i), marker: markers ? shapeOf(i) : undefined },
  }));
  const table = wideTable(
    data.xTitle,
    data.series.map((s, i) => ({ name: names[i], x: s.x, values: s.y, indices: visible[i] })),
  );
  return xyChart(
    size,
    theme,
    options,
    [{ id: 'plot', title: null, lines, yValues: data.series.flatMap((s, i) => visible[i].map((k) => s.y[k])) }],
    {
      xTitle: data.xTitle,
      yTitle: data.yTitle,
      xScale,
      yScale,
      xValues: data.series.flatMap((s, i) => visible[i].map((k) => s.x[k]).filter((v) => drawable(v, xScale))),
      xDomain,
      yDomain: options.yDomain,
      integerX: options.integerX,
      padX: markers ? 0.03 : 0,
      padY: markers ? 0.03 : 0,
      columns: 1,
    },
    legend,
    table,
  );
}
