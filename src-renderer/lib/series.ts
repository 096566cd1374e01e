/** Exponential moving average with bias correction (so the first points are not pulled to 0). */
export function ema(values: number[], beta: number): number[] {
  const out = new Array<number>(values.length);
  let avg = 0;
  let weight = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (Number.isFinite(v)) {
      avg = beta * avg + (1 - beta) * v;
      weight = beta * weight + (1 - beta);
    }
    out[i] = weight > 0 ? avg / weight : NaN;
  }
  return out;
}
