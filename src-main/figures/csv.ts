/**
 * The data behind a figure: its PlottedTable as CSV (RFC 4180: header row first, CRLF, quoting
 * where needed, numbers in shortest round-trip form, gaps as empty fields), and the JSON sidecar
 * (view state + export settings) that regenerates the figure.
 */
import type { PlottedTable } from '../common/charts/marks.ts';
import { MotlabError } from '../util/errors.ts';
import { FIGURE_FORMATS, requireDpi, resolveFigureSettings, settingsInput, type FigureFormat, type FigureSettings } from './presets.ts';

function csvField(value: number | string | null): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'number') {
    // NaN and ±Infinity as pandas, numpy and R read them back.
    if (Number.isNaN(value)) return 'NaN';
    if (!Number.isFinite(value)) return value > 0 ? 'Infinity' : '-Infinity';
    return String(value);
  }
  const text = String(value);
  return /[",\r\n]/.test(text) || text !== text.trim() ? `"${text.replace(/"/g, '""')}"` : text;
}

/** The table as CSV text: one header row of column names, then one row per table row. */
export function tableToCsv(table: PlottedTable): string {
  const width = table.columns.length;
  if (width === 0) throw new MotlabError('invalid_request', 'CSV export: the plotted table has no columns');
  const lines = [table.columns.map(csvField).join(',')];
  table.rows.forEach((row, i) => {
    if (row.length !== width)
      throw new MotlabError(
        'invalid_request',
        `CSV export: row ${i + 1} of the plotted table has ${row.length} values for ${width} columns`,
      );
    lines.push(row.map(csvField).join(','));
  });
  return lines.join('\r\n') + '\r\n';
}

export const FIGURE_SIDECAR_FORMAT = 'motlab-figure';
export const FIGURE_SIDECAR_VERSION = 1;

/** How the figure was exported, beside the view state (the sidecar's `export`). */
export interface FigureExportSettings extends FigureSettings {
  format: FigureFormat;
  /** PNG resolution, and that of raster layers in SVG and PDF. */
  dpi: number;
  /** EMA smoothing weight of the curves (null when the view has no smoothing). */
  smoothing: number | null;
}

export interface FigureSidecar {
  format: typeof FIGURE_SIDECAR_FORMAT;
  version: typeof FIGURE_SIDECAR_VERSION;
  /** The view's state (runs, checkpoints, layers, …), as the view defines it. */
  view: unknown;
  export: FigureExportSettings;
}

/** Throws unless `value` survives JSON unchanged (no NaN, Infinity, functions, bigints, cycles). */
function requireJsonable(value: unknown, path: string, seen: Set<object>): void {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new MotlabError('invalid_request', `figure sidecar: ${path} is ${value}, which JSON cannot hold`);
    return;
  }
  if (typeof value !== 'object')
    throw new MotlabError('invalid_request', `figure sidecar: ${path} is a ${typeof value}, which JSON cannot hold`);
  if (seen.has(value)) throw new MotlabError('invalid_request', `figure sidecar: ${path} refers back to itself`);
  seen.add(value);
  if (Array.isArray(value)) value.forEach((v, i) => requireJsonable(v, `${path}[${i}]`, seen));
  else {
    for (const [k, v] of Object.entries(value)) if (v !== undefined) requireJsonable(v, `${path}.${k}`, seen);
  }
  seen.delete(value);
}

/** The sidecar JSON (pretty-printed, trailing newline). */
export function figureSidecarJson(view: unknown, settings: FigureExportSettings): string {
  const sidecar: FigureSidecar = { format: FIGURE_SIDECAR_FORMAT, version: FIGURE_SIDECAR_VERSION, view, export: settings };
  requireJsonable(sidecar, 'sidecar', new Set());
  return JSON.stringify(sidecar, null, 2) + '\n';
}

/** Reads a sidecar written by figureSidecarJson; `source` (a file path) names it in errors. */
export function readFigureSidecar(text: string, source: string): FigureSidecar {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new MotlabError('invalid_request', `${source}: not a figure sidecar (invalid JSON: ${(error as Error).message})`);
  }
  const o = parsed as Partial<FigureSidecar> | null;
  if (!o || typeof o !== 'object' || o.format !== FIGURE_SIDECAR_FORMAT) {
    throw new MotlabError('invalid_request', `${source}: not a figure sidecar (no "format": "${FIGURE_SIDECAR_FORMAT}")`);
  }
  if (o.version !== FIGURE_SIDECAR_VERSION) {
    throw new MotlabError(
      'invalid_request',
      `${source}: figure sidecar version ${JSON.stringify(o.version)} is not ${FIGURE_SIDECAR_VERSION}`,
    );
  }
  const e = o.export as Partial<FigureExportSettings> | undefined;
  if (!e || typeof e !== 'object' || typeof e.preset !== 'string') {
    throw new MotlabError('invalid_request', `${source}: figure sidecar has no "export" settings with a preset`);
  }
  if (!(FIGURE_FORMATS as readonly unknown[]).includes(e.format)) {
    throw new MotlabError(
      'invalid_request',
      `${source}: figure sidecar format ${JSON.stringify(e.format)} is not one of ${FIGURE_FORMATS.join(', ')}`,
    );
  }
  if (!('view' in o)) throw new MotlabError('invalid_request', `${source}: figure sidecar has no "view"`);
  let settings: FigureSettings;
  try {
    settings = resolveFigureSettings(settingsInput(e as FigureSettings));
    requireDpi(e.dpi as number);
  } catch (error) {
    throw new MotlabError('invalid_request', `${source}: ${(error as Error).message}`);
  }
  const smoothing = e.smoothing ?? null;
  if (smoothing !== null && (typeof smoothing !== 'number' || !(smoothing >= 0 && smoothing < 1))) {
    throw new MotlabError('invalid_request', `${source}: figure sidecar smoothing ${JSON.stringify(smoothing)} is not a weight in [0, 1)`);
  }
  return {
    format: FIGURE_SIDECAR_FORMAT,
    version: FIGURE_SIDECAR_VERSION,
    view: o.view,
    export: { ...settings, format: e.format as FigureFormat, dpi: e.dpi as number, smoothing },
  };
}
