/**
 * The step's gradient: the workers' gradients summed in worker order (worker 0 + worker 1 + …),
 * rounded to float32 after each addition, so a step is deterministic for a given number of
 * workers. Each worker sums its own contiguous range of the parameters (`sumRanges`), in
 * parallel; the result is the same whichever thread sums which range.
 */

/** The float ranges [first, end) of `floats` summed by each of `workers` workers (multiples of 16 floats but the last, 64-byte lines). */
export function sumRanges(floats: number, workers: number): { first: number; end: number }[] {
  const per = Math.ceil(floats / workers / 16) * 16;
  return Array.from({ length: workers }, (_, k) => ({ first: Math.min(floats, k * per), end: Math.min(floats, (k + 1) * per) }));
}

/** summed[first, end) = Σₖ gradients[k][first, end), in order k = 0, 1, …, in float32. */
export function sumGradients(summed: Float32Array, gradients: readonly Float32Array[], first: number, end: number): void {
  summed.set(gradients[0].subarray(first, end), first);
  for (let k = 1; k < gradients.length; k++) addInto(summed, gradients[k], first, end);
}

/** dst[i] += src[i] in float32: a function of its own, so the loop is compiled on its own. */
function addInto(dst: Float32Array, src: Float32Array, first: number, end: number): void {
  for (let i = first; i < end; i++) dst[i] += src[i];
}
