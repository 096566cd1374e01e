/** Seeded synthetic feature matrices for the PCA and separability tests. */
import { Rng } from '../../src-main/util/rng.ts';

/**
 * n rows of Z·diag(scale)·A + offset: Z standard normal [n, d], scale_j = 3·decay^j, A a
 * Gaussian d×d mixing matrix, offset a large per-feature constant (so centring matters).
 * Distinct, well-separated variances make the principal directions well defined.
 */
export function correlatedFeatures(seed: number, n: number, d: number, decay = 0.8, offset = 50): Float32Array {
  const rng = new Rng(seed);
  const mixing = Float64Array.from({ length: d * d }, () => rng.normal() / Math.sqrt(d));
  const shift = Float64Array.from({ length: d }, () => offset * rng.normal());
  const x = new Float32Array(n * d);
  const z = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) z[j] = rng.normal() * 3 * decay ** j;
    for (let c = 0; c < d; c++) {
      let s = shift[c];
      for (let j = 0; j < d; j++) s += z[j] * mixing[j * d + c];
      x[i * d + c] = s;
    }
  }
  return x;
}

/**
 * `perClass` rows for each of `classes` modalities in d dimensions: isotropic unit noise plus
 * a class centre at distance `separation` along class-specific random unit directions
 * (separation 0: the classes are the same distribution). Rows are interleaved by class.
 */
export function plantedModalities(
  seed: number,
  perClass: number,
  classes: number,
  d: number,
  separation: number,
): { x: Float32Array; labels: Int32Array; n: number } {
  const rng = new Rng(seed);
  const centres: Float64Array[] = [];
  for (let c = 0; c < classes; c++) {
    const v = Float64Array.from({ length: d }, () => rng.normal());
    const norm = Math.hypot(...v);
    centres.push(v.map((e) => (e / norm) * separation));
  }
  const n = perClass * classes;
  const x = new Float32Array(n * d);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % classes;
    labels[i] = c;
    for (let j = 0; j < d; j++) x[i * d + j] = centres[c][j] + rng.normal();
  }
  return { x, labels, n };
}
