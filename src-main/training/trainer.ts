/**
 * The training loop: AdamW with warmup + cosine, gradient accumulation and clipping, per-modality
 * losses every step, validation every N steps, atomic checkpoints every N steps and at the end,
 * exact resume. It runs in its own process (the CLI, or a job child of the app or server), so
 * the caller's event loop never blocks; it yields between steps to take pause/stop requests.
 *
 * The trainer is handed its configs and reports statuses as events: run.json and the run lock
 * belong to the run service (src-main/runs/), which wraps this.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { InProcessEngineChoice, EngineName, RunControl, StoredRunStatus } from '../common/vocabulary.ts';
import type { ModelConfig } from '../model/config.ts';
import { initParams, prepareBatch, type RoutingStats } from '../model/mot.ts';
import { flopsPerToken } from '../model/accounting.ts';
import { loadDataset, sampleTrainBatch, type TokenArray } from '../data/dataset.ts';
import { initEngine, type EngineInfo } from '../engine/engine.ts';
import { sumOfSquares } from '../engine/kernels/sum-squares.ts';
import {
  appendMetrics,
  listCheckpoints,
  readCheckpoint,
  recoverInterruptedWrites,
  truncateMetricsAfterStep,
  writeCheckpoint,
} from '../checkpoints/run-folder.ts';
import { MotlabError } from '../common/errors.ts';
import { Rng } from '../util/rng.ts';
import type { LossByModality, MetricsRecord } from '../common/metrics.ts';
import type { TrainingConfig } from './config.ts';
import { AdamW } from './optimizer.ts';
import { learningRate } from './schedule.ts';
import { evaluateLoss } from './evaluate.ts';
import { parseTrainState, type TrainState } from './state.ts';
import { addMicroBatchGradients } from './gradients.ts';
import { WorkerFailure, WorkerPool } from './workers/pool.ts';
import { planWorkers, type WorkersRequest } from './workers/count.ts';

export type { TrainState } from './state.ts';
export type { EvalRecord, MetricsRecord, TrainRecord } from '../common/metrics.ts';

/**
 * The data-crop generator is seeded with the run's seed mixed with this constant, so that the
 * crops and the initial weights (drawn from the seed itself) are independent streams.
 */
const DATA_SEED_MIX = 0x5eed1234;

/** Added to the gradient norm before dividing by it when clipping (PyTorch's clip_grad_norm_). */
const CLIP_EPSILON = 1e-6;

/** What the trainer reports about itself; a failure is thrown, not reported. */
export type TrainerStatus = Extract<StoredRunStatus, 'running' | 'paused' | 'stopped' | 'completed'>;

export type TrainEvent =
  | { type: 'metrics'; record: MetricsRecord }
  | { type: 'status'; status: TrainerStatus; message?: string }
  | { type: 'checkpoint'; step: number }
  | { type: 'engine'; name: EngineName; detail: string }
  /** The number of gradient workers the run trains with (1: the trainer's own thread). */
  | { type: 'workers'; count: number }
  /** Something a person should know that does not stop training (e.g. an incomplete step folder). */
  | { type: 'note'; message: string };

/** Requests from outside (IPC messages, signals), polled between steps. */
export class TrainingControl {
  paused = false;
  stopRequested = false;
  private wake: (() => void) | null = null;
  private readonly listeners: ((action: RunControl) => void)[] = [];
  pause(): void {
    this.paused = true;
    this.tell('pause');
  }
  resume(): void {
    this.paused = false;
    this.wake?.();
    this.tell('resume');
  }
  stop(): void {
    this.stopRequested = true;
    this.wake?.();
    this.tell('stop');
  }
  /** Hear every request as it comes (a trainer in another process gets them forwarded: runs/torch.ts). */
  listen(listener: (action: RunControl) => void): void {
    this.listeners.push(listener);
  }
  private tell(action: RunControl): void {
    for (const listener of this.listeners) listener(action);
  }
  waitWhilePaused(): Promise<void> {
    return new Promise((resolve) => {
      this.wake = () => {
        this.wake = null;
        resolve();
      };
    });
  }
}

/** What to train: the configs of run.json and where the dataset is. */
export interface TrainingSpec {
  model: ModelConfig;
  training: TrainingConfig;
  datasetPath: string;
}

export interface TrainRunOptions {
  runDir: string;
  spec: TrainingSpec;
  engine: InProcessEngineChoice;
  /** Gradient workers (docs/workers.md): a number, or 'auto' for the cores available; default 1, this thread. */
  workers?: WorkersRequest;
  /** Continue from the latest complete checkpoint (which must exist), else start at step 0. */
  resume: boolean;
  control?: TrainingControl;
  /** Awaited: a status is on disk before training goes on. */
  onEvent?: (event: TrainEvent) => void | Promise<void>;
}

/** Which component/tower a parameter belongs to, for per-tower gradient norms ("ffn.image"). */
export function towerGroupOf(config: ModelConfig, name: string): string {
  if (name === 'embed.weight' || name === 'output.weight') return name.split('.')[0];
  const towerLabel = (component: 'attention' | 'ffn' | 'norm', t: number) => `${component}.${config.towers[component][t]?.join('+') ?? t}`;
  let m = /^layers\.\d+\.attention\.[a-z_]+\.(\d+)\.weight$/.exec(name);
  if (m) return towerLabel('attention', Number(m[1]));
  m = /^layers\.\d+\.(?:attention_norm|ffn_norm)\.(\d+)\.weight$/.exec(name) ?? /^norm\.(\d+)\.weight$/.exec(name);
  if (m) return towerLabel('norm', Number(m[1]));
  m = /^layers\.\d+\.feed_forward\.(?:w1|w2|w3|router|experts)\.(\d+)\./.exec(name);
  if (m) return towerLabel('ffn', Number(m[1]));
  return 'other';
}

/** Everything one training process holds. */
interface Session {
  runDir: string;
  config: ModelConfig;
  tc: TrainingConfig;
  engine: EngineInfo;
  train: TokenArray;
  val: TokenArray | undefined;
  params: Map<string, tf.Variable>;
  /** The gradient workers, or null when the gradients are computed on this thread. */
  pool: WorkerPool | null;
  optimizer: AdamW;
  dataRng: Rng;
  state: TrainState;
  emit: (event: TrainEvent) => Promise<void>;
  /** Fixed per run: parameter order, tower groups, per-step token and FLOP counts. */
  varList: tf.Variable[];
  names: string[];
  groups: string[];
  modalityNames: string[];
  tokensPerStep: number;
  flopsPerStep: number;
}

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Train until the configured step count or a stop request; a failure is thrown (a MotlabError when a person can act on it). */
export async function trainRun(options: TrainRunOptions): Promise<'completed' | 'stopped'> {
  const session = await setUpSession(options);
  try {
    for (const note of await recoverInterruptedWrites(options.runDir)) await session.emit({ type: 'note', message: note });
    if (options.resume) await restoreLatestCheckpoint(session);
    return await trainingLoop(session, options.control ?? new TrainingControl());
  } finally {
    await session.pool?.close();
    session.optimizer.dispose();
    session.params.forEach((p) => p.dispose());
  }
}

async function setUpSession(options: TrainRunOptions): Promise<Session> {
  const { model: config, training: tc, datasetPath } = options.spec;
  const emit = async (event: TrainEvent) => void (await options.onEvent?.(event));
  const engine = await initEngine(options.engine);
  await emit({ type: 'engine', name: engine.name, detail: engine.detail });

  const dataset = await loadDataset(datasetPath);
  checkDatasetMatchesModel(config, dataset.spec.vocab_size, dataset.spec.modalities, datasetPath);
  const train = dataset.splits.train;
  if (!train) throw new MotlabError('invalid_dataset', `${datasetPath} has no "train" split`);

  const params = new Map<string, tf.Variable>();
  for (const [name, value] of Object.entries(initParams(config, tc.seed))) {
    params.set(name, tf.variable(value, true));
    value.dispose();
  }
  const plan = planWorkers(options.workers ?? 1, engine.name, config, tc.batch_size);
  if (plan.reason) await emit({ type: 'note', message: plan.reason });
  const pool = plan.count > 1 ? await WorkerPool.start(plan.count, engine.name, config, params) : null;
  await emit({ type: 'workers', count: plan.count });
  const dataRng = new Rng(tc.seed ^ DATA_SEED_MIX);
  const names = [...params.keys()];
  const tokensPerStep = tc.batch_size * tc.grad_accum * config.seq_len;
  return {
    runDir: options.runDir,
    config,
    tc,
    engine,
    train,
    val: dataset.splits.val,
    params,
    pool,
    optimizer: new AdamW(params, tc),
    dataRng,
    state: { step: 0, tokens: 0, flops: 0, elapsed_s: 0, data_rng: dataRng.state(), seed: tc.seed, engine: engine.name, lr: 0 },
    emit,
    varList: [...params.values()],
    names,
    groups: names.map((n) => towerGroupOf(config, n)),
    modalityNames: config.modalities.map((m) => m.name),
    tokensPerStep,
    flopsPerStep: flopsPerToken(config, 'train') * tokensPerStep,
  };
}

/** Weights, optimizer moments, data cursor and counters from the newest complete checkpoint. */
async function restoreLatestCheckpoint(s: Session): Promise<void> {
  // The run service has checked (and reported any incomplete newer step folder): runs/resume.ts.
  const latest = (await listCheckpoints(s.runDir)).at(-1);
  if (!latest) throw new MotlabError('invalid_checkpoint', `${s.runDir}: no complete checkpoint to resume from`);
  const ckpt = await readCheckpoint(s.runDir, latest.step);
  for (const [name, p] of s.params) {
    const t = ckpt.model[name];
    if (!t) throw new MotlabError('invalid_checkpoint', `${ckpt.dir}: model.safetensors lacks ${name}`);
    p.assign(tf.tensor(t.data, t.shape, 'float32'));
  }
  s.pool?.publishWeights(s.params);
  if (!ckpt.optimizer) throw new MotlabError('invalid_checkpoint', `${ckpt.dir}: optimizer.safetensors is missing; cannot resume exactly`);
  const saved = parseTrainState(ckpt.state, `${ckpt.dir}/state.json`);
  s.optimizer.loadStateTensors(ckpt.optimizer, saved.step, `${ckpt.dir}/optimizer.safetensors`);
  s.dataRng = new Rng(saved.data_rng);
  s.state = { ...saved, engine: s.engine.name };
  // Records logged after the checkpoint belong to the lost future; the resumed run rewrites them.
  await truncateMetricsAfterStep(s.runDir, s.state.step);
}

async function trainingLoop(s: Session, control: TrainingControl): Promise<'completed' | 'stopped'> {
  await s.emit({ type: 'status', status: 'running' });
  if (s.state.step === 0 && s.val) await stopOnWorkerFailure(s, () => evaluateValidation(s)); // the curve starts at the untrained model
  while (s.state.step < s.tc.steps) {
    await yieldToEventLoop();
    if ((await honourPause(s, control)) === 'stop') {
      if ((await listCheckpoints(s.runDir)).at(-1)?.step !== s.state.step) await saveCheckpoint(s);
      await s.emit({ type: 'status', status: 'stopped', message: `stopped at step ${s.state.step} of ${s.tc.steps}` });
      return 'stopped';
    }
    await stopOnWorkerFailure(s, async () => {
      await trainStep(s);
      if (s.state.step % s.tc.eval_every === 0 || s.state.step === s.tc.steps) await evaluateValidation(s);
    });
    if (s.state.step % s.tc.checkpoint_every === 0 || s.state.step === s.tc.steps) await saveCheckpoint(s);
  }
  await s.emit({ type: 'status', status: 'completed', message: `completed ${s.tc.steps} steps` });
  return 'completed';
}

/**
 * Run `work`; if a gradient worker fails, keep what was trained (a checkpoint of the current step,
 * whose weights no failed step touched) and stop with a message that says what to do.
 */
async function stopOnWorkerFailure(s: Session, work: () => Promise<void>): Promise<void> {
  try {
    await work();
  } catch (error) {
    if (!(error instanceof WorkerFailure)) throw error;
    if ((await listCheckpoints(s.runDir)).at(-1)?.step !== s.state.step) await saveCheckpoint(s);
    throw new MotlabError(
      error.code,
      `${error.message}. Training stopped after step ${s.state.step}; checkpoint step ${s.state.step} holds it. ` +
        `Resume the run (motlab train --out <runDir> --resume), with --workers 1 to train on one thread.`,
      { cause: error },
    );
  }
}

/** Wait out a pause (reporting it); 'stop' when a stop was asked for. */
async function honourPause(s: Session, control: TrainingControl): Promise<'go' | 'stop'> {
  if (control.paused && !control.stopRequested) {
    await s.emit({ type: 'status', status: 'paused' });
    while (control.paused && !control.stopRequested) await control.waitWhilePaused();
    if (!control.stopRequested) await s.emit({ type: 'status', status: 'running' });
  }
  return control.stopRequested ? 'stop' : 'go';
}

/** One optimizer step over `grad_accum` micro-batches, logged as a train record. */
async function trainStep(s: Session): Promise<void> {
  const started = performance.now();
  const lr = learningRate(s.state.step, s.tc);
  const { grads, meanLoss, loss, routing } = s.pool ? await accumulateOnWorkers(s, s.pool) : await accumulateGradients(s);
  const norms = gradientNorms(s, grads);
  if (!Number.isFinite(meanLoss) || !Number.isFinite(norms.total)) {
    grads.forEach((g) => g.dispose());
    throw await nonFiniteError(s, meanLoss, norms.total, loss);
  }
  const clip = s.tc.grad_clip > 0 ? Math.min(1, s.tc.grad_clip / (norms.total + CLIP_EPSILON)) : 1;
  s.optimizer.apply(new Map(s.names.map((n, i) => [n, grads[i]])), lr, (1 / s.tc.grad_accum) * clip);
  grads.forEach((g) => g.dispose());
  s.pool?.publishWeights(s.params);

  const stepSeconds = (performance.now() - started) / 1000;
  s.state = {
    ...s.state,
    step: s.state.step + 1,
    tokens: s.state.tokens + s.tokensPerStep,
    flops: s.state.flops + s.flopsPerStep,
    elapsed_s: s.state.elapsed_s + stepSeconds,
    lr,
  };
  await log(s, {
    type: 'train',
    step: s.state.step,
    time: Date.now(),
    elapsed_s: s.state.elapsed_s,
    tokens: s.state.tokens,
    flops: s.state.flops,
    lr,
    loss,
    grad_norm: norms.total,
    grad_norm_towers: norms.towers,
    tokens_per_s: s.tokensPerStep / stepSeconds,
    step_ms: stepSeconds * 1000,
    ...(routing && routing.length ? { moe: routing } : {}),
  });
}

interface Accumulated {
  /** Summed gradients, one per parameter in `varList` order (the caller disposes them). */
  grads: tf.Tensor[];
  meanLoss: number;
  loss: LossByModality;
  routing: RoutingStats[] | undefined;
}

/** Forward and backward over `grad_accum` micro-batches, summing gradients and per-modality loss sums. */
async function accumulateGradients(s: Session): Promise<Accumulated> {
  const { config, tc } = s;
  const sums = new Float64Array(s.modalityNames.length);
  const counts = new Float64Array(s.modalityNames.length);
  let totalLoss = 0;
  let accumulated: tf.Tensor[] | null = null;
  let routing: RoutingStats[] | undefined;
  const params = Object.fromEntries(s.params);
  for (let micro = 0; micro < tc.grad_accum; micro++) {
    const { inputs, targets } = sampleTrainBatch(s.train, config.seq_len, tc.batch_size, s.dataRng);
    const batch = prepareBatch(config, inputs, targets, tc.batch_size);
    try {
      const out = await addMicroBatchGradients(config, params, s.varList, batch, accumulated);
      accumulated = out.sum;
      routing = out.routing;
      totalLoss += out.loss;
      for (let m = 0; m < s.modalityNames.length; m++) {
        sums[m] += out.modalitySums[m];
        counts[m] += batch.modalityCounts[m];
      }
    } finally {
      batch.dispose();
    }
  }
  return summarise(s, accumulated!, totalLoss, sums, counts, routing);
}

/** The same on the gradient workers: the micro-batches are sampled here, as on one thread, and split across the workers. */
async function accumulateOnWorkers(s: Session, pool: WorkerPool): Promise<Accumulated> {
  const { config, tc } = s;
  const micro = Array.from({ length: tc.grad_accum }, () => sampleTrainBatch(s.train, config.seq_len, tc.batch_size, s.dataRng));
  const pooled = await pool.stepGradients(s.state.step + 1, micro, tc.batch_size);
  const grads = pool.layout.map((slot) => tf.tensor(pooled.flat.subarray(slot.offset, slot.offset + slot.size), slot.shape, 'float32'));
  let totalLoss = 0;
  for (const loss of pooled.microLosses) totalLoss += loss;
  return summarise(s, grads, totalLoss, pooled.modalitySums, pooled.modalityCounts, undefined);
}

function summarise(
  s: Session,
  grads: tf.Tensor[],
  totalLoss: number,
  sums: Float64Array,
  counts: Float64Array,
  routing: RoutingStats[] | undefined,
): Accumulated {
  const meanLoss = totalLoss / s.tc.grad_accum;
  const loss: LossByModality = { all: meanLoss };
  s.modalityNames.forEach((m, i) => (loss[m] = counts[i] > 0 ? sums[i] / counts[i] : null));
  return { grads, meanLoss, loss, routing };
}

/** Norms of the mean gradient, overall and per tower group, from one read-back. */
function gradientNorms(s: Session, grads: tf.Tensor[]): { total: number; towers: Record<string, number> } {
  const squares = sumOfSquares(grads);
  const towerSquares: Record<string, number> = {};
  let total = 0;
  squares.forEach((sq, i) => {
    const meanSquare = sq / (s.tc.grad_accum * s.tc.grad_accum);
    towerSquares[s.groups[i]] = (towerSquares[s.groups[i]] ?? 0) + meanSquare;
    total += meanSquare;
  });
  return { total: Math.sqrt(total), towers: Object.fromEntries(Object.entries(towerSquares).map(([k, v]) => [k, Math.sqrt(v)])) };
}

/** The error that ends a run whose loss or gradient is no longer finite: what, where, and what to do. */
async function nonFiniteError(s: Session, meanLoss: number, gradNorm: number, loss: LossByModality): Promise<MotlabError> {
  // This step ran on the weights of step s.state.step: a checkpoint of that step holds the weights
  // that broke, so the last good one is the newest before it.
  const checkpoints = await listCheckpoints(s.runDir);
  const broken = checkpoints.find((c) => c.step === s.state.step);
  const last = checkpoints.filter((c) => c.step < s.state.step).at(-1);
  const what = !Number.isFinite(meanLoss) ? `loss is ${meanLoss}` : `gradient norm is ${gradNorm}`;
  const perModality = s.modalityNames.map((m) => `${m} ${loss[m]}`).join(', ');
  return new MotlabError(
    'non_finite_loss',
    `Training stopped at step ${s.state.step + 1}: the ${what} (${perModality}). ` +
      (broken ? `Checkpoint step ${broken.step} holds the weights that gave it. ` : '') +
      (last ? `The last good checkpoint is step ${last.step} (${last.dir}); ` : 'No good checkpoint was written; ') +
      'lower the learning rate or raise warmup, then resume.',
  );
}

async function log(s: Session, record: MetricsRecord): Promise<void> {
  await appendMetrics(s.runDir, record);
  await s.emit({ type: 'metrics', record });
}

async function evaluateValidation(s: Session): Promise<void> {
  if (!s.val) return;
  const result = s.pool
    ? await s.pool.evaluate(s.val, s.tc.eval_windows)
    : evaluateLoss(s.config, Object.fromEntries(s.params), s.val, s.tc.eval_windows);
  await log(s, { type: 'eval', step: s.state.step, time: Date.now(), split: 'val', windows: result.windows, loss: result.loss });
}

async function saveCheckpoint(s: Session): Promise<void> {
  const model: Record<string, { shape: number[]; data: Float32Array }> = {};
  for (const [name, p] of s.params) model[name] = { shape: p.shape, data: p.dataSync() as Float32Array };
  const notes: string[] = [];
  await writeCheckpoint(
    s.runDir,
    s.state.step,
    { model, optimizer: s.optimizer.stateTensors(), state: { ...s.state, data_rng: s.dataRng.state() }, config: s.config },
    { onNote: (note) => notes.push(note) },
  );
  for (const message of notes) await s.emit({ type: 'note', message });
  await s.emit({ type: 'checkpoint', step: s.state.step });
}

function checkDatasetMatchesModel(
  config: ModelConfig,
  vocab: number,
  modalities: readonly { name: string; start: number; end: number }[],
  source: string,
): void {
  const describe = (ms: readonly { name: string; start: number; end: number }[]) =>
    ms.map((m) => `${m.name}[${m.start},${m.end})`).join(' ');
  if (vocab !== config.vocab_size || describe(modalities) !== describe(config.modalities))
    throw new MotlabError(
      'invalid_dataset',
      `${source} does not match the model: dataset vocab ${vocab} ${describe(modalities)}, model vocab ${config.vocab_size} ${describe(config.modalities)}`,
    );
}
