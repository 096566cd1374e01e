/**
 * Steps to match, per modality, between a reference run and other runs' validation curves
 * (metrics.jsonl `eval` records), on steps, training FLOPs or training time: the paper's fitted
 * slope over the whole reference curve, and the simpler "when does the other run reach the
 * reference's final loss" fraction. The one collect function behind `motlab compare`,
 * `motlab analyze step-match` and the API's getStepMatch, so they report the same numbers.
 */
import type { StepMatchReport, StepMatchRow } from '../common/api/analysis.ts';
import { X_AXIS_TITLES, type StepMatchAxis } from '../common/views.ts';
import { lossCurves, type LossRecord } from './curves.ts';
import { LossRecordCache, modalityOrder, readRuns, type RunFolder } from './loss-curves.ts';
import { firstStepReaching, matchSteps, type CurvePoint } from './step-matching.ts';

/** Validation curves of a run per modality, on the x axis (CurvePoint.step holds the x value). */
export function evalCurves(records: readonly LossRecord[], split: string, x: StepMatchAxis): Map<string, CurvePoint[]> {
  const curves = new Map<string, CurvePoint[]>();
  for (const c of lossCurves(records, { kind: 'eval', split }, x)) {
    const points: CurvePoint[] = [];
    c.x.forEach((v, i) => {
      const loss = c.loss[i];
      if (loss !== null && Number.isFinite(v)) points.push({ step: v, loss });
    });
    curves.set(c.modality, points);
  }
  return curves;
}

/** One modality of `other` against the reference. */
export function stepMatchRow(run: string, modality: string, reference: readonly CurvePoint[], other: readonly CurvePoint[]): StepMatchRow {
  const fit = matchSteps(reference, other);
  const last = reference.at(-1);
  const reach = last ? firstStepReaching(other, last.loss) : null;
  return {
    run,
    modality,
    slope: fit.slope,
    matchedPoints: fit.matchedCount,
    referencePoints: fit.matches.length,
    referenceFinalX: last?.step ?? null,
    referenceFinalLoss: last?.loss ?? null,
    xToReachFinal: reach,
    finalFraction: reach !== null && last && last.step > 0 ? reach / last.step : null,
    matches: fit.matches.map((m) => ({ referenceX: m.referenceStep, referenceLoss: m.referenceLoss, matchedX: m.matchedStep })),
  };
}

export interface StepMatchOptions {
  x?: StepMatchAxis;
  /** The evaluation split whose curves are matched. */
  split?: string;
}

/** Every other run against the reference, per modality of the reference ("all" first). */
export async function collectStepMatch(
  reference: RunFolder,
  others: readonly RunFolder[],
  options: StepMatchOptions = {},
  cache?: LossRecordCache,
): Promise<StepMatchReport> {
  const x = options.x ?? 'steps';
  const split = options.split ?? 'val';
  const read = await readRuns([reference, ...others], cache);
  const [ref, ...rest] = read.runs;
  const modalities = modalityOrder([ref], [read.records[0]]);
  const curves = read.records.map((records) => evalCurves(records, split, x));
  const rows: StepMatchRow[] = [];
  for (const modality of modalities) {
    const refCurve = curves[0].get(modality) ?? [];
    rest.forEach((run, i) => rows.push(stepMatchRow(run.name, modality, refCurve, curves[i + 1].get(modality) ?? [])));
  }
  return { x, xTitle: X_AXIS_TITLES[x], split, reference: ref, runs: rest, modalities, rows };
}
