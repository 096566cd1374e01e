/**
 * Series drawn as lines inside a frame (loss curves, separability and drift curves, fit lines):
 * projection through the axes, gaps for missing values, clipping to the frame, optional
 * markers; and which points of a series are visible in an x domain (for the plotted table).
 */
import { MotlabError } from '../errors.ts';
import type { MarkerShape } from '../palette.ts';
import { drawable, type NumericAxis } from './axes.ts';
import { clipPolyline, contains, type Box } from './geometry.ts';
import type { Mark, Point } from './marks.ts';

export interface PlotLine {
  key: string;
  x: ArrayLike<number>;
  y: ArrayLike<number | null>;
  stroke: string;
  strokeWidth: number;
  dash?: readonly number[];
  opacity?: number;
  /** A symbol at every data point (validation points, points of short curves). */
  marker?: { shape: MarkerShape; size: number };
  /** Join the points with a line (default true); false draws the markers only. */
  connect?: boolean;
}

/**
 * Points of a series in user units. A missing or undrawable y is a gap (null); a point whose x
 * cannot be drawn (x ≤ 0 on a log axis, e.g. step 0) is left out without breaking the line.
 */
export function project(x: ArrayLike<number>, y: ArrayLike<number | null>, xAxis: NumericAxis, yAxis: NumericAxis): (Point | null)[] {
  if (x.length !== y.length) throw new MotlabError('invalid_request', `a series has ${x.length} x values and ${y.length} y values`);
  const points: (Point | null)[] = [];
  for (let i = 0; i < x.length; i++) {
    if (!drawable(x[i], xAxis.kind)) continue;
    const v = y[i];
    points.push(drawable(v, yAxis.kind) ? [xAxis.map(x[i]), yAxis.map(v)] : null);
  }
  return points;
}

/** Dash pattern in user units: palette dashes are in units of the line width. */
export function scaledDash(pattern: readonly number[] | undefined, strokeWidth: number): readonly number[] | undefined {
  return pattern && pattern.length > 0 ? pattern.map((d) => d * strokeWidth) : undefined;
}

/**
 * The marks of one series in a frame: the clipped polyline, and markers at the data points
 * inside the frame; without markers, a dot for each point standing alone between gaps (a line
 * would not show it).
 */
export function lineMarks(line: PlotLine, frame: Box, xAxis: NumericAxis, yAxis: NumericAxis): Mark[] {
  const points = project(line.x, line.y, xAxis, yAxis);
  const clipped = clipPolyline(points, frame);
  const marks: Mark[] = [];
  const style = { stroke: line.stroke, strokeWidth: line.strokeWidth, dash: line.dash, opacity: line.opacity, key: line.key };
  if (clipped.length > 0 && line.connect !== false) marks.push({ kind: 'line', points: clipped, ...style });
  if (line.marker) {
    for (const p of points) {
      if (p && contains(frame, p[0], p[1], 0))
        marks.push({
          kind: 'symbol',
          x: p[0],
          y: p[1],
          size: line.marker.size,
          shape: line.marker.shape,
          fill: line.stroke,
          opacity: line.opacity,
          key: line.key,
        });
    }
  } else {
    for (let i = 0; i < clipped.length; i++) {
      const p = clipped[i];
      if (p && (i === 0 || clipped[i - 1] === null) && (i === clipped.length - 1 || clipped[i + 1] === null)) {
        marks.push({
          kind: 'symbol',
          x: p[0],
          y: p[1],
          size: line.strokeWidth,
          shape: 'circle',
          fill: line.stroke,
          opacity: line.opacity,
          key: line.key,
        });
      }
    }
  }
  return marks;
}

/**
 * Indices of the points a line in `domain` draws: those inside it and their neighbours (the
 * segments that cross the frame's edge). Without a domain, all indices.
 */
export function visibleIndices(x: ArrayLike<number>, domain: readonly [number, number] | null): number[] {
  if (!domain) return Array.from({ length: x.length }, (_, i) => i);
  const lo = Math.min(domain[0], domain[1]);
  const hi = Math.max(domain[0], domain[1]);
  const inside = (i: number): boolean => i >= 0 && i < x.length && x[i] >= lo && x[i] <= hi;
  const out: number[] = [];
  for (let i = 0; i < x.length; i++) if (inside(i) || inside(i - 1) || inside(i + 1)) out.push(i);
  return out;
}

/**
 * Points along what a frame draws (line vertices and points every `spacing` units along each
 * segment, symbols, point clouds), sampled down to `limit`: where a legend would cover data.
 */
export function drawnPoints(marks: readonly Mark[], spacing = 4, limit = 4000): Point[] {
  const out: Point[] = [];
  const walk = (list: readonly Mark[]): void => {
    for (const m of list) {
      if (m.kind === 'line') {
        m.points.forEach((p, i) => {
          if (!p) return;
          out.push(p);
          const q = m.points[i + 1];
          if (!q) return;
          const steps = Math.floor(Math.hypot(q[0] - p[0], q[1] - p[1]) / spacing);
          for (let k = 1; k < steps; k++) out.push([p[0] + ((q[0] - p[0]) * k) / steps, p[1] + ((q[1] - p[1]) * k) / steps]);
        });
      }
      if (m.kind === 'symbol') out.push([m.x, m.y]);
      if (m.kind === 'points') for (let i = 0; i < m.x.length; i++) out.push([m.x[i], m.y[i]]);
      if (m.kind === 'group') walk(m.marks);
    }
  };
  walk(marks);
  if (out.length <= limit) return out;
  const step = out.length / limit;
  return Array.from({ length: limit }, (_, i) => out[Math.floor(i * step)]);
}
