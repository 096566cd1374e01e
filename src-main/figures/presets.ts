/**
 * Figure options (common/views.ts: size preset or `WxH` inches, aspect, font size, palette,
 * legend, title, format, dpi) → what a chart function takes for a figure: the light theme in
 * the shipped font, and the size in points (1 user unit = 1 pt in figures).
 */
import type { ChartOptions } from '../common/charts/layout.ts';
import type { ChartSize } from '../common/charts/marks.ts';
import { MotlabError } from '../common/errors.ts';
import { FIGURE_FONT_FAMILY, chartTheme, type CategoricalPaletteName, type ChartTheme } from '../common/palette.ts';
import { SIZE_PRESETS, figureOptionsSchema, type FigureOptions, type SizePresetName } from '../common/views.ts';

/** Ticks and legend are this much smaller than labels (8 pt labels → 7 pt ticks). */
export const TICK_FONT_STEP_PT = 1;

/** A zod error as one readable line: "field: problem; field: problem". */
function describeIssues(error: { issues: readonly { path: readonly PropertyKey[]; message: string }[] }): string {
  return error.issues.map((i) => (i.path.length ? `${i.path.map(String).join('.')}: ${i.message}` : i.message)).join('; ');
}

/** Checks figure options (missing fields take their defaults); errors say which field and why. */
export function parseFigureOptions(input: unknown, source = 'figure options'): FigureOptions {
  const parsed = figureOptionsSchema.safeParse(input ?? {});
  if (!parsed.success) throw new MotlabError('invalid_request', `${source}: ${describeIssues(parsed.error)}`);
  return parsed.data;
}

/** Checks a resolution against the figure options' dpi range. */
export function requireDpi(dpi: number): void {
  const parsed = figureOptionsSchema.shape.dpi.safeParse(dpi);
  if (!parsed.success) throw new MotlabError('invalid_request', `figure export: dpi ${dpi}: ${describeIssues(parsed.error)}`);
}

/** A preset name or `WxH` → width and, for `WxH`, height, in inches. */
export function parseFigureSize(preset: string): { widthInches: number; heightInches?: number } {
  if (Object.hasOwn(SIZE_PRESETS, preset)) return { widthInches: SIZE_PRESETS[preset as SizePresetName] };
  const m = /^(\d+(?:\.\d+)?)x(\d+(?:\.\d+)?)$/.exec(preset);
  const width = m ? Number(m[1]) : NaN;
  const height = m ? Number(m[2]) : NaN;
  if (!(width > 0 && height > 0)) {
    throw new MotlabError(
      'invalid_request',
      `figure size ${JSON.stringify(preset)} is neither a preset (${Object.keys(SIZE_PRESETS).join(', ')}) nor a positive WxH in inches (e.g. 3.25x2)`,
    );
  }
  return { widthInches: width, heightInches: height };
}

/** What a chart function takes to draw a figure, and the size in inches for the sidecar. */
export interface FigureLayout {
  size: ChartSize;
  theme: ChartTheme;
  /** Spread into the chart's options: `chart(data, size, theme, { ...options, title })`. */
  options: Required<Pick<ChartOptions, 'showTitle' | 'legend'>>;
  widthInches: number;
  heightInches: number;
}

export function figureLayout(options: FigureOptions): FigureLayout {
  const size = parseFigureSize(options.preset);
  // Heights from an aspect are kept to 0.0001 in, so the sidecar shows the size that was drawn.
  const heightInches = size.heightInches ?? Math.round(size.widthInches * options.aspect * 10_000) / 10_000;
  return {
    size: { width: size.widthInches * 72, height: heightInches * 72 },
    theme: chartTheme('light', {
      fontFamily: FIGURE_FONT_FAMILY,
      fontSize: options.fontSize,
      tickFontSize: options.fontSize - TICK_FONT_STEP_PT,
      palette: options.palette as CategoricalPaletteName,
    }),
    options: { showTitle: options.title, legend: options.legend },
    widthInches: size.widthInches,
    heightInches,
  };
}

/** PNG resolution, and that of raster layers in SVG and PDF, when none is given (the options' default, 300). */
export const DEFAULT_FIGURE_DPI: number = figureOptionsSchema.parse({}).dpi;
