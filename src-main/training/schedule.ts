/** Learning rate at optimizer step `step` (0-based): linear warmup, then cosine to lr·min_lr_ratio. */
export function learningRate(step: number, c: { lr: number; warmup_steps: number; steps: number; min_lr_ratio: number }): number {
  if (c.warmup_steps > 0 && step < c.warmup_steps) return (c.lr * (step + 1)) / c.warmup_steps;
  const decaySteps = Math.max(1, c.steps - c.warmup_steps);
  const progress = Math.min(1, (step - c.warmup_steps) / decaySteps);
  const minLr = c.lr * c.min_lr_ratio;
  return minLr + 0.5 * (c.lr - minLr) * (1 + Math.cos(Math.PI * progress));
}
