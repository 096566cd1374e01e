/**
 * PCA scatter plots: one cloud (scatterChart) or the paper's grid of layers × checkpoints
 * (pcaGrid). Points are one PointCloudMark per plot, coloured by modality (Okabe–Ito via
 * modalityColor) or by a continuous value (viridis / cividis with a colour bar). Explained
 * variance goes into the axis titles.
 */
import { MotlabError } from '../errors.ts';
import { modalityColor, type ChartTheme, type SequentialScaleName } from '../palette.ts';
import { numericAxis, numericDomain, type NumericAxis } from './axes.ts';
import { colourBarMarks, colourBarWidth, sequentialRamp, unitPosition } from './colour.ts';
import { inset, text, union, type Box } from './geometry.ts';
import { insideLegend, type LegendEntry } from './legend.ts';
import { pageLayout, panelFrames, shownTitle, spacing, type ChartOptions, chartGeometry, plotFrame } from './layout.ts';
import type { ChartGeometry, ChartSize, Mark, PlotFrame, PointCloudMark } from './marks.ts';
import { fitText, textWidth } from './text.ts';
import { xyChart } from './xy.ts';

export type PointColouring =
  | {
      kind: 'category';
      /** Per point, an index into labels (< 255). */
      index: ArrayLike<number>;
      labels: readonly string[];
      /** Colours per label; default modalityColor(i). */
      colours?: readonly string[];
    }
  | {
      kind: 'value';
      values: ArrayLike<number>;
      /** Colour-bar title (position, token id, step …). */
      label: string;
      scale?: SequentialScaleName;
      /** Default: the values' extent. */
      domain?: readonly [number, number];
    };

export interface ScatterData {
  x: ArrayLike<number>;
  y: ArrayLike<number>;
  colour: PointColouring;
  xTitle: string;
  yTitle: string;
  /** Explained-variance ratios of the x and y components, shown as percentages in the titles. */
  explained?: readonly [number, number];
}

export interface ScatterOptions extends ChartOptions {
  xDomain?: readonly [number, number] | null;
  yDomain?: readonly [number, number] | null;
  /** Dot radius in user units (default by count: 2.2 up to 1,000 points, 1.4 up to 10,000, else 0.9). */
  radius?: number;
  /** Dot opacity (default 0.8 up to 10,000 points, else 0.5). */
  opacity?: number;
  /** One data unit as long on x as on y (default true: PCA distances mean something). */
  equalAspect?: boolean;
}

const STEPS = 254; // ramp colours; index 254 is the colour of missing values

function pointCount(data: ScatterData): number {
  if (data.x.length !== data.y.length)
    throw new MotlabError('invalid_request', `scatter: ${data.x.length} x values and ${data.y.length} y values`);
  const n = data.x.length;
  const c = data.colour;
  const length = c.kind === 'category' ? c.index.length : c.values.length;
  if (length !== n) throw new MotlabError('invalid_request', `scatter: ${length} colour entries for ${n} points`);
  if (c.kind === 'category' && c.labels.length > 254)
    throw new MotlabError('invalid_request', `scatter: ${c.labels.length} categories (at most 254)`);
  return n;
}

function defaultRadius(n: number): number {
  return n <= 1000 ? 2.2 : n <= 10_000 ? 1.4 : 0.9;
}

function valueDomain(c: Extract<PointColouring, { kind: 'value' }>): [number, number] {
  return c.domain ? [c.domain[0], c.domain[1]] : numericDomain(Array.from(c.values), 'linear');
}

/** Palette and per-point colour index of a cloud. */
function colouring(c: PointColouring, theme: ChartTheme): { colours: string[]; indexOf: (i: number) => number } {
  if (c.kind === 'category') {
    const colours = c.labels.map((_, k) => c.colours?.[k] ?? modalityColor(k));
    return {
      colours,
      indexOf: (i) => {
        const k = c.index[i];
        if (!(Number.isInteger(k) && k >= 0 && k < colours.length))
          throw new MotlabError('invalid_request', `scatter: point ${i} has category ${k} (have ${colours.length})`);
        return k;
      },
    };
  }
  const domain = valueDomain(c);
  const colours = [...sequentialRamp(c.scale ?? 'viridis', STEPS), theme.muted];
  return {
    colours,
    indexOf: (i) => {
      const t = unitPosition(c.values[i], domain);
      return Number.isNaN(t) ? STEPS : Math.round(t * (STEPS - 1));
    },
  };
}

let lastOrder: Int32Array | null = null;

/** A fixed shuffle of 0..n-1 (kept for the last n: a pan redraws the same cloud many times). */
function drawingOrder(n: number): Int32Array {
  if (lastOrder?.length === n) return lastOrder;
  const keys = new Uint32Array(n);
  for (let i = 0; i < n; i++) keys[i] = Math.imul(i + 1, 0x9e3779b1) >>> 0;
  const order = Int32Array.from({ length: n }, (_, i) => i);
  order.sort((a, b) => keys[a] - keys[b]);
  return (lastOrder = order);
}

/**
 * The cloud inside a frame: points outside the axes' domains are left out; drawing order is a
 * fixed shuffle, so no category always lies on top of another. Returns the plotted indices too.
 */
function pointCloud(
  data: ScatterData,
  frame: Box,
  xAxis: NumericAxis,
  yAxis: NumericAxis,
  theme: ChartTheme,
  style: { radius: number; opacity: number },
  key: string,
): { mark: PointCloudMark; plotted: number[] } {
  const n = pointCount(data);
  const { colours, indexOf } = colouring(data.colour, theme);
  const [x0, x1] = [Math.min(...xAxis.domain), Math.max(...xAxis.domain)];
  const [y0, y1] = [Math.min(...yAxis.domain), Math.max(...yAxis.domain)];
  const plotted = drawingOrder(n).filter((i) => {
    const x = data.x[i];
    const y = data.y[i];
    return Number.isFinite(x) && Number.isFinite(y) && x >= x0 && x <= x1 && y >= y0 && y <= y1;
  });
  const mark: PointCloudMark = {
    kind: 'points',
    x: Float32Array.from(plotted, (i) => xAxis.map(data.x[i])),
    y: Float32Array.from(plotted, (i) => yAxis.map(data.y[i])),
    colourIndex: Uint8Array.from(plotted, indexOf),
    colours,
    radius: style.radius,
    opacity: style.opacity,
    clip: { ...frame },
    key,
  };
  return { mark, plotted: Array.from(plotted).sort((a, b) => a - b) };
}

function categoryLegend(c: PointColouring): LegendEntry[] {
  if (c.kind !== 'category') return [];
  return c.labels.map((label, k) => ({ label, swatch: { kind: 'symbol', shape: 'circle', fill: c.colours?.[k] ?? modalityColor(k) } }));
}

const percent = (r: number): string => `${(r * 100).toFixed(1)}%`;

/** A grid cell's caption: "PC1 (41.2%) · PC2 (17.9%)", or just the two percentages when that does not fit. */
function captionOf(cell: ScatterData, xTitle: string, yTitle: string, fontSize: number, width: number): string {
  const full = `${xTitle} · ${yTitle}`;
  if (textWidth(full, fontSize) <= width || !cell.explained) return fitText(full, fontSize, width);
  return fitText(`${percent(cell.explained[0])} · ${percent(cell.explained[1])}`, fontSize, width);
}

function axisTitles(data: ScatterData): [string, string] {
  if (!data.explained) return [data.xTitle, data.yTitle];
  return [`${data.xTitle} (${percent(data.explained[0])})`, `${data.yTitle} (${percent(data.explained[1])})`];
}

function styleFor(n: number, options: { radius?: number; opacity?: number }): { radius: number; opacity: number } {
  return { radius: options.radius ?? defaultRadius(n), opacity: options.opacity ?? (n <= 10_000 ? 0.8 : 0.5) };
}

/** Table of a cloud: x, y and the colour (label or value) of every plotted point. */
function cloudRows(data: ScatterData, plotted: readonly number[], prefix: (string | number)[] = []): (string | number | null)[][] {
  const c = data.colour;
  return plotted.map((i) => [
    ...prefix,
    data.x[i],
    data.y[i],
    c.kind === 'category' ? c.labels[c.index[i]] : Number.isFinite(c.values[i]) ? c.values[i] : null,
  ]);
}

/**
 * One PCA cloud. Legend: one entry per category; a value colouring gets a colour bar instead
 * (hidden with legend 'none').
 */
export function scatterChart(data: ScatterData, size: ChartSize, theme: ChartTheme, options: ScatterOptions = {}): ChartGeometry {
  const n = pointCount(data);
  const [xTitle, yTitle] = axisTitles(data);
  const style = styleFor(n, options);
  const c = data.colour;
  let plotted: number[] = [];
  const aside =
    c.kind === 'value' && options.legend !== 'none'
      ? {
          width: colourBarWidth(valueDomain(c), size.height / 2, theme),
          marks: (box: Box) => colourBarMarks(box, valueDomain(c), c.scale ?? 'viridis', theme, c.label),
        }
      : undefined;
  const geometry = xyChart(
    size,
    theme,
    options,
    [
      {
        id: 'plot',
        title: null,
        lines: [],
        yValues: Array.from(data.y),
        draw: (frame, xAxis, yAxis) => {
          const cloud = pointCloud(data, frame, xAxis, yAxis, theme, style, 'points');
          plotted = cloud.plotted;
          return [cloud.mark];
        },
      },
    ],
    {
      xTitle,
      yTitle,
      xScale: 'linear',
      yScale: 'linear',
      xValues: Array.from(data.x),
      xDomain: options.xDomain,
      yDomain: options.yDomain,
      niceX: true,
      padX: 0.03,
      padY: 0.03,
      equalAspect: options.equalAspect !== false && !options.xDomain && !options.yDomain,
      columns: 1,
      aside,
    },
    categoryLegend(c),
    { columns: [], rows: [] },
  );
  geometry.table = { columns: [xTitle, yTitle, c.kind === 'category' ? 'category' : c.label], rows: cloudRows(data, plotted) };
  return geometry;
}

export interface PcaGridData {
  /** Row labels (layers), top to bottom. */
  rows: readonly string[];
  /** Column labels (checkpoints), left to right. */
  columns: readonly string[];
  /** cells[row][column]; null leaves the cell empty. All clouds share one colouring scheme. */
  cells: readonly (readonly (ScatterData | null)[])[];
  rowTitle?: string;
  columnTitle?: string;
}

export type PcaGridOptions = Omit<ScatterOptions, 'xDomain' | 'yDomain'>;

/**
 * Small multiples of PCA clouds, rows = layers, columns = checkpoints, like the paper's figure.
 * Each cell has its own domain (coordinates of different fits are not comparable) and shows
 * its explained variance below; no tick labels. One legend (or colour bar) for the grid.
 */
export function pcaGrid(data: PcaGridData, size: ChartSize, theme: ChartTheme, options: PcaGridOptions = {}): ChartGeometry {
  if (data.cells.length !== data.rows.length || data.cells.some((row) => row.length !== data.columns.length)) {
    throw new MotlabError('invalid_request', `PCA grid: cells must be ${data.rows.length} rows × ${data.columns.length} columns`);
  }
  const present = data.cells.flat().filter((cell): cell is ScatterData => cell !== null);
  const first = present[0]?.colour;
  // A value colouring spans every cell's values, so one colour bar explains the whole grid.
  const c: PointColouring | undefined =
    first?.kind === 'value' && !first.domain
      ? {
          ...first,
          domain: numericDomain(
            present.flatMap((cell) => (cell.colour.kind === 'value' ? Array.from(cell.colour.values) : [])),
            'linear',
          ),
        }
      : first;
  const withColouring = (cell: ScatterData): ScatterData =>
    c?.kind === 'value' && cell.colour.kind === 'value' ? { ...cell, colour: { ...cell.colour, domain: c.domain } } : cell;
  const legendEntries = c ? categoryLegend(c) : [];
  const position = options.legend ?? 'top';
  const page = pageLayout(size, theme, shownTitle(options), legendEntries, position);
  const fs = theme.fontSize;
  const ts = theme.tickFontSize;
  const valueDomainOfAll = c?.kind === 'value' ? valueDomain(c) : null;
  const barWidth = valueDomainOfAll && position !== 'none' ? colourBarWidth(valueDomainOfAll, page.region.height / 2, theme) + fs * 0.8 : 0;
  // A title's line sits a clear gap (0.6 em) outside the labels, so the two never touch.
  const titleBand = fs * 1.8;
  const rowLabelWidth = fs * 1.4 + (data.rowTitle ? titleBand : 0);
  const columnLabelHeight = fs * 1.4 + (data.columnTitle ? titleBand : 0);
  const region = inset(page.region, { top: columnLabelHeight, right: barWidth, bottom: 0, left: rowLabelWidth });
  const caption = ts * 1.3;
  const frames = panelFrames(region, theme, data.rows.length * data.columns.length, {
    columns: data.columns.length,
    titled: false,
    left: () => 0,
    right: 0,
    bottom: caption,
  });
  const marks: Mark[] = [...page.marks];
  const plotFrames: PlotFrame[] = [];
  const rows: (string | number | null)[][] = [];
  data.cells.forEach((row, r) =>
    row.forEach((cell, k) => {
      const frame = frames[r * data.columns.length + k];
      marks.push({ kind: 'rect', ...frame, stroke: theme.grid, strokeWidth: theme.lineWidth * 0.5, key: 'cell-frame' });
      if (!cell) return;
      const xDomain = numericDomain(Array.from(cell.x), 'linear', { pad: 0.04 });
      const yDomain = numericDomain(Array.from(cell.y), 'linear', { pad: 0.04 });
      const xAxis = numericAxis('linear', xDomain, [frame.x, frame.x + frame.width], theme, 'x');
      const yAxis = numericAxis('linear', yDomain, [frame.y + frame.height, frame.y], theme, 'y');
      const cloud = pointCloud(
        withColouring(cell),
        frame,
        xAxis,
        yAxis,
        theme,
        styleFor(cell.x.length, { ...options, radius: options.radius ?? Math.min(defaultRadius(cell.x.length), frame.width / 80) }),
        `points:${r}:${k}`,
      );
      marks.push({ kind: 'group', clip: { ...frame }, marks: [cloud.mark], key: `data:${r}:${k}` });
      const [xt, yt] = axisTitles(cell);
      marks.push(
        text(
          frame.x + frame.width / 2,
          frame.y + frame.height + ts * 0.25,
          captionOf(cell, xt, yt, ts, frame.width),
          ts,
          theme.muted,
          'middle',
          'top',
          { key: 'caption' },
        ),
      );
      plotFrames.push(plotFrame(`cell:${r}:${k}`, frame, xDomain, yDomain));
      rows.push(...cloudRows(cell, cloud.plotted, [data.rows[r], data.columns[k]]));
    }),
  );
  const all = union(frames);
  const columnLabelY = all.y - fs * 0.3;
  data.columns.forEach((label, k) => {
    const f = frames[k];
    marks.push(
      text(f.x + f.width / 2, columnLabelY, fitText(label, fs, f.width), fs, theme.foreground, 'middle', 'bottom', {
        key: `column:${label}`,
      }),
    );
  });
  data.rows.forEach((label, r) => {
    const f = frames[r * data.columns.length];
    marks.push(
      text(all.x - fs * 0.7, f.y + f.height / 2, fitText(label, fs, f.height), fs, theme.foreground, 'middle', 'middle', {
        rotate: -90,
        key: `row:${label}`,
      }),
    );
  });
  if (data.columnTitle)
    marks.push(
      text(all.x + all.width / 2, page.region.y, data.columnTitle, fs, theme.foreground, 'middle', 'top', {
        weight: 'bold',
        key: 'column-title',
      }),
    );
  if (data.rowTitle)
    marks.push(
      text(page.region.x + fs * 0.6, all.y + all.height / 2, data.rowTitle, fs, theme.foreground, 'middle', 'middle', {
        weight: 'bold',
        rotate: -90,
        key: 'row-title',
      }),
    );
  if (position === 'inside' && legendEntries.length > 0) {
    const group = insideLegend(legendEntries, theme, frames[0], []);
    if (group) marks.push(group);
  }
  if (valueDomainOfAll && c?.kind === 'value' && position !== 'none') {
    marks.push(
      ...colourBarMarks(
        { x: all.x + all.width + spacing(theme), y: all.y, width: barWidth - spacing(theme), height: all.height },
        valueDomainOfAll,
        c.scale ?? 'viridis',
        theme,
        c.label,
      ),
    );
  }
  const colourColumn = c?.kind === 'value' ? c.label : 'category';
  return chartGeometry(size, theme, options, marks, plotFrames, {
    columns: [data.rowTitle ?? 'row', data.columnTitle ?? 'column', 'x', 'y', colourColumn],
    rows,
  });
}
