/**
 * Page layout shared by every chart: the title, the legend outside the plots, shared axis
 * titles, a grid of panels and each panel's frame inside its margins. Sizes derive from the
 * theme's font sizes, so the same chart lays out in points (figures) and pixels (screen).
 */
import type { ChartTheme } from '../palette.ts';
import { legendGroup, measureLegend, type LegendEntry, type LegendPosition } from './legend.ts';
import { inset, text, type Box } from './geometry.ts';
import type { ChartGeometry, ChartSize, Mark, PlotFrame, PlottedTable } from './marks.ts';
import { fitText } from './text.ts';

/** Space between blocks (title, legend, plots) and around the chart's edge. */
export function spacing(theme: ChartTheme): number {
  return theme.fontSize * 0.5;
}

export interface PageLayout {
  /** What is left for the plots, their axes and shared axis titles. */
  region: Box;
  /** Title and outside-legend marks. */
  marks: Mark[];
}

/**
 * Places the title (if shown) at the top and the legend outside the plots (top, right, bottom;
 * 'inside' and 'none' leave the legend to the chart), and returns the region that is left.
 */
export function pageLayout(
  size: ChartSize,
  theme: ChartTheme,
  title: string | null,
  legend: readonly LegendEntry[],
  position: LegendPosition,
): PageLayout {
  const pad = spacing(theme);
  const marks: Mark[] = [];
  let region: Box = { x: pad, y: pad, width: size.width - 2 * pad, height: size.height - 2 * pad };
  if (title) {
    marks.push(text(size.width / 2, region.y, title, theme.fontSize, theme.foreground, 'middle', 'top', { weight: 'bold', key: 'title' }));
    region = inset(region, { top: theme.fontSize * 1.2 + pad, right: 0, bottom: 0, left: 0 });
  }
  if (legend.length === 0 || position === 'none' || position === 'inside') return { region, marks };
  if (position === 'right') {
    const m = measureLegend(legend, theme, 'vertical', region.width / 3);
    marks.push(legendGroup(legend, theme, { x: region.x + region.width - m.width, y: region.y }, 'vertical', region.width / 3));
    return { region: inset(region, { top: 0, right: m.width + pad, bottom: 0, left: 0 }), marks };
  }
  const m = measureLegend(legend, theme, 'horizontal', region.width);
  const x = region.x + (region.width - m.width) / 2;
  if (position === 'top') {
    marks.push(legendGroup(legend, theme, { x, y: region.y }, 'horizontal', region.width));
    return { region: inset(region, { top: m.height + pad, right: 0, bottom: 0, left: 0 }), marks };
  }
  marks.push(legendGroup(legend, theme, { x, y: region.y + region.height - m.height }, 'horizontal', region.width));
  return { region: inset(region, { top: 0, right: 0, bottom: m.height + pad, left: 0 }), marks };
}

/** Equal cells, row-major, `gap` apart. */
export function gridCells(region: Box, rows: number, columns: number, gapX: number, gapY: number): Box[] {
  const width = (region.width - gapX * (columns - 1)) / columns;
  const height = (region.height - gapY * (rows - 1)) / rows;
  const cells: Box[] = [];
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < columns; c++) cells.push({ x: region.x + c * (width + gapX), y: region.y + r * (height + gapY), width, height });
  }
  return cells;
}

export interface PanelGridOptions {
  /** Panels per row. */
  columns: number;
  /** Leave room for a title above each panel. */
  titled: boolean;
  /** Width left of each frame for y ticks and labels, given the frames' height. */
  left: (frameHeight: number) => number;
  /** Room right of each frame (half the last x label overhangs it). */
  right: number;
  /** Room below each frame for x ticks and labels. */
  bottom: number;
}

/**
 * Frames of `count` panels in a grid filling `region`, all the same size so their axes line up;
 * the panels read row by row.
 */
export function panelFrames(region: Box, theme: ChartTheme, count: number, options: PanelGridOptions): Box[] {
  const columns = Math.max(1, Math.min(options.columns, count));
  const rows = Math.ceil(count / columns);
  const gap = theme.fontSize * 0.8;
  const cells = gridCells(region, rows, columns, gap, gap).slice(0, count);
  const top = options.titled ? panelTitleHeight(theme) : 0;
  const height = Math.max(1, (cells[0]?.height ?? 1) - top - options.bottom);
  const left = options.left(height);
  return cells.map((cell) => ({ x: cell.x + left, y: cell.y + top, width: Math.max(1, cell.width - left - options.right), height }));
}

export function panelTitleHeight(theme: ChartTheme): number {
  return theme.fontSize * 1.4;
}

/** A panel's title, centred above its frame. */
export function panelTitle(frame: Box, title: string, theme: ChartTheme): Mark {
  const label = fitText(title, theme.fontSize, frame.width);
  return text(frame.x + frame.width / 2, frame.y - theme.fontSize * 0.3, label, theme.fontSize, theme.foreground, 'middle', 'bottom', {
    key: `panel-title:${title}`,
  });
}

/** Options every chart takes. */
export interface ChartOptions {
  /** Title text; also the geometry's accessible title. */
  title?: string;
  /** Draw the title above the chart (default true when there is a title). */
  showTitle?: boolean;
  /** Where the legend goes (default 'top'); 'none' hides it. */
  legend?: LegendPosition;
}

/** The title to draw, or null. */
export function shownTitle(options: ChartOptions): string | null {
  return options.title && options.showTitle !== false ? options.title : null;
}

/**
 * The finished chart. The table may be given as a function: it is then made when first read (a
 * chart redrawn on every frame of a pan never builds the table only an export reads).
 */
export function chartGeometry(
  size: ChartSize,
  theme: ChartTheme,
  options: ChartOptions,
  marks: Mark[],
  frames: PlotFrame[],
  table: PlottedTable | (() => PlottedTable),
): ChartGeometry {
  const base = { width: size.width, height: size.height, theme, marks, frames, title: options.title ?? '' };
  if (typeof table !== 'function') return { ...base, table };
  let made: PlottedTable | undefined;
  return Object.defineProperty(base, 'table', { enumerable: true, get: () => (made ??= table()) }) as ChartGeometry;
}

/** A plot frame for hover and zoom: its box, domains and scales (linear unless given). */
export function plotFrame(
  id: string,
  box: Box,
  xDomain: [number, number],
  yDomain: [number, number],
  extra: Partial<PlotFrame> = {},
): PlotFrame {
  return { id, x: box.x, y: box.y, width: box.width, height: box.height, xDomain, yDomain, xScale: 'linear', yScale: 'linear', ...extra };
}
