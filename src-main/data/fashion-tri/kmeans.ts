/**
 * k-means for the image-patch and speech-frame codebooks: k-means++ seeding, then a fixed
 * number of Lloyd iterations (a fixed count, not a tolerance, so that the result depends only
 * on the data and the seed). Points are rows of a flat Float32Array (n × dim).
 */
import { Rng } from '../../util/rng.ts';

export interface KmeansOptions {
  k: number;
  iterations: number;
  rng: Rng;
}

/** Squared distance from row `i` of `data` to row `j` of `centers`, giving up once it reaches `limit`. */
function dist2(data: Float32Array, i: number, centers: Float32Array, j: number, dim: number, limit: number): number {
  let s = 0;
  const a = i * dim;
  const b = j * dim;
  for (let t = 0; t < dim; t++) {
    const d = data[a + t] - centers[b + t];
    s += d * d;
    // Exact early exit: the remaining terms are non-negative, so this row cannot win.
    if (s >= limit) return s;
  }
  return s;
}

/** Index of the nearest center for every row (ties go to the lower index). */
export function assignNearest(data: Float32Array, centers: Float32Array, dim: number, out?: Uint16Array | Int32Array): Int32Array {
  const n = data.length / dim;
  const k = centers.length / dim;
  const result = out instanceof Int32Array ? out : new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = Infinity;
    let arg = 0;
    for (let j = 0; j < k; j++) {
      const d = dist2(data, i, centers, j, dim, best);
      if (d < best) {
        best = d;
        arg = j;
      }
    }
    result[i] = arg;
  }
  return result;
}

function seedPlusPlus(data: Float32Array, dim: number, k: number, rng: Rng): Float32Array {
  const n = data.length / dim;
  const centers = new Float32Array(k * dim);
  const nearest = new Float64Array(n).fill(Infinity);
  let pick = rng.int(n);
  for (let c = 0; c < k; c++) {
    centers.set(data.subarray(pick * dim, (pick + 1) * dim), c * dim);
    let total = 0;
    for (let i = 0; i < n; i++) {
      const d = dist2(data, i, centers, c, dim, nearest[i]);
      if (d < nearest[i]) nearest[i] = d;
      total += nearest[i];
    }
    if (c + 1 === k) break;
    if (total <= 0) {
      pick = rng.int(n); // fewer distinct points than k: duplicates are harmless
      continue;
    }
    pick = rng.categorical(nearest);
  }
  return centers;
}

/**
 * Returns the k × dim centers (float32). A cluster that empties during Lloyd's iterations is
 * re-seeded at the point currently farthest from its center, so no code is wasted.
 */
export function kmeans(data: Float32Array, dim: number, opts: KmeansOptions): Float32Array {
  const n = data.length / dim;
  if (n < opts.k) throw new Error(`k-means needs at least k=${opts.k} points, got ${n}`);
  const centers = seedPlusPlus(data, dim, opts.k, opts.rng);
  const assign = new Int32Array(n);
  const sums = new Float64Array(opts.k * dim);
  const counts = new Float64Array(opts.k);
  for (let iter = 0; iter < opts.iterations; iter++) {
    assignNearest(data, centers, dim, assign);
    sums.fill(0);
    counts.fill(0);
    for (let i = 0; i < n; i++) {
      const c = assign[i];
      counts[c]++;
      for (let t = 0; t < dim; t++) sums[c * dim + t] += data[i * dim + t];
    }
    for (let c = 0; c < opts.k; c++) {
      if (counts[c] > 0) {
        for (let t = 0; t < dim; t++) centers[c * dim + t] = sums[c * dim + t] / counts[c];
        continue;
      }
      let far = 0;
      let farD = -1;
      for (let i = 0; i < n; i++) {
        const d = dist2(data, i, centers, assign[i], dim, Infinity);
        if (d > farD) {
          farD = d;
          far = i;
        }
      }
      centers.set(data.subarray(far * dim, (far + 1) * dim), c * dim);
      assign[far] = c;
    }
  }
  return centers;
}
