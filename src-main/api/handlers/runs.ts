/**
 * The runs area of the API: listing and reading runs, and their lifecycle through the run
 * service (create, train as a job, pause/resume/stop, continue). Training progress arrives as
 * the training job's run events and is pushed as run-metrics / run-status / run-checkpoint.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { MotlabError } from '../../common/errors.ts';
import { isActiveJobStatus, isActiveStatus, type RunControl } from '../../common/vocabulary.ts';
import type { ApiHandlers, StartRunInput } from '../../common/api/definition.ts';
import type { RunDetail, RunSummary } from '../../common/api/types.ts';
import { readMetrics } from '../../checkpoints/run-folder.ts';
import { createRun, planNewRun } from '../../runs/create.ts';
import { inspectRunLock, signalRunOwner } from '../../runs/lock.ts';
import { planResume } from '../../runs/resume.ts';
import { inferRunStatus, type RunStatusView } from '../../runs/status.ts';
import type { RunJson } from '../../runs/run-json.ts';
import type { JobEvent } from '../../runs/jobs/manager.ts';
import type { TrainJobInput } from '../../runs/train-job.ts';
import { metricsCsv } from '../export.ts';
import { checkpointInfos, lastTrainRecord, readRunJsonForDisplay } from '../run-files.ts';
import { existingRunDir, runDirOf, runsDirOf, type ApiContext } from '../context.ts';
import { findDataset } from './datasets.ts';

type RunHandlers = Pick<
  ApiHandlers,
  | 'listRuns'
  | 'getRun'
  | 'readMetrics'
  | 'listCheckpoints'
  | 'startRun'
  | 'pauseRun'
  | 'resumeRun'
  | 'stopRun'
  | 'continueRun'
  | 'exportMetrics'
>;

/** A short name for a tower layout: what the runs table shows as "model". */
export function modelKindOf(model: Partial<RunJson['model']> | undefined): string {
  const towers = model?.towers;
  if (!towers) return '—';
  const moe = model?.moe !== undefined;
  const split = (['attention', 'ffn', 'norm'] as const).filter((c) => (towers[c]?.length ?? 1) > 1);
  if (split.length === 0) return moe ? 'MoE' : 'dense';
  const kind = split.length === 3 ? 'MoT' : `MoT (${split.join('+')})`;
  return moe ? `${kind}+MoE` : kind;
}

/** Why a run has no run.json: the last line its training process printed. */
async function neverStartedMessage(dir: string): Promise<string> {
  const log = await readFile(join(dir, 'train.log'), 'utf8').catch(() => '');
  const last = log
    .trim()
    .split('\n')
    .filter((l) => l.trim())
    .at(-1);
  return last ? `Training did not start: ${last.trim()}` : 'run.json is missing: training never started (see train.log in the run folder)';
}

const brief = (d: RunDetail): RunSummary => {
  const { model: _m, training: _t, seed: _s, ...summary } = d;
  return summary;
};

export interface RunService {
  handlers: RunHandlers;
  /** Route a job event: the training job's run events become run events of the API. */
  onJobEvent(event: JobEvent): void;
}

export function createRunService(ctx: ApiContext): RunService {
  /** The latest status each live training job reported, by run folder. */
  const live = new Map<string, RunStatusView>();
  const trainingJobOf = (dir: string) => ctx.jobs.activeFor(dir, 'train');

  async function statusOf(dir: string, read: Awaited<ReturnType<typeof readRunJsonForDisplay>>): Promise<RunStatusView> {
    // A job that reported its end may still be exiting: from then on, the disk has the last word.
    const job = trainingJobOf(dir);
    const liveView = job && isActiveJobStatus(job.status) ? (live.get(dir) ?? { status: 'starting' }) : undefined;
    if (!read.ok) return liveView ?? { status: 'failed', message: read.missing ? await neverStartedMessage(dir) : read.message };
    return inferRunStatus(read.run, await inspectRunLock(dir), liveView);
  }

  async function summarize(dir: string): Promise<RunDetail> {
    const read = await readRunJsonForDisplay(dir);
    const json: Partial<RunJson> | null = read.ok ? read.run : read.raw;
    const { status, message } = await statusOf(dir, read);
    const last = await lastTrainRecord(dir);
    const model = json?.model;
    return {
      name: basename(dir),
      path: dir,
      status,
      message,
      created: json?.created,
      updated: json?.updated,
      preset: json?.preset,
      size: json?.size,
      modelKind: modelKindOf(model),
      dataset: json?.dataset?.name,
      engine: json?.engine,
      modalities: Array.isArray(model?.modalities) ? model.modalities.map((m) => m.name) : [],
      step: last?.step ?? 0,
      totalSteps: json?.training?.steps,
      latestLoss: last?.loss ?? null,
      tokensPerSecond: last?.tokens_per_s,
      elapsedSeconds: last?.elapsed_s,
      controllable: trainingJobOf(dir) !== undefined,
      model: model ?? null,
      training: json?.training ?? null,
      seed: json?.seed,
    };
  }

  function onJobEvent(event: JobEvent): void {
    if (event.job.kind !== 'train') return;
    const run = basename(event.runDir);
    if (event.type === 'run-event') {
      const e = event.event;
      if (e.type === 'metrics') ctx.emit({ type: 'run-metrics', run, record: e.record });
      else if (e.type === 'checkpoint') ctx.emit({ type: 'run-checkpoint', run, step: e.step });
      else if (e.type === 'status') {
        live.set(event.runDir, { status: e.status, message: e.message });
        ctx.emit({ type: 'run-status', run, status: e.status, message: e.message });
      }
    } else if (event.type === 'job-status' && !isActiveJobStatus(event.job.status)) {
      live.delete(event.runDir);
      // The final word comes from disk (the job may have ended without saying it).
      void summarize(event.runDir).then((s) => ctx.emit({ type: 'run-status', run, status: s.status, message: s.message }));
    }
  }

  function uniqueRunName(input: StartRunInput): string {
    const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
    const base = `${input.preset}-${input.size}-${stamp}`;
    let name = base;
    for (let i = 2; existsSync(runDirOf(ctx, name)); i++) name = `${base}-${i}`;
    return name;
  }

  function startTraining(dir: string, input: TrainJobInput): void {
    ctx.jobs.start({ kind: 'train', input, runDir: dir, allowInternal: true });
    ctx.emit({ type: 'run-status', run: basename(dir), status: 'starting' });
  }

  async function control(name: string, action: RunControl): Promise<RunSummary> {
    const dir = existingRunDir(ctx, name);
    const job = trainingJobOf(dir);
    if (job && ctx.jobs.control(job.id, action)) return brief(await summarize(dir));
    const s = await summarize(dir);
    const lock = await inspectRunLock(dir);
    if (action === 'stop' && (s.status === 'running' || s.status === 'paused')) {
      // Started elsewhere (the CLI, an earlier server): SIGTERM is the protocol's "stop", sent
      // only to the process the run lock names, after checking it is still that process.
      if (await signalRunOwner(dir, 'SIGTERM')) return brief(s);
    }
    if (s.status === 'running' || s.status === 'paused')
      throw new MotlabError(
        'conflict',
        `Run "${name}" was started by another process${lock.state === 'held' ? ` (pid ${lock.holder.pid})` : ''}; it can only be stopped from here.`,
      );
    throw new MotlabError('conflict', `Run "${name}" is not training (status: ${s.status}).`);
  }

  const handlers: RunHandlers = {
    async listRuns() {
      const names = await readdir(runsDirOf(ctx), { withFileTypes: true }).catch(() => []);
      const runs = await Promise.all(names.filter((d) => d.isDirectory()).map((d) => summarize(runDirOf(ctx, d.name)).then(brief)));
      // Newest first; runs without a created time (just launched) on top.
      return runs.sort((a, b) => (b.created ?? '9').localeCompare(a.created ?? '9') || a.name.localeCompare(b.name));
    },

    getRun: async ({ run }) => summarize(existingRunDir(ctx, run)),

    async readMetrics({ run, offset }) {
      const chunk = await readMetrics(existingRunDir(ctx, run), offset);
      return { records: chunk.records, nextOffset: chunk.nextOffset, reset: chunk.reset };
    },

    listCheckpoints: async ({ run }) => checkpointInfos(existingRunDir(ctx, run)),

    async startRun(input) {
      const dataset = await findDataset(ctx, input.dataset);
      const name = input.name ?? uniqueRunName(input);
      const dir = runDirOf(ctx, name);
      if (existsSync(dir)) throw new MotlabError('conflict', `A run named "${name}" already exists; choose another name.`);
      const engine = input.engine ?? 'auto';
      const overrides = { steps: input.steps, checkpoint_every: input.checkpointEvery, eval_every: input.evalEvery, seed: input.seed };
      await createRun(dir, await planNewRun(dir, { config: input.preset, size: input.size, data: dataset.path, engine, overrides }));
      startTraining(dir, { mode: 'fresh', restart: false, engine, overrides: {} });
      return brief(await summarize(dir));
    },

    pauseRun: ({ run }) => control(run, 'pause'),
    resumeRun: ({ run }) => control(run, 'resume'),
    stopRun: ({ run }) => control(run, 'stop'),

    async continueRun({ run, steps, restart }) {
      const dir = existingRunDir(ctx, run);
      const job = trainingJobOf(dir);
      if (job) await ctx.jobs.settle(job.id);
      const s = await summarize(dir);
      if (trainingJobOf(dir) || isActiveStatus(s.status)) throw new MotlabError('conflict', `Run "${run}" is still training.`);
      const read = await readRunJsonForDisplay(dir);
      if (!read.ok) throw new MotlabError('invalid_checkpoint', `Run "${run}" cannot be continued: ${read.message}`);
      const overrides = steps === undefined ? {} : { steps };
      await planResume(dir, { overrides, restart }); // refuse here, with the reason, rather than in the child
      startTraining(dir, { mode: 'resume', restart, engine: 'auto', overrides });
      return brief(await summarize(dir));
    },

    async exportMetrics({ run, format }) {
      const { records } = await readMetrics(existingRunDir(ctx, run), 0);
      if (format === 'jsonl')
        return {
          fileName: `${run}-metrics.jsonl`,
          mimeType: 'application/x-ndjson',
          text: records.map((r) => JSON.stringify(r) + '\n').join(''),
        };
      return { fileName: `${run}-metrics.csv`, mimeType: 'text/csv', text: metricsCsv(records) };
    },
  };

  return { handlers, onJobEvent };
}
