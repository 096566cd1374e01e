/**
 * The training loop: AdamW with warmup + cosine, gradient accumulation and clipping, per-modality
 * losses every step, validation every N steps, atomic checkpoints every N steps and at the end,
 * exact resume. It runs in its own process (the CLI, or a child forked by the app), so the
 * caller's event loop never blocks; it yields between steps to take pause/stop requests.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { StoredRunStatus } from '../common/vocabulary.ts';
import type { ModelConfig } from '../model/config.ts';
import { computeLoss, initParams, prepareBatch, type RoutingStats } from '../model/mot.ts';
import { flopsPerToken } from '../model/accounting.ts';
import { loadDataset, sampleTrainBatch } from '../data/dataset.ts';
import { initEngine, type EngineName } from '../engine/engine.ts';
import { sumOfSquares } from '../engine/kernels/sum-squares.ts';
import {
  appendMetrics,
  listCheckpoints,
  readCheckpoint,
  readRunJson,
  truncateMetricsAfterStep,
  updateRunStatus,
  writeCheckpoint,
} from '../checkpoints/run-folder.ts';
import { MotlabError } from '../common/errors.ts';
import { Rng, type RngState } from '../util/rng.ts';
import { AdamW } from './optimizer.ts';
import { learningRate } from './schedule.ts';
import { evaluateLoss } from './evaluate.ts';
import type { LossByModality, MetricsRecord } from '../common/metrics.ts';

type RunStatus = StoredRunStatus;

export type { EvalRecord, MetricsRecord, TrainRecord } from '../common/metrics.ts';

/** What a checkpoint's state.json holds. */
export interface TrainState {
  step: number;
  tokens: number;
  flops: number;
  elapsed_s: number;
  /** The data cursor: training crops are drawn from this generator, so its state is the cursor. */
  data_rng: RngState;
  seed: number;
  engine: EngineName;
  lr: number;
}

export type TrainEvent =
  | { type: 'metrics'; record: MetricsRecord }
  | { type: 'status'; status: RunStatus; message?: string }
  | { type: 'checkpoint'; step: number }
  | { type: 'engine'; name: EngineName; detail: string };

/** Requests from outside (IPC messages, signals), polled between steps. */
export class TrainingControl {
  paused = false;
  stopRequested = false;
  private wake: (() => void) | null = null;
  pause(): void {
    this.paused = true;
  }
  resume(): void {
    this.paused = false;
    this.wake?.();
  }
  stop(): void {
    this.stopRequested = true;
    this.wake?.();
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

export interface TrainRunOptions {
  runDir: string;
  engine: EngineName | 'auto';
  resume: boolean;
  control?: TrainingControl;
  onEvent?: (event: TrainEvent) => void;
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

const sleep = () => new Promise<void>((resolve) => setImmediate(resolve));

export async function trainRun(options: TrainRunOptions): Promise<RunStatus> {
  const { runDir } = options;
  const control = options.control ?? new TrainingControl();
  const emit = (event: TrainEvent) => options.onEvent?.(event);
  const run = await readRunJson(runDir);
  const config = run.model;
  const tc = run.training;

  const engine = await initEngine(options.engine);
  emit({ type: 'engine', name: engine.name, detail: engine.detail });

  const dataset = await loadDataset(run.dataset.path);
  checkDatasetMatchesModel(config, dataset.spec.vocab_size, dataset.spec.modalities, run.dataset.path);
  const train = dataset.splits.train;
  const val = dataset.splits.val;
  if (!train) throw new MotlabError('invalid_dataset', `${run.dataset.path} has no "train" split`);

  const params = new Map<string, tf.Variable>();
  for (const [name, value] of Object.entries(initParams(config, tc.seed))) {
    params.set(name, tf.variable(value, true));
    value.dispose();
  }
  const optimizer = new AdamW(params, tc);
  let dataRng = new Rng(tc.seed ^ 0x5eed1234);
  let state: TrainState = {
    step: 0,
    tokens: 0,
    flops: 0,
    elapsed_s: 0,
    data_rng: dataRng.state(),
    seed: tc.seed,
    engine: engine.name,
    lr: 0,
  };

  if (options.resume && (await listCheckpoints(runDir)).length > 0) {
    const ckpt = await readCheckpoint(runDir, 'latest');
    for (const [name, p] of params) {
      const t = ckpt.model[name];
      if (!t) throw new MotlabError('invalid_checkpoint', `${ckpt.dir}: model.safetensors lacks ${name}`);
      p.assign(tf.tensor(t.data, t.shape, 'float32'));
    }
    if (!ckpt.optimizer)
      throw new MotlabError('invalid_checkpoint', `${ckpt.dir}: optimizer.safetensors is missing; cannot resume exactly`);
    const saved = ckpt.state as unknown as TrainState;
    optimizer.loadStateTensors(ckpt.optimizer, saved.step, ckpt.dir);
    dataRng = new Rng(saved.data_rng);
    state = { ...saved, engine: engine.name };
    // Records logged after the checkpoint belong to the lost future; the resumed run rewrites them.
    await truncateMetricsAfterStep(runDir, state.step);
  }

  const varList = [...params.values()];
  const names = [...params.keys()];
  const groups = names.map((n) => towerGroupOf(config, n));
  const tokensPerStep = tc.batch_size * tc.grad_accum * config.seq_len;
  const flopsPerStep = flopsPerToken(config, 'train') * tokensPerStep;
  const modalityNames = config.modalities.map((m) => m.name);

  const saveCheckpoint = async () => {
    const model: Record<string, { shape: number[]; data: Float32Array }> = {};
    for (const [name, p] of params) model[name] = { shape: p.shape, data: p.dataSync() as Float32Array };
    await writeCheckpoint(runDir, state.step, {
      model,
      optimizer: optimizer.stateTensors(),
      state: { ...state, data_rng: dataRng.state() },
      config,
    });
    emit({ type: 'checkpoint', step: state.step });
  };

  const setStatus = async (status: RunStatus, message?: string) => {
    await updateRunStatus(runDir, { status, message, pid: process.pid, engine: engine.name });
    emit({ type: 'status', status, message });
  };

  const log = async (record: MetricsRecord) => {
    await appendMetrics(runDir, record);
    emit({ type: 'metrics', record });
  };

  const evaluate = async () => {
    if (!val) return;
    const paramRecord = Object.fromEntries(params) as Record<string, tf.Tensor>;
    const result = evaluateLoss(config, paramRecord, val, tc.eval_windows);
    await log({ type: 'eval', step: state.step, time: Date.now(), split: 'val', windows: result.windows, loss: result.loss });
  };

  await setStatus('running');
  try {
    if (state.step === 0 && val) await evaluate(); // the curve starts at the untrained model
    while (state.step < tc.steps) {
      await sleep();
      if (control.paused && !control.stopRequested) {
        await setStatus('paused');
        while (control.paused && !control.stopRequested) await control.waitWhilePaused();
        if (!control.stopRequested) await setStatus('running');
      }
      if (control.stopRequested) {
        if ((await listCheckpoints(runDir)).at(-1)?.step !== state.step) await saveCheckpoint();
        await setStatus('stopped', `stopped at step ${state.step} of ${tc.steps}`);
        return 'stopped';
      }

      const started = performance.now();
      const lr = learningRate(state.step, tc);
      const sums = new Float64Array(modalityNames.length);
      const counts = new Float64Array(modalityNames.length);
      let totalLoss = 0;
      let accumulated: tf.Tensor[] | null = null;
      let routing: RoutingStats[] | undefined;
      for (let micro = 0; micro < tc.grad_accum; micro++) {
        const { inputs, targets } = sampleTrainBatch(train, config.seq_len, tc.batch_size, dataRng);
        const batch = prepareBatch(config, inputs, targets, tc.batch_size);
        try {
          let modalitySums: tf.Tensor | null = null;
          const { value, grads } = tf.variableGrads(() => {
            const out = computeLoss(config, Object.fromEntries(params) as Record<string, tf.Tensor>, batch);
            modalitySums = tf.keep(out.modalityLossSums);
            routing = out.routing;
            return out.loss;
          }, varList);
          totalLoss += (await value.data())[0];
          const ms = (modalitySums as unknown as tf.Tensor).dataSync();
          (modalitySums as unknown as tf.Tensor).dispose();
          value.dispose();
          for (let m = 0; m < modalityNames.length; m++) {
            sums[m] += ms[m];
            counts[m] += batch.modalityCounts[m];
          }
          const list = varList.map((v) => grads[v.name] ?? null);
          if (accumulated === null) {
            accumulated = list.map((g, i) => g ?? tf.zerosLike(varList[i]));
          } else {
            const next: tf.Tensor[] = accumulated.map((a, i) => (list[i] ? tf.add(a, list[i]!) : a));
            accumulated.forEach((a, i) => list[i] && a.dispose());
            list.forEach((g) => g?.dispose());
            accumulated = next;
          }
        } finally {
          batch.dispose();
        }
      }
      const grads = accumulated!;
      const meanLoss = totalLoss / tc.grad_accum;

      // Gradient norms per parameter in one read-back, then per tower and overall.
      const squares = sumOfSquares(grads);
      const towerSquares: Record<string, number> = {};
      let total = 0;
      squares.forEach((s, i) => {
        const sq = s / (tc.grad_accum * tc.grad_accum);
        towerSquares[groups[i]] = (towerSquares[groups[i]] ?? 0) + sq;
        total += sq;
      });
      const gradNorm = Math.sqrt(total);
      const loss: LossByModality = { all: meanLoss };
      modalityNames.forEach((m, i) => (loss[m] = counts[i] > 0 ? sums[i] / counts[i] : null));

      if (!Number.isFinite(meanLoss) || !Number.isFinite(gradNorm)) {
        grads.forEach((g) => g.dispose());
        const last = (await listCheckpoints(runDir)).at(-1);
        const what = !Number.isFinite(meanLoss) ? `loss is ${meanLoss}` : `gradient norm is ${gradNorm}`;
        const perModality = modalityNames.map((m) => `${m} ${loss[m]}`).join(', ');
        const message =
          `Training stopped at step ${state.step + 1}: the ${what} (${perModality}). ` +
          (last ? `The last good checkpoint is step ${last.step} (${last.dir}); ` : 'No checkpoint was written yet; ') +
          'lower the learning rate or raise warmup, then resume.';
        await setStatus('failed', message);
        throw new MotlabError('non_finite_loss', message);
      }

      const scale = (1 / tc.grad_accum) * (tc.grad_clip > 0 ? Math.min(1, tc.grad_clip / (gradNorm + 1e-6)) : 1);
      optimizer.apply(new Map(names.map((n, i) => [n, grads[i]])), lr, scale);
      grads.forEach((g) => g.dispose());

      const stepSeconds = (performance.now() - started) / 1000;
      state = {
        ...state,
        step: state.step + 1,
        tokens: state.tokens + tokensPerStep,
        flops: state.flops + flopsPerStep,
        elapsed_s: state.elapsed_s + stepSeconds,
        lr,
      };
      await log({
        type: 'train',
        step: state.step,
        time: Date.now(),
        elapsed_s: state.elapsed_s,
        tokens: state.tokens,
        flops: state.flops,
        lr,
        loss,
        grad_norm: gradNorm,
        grad_norm_towers: Object.fromEntries(Object.entries(towerSquares).map(([k, v]) => [k, Math.sqrt(v)])),
        tokens_per_s: tokensPerStep / stepSeconds,
        step_ms: stepSeconds * 1000,
        ...(routing && routing.length ? { moe: routing } : {}),
      });
      if (state.step % tc.eval_every === 0 || state.step === tc.steps) await evaluate();
      if (state.step % tc.checkpoint_every === 0 || state.step === tc.steps) await saveCheckpoint();
    }
    await setStatus('completed', `completed ${tc.steps} steps`);
    return 'completed';
  } catch (error) {
    if (!(error instanceof MotlabError && error.code === 'non_finite_loss')) {
      await setStatus('failed', error instanceof Error ? error.message : String(error)).catch(() => undefined);
    }
    throw error;
  } finally {
    optimizer.dispose();
    params.forEach((p) => p.dispose());
  }
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
