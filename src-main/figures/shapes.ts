/**
 * What each mark becomes in a figure, decided once for both writers (svg.ts and pdf.ts): paint
 * with opacity folded into colours, line runs split at gaps, symbols, text baselines,
 * cell rects, and when a cloud or grid becomes a raster layer. Bad marks fail here, naming the mark.
 */
import {
  RASTER_POINT_THRESHOLD,
  type CellGridMark,
  type LineMark,
  type Mark,
  type PointCloudMark,
  type SymbolMark,
  type TextMark,
} from '../common/charts/marks.ts';
import { isOpenSymbol, symbolPath } from '../common/charts/paths.ts';
import { MotlabError } from '../common/errors.ts';
import { MARKER_SHAPES } from '../common/palette.ts';
import { hexOf, parseColour } from './colour.ts';

/** Beyond this many cells a CellGridMark is one embedded image instead of one rect per cell. */
export const CELL_RASTER_THRESHOLD = 1024;

export function badMark(mark: { kind: string; key?: string }, problem: string): MotlabError {
  const which = mark.key ? `${mark.kind} mark "${mark.key}"` : `a ${mark.kind} mark`;
  return new MotlabError('invalid_request', `figure export: ${which} ${problem}`);
}

export function requireFinite(mark: { kind: string; key?: string }, values: Record<string, number>): void {
  for (const [name, value] of Object.entries(values)) {
    if (!Number.isFinite(value)) throw badMark(mark, `has a non-finite ${name} (${value})`);
  }
}

/** Checks the figure's size: positive and finite, in points. */
export function requireFigureSize(geometry: { width: number; height: number }): void {
  const { width, height } = geometry;
  if (!(width > 0) || !(height > 0) || !Number.isFinite(width) || !Number.isFinite(height)) {
    throw new MotlabError('invalid_request', `figure export: the figure size ${width} × ${height} pt is not a positive size`);
  }
}

export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** A checked box; a negative width or height counts as 0 (nothing drawn), as on screen. */
export function checkedBox(mark: { kind: string; key?: string }, box: Box, what = ''): Box {
  requireFinite(mark, { [`${what}x`]: box.x, [`${what}y`]: box.y, [`${what}width`]: box.width, [`${what}height`]: box.height });
  return { x: box.x, y: box.y, width: Math.max(0, box.width), height: Math.max(0, box.height) };
}

export interface Paint {
  fill?: { colour: string; alpha: number };
  stroke?: { colour: string; alpha: number; width: number; dash: number[] };
}

/**
 * Fill and stroke as #rrggbb + alpha, with the mark's opacity multiplied into both alphas (for one
 * shape that is what group opacity means, except where its stroke overlaps its fill).
 */
export function paintOf(mark: { fill?: string; stroke?: string; strokeWidth?: number; dash?: readonly number[]; opacity?: number }): Paint {
  const opacity = Math.min(1, Math.max(0, mark.opacity ?? 1));
  const paint: Paint = {};
  if (mark.fill !== undefined && mark.fill !== 'none') {
    const c = parseColour(mark.fill);
    if (c.a * opacity > 0) paint.fill = { colour: hexOf(c), alpha: c.a * opacity };
  }
  const width = mark.strokeWidth ?? 1;
  if (mark.stroke !== undefined && mark.stroke !== 'none' && width > 0) {
    const c = parseColour(mark.stroke);
    // Zero-length dashes cannot be written to PDF; a dash of 0.01 pt draws the same.
    const dash = mark.dash && mark.dash.some((v) => v > 0) ? mark.dash.map((v) => Math.max(0.01, v)) : [];
    if (c.a * opacity > 0) paint.stroke = { colour: hexOf(c), alpha: c.a * opacity, width, dash };
  }
  return paint;
}

/** The runs of a line between gaps: null and non-finite points break it (a NaN loss is a gap, not a crash). */
export function lineRuns(mark: LineMark): [number, number][][] {
  const runs: [number, number][][] = [];
  let run: [number, number][] = [];
  for (const p of mark.points) {
    if (p && Number.isFinite(p[0]) && Number.isFinite(p[1])) run.push([p[0], p[1]]);
    else {
      if (run.length >= 2) runs.push(run);
      run = [];
    }
  }
  if (run.length >= 2) runs.push(run);
  return runs;
}

/**
 * A symbol as the screen draws it (common/charts/paths.ts): the same path data, closed shapes
 * filled and stroked as asked, cross and plus (open shapes) stroked in their stroke colour or,
 * without one, their fill colour, 1 pt wide unless the mark says otherwise.
 */
export function symbolDrawing(mark: SymbolMark): { d: string; paint: Paint } {
  requireFinite(mark, { x: mark.x, y: mark.y, size: mark.size });
  if (!MARKER_SHAPES.includes(mark.shape)) throw badMark(mark, `has an unknown shape "${String(mark.shape)}"`);
  const d = symbolPath(mark.shape, mark.x, mark.y, Math.abs(mark.size));
  const paint = isOpenSymbol(mark.shape)
    ? paintOf({ stroke: mark.stroke ?? mark.fill, strokeWidth: mark.strokeWidth, opacity: mark.opacity })
    : paintOf({ ...mark, strokeWidth: mark.strokeWidth ?? 1 });
  return { d, paint };
}

/**
 * How far below a text's y its alphabetic baseline goes, in em, for each TextMark baseline: what
 * the screen's dominant-baseline (hanging, central, text-after-edge) does with DejaVu Sans, as
 * measured in Chromium (getBBox). Figures place the baseline themselves, because resvg, PDF and
 * LaTeX's SVG importers each read dominant-baseline differently, or not at all.
 */
const BASELINE_SHIFT_EM = { top: 0.744, middle: 0.345, bottom: -0.24, alphabetic: 0 } as const;

/** Characters XML 1.0 forbids (C0 controls except tab/newline/CR, lone surrogates, U+FFFE/FFFF). */
const XML_INVALID =
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** User text (run names in titles) with the characters XML cannot hold replaced by U+FFFD. */
export function cleanText(text: string): string {
  return text.replace(XML_INVALID, '\uFFFD');
}

export interface PlacedText {
  text: string;
  x: number;
  /** The alphabetic baseline, before rotation. */
  baselineY: number;
  fontSize: number;
  bold: boolean;
  anchor: TextMark['anchor'];
  /** Degrees clockwise about (x, mark.y). */
  rotate: number;
  pivotY: number;
  fill: { colour: string; alpha: number };
}

/**
 * A text mark ready to draw: one line (whitespace runs become one space, as SVG shows them;
 * characters XML cannot hold become U+FFFD) with its baseline placed.
 */
export function placeText(mark: TextMark): PlacedText {
  requireFinite(mark, { x: mark.x, y: mark.y, 'font size': mark.fontSize, rotation: mark.rotate ?? 0 });
  const fill = parseColour(mark.fill);
  return {
    text: cleanText(mark.text).replace(/\s+/g, ' ').trim(),
    x: mark.x,
    baselineY: mark.y + (BASELINE_SHIFT_EM[mark.baseline] ?? 0) * mark.fontSize,
    fontSize: mark.fontSize,
    bold: mark.weight === 'bold',
    anchor: mark.anchor,
    rotate: mark.rotate ?? 0,
    pivotY: mark.y,
    fill: { colour: hexOf(fill), alpha: fill.a },
  };
}

/**
 * Points in all the figure's clouds together: the raster decision is the figure's, not each
 * cloud's, so a grid of many moderate clouds (the PCA grid: 16 × 6,000) becomes raster layers
 * instead of 96,000 vector dots that a PDF viewer redraws one by one.
 */
export function figurePointCount(marks: readonly Mark[]): number {
  let n = 0;
  for (const mark of marks) {
    if (mark.kind === 'points') n += mark.x.length;
    else if (mark.kind === 'group') n += figurePointCount(mark.marks);
  }
  return n;
}

/**
 * Checks a cloud's columns; true when it is drawn as a raster layer: when the figure's clouds
 * hold more than RASTER_POINT_THRESHOLD points together (`figurePoints`, from figurePointCount).
 */
export function pointsAsRaster(mark: PointCloudMark, figurePoints: number): boolean {
  requireFinite(mark, { radius: mark.radius, opacity: mark.opacity });
  const n = mark.x.length;
  if (mark.y.length !== n || mark.colourIndex.length !== n) {
    throw badMark(
      mark,
      `has columns of different lengths (x ${mark.x.length}, y ${mark.y.length}, colourIndex ${mark.colourIndex.length})`,
    );
  }
  for (let i = 0; i < n; i++) {
    if (mark.colourIndex[i] >= mark.colours.length)
      throw badMark(mark, `point ${i} has colour index ${mark.colourIndex[i]} of ${mark.colours.length} colours`);
  }
  return Math.max(n, figurePoints) > RASTER_POINT_THRESHOLD;
}

/** Runs of consecutive points of one colour (vector clouds are drawn run by run, in mark order). */
export function* pointRuns(mark: PointCloudMark): Generator<{ colour: string; alpha: number; x: number[]; y: number[] }> {
  let current = -1;
  let run: { colour: string; alpha: number; x: number[]; y: number[] } | undefined;
  for (let i = 0; i < mark.x.length; i++) {
    const x = mark.x[i];
    const y = mark.y[i];
    if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
    const ci = mark.colourIndex[i];
    if (ci !== current || !run) {
      if (run && run.x.length) yield run;
      const c = parseColour(mark.colours[ci]);
      run = { colour: hexOf(c), alpha: Math.min(1, Math.max(0, c.a * mark.opacity)), x: [], y: [] };
      current = ci;
    }
    run.x.push(x);
    run.y.push(y);
  }
  if (run && run.x.length) yield run;
}

/** Checks a grid; true when it is drawn as one raster image (more than CELL_RASTER_THRESHOLD cells). */
export function cellsAsRaster(mark: CellGridMark): boolean {
  requireFinite(mark, { x: mark.x, y: mark.y, width: mark.width, height: mark.height });
  const { columns, rows } = mark;
  if (!Number.isInteger(columns) || !Number.isInteger(rows) || columns < 0 || rows < 0) {
    throw badMark(mark, `has a grid of ${columns} × ${rows} cells (whole numbers expected)`);
  }
  if (mark.colours.length !== rows * columns) throw badMark(mark, `has ${mark.colours.length} colours for ${rows} × ${columns} cells`);
  return rows * columns > CELL_RASTER_THRESHOLD;
}

/**
 * The grid's cells as rects, in row-major order. An opaque cell reaches one cell into its right
 * and lower neighbours, which are drawn after it and cover that part again: every cell border then
 * lies inside an earlier, opaque rect, so renderers that anti-alias each rect on its own show no
 * light seams between cells at any zoom (a fixed overlap of a fraction of a point does not
 * survive a PDF viewer zoomed out, or 150 dpi).
 */
export function cellRects(mark: CellGridMark): { x: number; y: number; width: number; height: number; colour: string; alpha: number }[] {
  const { columns, rows } = mark;
  const cw = mark.width / columns;
  const ch = mark.height / rows;
  const rects = [];
  for (let row = 0; row < rows; row++) {
    for (let col = 0; col < columns; col++) {
      const c = parseColour(mark.colours[row * columns + col]);
      if (c.a === 0) continue;
      const ox = c.a === 1 && col < columns - 1 ? cw : 0;
      const oy = c.a === 1 && row < rows - 1 ? ch : 0;
      const x0 = mark.x + col * cw;
      const y0 = mark.y + row * ch;
      rects.push({
        x: Math.min(x0, x0 + cw + ox),
        y: Math.min(y0, y0 + ch + oy),
        width: Math.abs(cw + ox),
        height: Math.abs(ch + oy),
        colour: hexOf(c),
        alpha: c.a,
      });
    }
  }
  return rects;
}
