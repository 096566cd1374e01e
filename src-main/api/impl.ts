/**
 * The API's one implementation. Transports (src-main/app/ipc.ts, src-main/server/) only move
 * calls and events; everything the UI can do is here.
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { buildModelConfig, PRESET_DESCRIPTIONS, SIZES } from '../model/presets.ts';
import { modelKindOf } from '../model/kind.ts';
import { ENGINE_CHOICES, PRESET_NAMES, SIZE_NAMES, type RunStatus } from '../common/vocabulary.ts';
import { TRAINING_DEFAULTS } from '../training/config.ts';
import { TrainingLauncher, type LaunchEvent } from '../training/launcher.ts';
import { MotlabError } from '../common/errors.ts';
import { type ApiHandlers, type StartRunInput } from '../common/api/definition.ts';
import { readMetrics, type RunJson } from '../checkpoints/run-folder.ts';
import { checkpointInfos, isProcessAlive, lastTrainRecord, readRunJsonForDisplay } from './run-files.ts';
import type { ApiEvent, DatasetInfo, RunDetail, RunSummary } from '../common/api/types.ts';
import type { MetricsRecord } from '../common/metrics.ts';
import { metricsCsv } from './export.ts';
import { DatasetBrowser } from './datasets.ts';
import { analysisHandlers } from './analysis-handlers.ts';
import { ensureWorkspace, EXAMPLE_DATASET, listDatasetsOf, type CliRunner } from './workspace.ts';

export interface ApiOptions extends CliRunner {
  workspace: string;
  /** Folder of builtin datasets (assets/datasets). */
  builtinDatasets: string;
}

export interface MotlabApi {
  handlers: ApiHandlers;
  subscribe(listener: (event: ApiEvent) => void): () => void;
  /** Stop every training process this API started (each writes a checkpoint). */
  close(): Promise<void>;
  workspacePath(): string;
  /** Training processes this API started that are still alive. */
  activeTrainingCount(): number;
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

export function createApi(options: ApiOptions): { api: MotlabApi; ready: Promise<string[]> } {
  let workspace = resolve(options.workspace);
  let notes: string[] = [];
  const listeners = new Set<(event: ApiEvent) => void>();
  const emit = (event: ApiEvent) => {
    for (const l of listeners) l(event);
  };

  const datasetBrowser = new DatasetBrowser();
  const runsDir = () => join(workspace, 'runs');
  const runDir = (name: string) => join(runsDir(), name);
  // Launcher keys are absolute run folders, so switching workspace does not confuse runs.
  const launcher = new TrainingLauncher({
    cliPath: options.cliPath,
    execPath: options.execPath,
    env: options.env,
    onEvent: (key, event) => onLaunchEvent(key, event),
  });

  function onLaunchEvent(key: string, event: LaunchEvent): void {
    const run = key.split(/[\\/]/).pop() as string;
    switch (event.type) {
      case 'metrics':
        emit({ type: 'run-metrics', run, record: event.record });
        break;
      case 'checkpoint':
        emit({ type: 'run-checkpoint', run, step: event.step });
        break;
      case 'engine':
        break;
      case 'status':
        emit({ type: 'run-status', run, status: event.status, message: event.message });
        break;
      case 'exit':
        // The final word comes from disk (the child may have died before saying it).
        void summarize(key).then((s) => emit({ type: 'run-status', run, status: s.status, message: s.message }));
        break;
    }
  }

  async function summarize(dir: string): Promise<RunDetail> {
    const name = dir.split(/[\\/]/).pop() as string;
    const read = await readRunJsonForDisplay(dir);
    const json: Partial<RunJson> | null = read.ok ? read.run : read.raw;
    const live = launcher.statusOf(dir);
    let status: RunStatus;
    let message = json?.message;
    if (live && live.status !== 'starting') {
      status = live.status;
      message = live.message ?? message;
    } else if (live) {
      status = 'starting';
    } else if (!read.ok) {
      status = 'failed';
      message = read.missing ? await neverStartedMessage(dir) : read.message;
    } else {
      status = read.run.status === 'created' ? 'starting' : read.run.status;
      if ((status === 'running' || status === 'paused' || status === 'starting') && !isProcessAlive(read.run.pid)) {
        status = 'interrupted';
        message = 'The training process ended without finishing; continue it from its last checkpoint.';
      }
    }
    const last = await lastTrainRecord(dir);
    const model = json?.model;
    return {
      name,
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
      controllable: launcher.has(dir),
      model: (model as Record<string, unknown> | undefined) ?? null,
      training: json?.training ?? null,
      seed: json?.seed,
    };
  }

  async function existingRun(name: string): Promise<string> {
    const dir = runDir(name);
    if (!existsSync(dir)) throw new MotlabError('not_found', `No run named "${name}" in workspace ${workspace}`);
    return dir;
  }

  const brief = (d: RunDetail): RunSummary => {
    const { model: _m, training: _t, seed: _s, ...summary } = d;
    return summary;
  };

  async function findDataset(name: string): Promise<DatasetInfo> {
    const all = await listDatasetsOf(workspace, options.builtinDatasets);
    const found = all.find((d) => d.name === name);
    if (!found) {
      const names = all.map((d) => d.name).join(', ') || 'none yet';
      throw new MotlabError('not_found', `No dataset named "${name}" (available: ${names})`);
    }
    return found;
  }

  function uniqueRunName(input: StartRunInput): string {
    const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
    const base = `${input.preset}-${input.size}-${stamp}`;
    let name = base;
    for (let i = 2; existsSync(runDir(name)); i++) name = `${base}-${i}`;
    return name;
  }

  async function control(name: string, action: 'pause' | 'resume' | 'stop'): Promise<RunSummary> {
    const dir = await existingRun(name);
    if (launcher.send(dir, { type: action })) return brief(await summarize(dir));
    const s = await summarize(dir);
    const read = await readRunJsonForDisplay(dir);
    const json = read.ok ? read.run : read.raw;
    if (action === 'stop' && (s.status === 'running' || s.status === 'paused') && json?.pid && isProcessAlive(json.pid)) {
      // Started elsewhere (the CLI, an earlier server): SIGTERM is the protocol's "stop".
      process.kill(json.pid, 'SIGTERM');
      return s;
    }
    if (s.status === 'running' || s.status === 'paused')
      throw new MotlabError(
        'conflict',
        `Run "${name}" was started by another process (pid ${json?.pid}); it can only be stopped from here.`,
      );
    throw new MotlabError('conflict', `Run "${name}" is not training (status: ${s.status}).`);
  }

  const handlers: ApiHandlers = {
    ...analysisHandlers(existingRun),

    async getWorkspace() {
      const runs = await readdir(runsDir()).catch(() => []);
      const datasets = await listDatasetsOf(workspace, options.builtinDatasets);
      return { path: workspace, runCount: runs.length, datasetCount: datasets.length, notes };
    },

    async openWorkspace({ path }) {
      if (!isAbsolute(path)) throw new MotlabError('invalid_request', `Workspace path must be absolute, got "${path}"`);
      workspace = resolve(path);
      notes = await ensureWorkspace(workspace, options);
      emit({ type: 'workspace-changed', path: workspace });
      return handlers.getWorkspace({});
    },

    async getCatalog() {
      const datasets = await listDatasetsOf(workspace, options.builtinDatasets);
      const preferred = datasets.find((d) => d.name === 'fashion-tri') ?? datasets.find((d) => d.name === EXAMPLE_DATASET) ?? datasets[0];
      return {
        presets: PRESET_NAMES.map((name) => ({ name, description: PRESET_DESCRIPTIONS[name] })),
        sizes: SIZE_NAMES.map((name) => ({ name, ...SIZES[name], defaultSteps: TRAINING_DEFAULTS[name].steps })),
        engines: [...ENGINE_CHOICES],
        defaults: { preset: 'mot', size: 'tiny', dataset: preferred?.name },
      };
    },

    listDatasets: () => listDatasetsOf(workspace, options.builtinDatasets),

    async getDatasetOverview({ dataset }) {
      return datasetBrowser.overview(await findDataset(dataset));
    },

    async getDatasetDocuments({ dataset, split, offset, count }) {
      return datasetBrowser.documents(await findDataset(dataset), split, offset, count);
    },

    async listRuns() {
      const names = await readdir(runsDir(), { withFileTypes: true }).catch(() => []);
      const runs = await Promise.all(names.filter((d) => d.isDirectory()).map((d) => summarize(runDir(d.name)).then(brief)));
      // Newest first; runs without a created time (just launched) on top.
      return runs.sort((a, b) => (b.created ?? '9').localeCompare(a.created ?? '9') || a.name.localeCompare(b.name));
    },

    async getRun({ run }) {
      return summarize(await existingRun(run));
    },

    async readMetrics({ run, offset }) {
      const chunk = await readMetrics(await existingRun(run), offset);
      return { records: chunk.records as unknown as MetricsRecord[], nextOffset: chunk.nextOffset, reset: chunk.reset };
    },

    async listCheckpoints({ run }) {
      return checkpointInfos(await existingRun(run));
    },

    async startRun(input) {
      const dataset = await findDataset(input.dataset);
      // Fail here, with the preset's own message, rather than in the child a second later.
      buildModelConfig(input.preset, input.size, dataset);
      const name = input.name ?? uniqueRunName(input);
      const dir = runDir(name);
      if (existsSync(dir)) throw new MotlabError('conflict', `A run named "${name}" already exists; choose another name.`);
      await mkdir(dir, { recursive: true });
      const args = ['--config', input.preset, '--size', input.size, '--data', dataset.path, '--out', dir];
      if (input.steps !== undefined) args.push('--steps', String(input.steps));
      if (input.checkpointEvery !== undefined) args.push('--checkpoint-every', String(input.checkpointEvery));
      if (input.evalEvery !== undefined) args.push('--eval-every', String(input.evalEvery));
      if (input.engine !== undefined) args.push('--engine', input.engine);
      if (input.seed !== undefined) args.push('--seed', String(input.seed));
      launcher.start(dir, args, dir);
      emit({ type: 'run-status', run: name, status: 'starting' });
      return brief(await summarize(dir));
    },

    pauseRun: ({ run }) => control(run, 'pause'),
    resumeRun: ({ run }) => control(run, 'resume'),
    stopRun: ({ run }) => control(run, 'stop'),

    async continueRun({ run, steps }) {
      const dir = await existingRun(run);
      await launcher.settle(dir);
      const s = await summarize(dir);
      if (launcher.has(dir) || s.status === 'running' || s.status === 'paused' || s.status === 'starting')
        throw new MotlabError('conflict', `Run "${run}" is still training.`);
      const read = await readRunJsonForDisplay(dir);
      if (!read.ok) throw new MotlabError('invalid_checkpoint', `Run "${run}" cannot be continued: ${read.message}`);
      const args = ['--out', dir, '--resume'];
      if (steps !== undefined) args.push('--steps', String(steps));
      launcher.start(dir, args, dir);
      emit({ type: 'run-status', run, status: 'starting' });
      return brief(await summarize(dir));
    },

    async exportMetrics({ run, format }) {
      const { records } = await readMetrics(await existingRun(run), 0);
      if (format === 'jsonl')
        return {
          fileName: `${run}-metrics.jsonl`,
          mimeType: 'application/x-ndjson',
          text: records.map((r) => JSON.stringify(r) + '\n').join(''),
        };
      return { fileName: `${run}-metrics.csv`, mimeType: 'text/csv', text: metricsCsv(records as unknown as MetricsRecord[]) };
    },
  };

  const ready = ensureWorkspace(workspace, options).then((n) => (notes = n));

  return {
    ready,
    api: {
      handlers,
      subscribe(listener) {
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
      close: () => launcher.stopAll(),
      workspacePath: () => workspace,
      activeTrainingCount: () => launcher.size,
    },
  };
}
