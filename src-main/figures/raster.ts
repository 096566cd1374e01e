/**
 * Raster layers for marks too numerous to stay vector: big point clouds and big cell grids become
 * one image each, drawn here (no canvas in Node): the SVG embeds it as a PNG data: URI (and so
 * does the PNG export, through resvg), the PDF as an image with a soft mask. Axes and text stay vector.
 */
import type { CellGridMark, PointCloudMark } from '../common/charts/marks.ts';
import { parseColour } from './colour.ts';

/**
 * Most pixels one raster layer may have (64 MB of working memory for a point layer): a larger
 * layer is drawn at a lower resolution than asked (a full-width plot area at 600 dpi gets ~450).
 */
export const MAX_RASTER_PIXELS = 4_000_000;

export interface RasterLayer {
  /** Straight (not premultiplied) RGBA, row-major from the top. */
  rgba: Uint8Array;
  pixelWidth: number;
  pixelHeight: number;
  /** Where it goes, in user units (points). */
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Pixel size of a box of width × height points at `dpi`, shrunk to MAX_RASTER_PIXELS if needed. */
function layerPixels(width: number, height: number, dpi: number): [number, number] {
  let scale = dpi / 72;
  const pixels = width * scale * height * scale;
  if (pixels > MAX_RASTER_PIXELS) scale *= Math.sqrt(MAX_RASTER_PIXELS / pixels);
  return [Math.max(1, Math.round(width * scale)), Math.max(1, Math.round(height * scale))];
}

/**
 * The cloud's dots, anti-aliased (coverage from the distance to the dot's edge), composited
 * "over" in mark order with the mark's opacity, clipped to `mark.clip`. Points with a
 * non-finite coordinate are not drawn.
 */
export function rasterisePoints(mark: PointCloudMark, dpi: number): RasterLayer {
  const { clip } = mark;
  const [w, h] = layerPixels(clip.width, clip.height, dpi);
  const sx = w / clip.width;
  const sy = h / clip.height;
  const radius = mark.radius * Math.sqrt(sx * sy);
  const colours = mark.colours.map((c) => parseColour(c));
  // Premultiplied RGBA in 0..1.
  const buffer = new Float32Array(w * h * 4);
  const n = Math.min(mark.x.length, mark.y.length, mark.colourIndex.length);
  const reach = radius + 0.5;
  // Tiny dots (under a pixel across) keep their area: coverage is scaled instead of clipped.
  const small = radius < 0.5 ? (2 * radius) ** 2 : 1;
  const effective = Math.max(radius, 0.5);
  for (let p = 0; p < n; p++) {
    const px = (mark.x[p] - clip.x) * sx;
    const py = (mark.y[p] - clip.y) * sy;
    if (!Number.isFinite(px) || !Number.isFinite(py)) continue;
    const colour = colours[mark.colourIndex[p]];
    if (!colour) continue;
    const baseAlpha = mark.opacity * colour.a * small;
    if (baseAlpha <= 0) continue;
    const r = colour.r / 255;
    const g = colour.g / 255;
    const b = colour.b / 255;
    const i0 = Math.max(0, Math.floor(px - reach));
    const i1 = Math.min(w - 1, Math.ceil(px + reach));
    const j0 = Math.max(0, Math.floor(py - reach));
    const j1 = Math.min(h - 1, Math.ceil(py + reach));
    for (let j = j0; j <= j1; j++) {
      const dy = j + 0.5 - py;
      for (let i = i0; i <= i1; i++) {
        const dx = i + 0.5 - px;
        const coverage = effective + 0.5 - Math.sqrt(dx * dx + dy * dy);
        if (coverage <= 0) continue;
        const a = baseAlpha * (coverage >= 1 ? 1 : coverage);
        const k = (j * w + i) * 4;
        const keep = 1 - a;
        buffer[k] = r * a + buffer[k] * keep;
        buffer[k + 1] = g * a + buffer[k + 1] * keep;
        buffer[k + 2] = b * a + buffer[k + 2] * keep;
        buffer[k + 3] = a + buffer[k + 3] * keep;
      }
    }
  }
  const rgba = new Uint8Array(w * h * 4);
  for (let k = 0; k < rgba.length; k += 4) {
    const a = buffer[k + 3];
    if (a <= 0) continue;
    rgba[k] = Math.round((buffer[k] / a) * 255);
    rgba[k + 1] = Math.round((buffer[k + 1] / a) * 255);
    rgba[k + 2] = Math.round((buffer[k + 2] / a) * 255);
    rgba[k + 3] = Math.round(a * 255);
  }
  return {
    rgba,
    pixelWidth: w,
    pixelHeight: h,
    x: clip.x,
    y: clip.y,
    width: clip.width,
    height: clip.height,
  };
}

/**
 * The grid's cells, each an exact block of pixels: the grid is upscaled by a whole factor per
 * axis until it has at least `dpi` resolution, so viewers that smooth images (PDF readers
 * often do) blur nothing but the cell borders' last pixel.
 */
export function rasteriseCells(mark: CellGridMark, dpi: number): RasterLayer {
  const { columns, rows } = mark;
  const [targetW, targetH] = layerPixels(Math.abs(mark.width), Math.abs(mark.height), dpi);
  let fx = Math.max(1, Math.ceil(targetW / columns));
  let fy = Math.max(1, Math.ceil(targetH / rows));
  while (columns * fx * rows * fy > MAX_RASTER_PIXELS && (fx > 1 || fy > 1)) {
    if (fx >= fy && fx > 1) fx--;
    else fy--;
  }
  const w = columns * fx;
  const h = rows * fy;
  const rgba = new Uint8Array(w * h * 4);
  for (let row = 0; row < rows; row++) {
    const line = new Uint8Array(w * 4);
    for (let col = 0; col < columns; col++) {
      const c = parseColour(mark.colours[row * columns + col]);
      const a = Math.round(c.a * 255);
      for (let k = col * fx * 4, end = (col + 1) * fx * 4; k < end; k += 4) {
        line[k] = c.r;
        line[k + 1] = c.g;
        line[k + 2] = c.b;
        line[k + 3] = a;
      }
    }
    for (let y = row * fy; y < (row + 1) * fy; y++) rgba.set(line, y * w * 4);
  }
  const x = Math.min(mark.x, mark.x + mark.width);
  const y = Math.min(mark.y, mark.y + mark.height);
  return {
    rgba,
    pixelWidth: w,
    pixelHeight: h,
    x,
    y,
    width: Math.abs(mark.width),
    height: Math.abs(mark.height),
  };
}
