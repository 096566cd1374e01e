/** Seeded sampling shared by the probe set and the separability metrics. */
import { MotlabError } from '../../common/errors.ts';
import type { Rng } from '../../util/rng.ts';

/**
 * Seeded split stratified by label: each label's rows are shuffled and round(count ×
 * testFraction) of them, at least one and leaving at least one, are held out (labels are taken
 * in increasing order; the generator is consumed in that order).
 */
export function stratifiedSplit(labels: Int32Array, testFraction: number, rng: Rng): { testIndices: Int32Array } {
  if (!(testFraction > 0 && testFraction < 1))
    throw new MotlabError('invalid_request', `testFraction must be between 0 and 1, got ${testFraction}`);
  const test: number[] = [];
  for (const rows of rowsByLabel(labels)) {
    if (rows.length === 0) continue;
    shuffle(rows, rng);
    const count = Math.min(rows.length - 1, Math.max(1, Math.round(rows.length * testFraction)));
    for (let i = 0; i < count; i++) test.push(rows[i]);
  }
  return { testIndices: Int32Array.from(test).sort() };
}

/**
 * Seeded subsample of `size` rows stratified by label: each label gets its proportional share
 * (floors, then one more to the largest remainders, ties to the lower label), drawn uniformly
 * without replacement. Ascending row indices.
 */
export function stratifiedSubsample(labels: Int32Array, size: number, rng: Rng): Int32Array {
  const groups = rowsByLabel(labels);
  const n = labels.length;
  if (size >= n) return Int32Array.from({ length: n }, (_, i) => i);
  const quotas = groups.map((rows) => Math.floor((rows.length * size) / n));
  const byRemainder = groups
    .map((rows, c) => ({ c, remainder: (rows.length * size) / n - quotas[c] }))
    .sort((a, b) => b.remainder - a.remainder || a.c - b.c);
  let missing = size - quotas.reduce((a, b) => a + b, 0);
  for (const { c } of byRemainder) {
    if (missing === 0) break;
    if (quotas[c] < groups[c].length) {
      quotas[c]++;
      missing--;
    }
  }
  const chosen: number[] = [];
  groups.forEach((rows, c) => {
    shuffle(rows, rng);
    for (let i = 0; i < quotas[c]; i++) chosen.push(rows[i]);
  });
  return Int32Array.from(chosen).sort();
}

/** Fisher–Yates, in place, from the last element down. */
export function shuffle<T>(items: T[], rng: Rng): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = items[i];
    items[i] = items[j];
    items[j] = t;
  }
  return items;
}

function rowsByLabel(labels: Int32Array): number[][] {
  const groups: number[][] = [];
  labels.forEach((label, i) => {
    while (groups.length <= label) groups.push([]);
    groups[label].push(i);
  });
  return groups;
}
