/**
 * Bases aligned across checkpoints, so that a checkpoint slider shows motion, not axes that
 * swap or flip sign (pure: no fs, no tfjs). Two ways to look at a sequence of checkpoints:
 *
 * - Fixed basis: fit PCA at one reference checkpoint and apply that basis (its mean and
 *   components) to every checkpoint's features with `applyBasis` (pca.ts). The reference's own
 *   projection is reproduced exactly (the same function computes both).
 * - Aligned bases (this file): fit PCA at every checkpoint, then reorder and sign-flip each
 *   checkpoint's components to match a target basis. The cost of pairing component i of the
 *   target with component j is −|cos(targetᵢ, basisⱼ)|; the matching maximises the summed
 *   |cosine| (Hungarian method, exact) or takes the best pairs greedily; each matched component
 *   is then flipped so its cosine with the target's is ≥ 0.
 *     mode 'reference': every checkpoint is matched to the reference checkpoint's basis;
 *     mode 'chain': walking away from the reference in both directions, every checkpoint is
 *       matched to its already-aligned neighbour, so consecutive checkpoints never flip even
 *       when the directions rotate far from the reference's over training.
 *   After alignment, position i holds "the component that corresponds to the reference's PC i",
 *   which need not be this checkpoint's i-th largest; its variance travels with it.
 */
import { MotlabError } from '../../common/errors.ts';
import { greedyAssignment, minCostAssignment } from './assignment.ts';
import type { PcaBasis, PcaFit } from './pca.ts';

export type AlignmentMode = 'reference' | 'chain';
export type ComponentMatching = 'hungarian' | 'greedy';

export interface AlignmentOptions {
  /** Index into the bases of the reference, which is left as it is. */
  reference: number;
  /** Default 'reference'. */
  mode?: AlignmentMode;
  /** Default 'hungarian'. */
  matching?: ComponentMatching;
}

export interface ComponentAlignment {
  /** Index of the basis this one was matched to; null for the reference. */
  target: number | null;
  /** permutation[i]: the original component placed at position i. */
  permutation: Int32Array;
  /** Sign (+1 or −1) applied to the component placed at position i. */
  signs: Int8Array;
  /** Cosine between the aligned component i and the target's component i (≥ 0; 1 for the reference). */
  cosine: Float64Array;
}

/** How to reorder and flip each basis (all with the same d and k) to match its target. */
export function alignBases(bases: readonly PcaBasis[], options: AlignmentOptions): ComponentAlignment[] {
  const { reference, mode = 'reference', matching = 'hungarian' } = options;
  if (!Number.isInteger(reference) || reference < 0 || reference >= bases.length)
    throw new MotlabError('invalid_request', `alignBases: reference ${reference} is not one of the ${bases.length} bases`);
  const { d, k } = bases[reference];
  bases.forEach((b, i) => {
    if (b.d !== d || b.k !== k)
      throw new MotlabError(
        'invalid_request',
        `alignBases: basis ${i} is ${b.k}×${b.d}, the reference ${k}×${d}; all must have the same shape`,
      );
  });

  const alignments: ComponentAlignment[] = new Array(bases.length);
  const aligned: Float64Array[] = new Array(bases.length); // components after alignment
  alignments[reference] = {
    target: null,
    permutation: Int32Array.from({ length: k }, (_, i) => i),
    signs: new Int8Array(k).fill(1),
    cosine: new Float64Array(k).fill(1),
  };
  aligned[reference] = bases[reference].components;
  const order = [...range(reference + 1, bases.length), ...range(reference - 1, -1)];
  for (const i of order) {
    const target = mode === 'chain' ? (i > reference ? i - 1 : i + 1) : reference;
    const alignment = matchComponents(aligned[target], bases[i].components, k, d, matching);
    alignments[i] = { target, ...alignment };
    aligned[i] = permuteRows(bases[i].components, k, d, alignment.permutation, alignment.signs);
  }
  return alignments;
}

/** The fit with its components (and their variances and coordinates) reordered and flipped. */
export function applyAlignment(fit: PcaFit, alignment: ComponentAlignment): PcaFit {
  const { k, d, n } = fit;
  const { permutation, signs } = alignment;
  if (permutation.length !== k)
    throw new MotlabError('invalid_request', `applyAlignment: an alignment of ${permutation.length} components for a fit of ${k}`);
  const projection = new Float32Array(n * k);
  for (let r = 0; r < n; r++) for (let i = 0; i < k; i++) projection[r * k + i] = signs[i] * fit.projection[r * k + permutation[i]];
  return {
    ...fit,
    components: permuteRows(fit.components, k, d, permutation, signs),
    explainedVariance: Float64Array.from(permutation, (p) => fit.explainedVariance[p]),
    explainedVarianceRatio: Float64Array.from(permutation, (p) => fit.explainedVarianceRatio[p]),
    projection,
  };
}

/** alignBases then applyAlignment on each fit. */
export function alignFits(fits: readonly PcaFit[], options: AlignmentOptions): { fits: PcaFit[]; alignments: ComponentAlignment[] } {
  const alignments = alignBases(fits, options);
  return { fits: fits.map((f, i) => applyAlignment(f, alignments[i])), alignments };
}

function matchComponents(
  target: Float64Array,
  components: Float64Array,
  k: number,
  d: number,
  matching: ComponentMatching,
): Omit<ComponentAlignment, 'target'> {
  const cosines = new Float64Array(k * k); // [target i, component j]
  for (let i = 0; i < k; i++)
    for (let j = 0; j < k; j++) {
      let s = 0;
      for (let e = 0; e < d; e++) s += target[i * d + e] * components[j * d + e];
      cosines[i * k + j] = s;
    }
  const cost = cosines.map((c) => -Math.abs(c));
  const permutation = matching === 'hungarian' ? minCostAssignment(cost, k) : greedyAssignment(cost, k);
  const signs = new Int8Array(k);
  const cosine = new Float64Array(k);
  for (let i = 0; i < k; i++) {
    const c = cosines[i * k + permutation[i]];
    signs[i] = c < 0 ? -1 : 1;
    cosine[i] = Math.abs(c);
  }
  return { permutation, signs, cosine };
}

function permuteRows(rows: Float64Array, k: number, d: number, permutation: Int32Array, signs: Int8Array): Float64Array {
  const out = new Float64Array(k * d);
  for (let i = 0; i < k; i++) {
    const from = permutation[i] * d;
    for (let e = 0; e < d; e++) out[i * d + e] = signs[i] * rows[from + e];
  }
  return out;
}

/** from, from ± 1, … up to (excluding) `to`. */
function range(from: number, to: number): number[] {
  const out: number[] = [];
  for (let i = from; from <= to ? i < to : i > to; i += from <= to ? 1 : -1) out.push(i);
  return out;
}
