/**
 * The data behind a figure: its PlottedTable as CSV (RFC 4180: header row first, CRLF, quoting
 * where needed, numbers in shortest round-trip form, gaps as empty fields), and the JSON sidecar
 * (view state + figure options) that regenerates the figure.
 */
import type { PlottedTable } from '../common/charts/marks.ts';
import { MotlabError } from '../common/errors.ts';
import { viewStateSchema, type FigureOptions, type ViewState } from '../common/views.ts';
import { figureLayout, parseFigureOptions } from './presets.ts';

function numberField(value: number): string {
  // NaN and ±Infinity as pandas, numpy and R read them back.
  if (Number.isNaN(value)) return 'NaN';
  if (!Number.isFinite(value)) return value > 0 ? 'Infinity' : '-Infinity';
  return String(value);
}

function textField(text: string): string {
  return /[",\r\n]/.test(text) || text !== text.trim() ? `"${text.replace(/"/g, '""')}"` : text;
}

function csvField(value: number | string | null): string {
  if (value === null || value === undefined) return '';
  return typeof value === 'number' ? numberField(value) : textField(String(value));
}

/** The table as CSV text: one header row of column names, then one row per table row. */
export function tableToCsv(table: PlottedTable): string {
  const width = table.columns.length;
  if (width === 0) throw new MotlabError('invalid_request', 'CSV export: the plotted table has no columns');
  // Text cells repeat (modality and run names on every row): each distinct one is quoted once.
  const quoted = new Map<string, string>();
  const lines = [table.columns.map(csvField).join(',')];
  const rows = table.rows;
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i];
    if (row.length !== width)
      throw new MotlabError(
        'invalid_request',
        `CSV export: row ${i + 1} of the plotted table has ${row.length} values for ${width} columns`,
      );
    let line = '';
    for (let j = 0; j < width; j++) {
      const value = row[j];
      if (j > 0) line += ',';
      if (typeof value === 'number') line += numberField(value);
      else if (typeof value === 'string') {
        let field = quoted.get(value);
        if (field === undefined) quoted.set(value, (field = textField(value)));
        line += field;
      } else line += csvField(value);
    }
    lines.push(line);
  }
  return lines.join('\r\n') + '\r\n';
}

export const FIGURE_SIDECAR_FORMAT = 'motlab-figure';
export const FIGURE_SIDECAR_VERSION = 1;

/** What regenerates a figure: the view's state and the figure options (`motlab figure --spec`). */
export interface FigureSpec {
  view: ViewState;
  figure: FigureOptions;
}

/** The JSON written beside every exported figure: its spec, plus what was drawn, for the reader. */
export interface FigureSidecar extends FigureSpec {
  format: typeof FIGURE_SIDECAR_FORMAT;
  version: typeof FIGURE_SIDECAR_VERSION;
  /** The size drawn, in inches (the preset's width; height from WxH or the aspect). */
  size: { widthInches: number; heightInches: number };
  /** EMA smoothing weight of the curves, null for views without smoothing. */
  smoothing: number | null;
}

function parseView(input: unknown, source: string): ViewState {
  const parsed = viewStateSchema.safeParse(input);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => (i.path.length ? `${i.path.map(String).join('.')}: ${i.message}` : i.message)).join('; ');
    throw new MotlabError('invalid_request', `${source}: the view state is not valid (${issues})`);
  }
  return parsed.data;
}

/** The sidecar JSON (pretty-printed, trailing newline); view and options are checked first. */
export function figureSidecarJson(view: ViewState, figure: FigureOptions): string {
  const spec = { view: parseView(view, 'figure sidecar'), figure: parseFigureOptions(figure, 'figure sidecar') };
  const layout = figureLayout(spec.figure);
  const sidecar: FigureSidecar = {
    format: FIGURE_SIDECAR_FORMAT,
    version: FIGURE_SIDECAR_VERSION,
    ...spec,
    size: { widthInches: layout.widthInches, heightInches: layout.heightInches },
    smoothing: 'smoothing' in spec.view ? spec.view.smoothing : null,
  };
  return JSON.stringify(sidecar, null, 2) + '\n';
}

/**
 * Reads a figure spec: a sidecar written by figureSidecarJson, or a bare view state (as the app
 * saves it; figure options then take their defaults). `source` (a file path) names it in errors.
 */
export function readFigureSpec(text: string, source: string): FigureSpec {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new MotlabError('invalid_request', `${source}: not a figure spec (invalid JSON: ${(error as Error).message})`);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new MotlabError('invalid_request', `${source}: not a figure spec (a JSON object with a view state was expected)`);
  }
  const o = parsed as Record<string, unknown>;
  if (o.format === undefined && 'kind' in o) return { view: parseView(o, source), figure: parseFigureOptions({}, source) };
  if (o.format !== FIGURE_SIDECAR_FORMAT) {
    throw new MotlabError(
      'invalid_request',
      `${source}: not a figure spec (neither a view state nor "format": "${FIGURE_SIDECAR_FORMAT}")`,
    );
  }
  if (o.version !== FIGURE_SIDECAR_VERSION) {
    throw new MotlabError(
      'invalid_request',
      `${source}: figure sidecar version ${JSON.stringify(o.version)} is not ${FIGURE_SIDECAR_VERSION}`,
    );
  }
  return { view: parseView(o.view, source), figure: parseFigureOptions(o.figure, source) };
}
