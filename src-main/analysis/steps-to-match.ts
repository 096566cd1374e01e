/**
 * Steps to match, per modality, between two runs' validation curves (metrics.jsonl `eval`
 * records): the paper's fitted slope over the whole reference curve, and the simpler
 * "when does the other run reach the reference's final loss" fraction.
 */
import { readMetrics } from '../checkpoints/run-folder.ts';
import { readRunJson } from '../runs/run-json.ts';
import { firstStepReaching, matchSteps, type CurvePoint } from './step-matching.ts';

export interface ModalityStepsToMatch {
  modality: string;
  /** Least-squares slope through the origin of matched step vs reference step. */
  slope: number | null;
  matchedPoints: number;
  referencePoints: number;
  referenceFinalStep: number;
  referenceFinalLoss: number;
  /** First step at which the other run reaches the reference's final loss (interpolated). */
  stepToReachFinal: number | null;
  /** stepToReachFinal / referenceFinalStep. */
  finalFraction: number | null;
}

export interface StepsToMatchReport {
  reference: string;
  other: string;
  split: string;
  modalities: ModalityStepsToMatch[];
}

/** Validation curve of one modality ('all' for the overall loss). */
export async function evalCurve(runDir: string, modality: string, split = 'val'): Promise<CurvePoint[]> {
  const { records } = await readMetrics(runDir, 0);
  return records
    .filter((r) => r.type === 'eval' && (r.split ?? 'val') === split)
    .map((r) => ({ step: r.step as number, loss: (r.loss as Record<string, number | null>)[modality] ?? NaN }))
    .filter((p) => Number.isFinite(p.loss))
    .sort((a, b) => a.step - b.step);
}

export async function stepsToMatch(referenceDir: string, otherDir: string, split = 'val'): Promise<StepsToMatchReport> {
  const reference = await readRunJson(referenceDir);
  const other = await readRunJson(otherDir);
  const modalities = ['all', ...reference.model.modalities.map((m) => m.name)];
  const rows: ModalityStepsToMatch[] = [];
  for (const modality of modalities) {
    const ref = await evalCurve(referenceDir, modality, split);
    const oth = await evalCurve(otherDir, modality, split);
    const fit = matchSteps(ref, oth);
    const last = ref.at(-1);
    const reach = last ? firstStepReaching(oth, last.loss) : null;
    rows.push({
      modality,
      slope: fit.slope,
      matchedPoints: fit.matchedCount,
      referencePoints: fit.matches.length,
      referenceFinalStep: last?.step ?? 0,
      referenceFinalLoss: last?.loss ?? NaN,
      stepToReachFinal: reach,
      finalFraction: reach !== null && last && last.step > 0 ? reach / last.step : null,
    });
  }
  return { reference: reference.name, other: other.name, split, modalities: rows };
}
