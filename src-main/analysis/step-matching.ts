/**
 * The paper's "steps to match" analysis. For each step x of the reference (dense) run, find the
 * first step y at which the other run's loss is at or below the reference's loss at x
 * (linearly interpolated between logged points). The slope s of y ≈ s·x, fitted by least
 * squares through the origin, is the fraction of the reference's steps (or FLOPs, at equal
 * FLOPs per step) the other model needs.
 */
export interface CurvePoint {
  step: number;
  loss: number;
}

export interface StepMatch {
  referenceStep: number;
  referenceLoss: number;
  /** First (interpolated) step where the other run reaches referenceLoss; null if it never does. */
  matchedStep: number | null;
}

export interface StepMatchResult {
  matches: StepMatch[];
  /** Least-squares slope through the origin over the matched points; null if none matched. */
  slope: number | null;
  matchedCount: number;
}

/** First step at which `curve` reaches `target` or lower, interpolating linearly between points. */
export function firstStepReaching(curve: readonly CurvePoint[], target: number): number | null {
  for (let i = 0; i < curve.length; i++) {
    const p = curve[i];
    if (p.loss <= target) {
      if (i === 0) return p.step;
      const q = curve[i - 1];
      const t = (q.loss - target) / (q.loss - p.loss);
      return q.step + t * (p.step - q.step);
    }
  }
  return null;
}

/**
 * Step matching of `other` against `reference`. Points with step 0 are skipped (the untrained
 * models match trivially). Curves should be smoothed or validation curves; raw per-step
 * training losses are noisy and make "first reaches" too early.
 */
export function matchSteps(reference: readonly CurvePoint[], other: readonly CurvePoint[]): StepMatchResult {
  const sortedRef = [...reference].filter((p) => p.step > 0 && Number.isFinite(p.loss)).sort((a, b) => a.step - b.step);
  const sortedOther = [...other].filter((p) => Number.isFinite(p.loss)).sort((a, b) => a.step - b.step);
  const matches = sortedRef.map((p) => ({
    referenceStep: p.step,
    referenceLoss: p.loss,
    matchedStep: firstStepReaching(sortedOther, p.loss),
  }));
  let sxy = 0;
  let sxx = 0;
  let matchedCount = 0;
  for (const m of matches) {
    if (m.matchedStep === null) continue;
    sxy += m.referenceStep * m.matchedStep;
    sxx += m.referenceStep * m.referenceStep;
    matchedCount += 1;
  }
  return { matches, slope: matchedCount > 0 ? sxy / sxx : null, matchedCount };
}
