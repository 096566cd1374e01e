/**
 * The one entry for exporting a figure, used by the CLI (`motlab figure`) and by the app through
 * the API, so the same geometry gives the same file from both: ChartGeometry → PDF, SVG, PNG or
 * the CSV of what was plotted.
 */
import type { ChartGeometry } from '../common/charts/marks.ts';
import { MotlabError } from '../common/errors.ts';
import { tableToCsv } from './csv.ts';
import { geometryToPdf } from './pdf.ts';
import { svgToPng } from './png.ts';
import { FIGURE_FORMATS, type FigureFormat } from '../common/views.ts';
import { DEFAULT_FIGURE_DPI } from './presets.ts';
import { geometryToSvg } from './svg.ts';

export interface ExportFigureOptions {
  format: FigureFormat;
  /** PNG resolution; for SVG and PDF, the resolution of their raster layers. Default 300. */
  dpi?: number;
  /** PDF creation date (default now): fix it to get byte-identical PDFs. */
  creationDate?: Date;
}

export const FIGURE_MIME_TYPES: Record<FigureFormat, string> = {
  pdf: 'application/pdf',
  svg: 'image/svg+xml',
  png: 'image/png',
  csv: 'text/csv',
};

/** SVG and CSV come back as text, PDF and PNG as bytes. */
export function exportFigure(geometry: ChartGeometry, options: ExportFigureOptions & { format: 'svg' | 'csv' }): Promise<string>;
export function exportFigure(geometry: ChartGeometry, options: ExportFigureOptions & { format: 'pdf' | 'png' }): Promise<Buffer>;
export function exportFigure(geometry: ChartGeometry, options: ExportFigureOptions): Promise<Buffer | string>;
export async function exportFigure(geometry: ChartGeometry, options: ExportFigureOptions): Promise<Buffer | string> {
  const dpi = options.dpi ?? DEFAULT_FIGURE_DPI;
  switch (options.format) {
    case 'svg':
      return geometryToSvg(geometry, { rasterDpi: dpi });
    case 'pdf':
      return geometryToPdf(geometry, { rasterDpi: dpi, creationDate: options.creationDate });
    case 'png':
      return svgToPng(geometryToSvg(geometry, { rasterDpi: dpi }), { dpi });
    case 'csv':
      return tableToCsv(geometry.table);
    default:
      throw new MotlabError(
        'invalid_request',
        `figure format ${JSON.stringify(options.format)} is not one of ${FIGURE_FORMATS.join(', ')}`,
      );
  }
}
