/**
 * Figure settings for papers: size presets in inches (venue column and full widths), custom
 * `WxH` sizes, aspect, font sizes in points, palette, legend position and title → the light
 * ChartTheme and the ChartSize (points) a chart function takes. Exports are always light.
 * Nothing here touches Node, so the export dialog can share it.
 */
import type { ChartSize } from '../common/charts/marks.ts';
import {
  CATEGORICAL_PALETTE_NAMES,
  FIGURE_FONT_FAMILY,
  chartTheme,
  type CategoricalPaletteName,
  type ChartTheme,
} from '../common/palette.ts';
import { MotlabError } from '../util/errors.ts';

/** Widths in inches: ICML/AISTATS/CVPR column and full width, NeurIPS/ICLR text width, IEEE column and full width. */
export const FIGURE_SIZE_PRESETS = {
  'icml-column': 3.25,
  'icml-full': 6.75,
  neurips: 5.5,
  'ieee-column': 3.5,
  'ieee-full': 7.16,
} as const;
export type FigureSizePresetName = keyof typeof FIGURE_SIZE_PRESETS;
export const FIGURE_SIZE_PRESET_NAMES = Object.keys(FIGURE_SIZE_PRESETS) as FigureSizePresetName[];

/** Height / width when the size does not give a height (the golden ratio's 0.618). */
export const DEFAULT_ASPECT = 0.618;
export const DEFAULT_LABEL_FONT_PT = 8;
export const DEFAULT_TICK_FONT_PT = 7;

export const LEGEND_POSITIONS = ['right', 'top', 'bottom', 'none'] as const;
export type LegendPosition = (typeof LEGEND_POSITIONS)[number];

/** What a person picks in the export dialog or on the command line; everything optional. */
export interface FigureSettingsInput {
  /** A preset name or a custom size `WxH` in inches ("4x2.5"); default icml-column. */
  preset?: string;
  /** Height / width for presets (not for `WxH`, which gives its height); default 0.618. */
  aspect?: number;
  /** Axis labels, titles, in points (default 8). */
  fontSize?: number;
  /** Ticks and legend, in points (default 7, or fontSize − 1 when only fontSize is given). */
  tickFontSize?: number;
  palette?: string;
  legend?: string;
  /** Whether the figure shows its title (default true). */
  title?: boolean;
}

/** Resolved settings: everything a chart function and the sidecar need, sizes in inches. */
export interface FigureSettings {
  preset: string;
  widthInches: number;
  heightInches: number;
  fontSize: number;
  tickFontSize: number;
  palette: CategoricalPaletteName;
  legend: LegendPosition;
  title: boolean;
}

function invalid(message: string): MotlabError {
  return new MotlabError('invalid_request', `figure settings: ${message}`);
}

const SIZE_RANGE_IN = [0.5, 40] as const;
const ASPECT_RANGE = [0.05, 5] as const;
const FONT_RANGE_PT = [3, 48] as const;

function inRange(name: string, value: number, [lo, hi]: readonly [number, number], unit: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < lo || value > hi) {
    throw invalid(`${name} ${typeof value === 'number' ? value : JSON.stringify(value)} is not between ${lo} and ${hi}${unit}`);
  }
  return value;
}

/** A preset name or `WxH` (inches, `x` or `×`, optional `in`) → width and, for WxH, height in inches. */
export function parseFigureSize(preset: string): { widthInches: number; heightInches?: number } {
  const name = preset.trim().toLowerCase();
  if (Object.hasOwn(FIGURE_SIZE_PRESETS, name)) return { widthInches: FIGURE_SIZE_PRESETS[name as FigureSizePresetName] };
  const m = /^(\d+(?:\.\d+)?|\.\d+)\s*(?:in)?\s*[x×]\s*(\d+(?:\.\d+)?|\.\d+)\s*(?:in)?$/.exec(name);
  if (!m) {
    throw invalid(
      `size ${JSON.stringify(preset)} is neither a preset (${FIGURE_SIZE_PRESET_NAMES.join(', ')}) nor a custom size WxH in inches (e.g. 4x2.5)`,
    );
  }
  return {
    widthInches: inRange('width', Number(m[1]), SIZE_RANGE_IN, ' in'),
    heightInches: inRange('height', Number(m[2]), SIZE_RANGE_IN, ' in'),
  };
}

export function resolveFigureSettings(input: FigureSettingsInput = {}): FigureSettings {
  const preset = (input.preset ?? 'icml-column').trim().toLowerCase();
  const size = parseFigureSize(preset);
  if (size.heightInches !== undefined && input.aspect !== undefined) {
    throw invalid(`the custom size ${preset} gives the height already; an aspect applies to named presets only`);
  }
  const aspect = input.aspect === undefined ? DEFAULT_ASPECT : inRange('aspect', input.aspect, ASPECT_RANGE, '');
  const heightInches = size.heightInches ?? inRange('height', Math.round(size.widthInches * aspect * 10000) / 10000, SIZE_RANGE_IN, ' in');
  const fontSize = input.fontSize === undefined ? DEFAULT_LABEL_FONT_PT : inRange('font size', input.fontSize, FONT_RANGE_PT, ' pt');
  const tickFontSize =
    input.tickFontSize !== undefined
      ? inRange('tick font size', input.tickFontSize, FONT_RANGE_PT, ' pt')
      : input.fontSize !== undefined
        ? Math.max(FONT_RANGE_PT[0], fontSize - 1)
        : DEFAULT_TICK_FONT_PT;
  const palette = input.palette ?? 'okabe-ito';
  if (!(CATEGORICAL_PALETTE_NAMES as string[]).includes(palette)) {
    throw invalid(`palette ${JSON.stringify(palette)} is not one of ${CATEGORICAL_PALETTE_NAMES.join(', ')}`);
  }
  const legend = input.legend ?? 'right';
  if (!(LEGEND_POSITIONS as readonly string[]).includes(legend)) {
    throw invalid(`legend position ${JSON.stringify(legend)} is not one of ${LEGEND_POSITIONS.join(', ')}`);
  }
  if (input.title !== undefined && typeof input.title !== 'boolean')
    throw invalid(`title must be true or false, got ${JSON.stringify(input.title)}`);
  return {
    preset,
    widthInches: size.widthInches,
    heightInches,
    fontSize,
    tickFontSize,
    palette: palette as CategoricalPaletteName,
    legend: legend as LegendPosition,
    title: input.title ?? true,
  };
}

/** The figure's size in points (what chart functions take; 1 user unit = 1 pt in figures). */
export function figureSize(settings: FigureSettings): ChartSize {
  return { width: settings.widthInches * 72, height: settings.heightInches * 72 };
}

/** The light theme in the shipped font at the settings' font sizes and palette. */
export function figureTheme(settings: FigureSettings): ChartTheme {
  return chartTheme('light', {
    fontFamily: FIGURE_FONT_FAMILY,
    fontSize: settings.fontSize,
    tickFontSize: settings.tickFontSize,
    palette: settings.palette,
  });
}

/** The input that resolves to these settings again (for a saved sidecar). */
export function settingsInput(settings: FigureSettings): FigureSettingsInput {
  const custom = parseFigureSize(settings.preset).heightInches !== undefined;
  return {
    preset: settings.preset,
    aspect: custom ? undefined : settings.heightInches / settings.widthInches,
    fontSize: settings.fontSize,
    tickFontSize: settings.tickFontSize,
    palette: settings.palette,
    legend: settings.legend,
    title: settings.title,
  };
}

export const FIGURE_FORMATS = ['pdf', 'svg', 'png', 'csv'] as const;
export type FigureFormat = (typeof FIGURE_FORMATS)[number];

/** Default PNG resolution (600 for line art), also the resolution of raster layers in SVG and PDF. */
export const DEFAULT_FIGURE_DPI = 300;

/** Checks a resolution in dots per inch (1–2400). */
export function requireDpi(dpi: number): void {
  if (typeof dpi !== 'number' || !Number.isFinite(dpi) || dpi <= 0 || dpi > 2400)
    throw invalid(`dpi ${JSON.stringify(dpi)} is not between 1 and 2400`);
}
