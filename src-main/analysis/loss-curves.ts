/**
 * The collect part of the loss curves (the maths is curves.ts): read runs' metrics.jsonl, build
 * per run × modality × split the curves on the chosen x axis, smooth training curves at full
 * resolution, down-sample for display (or re-read a zoomed range at full resolution), and the
 * final / best loss table. One function serves the API (getLossCurves), the Losses view and
 * `motlab analyze losses`.
 */
import { basename } from 'node:path';
import { readMetrics } from '../checkpoints/run-folder.ts';
import { readRunJson, type RunJson } from '../runs/run-json.ts';
import type { AnalysisRun, CurveSplit, LossCurveSeries, LossCurvesReport, LossSummaryRow } from '../common/api/analysis.ts';
import { MotlabError } from '../common/errors.ts';
import { parseMetricsRecord } from '../common/metrics.ts';
import { DEFAULT_SMOOTHING, X_AXIS_TITLES, type LossSplit, type XAxis } from '../common/views.ts';
import { modelKindOf } from '../model/kind.ts';
import {
  lossCurves,
  lossModalities,
  prepareCurve,
  smoothEma,
  summarizeLosses,
  type LossCurve,
  type LossRecord,
  type LossSummary,
} from './curves.ts';

/** A run to read: the name it is shown under and its folder. */
export interface RunFolder {
  name: string;
  dir: string;
}

/** The loss records of a run's metrics.jsonl, and how many lines were not metrics records. */
export interface LossRecords {
  records: LossRecord[];
  skipped: number;
  /** Why the first skipped line was skipped. */
  firstProblem: string | null;
  /**
   * What has been computed from exactly these records (curves and their EMA on an axis), emptied
   * when records are appended: a zoom or pan reads again without computing the curves again.
   */
  derived: Map<string, unknown>;
}

/** Just the fields the curves read: a long run's routing statistics are not kept in memory. */
function lossRecordOf(value: unknown): LossRecord | string {
  const parsed = parseMetricsRecord(value);
  if ('problem' in parsed) return parsed.problem;
  const r = parsed.record;
  const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : NaN);
  return r.type === 'train'
    ? { type: 'train', step: r.step, elapsed_s: num(r.elapsed_s), tokens: num(r.tokens), flops: num(r.flops), loss: r.loss }
    : { type: 'eval', step: r.step, split: r.split, loss: r.loss };
}

interface TailEntry extends LossRecords {
  offset: number;
  /** Reads of one file run one after another, so offsets and appends never interleave. */
  queue: Promise<unknown>;
}

/**
 * Loss records of run folders, kept between calls: each call reads only the lines appended since
 * the last one (a training run's curves are re-read every second or so while it trains), and a
 * rewritten file (a resume drops steps after its checkpoint) is read again from the start.
 */
export class LossRecordCache {
  private readonly entries = new Map<string, TailEntry>();
  constructor(private readonly maxRuns = 128) {}

  read(dir: string): Promise<LossRecords> {
    let entry = this.entries.get(dir);
    if (!entry) entry = { records: [], skipped: 0, firstProblem: null, derived: new Map(), offset: 0, queue: Promise.resolve() };
    this.entries.delete(dir); // re-inserted last: the map's order is least recently used first
    this.entries.set(dir, entry);
    while (this.entries.size > this.maxRuns) this.entries.delete(this.entries.keys().next().value as string);
    const e = entry;
    const next = e.queue.then(async () => {
      const chunk = await readMetrics(dir, e.offset);
      if (chunk.reset) Object.assign(e, { records: [], skipped: 0, firstProblem: null });
      if (chunk.reset || chunk.records.length > 0) e.derived = new Map();
      // Lines readMetrics skipped (not JSON, not a metrics record), then records without losses.
      e.skipped += chunk.skipped.count;
      if (chunk.skipped.reason) e.firstProblem ??= chunk.skipped.reason;
      for (const value of chunk.records) {
        const record = lossRecordOf(value);
        if (typeof record !== 'string') e.records.push(record);
        else {
          e.skipped += 1;
          e.firstProblem ??= record;
        }
      }
      e.offset = chunk.nextOffset;
      return { records: e.records, skipped: e.skipped, firstProblem: e.firstProblem, derived: e.derived };
    });
    e.queue = next.catch(() => undefined);
    return next;
  }
}

/** A run's description for the analysis views; lenient where run.json cannot be read (its problem becomes a note). */
async function describeRun(run: RunFolder, colourIndex: number, records: readonly LossRecord[], notes: string[]): Promise<AnalysisRun> {
  let json: RunJson | null = null;
  try {
    json = await readRunJson(run.dir);
  } catch (error) {
    if (records.length === 0) throw error;
    notes.push(`${run.name}: ${(error as Error).message}`);
  }
  let lastStep = 0;
  for (const r of records) if (r.type === 'train' && r.step > lastStep) lastStep = r.step;
  return {
    name: run.name,
    path: run.dir,
    preset: json?.preset ?? null,
    size: json?.size ?? null,
    modelKind: modelKindOf(json?.model),
    colourIndex,
    modalities: json ? json.model.modalities.map((m) => m.name) : lossModalities(records).filter((m) => m !== 'all'),
    lastStep,
  };
}

/** Each run's records and description; refuses a run named twice. */
export async function readRuns(
  runs: readonly RunFolder[],
  cache: LossRecordCache = new LossRecordCache(),
): Promise<{ runs: AnalysisRun[]; records: LossRecord[][]; derived: Map<string, unknown>[]; notes: string[] }> {
  const seen = new Set<string>();
  for (const r of runs) {
    if (seen.has(r.name)) throw new MotlabError('invalid_request', `run "${r.name}" is listed twice`);
    seen.add(r.name);
  }
  const notes: string[] = [];
  const read = await Promise.all(runs.map((r) => cache.read(r.dir)));
  read.forEach((r, i) => {
    if (r.skipped > 0)
      notes.push(`${runs[i].name}: ${r.skipped} line(s) of metrics.jsonl are not metrics records and were skipped (${r.firstProblem})`);
  });
  const described = await Promise.all(runs.map((r, i) => describeRun(r, i, read[i].records, notes)));
  return { runs: described, records: read.map((r) => r.records), derived: read.map((r) => r.derived), notes };
}

/** Run folders given on the command line, shown under their folder's name (the path when two names clash). */
export function runFoldersOf(dirs: readonly string[]): RunFolder[] {
  const names = dirs.map((d) => basename(d));
  return dirs.map((dir, i) => ({ name: names.filter((n) => n === names[i]).length > 1 ? dir : names[i], dir }));
}

/** Modalities in display order: "all", then each run's modalities in order of first appearance. */
export function modalityOrder(runs: readonly AnalysisRun[], records: readonly (readonly LossRecord[])[]): string[] {
  const names = new Set<string>(['all']);
  for (const run of runs) for (const m of run.modalities) names.add(m);
  for (const list of records) for (const m of lossModalities(list)) names.add(m);
  return [...names];
}

export interface LossCurvesOptions {
  x?: XAxis;
  split?: LossSplit;
  /** EMA weight for training curves (validation curves are drawn as measured). */
  smoothing?: number;
  /** Read only this x range (zoom), at full resolution unless `buckets` is given. */
  range?: readonly [number, number] | null;
  /** Display buckets (about the plot's width in pixels / 2); null = full resolution. */
  buckets?: number | null;
  /** Buckets equal in log x (a log x axis). */
  logX?: boolean;
}

/** The curve without points whose x is not a number (a record that lacks the axis' field). */
function finiteX(curve: LossCurve): LossCurve {
  if (curve.x.every(Number.isFinite)) return curve;
  const keep = curve.x.map((_, i) => i).filter((i) => Number.isFinite(curve.x[i]));
  return {
    modality: curve.modality,
    steps: keep.map((i) => curve.steps[i]),
    x: keep.map((i) => curve.x[i]),
    loss: keep.map((i) => curve.loss[i]),
  };
}

/** Points a range reads at full resolution: those inside it and the nearest one beyond each edge. */
function countInRange(x: readonly number[], range: readonly [number, number] | null | undefined): number {
  if (!range) return x.length;
  let n = 0;
  let before = 0;
  let after = 0;
  for (const v of x) {
    if (v < range[0]) before = 1;
    else if (v > range[1]) after = 1;
    else n++;
  }
  return n + before + after;
}

/** Log-axis bucketing that tolerates x = 0 (evaluation before training): it shares the first bucket. */
function logTransform(x: readonly number[]): (v: number) => number {
  const smallest = Math.min(...x.filter((v) => v > 0));
  const floor = Number.isFinite(smallest) ? smallest : 1;
  return (v) => Math.log10(Math.max(v, floor));
}

/** A run's curves of one split on one axis at full resolution, in display order, with their EMA and final / best. */
interface FullCurves {
  curves: LossCurve[];
  smoothed: (number | null)[][];
  summary: LossSummary[];
}

function fullCurves(records: readonly LossRecord[], split: CurveSplit, x: XAxis, weight: number, order: readonly string[]): FullCurves {
  const curves = lossCurves(records, split === 'train' ? { kind: 'train' } : { kind: 'eval', split: 'val' }, x)
    .map(finiteX)
    .filter((c) => c.loss.some((v) => v !== null));
  const ordered = order.flatMap((m) => curves.filter((c) => c.modality === m));
  return { curves: ordered, smoothed: ordered.map((c) => smoothEma(c.loss, weight)), summary: summarizeLosses(ordered, weight) };
}

/** Per run × modality × split the curves, plus the final / best table (always over the whole run). */
export async function collectLossCurves(
  runs: readonly RunFolder[],
  options: LossCurvesOptions = {},
  cache?: LossRecordCache,
): Promise<LossCurvesReport> {
  const x = options.x ?? 'steps';
  const split = options.split ?? 'val';
  const smoothing = options.smoothing ?? DEFAULT_SMOOTHING;
  const range = options.range ?? null;
  const buckets = options.buckets ?? null;
  if (range && !(range[0] < range[1])) throw new MotlabError('invalid_request', `range [${range[0]}, ${range[1]}] is empty`);
  const read = await readRuns(runs, cache);
  const modalities = modalityOrder(read.runs, read.records);
  const splits: CurveSplit[] = split === 'both' ? ['train', 'val'] : [split];
  const series: LossCurveSeries[] = [];
  const summary: LossSummaryRow[] = [];
  const notes = [...read.notes];
  let lo = Infinity;
  let hi = -Infinity;

  read.runs.forEach((run, r) => {
    for (const s of splits) {
      const weight = s === 'train' ? smoothing : 0;
      const key = `${s}|${x}|${weight}`;
      let full = read.derived[r].get(key) as FullCurves | undefined;
      if (!full) read.derived[r].set(key, (full = fullCurves(read.records[r], s, x, weight, modalities)));
      if (full.curves.length === 0) {
        notes.push(
          `${run.name}: no ${s === 'train' ? 'training' : 'validation'} losses${s === 'val' ? ' yet (evaluations run every eval_every steps)' : ''}`,
        );
        continue;
      }
      full.curves.forEach((curve, c) => {
        for (const v of curve.x) {
          if (v < lo) lo = v;
          if (v > hi) hi = v;
        }
        const prepared = prepareCurve(curve, {
          smoothed: full.smoothed[c],
          buckets: buckets ?? undefined,
          range: range ?? undefined,
          transform: options.logX ? logTransform(curve.x) : undefined,
        });
        series.push({
          run: run.name,
          modality: curve.modality,
          split: s,
          steps: prepared.steps,
          x: prepared.x,
          raw: prepared.raw,
          smoothed: prepared.smoothed,
          fullPoints: countInRange(curve.x, range),
        });
      });
      for (const row of full.summary) if (row.points > 0) summary.push({ run: run.name, split: s, ...row });
    }
  });
  return {
    x,
    xTitle: X_AXIS_TITLES[x],
    split,
    smoothing,
    range: range ? [range[0], range[1]] : null,
    buckets,
    modalities: modalities.filter((m) => series.some((s) => s.modality === m)),
    runs: read.runs,
    series,
    summary,
    extent: lo <= hi ? [lo, hi] : null,
    notes,
  };
}
