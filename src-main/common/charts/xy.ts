/**
 * Panels of lines and points on numeric x and y axes: the common body of lineChart, multiLine
 * and stepMatchChart. Panels share the x domain (and optionally y); each has its own axes,
 * gridlines and an optional legend inside it; the axis titles are shared.
 */
import type { ChartTheme } from '../palette.ts';
import {
  axisMarks,
  axisTitleMarks,
  axisTitleSpace,
  numericAxis,
  numericDomain,
  xAxisHeight,
  yAxisWidth,
  type NumericAxis,
  type ScaleKind,
} from './axes.ts';
import { inset, union, type Box } from './geometry.ts';
import { insideLegend, type LegendEntry } from './legend.ts';
import { pageLayout, panelFrames, panelTitle, shownTitle, type ChartOptions, chartGeometry, plotFrame } from './layout.ts';
import { drawnPoints, lineMarks, type PlotLine } from './lines.ts';
import type { ChartGeometry, ChartSize, Mark, PlotFrame, PlottedTable } from './marks.ts';
import { textWidth } from './text.ts';

export interface XyPanel {
  id: string;
  /** Drawn above the panel; null for none. */
  title: string | null;
  /** Drawn in order (first underneath). */
  lines: readonly PlotLine[];
  /** The y values the panel's y domain must hold (those visible in the x domain). */
  yValues: Iterable<number | null>;
  /** A legend inside this panel (e.g. fitted slopes), placed where the data are not. */
  legend?: readonly LegendEntry[];
  /** More data marks (point clouds), drawn over the lines inside the frame's clip. */
  draw?: (frame: Box, x: NumericAxis, y: NumericAxis) => Mark[];
}

/** A strip right of the plots (a colour bar). */
export interface XyAside {
  width: number;
  marks: (box: Box) => Mark[];
}

export interface XyAxes {
  xTitle: string;
  yTitle: string;
  xScale: ScaleKind;
  yScale: ScaleKind;
  /** The x values the shared x domain must hold. */
  xValues: Iterable<number | null>;
  xDomain?: readonly [number, number] | null;
  yDomain?: readonly [number, number] | null;
  niceX?: boolean;
  /** Room beyond the data on each side, as a fraction of the span (so edge markers are not cut). */
  padX?: number;
  padY?: number;
  includeZeroX?: boolean;
  includeZeroY?: boolean;
  /** One y domain for every panel. */
  shareY?: boolean;
  /** Keep only whole-number x ticks (layers, steps of a short run). */
  integerX?: boolean;
  /** Widen the x or y domain so one unit is as long on both axes (PCA). */
  equalAspect?: boolean;
  columns: number;
  aside?: XyAside;
}

export function xyChart(
  size: ChartSize,
  theme: ChartTheme,
  options: ChartOptions,
  panels: readonly XyPanel[],
  axes: XyAxes,
  legend: readonly LegendEntry[],
  table: PlottedTable | (() => PlottedTable),
): ChartGeometry {
  const position = options.legend ?? 'top';
  const page = pageLayout(size, theme, shownTitle(options), legend, position);
  const titleSpace = axisTitleSpace(theme);
  const asideGap = axes.aside ? theme.fontSize * 0.8 : 0;
  const region = inset(page.region, { top: 0, right: (axes.aside?.width ?? 0) + asideGap, bottom: titleSpace, left: titleSpace });

  let xDomain = numericDomain(axes.xValues, axes.xScale, {
    override: axes.xDomain,
    nice: axes.niceX,
    includeZero: axes.includeZeroX,
    pad: axes.padX,
  });
  const yOptions = {
    override: axes.yDomain,
    nice: true,
    includeZero: axes.includeZeroY,
    pad: axes.padY ?? (axes.yScale === 'log' ? 0.03 : 0),
  };
  const yValues = panels.map((p) => [...p.yValues]);
  const shared = axes.shareY ? numericDomain(yValues.flat(), axes.yScale, yOptions) : null;
  let yDomains = yValues.map((values) => shared ?? numericDomain(values, axes.yScale, yOptions));

  const yAxisFor = (i: number, bottom: number, top: number): NumericAxis =>
    numericAxis(axes.yScale, yDomains[i], [bottom, top], theme, 'y');
  const xAxisFor = (frame: Box): NumericAxis => {
    const axis = numericAxis(axes.xScale, xDomain, [frame.x, frame.x + frame.width], theme, 'x');
    return axes.integerX ? { ...axis, ticks: axis.ticks.filter((t) => Number.isInteger(t.value)) } : axis;
  };
  // Half of the widest x label may overhang the frame's right edge.
  const probe = xAxisFor({ x: 0, y: 0, width: region.width / Math.max(1, Math.min(axes.columns, panels.length)), height: 1 });
  const right = Math.max(0, ...probe.ticks.map((t) => textWidth(t.label, theme.tickFontSize) / 2)) + theme.tickFontSize * 0.2;
  const frames = panelFrames(region, theme, panels.length, {
    columns: axes.columns,
    titled: panels.some((p) => p.title !== null),
    left: (height) => Math.max(...panels.map((_, i) => yAxisWidth(yAxisFor(i, height, 0).ticks, theme))),
    right,
    bottom: xAxisHeight(theme),
  });

  if (axes.equalAspect && frames.length === 1 && axes.xScale === 'linear' && axes.yScale === 'linear') {
    [xDomain, yDomains[0]] = equalUnits(xDomain, yDomains[0], frames[0]);
    yDomains = [yDomains[0]];
  }

  const marks: Mark[] = [...page.marks];
  const plotFrames: PlotFrame[] = [];
  panels.forEach((panel, i) => {
    const frame = frames[i];
    const xAxis = xAxisFor(frame);
    const yAxis = yAxisFor(i, frame.y + frame.height, frame.y);
    marks.push(...axisMarks(frame, { ticks: xAxis.ticks, minor: xAxis.minor }, { ticks: yAxis.ticks, minor: yAxis.minor }, theme));
    if (panel.title !== null) marks.push(panelTitle(frame, panel.title, theme));
    const data = [...panel.lines.flatMap((line) => lineMarks(line, frame, xAxis, yAxis)), ...(panel.draw?.(frame, xAxis, yAxis) ?? [])];
    marks.push({ kind: 'group', clip: { ...frame }, marks: data, key: `data:${panel.id}` });
    const inside = [...(panel.legend ?? []), ...(position === 'inside' && i === 0 ? legend : [])];
    const group = inside.length > 0 ? insideLegend(inside, theme, frame, drawnPoints(data)) : null;
    if (group) marks.push(group);
    plotFrames.push(plotFrame(panel.id, frame, xDomain, yDomains[i], { xScale: axes.xScale, yScale: axes.yScale }));
  });
  if (frames.length > 0) {
    const all = union(frames);
    marks.push(...axisTitleMarks(page.region, all, theme, axes.xTitle, axes.yTitle));
    if (axes.aside)
      marks.push(...axes.aside.marks({ x: all.x + all.width + right + asideGap, y: all.y, width: axes.aside.width, height: all.height }));
  }
  return chartGeometry(size, theme, options, marks, plotFrames, table);
}

/** Domains widened about their centres so a data unit is as long in x as in y within `frame`. */
function equalUnits(x: [number, number], y: [number, number], frame: Box): [[number, number], [number, number]] {
  const perX = frame.width / (x[1] - x[0]);
  const perY = frame.height / (y[1] - y[0]);
  const widen = (d: [number, number], span: number): [number, number] => {
    const mid = (d[0] + d[1]) / 2;
    return [mid - span / 2, mid + span / 2];
  };
  return perX > perY ? [widen(x, frame.width / perY), y] : [x, widen(y, frame.height / perX)];
}
