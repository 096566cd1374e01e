/**
 * Evaluating a checkpoint on a split: per-modality loss over the split's evaluation windows.
 * `motlab eval` calls evaluateCheckpoint directly; the "evaluate" job (declared in
 * evaluate-job.ts; its runner is here) runs the same in a job child and keeps the answer in
 * `<run>/analyses/evaluate/<hash>/result.json`.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { describeIncomplete, incompleteNewerThanLatest, readCheckpoint, scanCheckpoints } from '../checkpoints/run-folder.ts';
import { loadDataset, resolveDatasetDir, windowCount } from '../data/dataset.ts';
import { initEngine } from '../engine/engine.ts';
import { evalBatchSize, evaluateLossCancellable } from '../training/evaluate.ts';
import { WorkerPool } from '../training/workers/pool.ts';
import { forwardPassWorkers, type WorkersRequest } from '../training/workers/count.ts';
import type { ModelConfig } from '../model/config.ts';
import { MotlabError } from '../common/errors.ts';
import type { InProcessEngineChoice, EngineName } from '../common/vocabulary.ts';
import type { LossByModality } from '../common/metrics.ts';
import { defineJobRunner } from './jobs/kind.ts';
import { evaluateJob } from './evaluate-job.ts';
import { readRunJson, RUN_JSON } from './run-json.ts';

/** Windows evaluated when neither the request nor a run.json says how many. */
export const DEFAULT_EVAL_WINDOWS = 64;

export interface EvaluationRequest {
  runDir: string;
  checkpoint: number | 'latest';
  /** Dataset folder or built-in name; default the run's dataset. */
  data?: string;
  split: string;
  /** Default the run's eval_windows. */
  windows?: number;
  engine: InProcessEngineChoice;
  /** Forward passes spread over this many workers (wasm and cpu engines; docs/workers.md); default one per core. */
  workers?: WorkersRequest;
  signal?: AbortSignal;
  onProgress?: (fraction: number) => void;
}

export interface Evaluation {
  step: number;
  dataset: string;
  split: string;
  windows: number;
  loss: LossByModality;
  engine: EngineName;
  /** E.g. an incomplete newer step folder that "latest" passed over. */
  notes: string[];
}

/** Which checkpoint `which` means, with a note for each incomplete newer step folder "latest" passes over. */
async function chooseCheckpoint(runDir: string, which: number | 'latest'): Promise<{ step: number | 'latest'; notes: string[] }> {
  if (which !== 'latest') return { step: which, notes: [] };
  const scan = await scanCheckpoints(runDir);
  const latest = scan.complete.at(-1);
  const notes = latest
    ? incompleteNewerThanLatest(scan).map((c) => `${describeIncomplete(c)}; evaluating step ${latest.step}, the newest complete one`)
    : [];
  return { step: latest?.step ?? 'latest', notes };
}

/**
 * Finite weights can still overflow float32 on the way (a huge weight, a damaged file): a NaN
 * loss is not a result.
 */
function checkFinite(loss: LossByModality, what: string, split: string): void {
  const broken = Object.entries(loss).filter(([, v]) => v !== null && !Number.isFinite(v));
  if (broken.length)
    throw new MotlabError(
      'non_finite_loss',
      `${what} gives a non-finite loss (${broken.map(([k, v]) => `${k} ${v}`).join(', ')}) on ${split}: its weights overflow float32 in the forward pass`,
    );
}

export async function evaluateCheckpoint(request: EvaluationRequest): Promise<Evaluation> {
  const { runDir, split } = request;
  const run = existsSync(path.join(runDir, RUN_JSON)) ? await readRunJson(runDir) : null;
  const dataArg = request.data ?? run?.dataset.path;
  if (!dataArg) throw new MotlabError('invalid_config', `${runDir} has no run.json naming its dataset: pass --data`);
  const windows = request.windows ?? run?.training.eval_windows ?? DEFAULT_EVAL_WINDOWS;

  const engine = await initEngine(request.engine);
  const chosen = await chooseCheckpoint(runDir, request.checkpoint);
  const checkpoint = await readCheckpoint(runDir, chosen.step);
  const dataset = await loadDataset(resolveDatasetDir(dataArg));
  const tokens = dataset.splits[split];
  if (!tokens)
    throw new MotlabError('invalid_dataset', `${dataset.dir} has no split "${split}" (it has ${Object.keys(dataset.splits).join(', ')})`);
  const params: Record<string, tf.Tensor> = {};
  for (const [name, t] of Object.entries(checkpoint.model)) params[name] = tf.tensor(t.data, t.shape, 'float32');
  let pool: WorkerPool | null = null;
  try {
    const count = evaluationWorkers(request.workers ?? 'auto', engine.name, checkpoint.config, tokens.length, windows);
    if (count > 1) pool = await WorkerPool.start(count, engine.name, checkpoint.config, new Map(Object.entries(params)));
    const result = pool
      ? await pool.evaluate(tokens, windows, request)
      : await evaluateLossCancellable(checkpoint.config, params, tokens, windows, request);
    checkFinite(result.loss, `checkpoint step ${checkpoint.step} of ${runDir}`, split);
    return {
      step: checkpoint.step,
      dataset: dataset.spec.name,
      split,
      windows: result.windows,
      loss: result.loss,
      engine: engine.name,
      notes: chosen.notes,
    };
  } catch (error) {
    if (error instanceof MotlabError && error.code === 'invalid_dataset')
      throw new MotlabError('invalid_dataset', `${dataset.dir}, split "${split}": ${error.message}`);
    throw error;
  } finally {
    await pool?.close();
    Object.values(params).forEach((t) => t.dispose());
  }
}

/** Workers for an evaluation: one per core, as long as each gets two forward passes (training/workers/count.ts). */
function evaluationWorkers(requested: WorkersRequest, engine: EngineName, config: ModelConfig, tokens: number, maxWindows: number): number {
  const windows = Math.min(maxWindows, windowCount(tokens, config.seq_len));
  return forwardPassWorkers(requested, engine, Math.ceil(windows / evalBatchSize(config)));
}

export const evaluateRunner = defineJobRunner(evaluateJob, async (input, ctx) => {
  ctx.progress(0, `evaluating checkpoint ${input.checkpoint} on ${input.split}`);
  const evaluation = await evaluateCheckpoint({
    runDir: ctx.runDir,
    ...input,
    signal: ctx.signal,
    onProgress: (fraction) => ctx.progress(fraction),
  });
  ctx.progress(1, `step ${evaluation.step}: loss ${evaluation.loss.all.toFixed(4)} over ${evaluation.windows} windows`);
  return evaluation;
});
