/**
 * SVG → PNG with resvg (off the main thread), drawn with the shipped font only: the pixel size is
 * the figure's size in inches × dpi, each side rounded to a whole pixel, and the PNG records its
 * dpi (pHYs) so it opens at its true size.
 */
import { renderAsync } from '@resvg/resvg-js';
import { MotlabError } from '../common/errors.ts';
import { figureFontFiles } from './fonts.ts';
import { withResolution } from './png-codec.ts';
import { DEFAULT_FIGURE_DPI, requireDpi } from './presets.ts';

export interface PngOptions {
  /** Dots per inch (default 300; 600 for line art). */
  dpi?: number;
}

/** Pixel size of a figure of width × height points at `dpi`. */
export function pngPixelSize(width: number, height: number, dpi: number): { width: number; height: number } {
  return { width: Math.max(1, Math.round((width / 72) * dpi)), height: Math.max(1, Math.round((height / 72) * dpi)) };
}

/** The figure's size in points, from the root's viewBox (geometryToSvg writes it in points). */
export function svgSizeInPoints(svg: string): { width: number; height: number } {
  const root = /<svg\b[^>]*>/.exec(svg)?.[0];
  const viewBox = root && /\sviewBox="\s*([-\d.e+]+)[\s,]+([-\d.e+]+)[\s,]+([-\d.e+]+)[\s,]+([-\d.e+]+)\s*"/.exec(root);
  if (!viewBox) throw new MotlabError('invalid_request', 'PNG export: the SVG has no root viewBox giving its size in points');
  const width = Number(viewBox[3]);
  const height = Number(viewBox[4]);
  if (!(width > 0) || !(height > 0))
    throw new MotlabError('invalid_request', `PNG export: the SVG's viewBox size ${width} × ${height} is not positive`);
  return { width, height };
}

export async function svgToPng(svg: string, options: PngOptions = {}): Promise<Buffer> {
  const dpi = options.dpi ?? DEFAULT_FIGURE_DPI;
  requireDpi(dpi);
  const size = svgSizeInPoints(svg);
  const pixels = pngPixelSize(size.width, size.height, dpi);
  // resvg rounds a scaled size its own way (sometimes up): sizing the root in pixels, with the
  // viewBox stretched to it, makes the pixel size exactly the rounded inches × dpi.
  const sized = svg.replace(/<svg\b[^>]*>/, (root) =>
    root
      .replace(/\swidth="[^"]*"/, ` width="${pixels.width}"`)
      .replace(/\sheight="[^"]*"/, ` height="${pixels.height}"`)
      .replace(/\spreserveAspectRatio="[^"]*"/, '')
      .replace(/>$/, ' preserveAspectRatio="none">'),
  );
  const fonts = figureFontFiles();
  const image = await renderAsync(sized, {
    fitTo: { mode: 'original' },
    font: {
      loadSystemFonts: false,
      fontFiles: [fonts.regular, fonts.bold],
      defaultFontFamily: 'DejaVu Sans',
      sansSerifFamily: 'DejaVu Sans',
      serifFamily: 'DejaVu Sans',
      monospaceFamily: 'DejaVu Sans',
    },
    logLevel: 'off',
  });
  if (image.width !== pixels.width || image.height !== pixels.height) {
    throw new MotlabError(
      'internal',
      `PNG export: resvg drew ${image.width}×${image.height} px, expected ${pixels.width}×${pixels.height}`,
    );
  }
  return withResolution(image.asPng(), dpi);
}
