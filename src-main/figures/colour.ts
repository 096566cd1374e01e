/**
 * CSS colours of chart marks, parsed once: the SVG writer emits every colour as #rrggbb plus an
 * opacity attribute (what LaTeX's SVG tools, Inkscape, svg-to-pdfkit and resvg all read the
 * same way), and the raster layers need the channels.
 */
import { MotlabError } from '../common/errors.ts';

export interface Rgba {
  r: number;
  g: number;
  b: number;
  /** 0..1 */
  a: number;
}

/** CSS Level 1 keywords, plus grey and transparent: charts take colours from palette.ts, these are for hand-made marks. */
const NAMED: Record<string, string> = {
  black: '#000000',
  silver: '#c0c0c0',
  gray: '#808080',
  grey: '#808080',
  white: '#ffffff',
  maroon: '#800000',
  red: '#ff0000',
  purple: '#800080',
  fuchsia: '#ff00ff',
  green: '#008000',
  lime: '#00ff00',
  olive: '#808000',
  yellow: '#ffff00',
  navy: '#000080',
  blue: '#0000ff',
  teal: '#008080',
  aqua: '#00ffff',
  orange: '#ffa500',
  transparent: '#00000000',
};

const cache = new Map<string, Rgba>();

function invalid(colour: string): MotlabError {
  return new MotlabError(
    'invalid_request',
    `figure colour ${JSON.stringify(colour)} is not a colour the exporter reads (use #rgb, #rrggbb, #rrggbbaa, rgb() or rgba())`,
  );
}

function channel(text: string, colour: string): number {
  const value = text.endsWith('%') ? (Number(text.slice(0, -1)) * 255) / 100 : Number(text);
  if (!Number.isFinite(value)) throw invalid(colour);
  return Math.min(255, Math.max(0, Math.round(value)));
}

function alpha(text: string | undefined, colour: string): number {
  if (text === undefined) return 1;
  const value = text.endsWith('%') ? Number(text.slice(0, -1)) / 100 : Number(text);
  if (!Number.isFinite(value)) throw invalid(colour);
  return Math.min(1, Math.max(0, value));
}

function parseUncached(colour: string): Rgba {
  const text = colour.trim().toLowerCase();
  const hex = NAMED[text] ?? text;
  let m = /^#([0-9a-f]{3,4})$/.exec(hex);
  if (m) {
    const d = m[1].split('').map((c) => parseInt(c + c, 16));
    return { r: d[0], g: d[1], b: d[2], a: d.length === 4 ? d[3] / 255 : 1 };
  }
  m = /^#([0-9a-f]{6}|[0-9a-f]{8})$/.exec(hex);
  if (m) {
    const v = m[1];
    return {
      r: parseInt(v.slice(0, 2), 16),
      g: parseInt(v.slice(2, 4), 16),
      b: parseInt(v.slice(4, 6), 16),
      a: v.length === 8 ? parseInt(v.slice(6, 8), 16) / 255 : 1,
    };
  }
  m = /^rgba?\(\s*([^,\s)]+)\s*[,\s]\s*([^,\s)]+)\s*[,\s]\s*([^,\s)/]+)\s*(?:[,/]\s*([^\s)]+)\s*)?\)$/.exec(text);
  if (m) return { r: channel(m[1], colour), g: channel(m[2], colour), b: channel(m[3], colour), a: alpha(m[4], colour) };
  throw invalid(colour);
}

export function parseColour(colour: string): Rgba {
  let parsed = cache.get(colour);
  if (!parsed) {
    parsed = parseUncached(colour);
    if (cache.size > 4096) cache.clear();
    cache.set(colour, parsed);
  }
  return parsed;
}

/** #rrggbb of a parsed colour (alpha is written separately). */
export function hexOf(c: Rgba): string {
  return '#' + [c.r, c.g, c.b].map((v) => v.toString(16).padStart(2, '0')).join('');
}
