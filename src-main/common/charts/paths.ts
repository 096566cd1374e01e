/**
 * SVG path data for marks, shared by the screen (Svelte) and the figure exporter, so a line or a
 * marker is drawn from the same numbers in both. Coordinates are rounded to 0.01 user units: a
 * hundredth of a point is far below what a printer or a screen resolves, and it keeps files small.
 */
import type { LineMark, Point, SymbolMark } from './marks.ts';

export function round2(v: number): string {
  const r = Math.round(v * 100) / 100;
  return Object.is(r, -0) ? '0' : String(r);
}

/** "M x y L x y …" with a new subpath after every null (a gap in the data). */
export function linePath(points: LineMark['points']): string {
  let d = '';
  let pen = false;
  for (const p of points) {
    if (p === null || !Number.isFinite(p[0]) || !Number.isFinite(p[1])) {
      pen = false;
      continue;
    }
    d += `${pen ? 'L' : 'M'}${round2(p[0])} ${round2(p[1])}`;
    pen = true;
  }
  return d;
}

/** A marker of `shape` centred on (x, y); `size` is the half-width of its bounding box. */
export function symbolPath(shape: SymbolMark['shape'], x: number, y: number, size: number): string {
  const s = size;
  const pts = (list: Point[]) => 'M' + list.map(([px, py]) => `${round2(x + px)} ${round2(y + py)}`).join('L') + 'Z';
  switch (shape) {
    case 'circle':
      return `M${round2(x - s)} ${round2(y)}a${round2(s)} ${round2(s)} 0 1 0 ${round2(2 * s)} 0a${round2(s)} ${round2(s)} 0 1 0 ${round2(-2 * s)} 0Z`;
    case 'square':
      return pts([
        [-s, -s],
        [s, -s],
        [s, s],
        [-s, s],
      ]);
    case 'triangle':
      return pts([
        [0, -s],
        [s, s * 0.8],
        [-s, s * 0.8],
      ]);
    case 'diamond':
      return pts([
        [0, -s],
        [s, 0],
        [0, s],
        [-s, 0],
      ]);
    case 'cross':
      return `M${round2(x - s)} ${round2(y - s)}L${round2(x + s)} ${round2(y + s)}M${round2(x - s)} ${round2(y + s)}L${round2(x + s)} ${round2(y - s)}`;
    case 'plus':
      return `M${round2(x - s)} ${round2(y)}L${round2(x + s)} ${round2(y)}M${round2(x)} ${round2(y - s)}L${round2(x)} ${round2(y + s)}`;
  }
}

/** Whether a symbol is drawn by its stroke only (open shapes cannot be filled). */
export function isOpenSymbol(shape: SymbolMark['shape']): boolean {
  return shape === 'cross' || shape === 'plus';
}
