/**
 * One-line explanations of the metrics the analysis views show, for their hover tips (one
 * wording per metric; a view that shows a new metric adds its line here).
 */
export const METRIC_HELP = {
  trainingLoss:
    'Training loss: next-token cross-entropy (nats) on each step’s batch, averaged over the targets of each modality (“all”: every target).',
  validationLoss:
    'Validation loss: mean next-token cross-entropy (nats) over the evaluation windows of the validation split, measured every eval_every steps.',
  smoothing:
    'EMA smoothing of training curves with bias correction (TensorBoard’s): s = w·s + (1 − w)·loss, divided by 1 − wᵏ; applied at full resolution, never changes past values; 0 = raw.',
  finalLoss:
    'Final: the loss at the last step of the curve, smoothed (EMA) for training and as measured for validation; hover a value for its step (and the raw training loss).',
  bestLoss:
    'Best: the lowest smoothed training loss (a raw minimum of a noisy curve is noise), or the lowest validation loss; hover a value for its step.',
  slope:
    'Slope s: least-squares fit through the origin of “where this run first reaches the reference’s loss” against the reference’s position; 0.5 = needs half the reference’s steps (FLOPs, time).',
  matched: 'Matched: evaluations of the reference whose loss this run reached, of all of them.',
  finalFraction:
    'Final fraction: where this run first reaches the reference’s final validation loss, as a fraction of the reference’s final position.',
  xSteps: 'Optimizer steps.',
  xTokens: 'Training tokens processed (batch × sequence length × steps).',
  xFlops: 'Training FLOPs: forward and backward, counted from the model’s shapes (model/accounting.ts).',
  xWall: 'Training time in seconds, excluding pauses and evaluation.',
} as const;
