/**
 * ChartGeometry → PDF, drawn with pdfkit: one page exactly the figure's size, vector marks (big
 * clouds and grids as the same raster layers the SVG embeds), and the shipped DejaVu Sans
 * embedded as a TrueType subset (CIDFontType2, never Type 3). Apart from the creation date the
 * output is deterministic; pass `creationDate` to fix that too.
 *
 * Why not SVG → svg-to-pdfkit: measured here it spends ~0.5 ms of CPU per SVG element (3,000
 * dots: 1.7 s; a 20,000-dot cloud, still vector by the marks contract, ~11 s), where drawing the
 * marks with pdfkit directly takes ~0.03 ms. Both writers take their decisions from shapes.ts,
 * and the tests compare this PDF, rendered by poppler, with the SVG rendered by resvg.
 */
import { deflateSync } from 'node:zlib';
import PDFDocument from 'pdfkit';
import type { ChartGeometry, Mark } from '../common/charts/marks.ts';
import { round2 } from '../common/charts/paths.ts';
import { hexOf, parseColour } from './colour.ts';
import { figureFontBytes } from './fonts.ts';
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
  type Paint,
} from './shapes.ts';
import { DEFAULT_FIGURE_DPI, requireDpi } from './presets.ts';

export interface PdfOptions {
  /** Resolution of embedded raster layers, in dots per inch (default 300). */
  rasterDpi?: number;
  /** Written as the document's creation date and into its file ID; default now. */
  creationDate?: Date;
}

const REGULAR = 'DejaVu Sans';
const BOLD = 'DejaVu Sans-Bold';

type Doc = PDFKit.PDFDocument;

/** Fills and/or strokes the path just built, with the paint's colours, alphas, width and dash. */
function paintPath(doc: Doc, paint: Paint, lineJoin: 'round' | 'miter'): void {
  const { fill, stroke } = paint;
  if (fill) doc.fillColor(fill.colour, fill.alpha);
  if (stroke) {
    doc.strokeColor(stroke.colour, stroke.alpha).lineWidth(stroke.width).lineJoin(lineJoin).lineCap('butt');
    // pdfkit takes a dash array too, though its types say a number.
    if (stroke.dash.length) doc.dash(stroke.dash as unknown as number, { phase: 0 });
    else doc.undash();
  }
  if (fill && stroke) doc.fillAndStroke();
  else if (fill) doc.fill();
  else if (stroke) doc.stroke();
}

/** Distance of a cubic Bézier quarter circle's control points, as a fraction of the radius. */
const KAPPA = (4 / 3) * (Math.SQRT2 - 1);

/** PDF path operators of a circle (four Béziers), coordinates to 0.01 pt as in the SVG. */
function circlePath(x: number, y: number, r: number): string {
  const k = r * KAPPA;
  const n = round2;
  const [x0, x1, x2, x3, x4] = [x - r, x - k, x, x + k, x + r].map(n);
  const [y0, y1, y2, y3, y4] = [y - r, y - k, y, y + k, y + r].map(n);
  return `${x4} ${y2} m ${x4} ${y3} ${x3} ${y4} ${x2} ${y4} c ${x1} ${y4} ${x0} ${y3} ${x0} ${y2} c ${x0} ${y1} ${x1} ${y0} ${x2} ${y0} c ${x3} ${y0} ${x4} ${y1} ${x4} ${y2} c`;
}

function polyline(doc: Doc, points: readonly (readonly [number, number])[]): void {
  doc.moveTo(points[0][0], points[0][1]);
  for (let i = 1; i < points.length; i++) doc.lineTo(points[i][0], points[i][1]);
}

/** The pdfkit internals newFigureDocument relies on (pdfkit 0.17). */
interface PdfkitFontInternals {
  _font?: { font?: object; constructor: unknown };
  _fontFamilies?: Record<string, unknown>;
  _fontCount?: number;
}
type EmbeddedFontClass = new (doc: Doc, font: object, id: string) => unknown;

type ParsedFonts = { EmbeddedFont: EmbeddedFontClass; regular: object; bold: object };

/** Parsed fonts shared by every PDF of the process, or null when pdfkit's internals are not as expected. */
let parsedFonts: ParsedFonts | null | undefined;

function sharedParsedFonts(): ParsedFonts | null {
  if (parsedFonts !== undefined) return parsedFonts;
  parsedFonts = null;
  try {
    const fonts = figureFontBytes();
    const probe = new PDFDocument({ font: fonts.regular as unknown as string }) as unknown as Doc & PdfkitFontInternals;
    const regular = probe._font;
    probe.registerFont(BOLD, fonts.bold).font(BOLD);
    const bold = probe._font;
    if (
      regular?.font &&
      bold?.font &&
      typeof regular.constructor === 'function' &&
      probe._fontFamilies &&
      typeof probe._fontCount === 'number'
    ) {
      parsedFonts = { EmbeddedFont: regular.constructor as EmbeddedFontClass, regular: regular.font, bold: bold.font };
    }
  } catch {
    parsedFonts = null;
  }
  return parsedFonts;
}

/**
 * A document with the shipped fonts registered as REGULAR and BOLD. pdfkit parses a font anew for
 * each document and fontkit's table decoding then dominates a small figure's PDF (~85 ms of ~110
 * here), so the parsed fontkit fonts are kept for the process and wrapped in a fresh EmbeddedFont
 * (its own subset) per document; if pdfkit's internals ever differ, each document parses its own.
 * The document has no default font: pdfkit's, Helvetica, is read from a file beside pdfkit's code
 * (which a bundler does not copy) and would never be drawn anyway.
 */
function newFigureDocument(options: PDFKit.PDFDocumentOptions): Doc {
  const fonts = figureFontBytes();
  const parsed = sharedParsedFonts();
  const doc = new PDFDocument({ ...options, font: (parsed ? null : fonts.regular) as unknown as string });
  doc.registerFont(REGULAR, fonts.regular);
  doc.registerFont(BOLD, fonts.bold);
  const internals = doc as unknown as PdfkitFontInternals;
  if (parsed && internals._fontFamilies && typeof internals._fontCount === 'number') {
    internals._fontFamilies[REGULAR] = new parsed.EmbeddedFont(doc, parsed.regular, `F${++internals._fontCount}`);
    internals._fontFamilies[BOLD] = new parsed.EmbeddedFont(doc, parsed.bold, `F${++internals._fontCount}`);
  }
  return doc;
}

class PdfWriter {
  constructor(
    private readonly doc: Doc,
    private readonly rasterDpi: number,
    /** Points in all the figure's clouds (figurePointCount): whether clouds become raster layers. */
    private readonly figurePoints: number,
  ) {}

  private images = 0;
  private readonly dotForms = new Map<number, string>();

  /** A filled circle of radius r at the origin, as a form without colour (it takes the fill in effect). */
  private dotForm(r: number): string {
    let name = this.dotForms.get(r);
    if (!name) {
      name = `Dot${this.dotForms.size + 1}`;
      const form = this.doc.ref({ Type: 'XObject', Subtype: 'Form', BBox: [-r, -r, r, r] });
      form.end(circlePath(0, 0, r) + ' f');
      (this.doc.page as unknown as { xobjects: Record<string, unknown> }).xobjects[name] = form;
      this.dotForms.set(r, name);
    }
    return name;
  }

  /**
   * A raster layer as an RGB image with its alpha as a soft mask, both deflated here: pdfkit's
   * own image() would decode a PNG in JavaScript just to split the alpha out again.
   */
  private image(layer: RasterLayer): void {
    const { rgba, pixelWidth: w, pixelHeight: h } = layer;
    const rgb = Buffer.alloc(w * h * 3);
    const alpha = Buffer.alloc(w * h);
    for (let p = 0; p < w * h; p++) {
      rgb[p * 3] = rgba[p * 4];
      rgb[p * 3 + 1] = rgba[p * 4 + 1];
      rgb[p * 3 + 2] = rgba[p * 4 + 2];
      alpha[p] = rgba[p * 4 + 3];
    }
    const doc = this.doc;
    const imageDictionary = { Type: 'XObject', Subtype: 'Image', Width: w, Height: h, BitsPerComponent: 8, Filter: 'FlateDecode' };
    const mask = doc.ref({ ...imageDictionary, ColorSpace: 'DeviceGray' });
    mask.end(deflateSync(alpha));
    const image = doc.ref({ ...imageDictionary, ColorSpace: 'DeviceRGB', SMask: mask });
    image.end(deflateSync(rgb));
    const name = `Raster${++this.images}`;
    (doc.page as unknown as { xobjects: Record<string, unknown> }).xobjects[name] = image;
    // Image space is the unit square, y up; the page's user space has y down.
    doc.save().transform(layer.width, 0, 0, -layer.height, layer.x, layer.y + layer.height);
    doc.addContent(`/${name} Do`);
    doc.restore();
  }

  private clipTo(box: { x: number; y: number; width: number; height: number }): void {
    this.doc.rect(box.x, box.y, box.width, box.height).clip();
  }

  mark(mark: Mark): void {
    const doc = this.doc;
    switch (mark.kind) {
      case 'line': {
        const runs = lineRuns(mark);
        const paint = paintOf(mark);
        if (!runs.length || (!paint.fill && !paint.stroke)) return;
        doc.save();
        // As in the SVG, a filled line (an area) is closed by the fill itself.
        for (const run of runs) polyline(doc, run);
        paintPath(doc, paint, 'round');
        doc.restore();
        return;
      }
      case 'rect': {
        const box = checkedBox(mark, mark);
        const paint = paintOf(mark);
        if (!paint.fill && !paint.stroke) return;
        doc.save();
        doc.rect(box.x, box.y, box.width, box.height);
        paintPath(doc, paint, 'miter');
        doc.restore();
        return;
      }
      case 'symbol': {
        const { d, paint } = symbolDrawing(mark);
        if (!paint.fill && !paint.stroke) return;
        doc.save();
        doc.path(d);
        paintPath(doc, paint, 'miter');
        doc.restore();
        return;
      }
      case 'text': {
        const t = placeText(mark);
        if (!t.text) return;
        doc.save();
        if (t.rotate) doc.rotate(t.rotate, { origin: [t.x, t.pivotY] });
        doc.font(t.bold ? BOLD : REGULAR).fontSize(t.fontSize);
        const width = doc.widthOfString(t.text);
        const x = t.anchor === 'middle' ? t.x - width / 2 : t.anchor === 'end' ? t.x - width : t.x;
        doc.fillColor(t.fill.colour, t.fill.alpha).text(t.text, x, t.baselineY, { lineBreak: false, baseline: 'alphabetic' });
        doc.restore();
        return;
      }
      case 'points': {
        const raster = pointsAsRaster(mark, this.figurePoints);
        const clip = checkedBox(mark, mark.clip, 'clip ');
        if (clip.width === 0 || clip.height === 0 || mark.x.length === 0) return;
        if (raster) {
          this.image(rasterisePoints(mark, this.rasterDpi));
          return;
        }
        doc.save();
        this.clipTo(clip);
        for (const run of pointRuns(mark)) {
          if (run.alpha <= 0) continue;
          doc.fillColor(run.colour, run.alpha);
          // One fill per dot (overlapping dots darken, as in the SVG and on screen): the dot is a
          // form drawn at each point, reached by relative translations, written as content
          // directly (through pdfkit's path calls this costs 10× more, and a path per dot 4× the bytes).
          const dot = this.dotForm(mark.radius);
          const ops: string[] = ['q'];
          let [px, py] = [0, 0];
          for (let i = 0; i < run.x.length; i++) {
            const [x, y] = [Math.round(run.x[i] * 100), Math.round(run.y[i] * 100)];
            ops.push(`1 0 0 1 ${round2((x - px) / 100)} ${round2((y - py) / 100)} cm /${dot} Do`);
            [px, py] = [x, y];
          }
          ops.push('Q');
          doc.addContent(ops.join('\n'));
        }
        doc.restore();
        return;
      }
      case 'cells': {
        const raster = cellsAsRaster(mark);
        if (mark.rows === 0 || mark.columns === 0 || mark.width === 0 || mark.height === 0) return;
        if (raster) {
          this.image(rasteriseCells(mark, this.rasterDpi));
          return;
        }
        doc.save();
        for (const c of cellRects(mark)) doc.rect(c.x, c.y, c.width, c.height).fillColor(c.colour, c.alpha).fill();
        doc.restore();
        return;
      }
      case 'group': {
        const clip = mark.clip && checkedBox(mark, mark.clip, 'clip ');
        doc.save();
        if (clip) this.clipTo(clip);
        for (const child of mark.marks) this.mark(child);
        doc.restore();
        return;
      }
      default:
        throw badMark(mark as { kind: string }, 'is of a kind the figure exporter does not know');
    }
  }
}

export function geometryToPdf(geometry: ChartGeometry, options: PdfOptions = {}): Promise<Buffer> {
  const rasterDpi = options.rasterDpi ?? DEFAULT_FIGURE_DPI;
  requireDpi(rasterDpi);
  requireFigureSize(geometry);
  const doc = newFigureDocument({
    size: [geometry.width, geometry.height],
    margin: 0,
    compress: true,
    info: {
      Title: cleanText(geometry.title),
      Creator: 'MoT Lab',
      Producer: 'MoT Lab (pdfkit)',
      CreationDate: options.creationDate ?? new Date(),
    },
  });
  const chunks: Buffer[] = [];
  const done = new Promise<Buffer>((resolve, reject) => {
    doc.on('data', (chunk: Buffer) => chunks.push(chunk));
    doc.on('end', () => resolve(Buffer.concat(chunks)));
    doc.on('error', reject);
  });
  const background = parseColour(geometry.theme.background);
  if (background.a > 0) {
    doc.rect(0, 0, geometry.width, geometry.height).fillColor(hexOf(background), background.a).fill();
  }
  const writer = new PdfWriter(doc, rasterDpi, figurePointCount(geometry.marks));
  try {
    for (const mark of geometry.marks) writer.mark(mark);
  } catch (error) {
    doc.end();
    return done.then(() => Promise.reject(error));
  }
  doc.end();
  return done;
}
