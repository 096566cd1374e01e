/**
 * What a hover read-out shows at a position x: for each series, the point nearest x (x sorted
 * ascending), or none when x lies outside the series (a run that ended earlier has no value there).
 */

/** Index of the value of `xs` (ascending) nearest `x`; -1 for an empty series. */
export function nearestIndex(xs: ArrayLike<number>, x: number): number {
  const n = xs.length;
  if (n === 0 || !Number.isFinite(x)) return -1;
  let lo = 0;
  let hi = n - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (xs[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  // lo: first index with xs[lo] ≥ x (or the last); its left neighbour may be nearer.
  return lo > 0 && x - xs[lo - 1] <= xs[lo] - x ? lo - 1 : lo;
}

/**
 * The index to read at `x`: the nearest point, or -1 when x is beyond either end of the series by
 * more than `slack` (in x units; e.g. half the typical spacing, so the last point is still read
 * just past it).
 */
export function readIndex(xs: ArrayLike<number>, x: number, slack = 0): number {
  const n = xs.length;
  if (n === 0 || x < xs[0] - slack || x > xs[n - 1] + slack) return -1;
  return nearestIndex(xs, x);
}
