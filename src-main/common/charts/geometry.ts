/** Boxes, text and polyline clipping: the small geometry every chart shares. */
import type { Point, TextMark } from './marks.ts';

export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface Margins {
  top: number;
  right: number;
  bottom: number;
  left: number;
}

export function inset(box: Box, m: Margins): Box {
  return {
    x: box.x + m.left,
    y: box.y + m.top,
    width: Math.max(1, box.width - m.left - m.right),
    height: Math.max(1, box.height - m.top - m.bottom),
  };
}

/** The smallest box holding all `boxes`. */
export function union(boxes: readonly Box[]): Box {
  const x0 = Math.min(...boxes.map((b) => b.x));
  const y0 = Math.min(...boxes.map((b) => b.y));
  const x1 = Math.max(...boxes.map((b) => b.x + b.width));
  const y1 = Math.max(...boxes.map((b) => b.y + b.height));
  return { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
}

export function text(
  x: number,
  y: number,
  value: string,
  fontSize: number,
  fill: string,
  anchor: TextMark['anchor'],
  baseline: TextMark['baseline'],
  extra: Partial<Pick<TextMark, 'weight' | 'rotate' | 'key'>> = {},
): TextMark {
  return { kind: 'text', x, y, text: value, fontSize, fill, anchor, baseline, ...extra };
}

/** Whether (x, y) lies in the box (edges included, with a little slack for rounding). */
export function contains(box: Box, x: number, y: number, slack = 1e-6): boolean {
  return x >= box.x - slack && x <= box.x + box.width + slack && y >= box.y - slack && y <= box.y + box.height + slack;
}

const WHOLE: [number, number] = [0, 1];

/** The part of segment a→b inside the box (Liang–Barsky) as parameters [t0, t1], or null. */
function clipSegment(a: Point, b: Point, box: Box): [number, number] | null {
  const dx = b[0] - a[0];
  const dy = b[1] - a[1];
  let t0 = 0;
  let t1 = 1;
  // Each edge: p·t ≤ q keeps the point inside.
  const edge = (p: number, q: number): boolean => {
    if (p === 0) return q >= 0;
    const t = q / p;
    if (p < 0) t0 = Math.max(t0, t);
    else t1 = Math.min(t1, t);
    return t0 <= t1;
  };
  if (!edge(-dx, a[0] - box.x) || !edge(dx, box.x + box.width - a[0]) || !edge(-dy, a[1] - box.y) || !edge(dy, box.y + box.height - a[1]))
    return null;
  return [t0, t1];
}

/**
 * A polyline cut to the box: parts outside become gaps (null), segments crossing the edge end
 * exactly on it. Null entries of the input are gaps too. Runs are separated by one null; no
 * leading or trailing null. Single points inside the box survive as one-point runs.
 */
export function clipPolyline(points: readonly (Point | null)[], box: Box): (Point | null)[] {
  const out: (Point | null)[] = [];
  let open = false; // the last output point ends a run that may continue
  const breakRun = (): void => {
    if (out.length > 0 && out[out.length - 1] !== null) out.push(null);
    open = false;
  };
  for (let i = 0; i < points.length; i++) {
    const p = points[i];
    if (p === null) {
      breakRun();
      continue;
    }
    const prev = i > 0 ? points[i - 1] : null;
    if (prev === null) {
      if (contains(box, p[0], p[1], 0)) {
        out.push(p);
        open = true;
      }
      continue;
    }
    const t = contains(box, prev[0], prev[1], 0) && contains(box, p[0], p[1], 0) ? WHOLE : clipSegment(prev, p, box);
    if (t === null) {
      breakRun();
      continue;
    }
    const at = (s: number): Point => [prev[0] + s * (p[0] - prev[0]), prev[1] + s * (p[1] - prev[1])];
    if (!(open && t[0] === 0)) {
      breakRun();
      out.push(t[0] === 0 ? prev : at(t[0]));
    }
    out.push(t[1] === 1 ? p : at(t[1]));
    open = t[1] === 1;
    if (!open) breakRun();
  }
  if (out.length > 0 && out[out.length - 1] === null) out.pop();
  return out;
}
