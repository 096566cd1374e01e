/**
 * ChartGeometry → a standalone SVG: every style an attribute (no CSS, no external fonts, images
 * or links), text kept as <text> in the theme's font, coordinates in points rounded to 0.01 pt.
 * The size is in inches with a viewBox in points, so 1 user unit = 1 pt in every tool. The PNG
 * export is this SVG drawn by resvg; the PDF writer draws the same marks with pdfkit, taking
 * every decision (paint, symbols, baselines, raster layers) from shapes.ts as this writer does.
 */
import type { ChartGeometry, Mark } from '../common/charts/marks.ts';
import { linePath, round2 } from '../common/charts/paths.ts';
import { DEFAULT_FIGURE_DPI, requireDpi } from './presets.ts';
import { hexOf, parseColour } from './colour.ts';
import { encodePng } from './png-codec.ts';
import { rasteriseCells, rasterisePoints, type RasterLayer } from './raster.ts';
import {
  badMark,
  cellRects,
  cellsAsRaster,
  cleanText,
  lineRuns,
  checkedBox,
  figurePointCount,
  paintOf,
  placeText,
  pointRuns,
  pointsAsRaster,
  requireFigureSize,
  symbolDrawing,
  type Box,
  type Paint,
} from './shapes.ts';

export interface SvgOptions {
  /** Resolution of embedded raster layers, in dots per inch (default 300). */
  rasterDpi?: number;
}

/** Text content and attribute values: the markup characters escaped (placeText already removed what XML cannot hold). */
export function escapeXml(text: string): string {
  return cleanText(text).replace(/[&<>"']/g, (c) => `&${{ '&': 'amp', '<': 'lt', '>': 'gt', '"': 'quot', "'": 'apos' }[c]};`);
}

/** A coordinate or length in points, to 0.01 pt: the screen's rounding (common/charts/paths.ts). */
const num = round2;

function paintAttributes(paint: Paint): string {
  let out = '';
  if (paint.fill) {
    out += ` fill="${paint.fill.colour}"`;
    if (paint.fill.alpha < 1) out += ` fill-opacity="${num(paint.fill.alpha)}"`;
  } else {
    out += ' fill="none"';
  }
  if (paint.stroke) {
    out += ` stroke="${paint.stroke.colour}"`;
    if (paint.stroke.alpha < 1) out += ` stroke-opacity="${num(paint.stroke.alpha)}"`;
    if (paint.stroke.width !== 1) out += ` stroke-width="${num(paint.stroke.width)}"`;
    if (paint.stroke.dash.length) out += ` stroke-dasharray="${paint.stroke.dash.map(num).join(' ')}"`;
  }
  return out;
}

/** Writes one document: collects clip paths while the body is written, then assembles. */
class SvgWriter {
  private readonly clips: string[] = [];
  /** Dot definitions (markup without id → id). */
  private readonly dots = new Map<string, string>();
  private usesXlink = false;
  constructor(
    private readonly rasterDpi: number,
    /** Points in all the figure's clouds (figurePointCount): whether clouds become raster layers. */
    private readonly figurePoints: number,
  ) {}

  private clipId(clip: Box): string {
    const id = `clip${this.clips.length}`;
    this.clips.push(
      `<clipPath id="${id}"><rect x="${num(clip.x)}" y="${num(clip.y)}" width="${num(clip.width)}" height="${num(clip.height)}"/></clipPath>`,
    );
    return id;
  }

  /** The id of a dot (a circle at the origin) of this colour, opacity and radius, defined once per document. */
  private dotId(colour: string, alpha: number, radius: number): string {
    const definition = `<circle r="${num(radius)}" fill="${colour}"${alpha < 1 ? ` fill-opacity="${num(alpha)}"` : ''}/>`;
    let id = this.dots.get(definition);
    if (!id) {
      id = `dot${this.dots.size}`;
      this.dots.set(definition, id);
    }
    this.usesXlink = true;
    return id;
  }

  private image(layer: RasterLayer, pixelated: boolean): string {
    this.usesXlink = true;
    return (
      `<image x="${num(layer.x)}" y="${num(layer.y)}" width="${num(layer.width)}" height="${num(layer.height)}" preserveAspectRatio="none"` +
      (pixelated ? ' image-rendering="optimizeSpeed"' : '') +
      ` xlink:href="data:image/png;base64,${encodePng(layer.rgba, layer.pixelWidth, layer.pixelHeight).toString('base64')}"/>`
    );
  }

  mark(mark: Mark): string {
    switch (mark.kind) {
      case 'line': {
        const runs = lineRuns(mark);
        if (!runs.length) return '';
        // Round joins where the line has any (two-point ticks and grid lines have none).
        const joins = runs.some((run) => run.length > 2) ? ' stroke-linejoin="round"' : '';
        // The screen's path data; a filled line (an area) is closed by the fill itself.
        return `<path d="${linePath(mark.points)}"${paintAttributes(paintOf(mark))}${joins}/>`;
      }
      case 'rect': {
        const box = checkedBox(mark, mark);
        return `<rect x="${num(box.x)}" y="${num(box.y)}" width="${num(box.width)}" height="${num(box.height)}"${paintAttributes(paintOf(mark))}/>`;
      }
      case 'symbol': {
        const { d, paint } = symbolDrawing(mark);
        return `<path d="${d}"${paintAttributes(paint)}/>`;
      }
      case 'text': {
        const t = placeText(mark);
        if (!t.text) return '';
        let attrs = `x="${num(t.x)}" y="${num(t.baselineY)}" font-size="${num(t.fontSize)}" fill="${t.fill.colour}"`;
        if (t.fill.alpha < 1) attrs += ` fill-opacity="${num(t.fill.alpha)}"`;
        if (t.bold) attrs += ' font-weight="bold"';
        if (t.anchor !== 'start') attrs += ` text-anchor="${t.anchor === 'middle' ? 'middle' : 'end'}"`;
        if (t.rotate) attrs += ` transform="rotate(${num(t.rotate)} ${num(t.x)} ${num(t.pivotY)})"`;
        return `<text ${attrs}>${escapeXml(t.text)}</text>`;
      }
      case 'points': {
        const raster = pointsAsRaster(mark, this.figurePoints);
        const clip = checkedBox(mark, mark.clip, 'clip ');
        if (clip.width === 0 || clip.height === 0 || mark.x.length === 0) return '';
        if (raster) return this.image(rasterisePoints(mark, this.rasterDpi), false);
        // One <circle> per colour in <defs>, one <use> per dot (~44 bytes, whatever the colour order).
        let out = `<g clip-path="url(#${this.clipId(clip)})">`;
        for (const run of pointRuns(mark)) {
          if (run.alpha <= 0) continue;
          const dot = this.dotId(run.colour, run.alpha, mark.radius);
          for (let i = 0; i < run.x.length; i++) out += `<use xlink:href="#${dot}" x="${num(run.x[i])}" y="${num(run.y[i])}"/>`;
        }
        return out + '</g>';
      }
      case 'cells': {
        const raster = cellsAsRaster(mark);
        if (mark.rows === 0 || mark.columns === 0 || mark.width === 0 || mark.height === 0) return '';
        if (raster) return this.image(rasteriseCells(mark, this.rasterDpi), true);
        let out = '<g>';
        for (const c of cellRects(mark)) {
          out += `<rect x="${num(c.x)}" y="${num(c.y)}" width="${num(c.width)}" height="${num(c.height)}" fill="${c.colour}"${c.alpha < 1 ? ` fill-opacity="${num(c.alpha)}"` : ''}/>`;
        }
        return out + '</g>';
      }
      case 'group': {
        const clip = mark.clip && checkedBox(mark, mark.clip, 'clip ');
        const body = mark.marks.map((m) => this.mark(m)).join('');
        if (!clip) return body;
        return `<g clip-path="url(#${this.clipId(clip)})">${body}</g>`;
      }
      default:
        throw badMark(mark as { kind: string }, 'is of a kind the figure exporter does not know');
    }
  }

  document(geometry: ChartGeometry): string {
    const { width, height, theme } = geometry;
    const background = parseColour(theme.background);
    const body = geometry.marks.map((m) => this.mark(m)).join('\n');
    const family = /(?:^|,)\s*(?:sans-serif|serif|monospace)\s*$/.test(theme.fontFamily)
      ? theme.fontFamily
      : `${theme.fontFamily}, sans-serif`;
    const inches = (pt: number) => `${Math.round((pt / 72) * 10000) / 10000}in`;
    const root =
      `<svg xmlns="http://www.w3.org/2000/svg"${this.usesXlink ? ' xmlns:xlink="http://www.w3.org/1999/xlink"' : ''} version="1.1"` +
      ` width="${inches(width)}" height="${inches(height)}" viewBox="0 0 ${num(width)} ${num(height)}"` +
      ` font-family="${escapeXml(family)}">`;
    const parts = [root];
    if (geometry.title) parts.push(`<title>${escapeXml(geometry.title)}</title>`);
    const dots = [...this.dots].map(([definition, id]) => definition.replace('<circle ', `<circle id="${id}" `));
    if (this.clips.length || dots.length) parts.push(`<defs>${this.clips.join('')}${dots.join('')}</defs>`);
    if (background.a > 0) {
      parts.push(
        `<rect width="${num(width)}" height="${num(height)}" fill="${hexOf(background)}"${background.a < 1 ? ` fill-opacity="${num(background.a)}"` : ''}/>`,
      );
    }
    if (body) parts.push(body);
    parts.push('</svg>');
    return parts.join('\n') + '\n';
  }
}

/** The figure as a standalone SVG document (UTF-8 text). */
export function geometryToSvg(geometry: ChartGeometry, options: SvgOptions = {}): string {
  const rasterDpi = options.rasterDpi ?? DEFAULT_FIGURE_DPI;
  requireDpi(rasterDpi);
  requireFigureSize(geometry);
  return new SvgWriter(rasterDpi, figurePointCount(geometry.marks)).document(geometry);
}
