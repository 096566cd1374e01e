/**
 * The runs area of the API: listing and reading runs, and their lifecycle through the run
 * service (create, train as a job, pause/resume/stop, continue). Training progress arrives as
 * the training job's run events and is pushed as run-metrics / run-status / run-checkpoint.
 */
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { MotlabError } from '../../common/errors.ts';
import { isActiveJobStatus, isActiveStatus, TORCH_ENGINE, type RunControl } from '../../common/vocabulary.ts';
import type { ApiHandlers, MethodOutput, ParsedInput, StartRunInput } from '../../common/api/definition.ts';
import type { RunDetail, RunSummary } from '../../common/api/types.ts';
import { readMetrics } from '../../checkpoints/run-folder.ts';
import { createRun, planNewRun } from '../../runs/create.ts';
import { inspectRunLock, signalRunOwner } from '../../runs/lock.ts';
import { planResume } from '../../runs/resume.ts';
import { inferRunStatus, type RunStatusView } from '../../runs/status.ts';
import type { JobEvent } from '../../runs/jobs/manager.ts';
import type { TrainJobInput } from '../../runs/train-job.ts';
import { torchAvailability } from '../../runs/torch.ts';
import { metricsCsv } from '../export.ts';
import {
  checkpointInfos,
  damagedRun,
  lastLogLine,
  lastTrainRecord,
  readRunJsonForDisplay,
  type RunJsonRead,
  type RunJsonShown,
} from '../run-files.ts';
import { existingRunDir, runDirOf, runsDirOf, type ApiContext } from '../context.ts';
import { findDataset } from './datasets.ts';
import { modelKindOf } from '../../model/kind.ts';

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

/** Why a run has no run.json: the last line its training process printed. */
async function neverStartedMessage(dir: string): Promise<string> {
  const last = await lastLogLine(join(dir, 'train.log'));
  return last ? `Training did not start: ${last}` : 'run.json is missing: training never started (see train.log in the run folder)';
}

const brief = (d: RunDetail): RunSummary => {
  const { model: _m, training: _t, seed: _s, ...summary } = d;
  return summary;
};

/** The runs area: its handlers, and the routing of training jobs' events to run events. */
export class RunService {
  /** The latest status each live training job reported, by run folder. */
  private readonly live = new Map<string, RunStatusView>();
  readonly handlers: RunHandlers;

  constructor(private readonly ctx: ApiContext) {
    this.handlers = {
      listRuns: () => this.listRuns(),
      getRun: async ({ run }) => this.summarize(existingRunDir(ctx, run)),
      readMetrics: async ({ run, offset }) => {
        const chunk = await readMetrics(existingRunDir(ctx, run), offset);
        return {
          records: chunk.records,
          nextOffset: chunk.nextOffset,
          reset: chunk.reset,
          ...(chunk.skipped.count ? { skipped: chunk.skipped } : {}),
        };
      },
      listCheckpoints: async ({ run }) => checkpointInfos(existingRunDir(ctx, run)),
      startRun: (input) => this.startRun(input),
      pauseRun: ({ run }) => this.control(run, 'pause'),
      resumeRun: ({ run }) => this.control(run, 'resume'),
      stopRun: ({ run }) => this.control(run, 'stop'),
      continueRun: (input) => this.continueRun(input),
      exportMetrics: (input) => this.exportMetrics(input),
    };
  }

  private trainingJobOf(dir: string) {
    return this.ctx.jobs.activeFor(dir, 'train');
  }

  /** Route a job event: the training job's run events become run events of the API. */
  onJobEvent(event: JobEvent): void {
    if (event.job.kind !== 'train') return;
    const run = basename(event.runDir);
    if (event.type === 'run-event') {
      const e = event.event;
      if (e.type === 'metrics') this.ctx.emit({ type: 'run-metrics', run, record: e.record });
      else if (e.type === 'checkpoint') this.ctx.emit({ type: 'run-checkpoint', run, step: e.step });
      else if (e.type === 'status') {
        this.live.set(event.runDir, { status: e.status, message: e.message });
        this.ctx.emit({ type: 'run-status', run, status: e.status, message: e.message });
      }
    } else if (event.type === 'job-status' && !isActiveJobStatus(event.job.status)) {
      this.live.delete(event.runDir);
      // The final word comes from disk (the job may have ended without saying it).
      void this.summarize(event.runDir).then((s) => this.ctx.emit({ type: 'run-status', run, status: s.status, message: s.message }));
    }
  }

  private async statusOf(dir: string, read: RunJsonRead): Promise<RunStatusView> {
    // A job that reported its end may still be exiting: from then on, the disk has the last word.
    const job = this.trainingJobOf(dir);
    const live = job && isActiveJobStatus(job.status) ? (this.live.get(dir) ?? { status: 'starting' }) : undefined;
    if (!read.ok)
      return live ?? { status: 'failed', message: read.missing ? await neverStartedMessage(dir) : `Damaged run folder: ${read.message}` };
    return inferRunStatus(read.run, await inspectRunLock(dir), live);
  }

  private async summarize(dir: string): Promise<RunDetail> {
    const read = await readRunJsonForDisplay(dir);
    const json: RunJsonShown | null = read.ok ? read.run : read.raw;
    let { status, message } = await this.statusOf(dir, read);
    const last = await lastTrainRecord(dir).catch((e: unknown) => {
      // A run whose metrics cannot be read is shown as damaged, with the reason; the list goes on.
      status = 'failed';
      message = `Damaged run folder: ${(e as Error).message}`;
      return null;
    });
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
      workers: json?.workers,
      modalities: Array.isArray(model?.modalities) ? model.modalities.map((m) => m.name) : [],
      step: last?.step ?? 0,
      totalSteps: json?.training?.steps,
      latestLoss: last?.loss ?? null,
      tokensPerSecond: last?.tokens_per_s,
      elapsedSeconds: last?.elapsed_s,
      controllable: this.trainingJobOf(dir) !== undefined,
      ...(json?.source ? { imported: json.source } : {}),
      model: model ?? null,
      training: json?.training ?? null,
      seed: json?.seed,
    };
  }

  private async listRuns(): Promise<RunSummary[]> {
    const names = await readdir(runsDirOf(this.ctx), { withFileTypes: true }).catch(() => []);
    const runs = await Promise.all(
      names
        .filter((d) => d.isDirectory())
        .map((d) =>
          this.summarize(runDirOf(this.ctx, d.name)).then(brief, (e: unknown) => damagedRun(d.name, runDirOf(this.ctx, d.name), e)),
        ),
    );
    // Newest first; runs without a created time (just launched) on top.
    return runs.sort((a, b) => (b.created ?? '9').localeCompare(a.created ?? '9') || a.name.localeCompare(b.name));
  }

  private uniqueRunName(input: StartRunInput): string {
    const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
    const base = `${input.preset}-${input.size}-${stamp}`;
    let name = base;
    for (let i = 2; existsSync(runDirOf(this.ctx, name)); i++) name = `${base}-${i}`;
    return name;
  }

  private startTraining(dir: string, input: TrainJobInput): void {
    this.ctx.jobs.start({ kind: 'train', input, runDir: dir, allowInternal: true });
    this.ctx.emit({ type: 'run-status', run: basename(dir), status: 'starting' });
  }

  /** Create the run folder (run.json, validated first) and train it in a job. */
  private async startRun(input: StartRunInput): Promise<RunSummary> {
    const dataset = await findDataset(this.ctx, input.dataset);
    const name = input.name ?? this.uniqueRunName(input);
    const dir = runDirOf(this.ctx, name);
    if (existsSync(dir)) throw new MotlabError('conflict', `A run named "${name}" already exists; choose another name.`);
    const engine = input.engine ?? 'auto';
    if (engine === TORCH_ENGINE) {
      // Refused here, with the reason, rather than as a failed run.
      const torch = await torchAvailability();
      if (!torch.available) throw new MotlabError('engine_unavailable', torch.reason);
    }
    const overrides = { steps: input.steps, checkpoint_every: input.checkpointEvery, eval_every: input.evalEvery, seed: input.seed };
    const request = { config: input.preset, size: input.size, data: dataset.path, engine, workers: input.workers, overrides };
    await createRun(dir, await planNewRun(dir, request));
    this.startTraining(dir, { mode: 'fresh', restart: false, engine, processes: input.processes ?? 1, overrides: {} });
    return brief(await this.summarize(dir));
  }

  private async control(name: string, action: RunControl): Promise<RunSummary> {
    const dir = existingRunDir(this.ctx, name);
    const job = this.trainingJobOf(dir);
    if (job && this.ctx.jobs.control(job.id, action)) return brief(await this.summarize(dir));
    const s = await this.summarize(dir);
    const lock = await inspectRunLock(dir);
    if (action === 'stop' && (s.status === 'running' || s.status === 'paused')) {
      // Started elsewhere (the CLI, an earlier server): SIGTERM is the protocol's "stop", sent
      // only to the process the run lock names, after checking it is still that process.
      if (await signalRunOwner(dir, 'SIGTERM')) return brief(s);
    }
    if ((s.status === 'running' || s.status === 'paused') && lock.state === 'held')
      throw new MotlabError(
        'conflict',
        `Run "${name}" was started by another process (pid ${lock.holder.pid}); it can only be stopped from here.`,
      );
    if ((s.status === 'running' || s.status === 'paused') && lock.state === 'foreign')
      throw new MotlabError(
        'conflict',
        `Run "${name}" is trained on ${lock.holder.host} (process ${lock.holder.pid}); stop it there (SIGTERM writes a checkpoint first).`,
      );
    if (s.status === 'running' || s.status === 'paused')
      throw new MotlabError(
        'conflict',
        `Run "${name}" is trained by a process that holds no run lock (an earlier lab or PyTorch trainer): the lab cannot ` +
          `make sure that the pid in run.json is still that trainer, so it sends it nothing; stop it where it runs.`,
      );
    throw new MotlabError('conflict', `Run "${name}" is not training (status: ${s.status}).`);
  }

  private async continueRun({ run, steps, restart }: ParsedInput<'continueRun'>): Promise<RunSummary> {
    const dir = existingRunDir(this.ctx, run);
    const job = this.trainingJobOf(dir);
    if (job) await this.ctx.jobs.settle(job.id);
    const s = await this.summarize(dir);
    if (this.trainingJobOf(dir) || isActiveStatus(s.status)) throw new MotlabError('conflict', `Run "${run}" is still training.`);
    const read = await readRunJsonForDisplay(dir);
    if (!read.ok) throw new MotlabError('invalid_checkpoint', `Run "${run}" cannot be continued: ${read.message}`);
    const overrides = steps === undefined ? {} : { steps };
    await planResume(dir, { overrides, restart }); // refuse here, with the reason, rather than in the child
    // A PyTorch run continues in PyTorch (one process; `motlab train --resume --engine torch --nproc N` for more).
    const engine = read.run.engine === TORCH_ENGINE ? TORCH_ENGINE : 'auto';
    this.startTraining(dir, { mode: 'resume', restart, engine, processes: 1, overrides });
    return brief(await this.summarize(dir));
  }

  private async exportMetrics({ run, format }: ParsedInput<'exportMetrics'>): Promise<MethodOutput<'exportMetrics'>> {
    const { records } = await readMetrics(existingRunDir(this.ctx, run), 0);
    if (format === 'jsonl')
      return {
        fileName: `${run}-metrics.jsonl`,
        mimeType: 'application/x-ndjson',
        text: records.map((r) => JSON.stringify(r) + '\n').join(''),
      };
    return { fileName: `${run}-metrics.csv`, mimeType: 'text/csv', text: metricsCsv(records) };
  }
}
