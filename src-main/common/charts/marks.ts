/**
 * The language between chart geometry and whatever draws it. A chart is a pure function
 * (data, size, theme) → ChartGeometry; the renderer draws the marks with Svelte (SVG, plus a
 * canvas/WebGL layer for big point clouds) and the figure exporter writes the same marks as
 * SVG, PDF and PNG in plain Node. Coordinates are user units with y down: CSS pixels on
 * screen, points (1/72 in) in figures. Nothing here touches the DOM or Node.
 */
import type { ChartTheme } from '../palette.ts';

export type Point = readonly [number, number];

interface Styled {
  /** Stroke colour; undefined = none. */
  stroke?: string;
  /** Fill colour; undefined = none. */
  fill?: string;
  /** Stroke width in user units. */
  strokeWidth?: number;
  /** Dash pattern in user units (empty or undefined = solid). */
  dash?: readonly number[];
  opacity?: number;
  /** Free-form id (series key, cell key) for hover and tests; never drawn. */
  key?: string;
}

/** A polyline; a null entry breaks the line (a gap in the data). */
export interface LineMark extends Styled {
  kind: 'line';
  points: readonly (Point | null)[];
}

export interface RectMark extends Styled {
  kind: 'rect';
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface SymbolMark extends Styled {
  kind: 'symbol';
  x: number;
  y: number;
  /** Radius-like size in user units. */
  size: number;
  shape: 'circle' | 'square' | 'triangle' | 'diamond' | 'cross' | 'plus';
}

export interface TextMark {
  kind: 'text';
  x: number;
  y: number;
  text: string;
  /** Font size in user units (points in figures). */
  fontSize: number;
  fill: string;
  anchor: 'start' | 'middle' | 'end';
  baseline: 'top' | 'middle' | 'bottom' | 'alphabetic';
  weight?: 'normal' | 'bold';
  /** Degrees, clockwise, about (x, y). */
  rotate?: number;
  key?: string;
}

/**
 * Many same-sized dots (PCA clouds): columnar, so 100,000 points stay cheap. The screen draws it
 * with WebGL/canvas; a figure writes vector circles while all its clouds together hold at most
 * RASTER_POINT_THRESHOLD points, and one embedded raster layer per cloud beyond (axes and text stay vector).
 */
export interface PointCloudMark {
  kind: 'points';
  /** Positions in user units. */
  x: Float32Array;
  y: Float32Array;
  /** Per-point index into `colours`. */
  colourIndex: Uint8Array;
  colours: readonly string[];
  radius: number;
  opacity: number;
  /** Plot area the cloud is clipped to. */
  clip: { x: number; y: number; width: number; height: number };
  key?: string;
}

/** A grid of coloured cells (heatmaps with many cells): one image, not thousands of rects. */
export interface CellGridMark {
  kind: 'cells';
  x: number;
  y: number;
  width: number;
  height: number;
  columns: number;
  rows: number;
  /** rows × columns CSS colours, row-major, row 0 at the top. */
  colours: readonly string[];
  key?: string;
}

export interface GroupMark {
  kind: 'group';
  /** Clip the children to this rectangle (plot areas). */
  clip?: { x: number; y: number; width: number; height: number };
  marks: readonly Mark[];
  key?: string;
}

export type Mark = LineMark | RectMark | SymbolMark | TextMark | PointCloudMark | CellGridMark | GroupMark;

/** Beyond this many points in all its clouds together, a figure embeds raster layers instead of vector circles. */
export const RASTER_POINT_THRESHOLD = 20_000;

/**
 * One plot area with its scales, so the screen can invert a pointer position (hover, zoom):
 * xDomain[0] sits at the left edge x, yDomain[0] at the bottom edge y + height.
 */
export interface PlotFrame {
  id: string;
  x: number;
  y: number;
  width: number;
  height: number;
  xDomain: [number, number];
  yDomain: [number, number];
  xScale: 'linear' | 'log';
  yScale: 'linear' | 'log';
  /**
   * Category axes (bars, heatmap cells): category i spans [i, i + 1] of the domain, so
   * xDomain = [0, n]; a heatmap's yDomain = [rows, 0] puts row 0 at the top.
   */
  xCategories?: readonly string[];
  yCategories?: readonly string[];
}

/** Exactly what was plotted, as columns, for the CSV export (raw and smoothed columns). */
export interface PlottedTable {
  columns: string[];
  rows: (number | string | null)[][];
}

export interface ChartGeometry {
  width: number;
  height: number;
  theme: ChartTheme;
  marks: Mark[];
  frames: PlotFrame[];
  table: PlottedTable;
  /** Title text for accessibility and file metadata. */
  title: string;
}

/** The size every chart function takes. */
export interface ChartSize {
  width: number;
  height: number;
}
