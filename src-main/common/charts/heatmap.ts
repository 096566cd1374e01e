/**
 * Heatmaps (expert load experts × step, tower drift layers × checkpoints, expert × modality
 * affinity): a grid of cells coloured on viridis or cividis with a colour bar. Small grids are
 * rectangles (crisp in vector output, annotated with their values when they fit); large ones
 * one CellGridMark.
 */
import { MotlabError } from '../errors.ts';
import { format } from 'd3-format';
import type { ChartTheme, SequentialScaleName } from '../palette.ts';
import { axisMarks, axisTitleMarks, axisTitleSpace, categoryAxis, numericAxis, numericDomain, xAxisHeight, yAxisWidth } from './axes.ts';
import { colourBarMarks, colourBarWidth, contrastText, sequentialColour, unitPosition } from './colour.ts';
import { inset, text } from './geometry.ts';
import { pageLayout, panelFrames, shownTitle, spacing, type ChartOptions, chartGeometry, plotFrame } from './layout.ts';
import type { ChartGeometry, ChartSize, Mark } from './marks.ts';
import { finiteOrNull } from './table.ts';
import { textWidth } from './text.ts';

export interface HeatmapData {
  /** Row labels, top to bottom. */
  rows: readonly string[];
  /** Column labels, left to right. */
  columns: readonly string[];
  /**
   * Numbers the columns stand for (steps), evenly spaced and ascending: when the columns are too
   * many to label each, the x axis gets round-number ticks instead of a thinned selection of labels.
   */
  columnValues?: readonly number[];
  /** values[row][column]; null (or NaN) is a missing cell. */
  values: readonly (readonly (number | null)[])[];
  xTitle: string;
  yTitle: string;
  /** Colour-bar title. */
  valueTitle: string;
}

export interface HeatmapOptions extends ChartOptions {
  scale?: SequentialScaleName;
  /** Colour domain (default: the values' extent). */
  domain?: readonly [number, number];
  /** Print values in cells: 'auto' (default) when every label fits. */
  annotate?: boolean | 'auto';
  /** d3-format specifier of annotations (default '.2~f'). */
  valueFormat?: string;
}

/** Up to this many cells a heatmap draws rectangles; beyond, one CellGridMark. */
export const RECT_CELL_LIMIT = 2500;

/** No categorical legend: the colour bar (right of the plot) explains the colours; legend 'none' hides it. */
export function heatmap(data: HeatmapData, size: ChartSize, theme: ChartTheme, options: HeatmapOptions = {}): ChartGeometry {
  const nRows = data.rows.length;
  const nColumns = data.columns.length;
  if (data.values.length !== nRows || data.values.some((row) => row.length !== nColumns)) {
    throw new MotlabError('invalid_request', `heatmap: values must be ${nRows} rows × ${nColumns} columns`);
  }
  const scale = options.scale ?? 'viridis';
  const domain = options.domain
    ? ([options.domain[0], options.domain[1]] as [number, number])
    : numericDomain(data.values.flat(), 'linear');
  const page = pageLayout(size, theme, shownTitle(options), [], 'none');
  const titleSpace = axisTitleSpace(theme);
  const withBar = options.legend !== 'none';
  const barWidth = withBar ? colourBarWidth(domain, page.region.height, theme) : 0;
  const region = inset(page.region, { top: 0, right: barWidth + (withBar ? spacing(theme) : 0), bottom: titleSpace, left: titleSpace });
  const maxRowLabel = region.width / 3;
  // Measured on the real height: on a tiny range the axis thins its labels and the widest may be dropped.
  const probe = categoryAxis(data.rows, [region.y, region.y + region.height], theme, 'y', maxRowLabel);
  // Room for half a column label beyond the frame's right edge.
  const overhang = Math.min(textWidth(data.columns.at(-1) ?? '', theme.tickFontSize), region.width / 4) / 2;
  const [frame] = panelFrames(region, theme, 1, {
    columns: 1,
    titled: false,
    left: () => yAxisWidth(probe.ticks, theme),
    right: overhang,
    bottom: xAxisHeight(theme),
  });
  const xAxis = categoryAxis(data.columns, [frame.x, frame.x + frame.width], theme, 'x', Infinity, overhang);
  const values = data.columnValues;
  const everyColumnLabelled = xAxis.ticks.length === nColumns;
  if (!everyColumnLabelled && values && values.length === nColumns && nColumns >= 2 && values[nColumns - 1] > values[0]) {
    const numeric = numericAxis('linear', [values[0], values[nColumns - 1]], [xAxis.centre(0), xAxis.centre(nColumns - 1)], theme, 'x');
    xAxis.ticks = numeric.ticks;
  }
  const yAxis = categoryAxis(data.rows, [frame.y, frame.y + frame.height], theme, 'y', maxRowLabel);
  const missing = theme.grid;
  const colourOf = (v: number | null): string => {
    const t = unitPosition(v, domain);
    return Number.isNaN(t) ? missing : sequentialColour(scale, t);
  };

  const cellWidth = frame.width / Math.max(1, nColumns);
  const cellHeight = frame.height / Math.max(1, nRows);
  const fmt = format(options.valueFormat ?? '.2~f');
  const labelsFit = data.values.every((row) =>
    row.every((v) => v === null || !Number.isFinite(v) || textWidth(fmt(v), theme.tickFontSize) + theme.tickFontSize * 0.4 <= cellWidth),
  );
  const annotate =
    options.annotate === 'auto' || options.annotate === undefined
      ? labelsFit && cellHeight >= theme.tickFontSize * 1.2 && nRows * nColumns <= RECT_CELL_LIMIT
      : options.annotate;

  const seamOverlap = Math.min(0.5, cellWidth / 4, cellHeight / 4);
  const cells: Mark[] = [];
  if (nRows * nColumns <= RECT_CELL_LIMIT) {
    data.values.forEach((row, r) =>
      row.forEach((v, c) => {
        const fill = colourOf(v);
        const x = frame.x + c * cellWidth;
        const y = frame.y + r * cellHeight;
        // Each cell reaches a little under its right and lower neighbours (drawn after it): abutting
        // edges at fractional positions otherwise show hairline seams once anti-aliased (PDF, PNG).
        const width = cellWidth + (c < nColumns - 1 ? seamOverlap : 0);
        const height = cellHeight + (r < nRows - 1 ? seamOverlap : 0);
        cells.push({ kind: 'rect', x, y, width, height, fill, key: `cell:${r}:${c}` });
        if (annotate && v !== null && Number.isFinite(v)) {
          cells.push(
            text(x + cellWidth / 2, y + cellHeight / 2, fmt(v), theme.tickFontSize, contrastText(fill), 'middle', 'middle', {
              key: 'cell-value',
            }),
          );
        }
      }),
    );
  } else {
    cells.push({
      kind: 'cells',
      ...frame,
      columns: nColumns,
      rows: nRows,
      colours: data.values.flatMap((row) => row.map(colourOf)),
      key: 'cells',
    });
  }
  const marks: Mark[] = [
    ...page.marks,
    { kind: 'group', clip: { ...frame }, marks: cells, key: 'data:plot' },
    ...axisMarks(frame, { ticks: xAxis.ticks, grid: false }, { ticks: yAxis.ticks, grid: false }, theme),
    ...axisTitleMarks(page.region, frame, theme, data.xTitle, data.yTitle),
  ];
  if (withBar)
    marks.push(
      ...colourBarMarks(
        {
          x: frame.x + frame.width + spacing(theme) + overhang,
          y: frame.y,
          width: barWidth,
          height: frame.height,
        },
        domain,
        scale,
        theme,
        data.valueTitle,
      ),
    );
  return chartGeometry(
    size,
    theme,
    options,
    marks,
    [plotFrame('plot', frame, [0, nColumns], [nRows, 0], { xCategories: [...data.columns], yCategories: [...data.rows] })],
    { columns: [data.yTitle, ...data.columns], rows: data.rows.map((label, r) => [label, ...data.values[r].map(finiteOrNull)]) },
  );
}
