/**
 * Zoom and pan of a chart's x domain (any analysis view): pure functions on [from, to] in data
 * units, linear or log (a log axis zooms and pans in log space, so the same gesture moves the same
 * distance on screen everywhere). Domains stay within the data's limits and never collapse.
 */
export type Domain = readonly [number, number];

/**
 * Where a chart's read-out is: a position on the x axis (data units) in one frame (panel) of one
 * chart (charts sharing a cursor all draw its line; the one named shows the read-out).
 */
export interface ChartCursor {
  x: number;
  frame: string;
  chart?: string;
}
export type AxisScale = 'linear' | 'log';

/** The smallest visible span, as a fraction of the limits' span (linear) or of a decade (log). */
const MIN_SPAN = 1e-6;

const toT = (v: number, scale: AxisScale): number => (scale === 'log' ? Math.log(v) : v);
const fromT = (t: number, scale: AxisScale): number => (scale === 'log' ? Math.exp(t) : t);

/** Limits usable on the scale (a log axis needs positive ones: pass the smallest positive x). */
function usableLimits(limits: Domain | null, scale: AxisScale): Domain | null {
  if (!limits || !(limits[0] < limits[1])) return null;
  return scale === 'log' && limits[0] <= 0 ? null : limits;
}

/** The domain moved (keeping its span) and shrunk if needed so it lies within `limits`. */
export function clampDomain(domain: Domain, scale: AxisScale, limits: Domain | null): [number, number] {
  const lim = usableLimits(limits, scale);
  let t0 = toT(domain[0], scale);
  let t1 = toT(domain[1], scale);
  if (!lim) return [domain[0], domain[1]];
  const l0 = toT(lim[0], scale);
  const l1 = toT(lim[1], scale);
  const minSpan = scale === 'log' ? MIN_SPAN : Math.max((l1 - l0) * MIN_SPAN, Number.MIN_VALUE);
  if (t1 - t0 < minSpan) {
    const mid = (t0 + t1) / 2;
    t0 = mid - minSpan / 2;
    t1 = mid + minSpan / 2;
  }
  if (t1 - t0 >= l1 - l0) return [lim[0], lim[1]];
  if (t0 < l0) [t0, t1] = [l0, l0 + (t1 - t0)];
  if (t1 > l1) [t0, t1] = [l1 - (t1 - t0), l1];
  return [fromT(t0, scale), fromT(t1, scale)];
}

/**
 * Zoomed by `factor` about `centre` (data units): factor < 1 zooms in (0.5 shows half the span),
 * > 1 out. The point under the pointer stays where it is.
 */
export function zoomDomain(domain: Domain, centre: number, factor: number, scale: AxisScale, limits: Domain | null): [number, number] {
  const c = toT(centre, scale);
  const t0 = toT(domain[0], scale);
  const t1 = toT(domain[1], scale);
  return clampDomain([fromT(c + (t0 - c) * factor, scale), fromT(c + (t1 - c) * factor, scale)], scale, limits);
}

/** Moved by `fraction` of the visible span (positive: towards larger x). */
export function panDomain(domain: Domain, fraction: number, scale: AxisScale, limits: Domain | null): [number, number] {
  const t0 = toT(domain[0], scale);
  const t1 = toT(domain[1], scale);
  const d = (t1 - t0) * fraction;
  return clampDomain([fromT(t0 + d, scale), fromT(t1 + d, scale)], scale, limits);
}

/** Whether the domain shows all of the limits (no zoom in effect). */
export function coversLimits(domain: Domain, limits: Domain | null, scale: AxisScale): boolean {
  const lim = usableLimits(limits, scale);
  if (!lim) return true;
  const tol = (toT(lim[1], scale) - toT(lim[0], scale)) * 1e-9;
  return toT(domain[0], scale) <= toT(lim[0], scale) + tol && toT(domain[1], scale) >= toT(lim[1], scale) - tol;
}

/**
 * What to read for a visible domain: the domain widened by `margin` of its span on each side
 * (so a pan shows data while the next read is on its way), within the limits.
 */
export function readRange(domain: Domain, margin: number, scale: AxisScale, limits: Domain | null): [number, number] {
  const t0 = toT(domain[0], scale);
  const t1 = toT(domain[1], scale);
  const d = (t1 - t0) * margin;
  const lim = usableLimits(limits, scale);
  let lo = fromT(t0 - d, scale);
  let hi = fromT(t1 + d, scale);
  if (lim) {
    lo = Math.max(lo, lim[0]);
    hi = Math.min(hi, lim[1]);
  }
  return [lo, hi];
}

/** How many times wider `a` is than `b` (in log space on a log axis). */
export function spanRatio(a: Domain, b: Domain, scale: AxisScale): number {
  return (toT(a[1], scale) - toT(a[0], scale)) / (toT(b[1], scale) - toT(b[0], scale));
}

/** Whether `inner` lies within `outer`. */
export function within(inner: Domain, outer: Domain | null): boolean {
  return outer !== null && inner[0] >= outer[0] && inner[1] <= outer[1];
}
