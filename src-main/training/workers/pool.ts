/**
 * Data-parallel training on worker threads (docs/workers.md). The trainer samples each
 * micro-batch exactly as on one thread; the pool cuts its windows into contiguous shards, one per
 * worker, and each worker returns the gradient of its shard's share of the loss. The workers then
 * sum them, each a range of the parameters, in a fixed order (worker 0 + worker 1 + …, in float32;
 * ./gradient-sum.ts), so a step is deterministic for a given number of workers. The trainer then
 * clips and applies AdamW once, and publishes the new weights to shared memory, which every
 * worker reads before its next request.
 *
 * A worker that throws, crashes or exits fails the pending request with a WorkerFailure (never a
 * hang); so does one that does not answer in time (`RequestLimits`), which is then terminated. The
 * pool is then unusable and the trainer stops the run with a checkpoint.
 */
import { Worker } from 'node:worker_threads';
import { workerModuleCode } from '../../util/worker-script.ts';
import * as tf from '@tensorflow/tfjs-core';
import { MotlabError, type MotlabErrorCode } from '../../common/errors.ts';
import { copyTensorInto } from '../../engine/tfjs-fixes/backend-memory.ts';
import type { InProcessEngineName } from '../../common/vocabulary.ts';
import type { ModelConfig } from '../../model/config.ts';
import { EvalTotals, evalBatchTokens, planEvaluation, type EvalResult } from '../evaluate.ts';
import type { CapturePass, FromWorker, ParamLayout, Shard, WorkerRequest } from './protocol.ts';
import { sumRanges } from './gradient-sum.ts';

/** A worker failed: the request it was serving did not complete. */
export class WorkerFailure extends MotlabError {
  constructor(code: MotlabErrorCode, message: string) {
    super(code, message);
    this.name = 'WorkerFailure';
  }
}

/** The windows [first, first + n) of a batch of `batchSize` given to each of `workers` workers. */
export function shardRanges(batchSize: number, workers: number): { first: number; n: number }[] {
  const base = Math.floor(batchSize / workers);
  const extra = batchSize % workers;
  const ranges: { first: number; n: number }[] = [];
  let first = 0;
  for (let k = 0; k < workers; k++) {
    const n = base + (k < extra ? 1 : 0);
    ranges.push({ first, n });
    first += n;
  }
  return ranges;
}

export function paramLayout(params: ReadonlyMap<string, tf.Tensor>): ParamLayout {
  let offset = 0;
  return [...params].map(([name, t]) => {
    const slot = { name, shape: [...t.shape], offset, size: t.size };
    offset += t.size;
    return slot;
  });
}

/** `params` into the shared weights buffer `into`, laid out as `layout`. */
function writeWeights(params: ReadonlyMap<string, tf.Tensor>, layout: ParamLayout, into: Float32Array): void {
  for (const slot of layout) {
    const t = params.get(slot.name);
    if (!t || t.size !== slot.size)
      throw new MotlabError('internal', `the weights given to the workers have no ${slot.size}-float tensor ${slot.name}`);
    copyTensorInto(t, into, slot.offset);
  }
}

/** The step's summed gradients and what the workers measured. */
export interface PooledGradients {
  /** Σ over workers, in worker order, float32, laid out as `layout`; overwritten by the next step. */
  flat: Float32Array;
  /** Per micro-batch: the batch's mean loss (Σ of the shards' scaled losses). */
  microLosses: number[];
  modalitySums: Float64Array;
  modalityCounts: Float64Array;
}

interface Pending {
  id: number;
  type: WorkerRequest['type'];
  started: number;
  timer: NodeJS.Timeout;
  resolve: (message: FromWorker) => void;
  reject: (error: Error) => void;
}

/** The least wait before a worker is deemed hung; MOTLAB_WORKER_MIN_TIMEOUT_MS overrides it (a slow, crowded machine; the tests). */
const MIN_TIMEOUT_MS = 60_000;
/** The wait for the first request of a kind, with nothing to scale from yet (it includes compiling the model's kernels). */
const FIRST_TIMEOUT_MS = 10 * 60_000;
const TIMEOUT_FACTOR = 10;
const RECENT = 20;

/**
 * How long a worker may take to answer before it is deemed hung: ten times the slowest of the
 * last 20 requests of the same kind (gradients, evaluate, capture: each kind's requests are alike
 * in size within a run), at least MIN_TIMEOUT_MS; 10 minutes for the first of a kind. Shared by
 * the pool's workers.
 */
export class RequestLimits {
  private readonly recent = new Map<string, number[]>();
  readonly minimumMs: number;

  constructor(minimumMs = Number(process.env.MOTLAB_WORKER_MIN_TIMEOUT_MS) || MIN_TIMEOUT_MS) {
    this.minimumMs = minimumMs;
  }

  limitMs(type: string): number {
    const recent = this.recent.get(type);
    if (!recent) return Math.max(FIRST_TIMEOUT_MS, this.minimumMs);
    return Math.max(this.minimumMs, TIMEOUT_FACTOR * Math.max(...recent));
  }

  record(type: string, ms: number): void {
    const recent = this.recent.get(type) ?? [];
    recent.push(ms);
    if (recent.length > RECENT) recent.shift();
    this.recent.set(type, recent);
  }
}

function seconds(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 1000)} s`;
}

class GradientWorker {
  private pending: Pending | null = null;
  private nextId = 1;
  failure: WorkerFailure | null = null;
  private readonly worker: Worker;

  constructor(
    readonly index: number,
    private readonly count: number,
    private readonly limits: RequestLimits,
  ) {
    this.worker = new Worker(workerModuleCode(import.meta.url, 'gradient-worker'), { eval: true, workerData: { index } });
    this.worker.on('message', (message: FromWorker) => {
      const pending = this.pending;
      if (!pending || pending.id !== message.id) return;
      this.pending = null;
      clearTimeout(pending.timer);
      if (message.type === 'failed') {
        this.fail(
          new WorkerFailure(message.code ?? 'internal', `worker thread ${this.index + 1} of ${this.count} failed: ${message.message}`),
        );
        pending.reject(this.failure!);
      } else {
        this.limits.record(pending.type, performance.now() - pending.started);
        pending.resolve(message);
      }
    });
    this.worker.on('error', (error) =>
      this.fail(new WorkerFailure('internal', `worker thread ${this.index + 1} of ${this.count} crashed: ${error.message}`)),
    );
    this.worker.on('exit', (code) =>
      this.fail(new WorkerFailure('internal', `worker thread ${this.index + 1} of ${this.count} exited unexpectedly (exit code ${code})`)),
    );
  }

  private fail(failure: WorkerFailure): void {
    this.failure ??= failure;
    const pending = this.pending;
    this.pending = null;
    if (pending) clearTimeout(pending.timer);
    pending?.reject(this.failure);
  }

  /** A worker that does not answer in time neither works nor will: stop it, fail its request. */
  private timedOut(type: string, limitMs: number): void {
    this.fail(
      new WorkerFailure(
        'internal',
        `worker thread ${this.index + 1} of ${this.count} did not answer a ${type} request within ${seconds(limitMs)} ` +
          `(${TIMEOUT_FACTOR}× the slowest recent one, at least ${seconds(this.limits.minimumMs)}; MOTLAB_WORKER_MIN_TIMEOUT_MS sets that least wait) ` +
          `and was stopped`,
      ),
    );
    this.worker.removeAllListeners('exit');
    void this.worker.terminate();
  }

  request(message: WorkerRequest): Promise<FromWorker> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.pending) return Promise.reject(new Error(`worker thread ${this.index + 1} is busy`));
    const id = this.nextId++;
    const limitMs = this.limits.limitMs(message.type);
    return new Promise<FromWorker>((resolve, reject) => {
      const timer = setTimeout(() => this.timedOut(message.type, limitMs), limitMs);
      this.pending = { id, type: message.type, started: performance.now(), timer, resolve, reject };
      this.worker.postMessage({ ...message, id });
    });
  }

  async terminate(): Promise<void> {
    this.failure ??= new WorkerFailure('internal', `worker thread ${this.index + 1} was shut down`);
    this.worker.removeAllListeners('exit');
    await this.worker.terminate();
  }
}

export class WorkerPool {
  private weightsVersion = 0;
  private readonly weights: Float32Array;
  /** The step's summed gradients (the workers sum them, ./gradient-sum.ts), reused from step to step. */
  private readonly summed: Float32Array;

  private constructor(
    private readonly workers: GradientWorker[],
    private readonly config: ModelConfig,
    readonly layout: ParamLayout,
    weights: SharedArrayBuffer,
    summed: SharedArrayBuffer,
    /** The engine detail reported by the first worker. */
    readonly detail: string,
  ) {
    this.weights = new Float32Array(weights);
    this.summed = new Float32Array(summed);
  }

  get size(): number {
    return this.workers.length;
  }

  /** `count` workers on `engine`, each holding the model with the weights of `params`. */
  static async start(
    count: number,
    engine: InProcessEngineName,
    config: ModelConfig,
    params: ReadonlyMap<string, tf.Tensor>,
  ): Promise<WorkerPool> {
    const layout = paramLayout(params);
    const floats = layout.reduce((n, slot) => n + slot.size, 0);
    const weights = new SharedArrayBuffer(floats * 4);
    const gradients = Array.from({ length: count }, () => new SharedArrayBuffer(floats * 4));
    const summed = new SharedArrayBuffer(floats * 4);
    const limits = new RequestLimits();
    const workers = Array.from({ length: count }, (_, k) => new GradientWorker(k, count, limits));
    let pool: WorkerPool | null = null;
    try {
      writeWeights(params, layout, new Float32Array(weights));
      const ready = await Promise.all(
        workers.map((w, k) =>
          w.request({ type: 'init', engine, config, layout, weights, gradients: gradients[k], allGradients: gradients, summed }),
        ),
      );
      const detail = ready[0].type === 'ready' ? ready[0].detail : '';
      pool = new WorkerPool(workers, config, layout, weights, summed, detail);
      return pool;
    } finally {
      if (!pool) await Promise.all(workers.map((w) => w.terminate()));
    }
  }

  /** Make `params` (the trainer's weights after an update or a restore) the workers' weights. */
  publishWeights(params: ReadonlyMap<string, tf.Tensor>): void {
    writeWeights(params, this.layout, this.weights);
    this.weightsVersion++;
  }

  /** Gradients of one optimizer step: each micro-batch ([B·S] inputs and targets) split across the workers. */
  async stepGradients(step: number, micro: { inputs: Int32Array; targets: Int32Array }[], batchSize: number): Promise<PooledGradients> {
    const S = this.config.seq_len;
    const ranges = shardRanges(batchSize, this.workers.length);
    const replies = await this.all(this.workers.length, (k) => {
      const { first, n } = ranges[k];
      const shards: Shard[] = micro.map((m) => ({
        inputs: m.inputs.slice(first * S, (first + n) * S),
        targets: m.targets.slice(first * S, (first + n) * S),
        windows: n,
        scale: n / batchSize,
      }));
      return { type: 'gradients', weightsVersion: this.weightsVersion, step, micro: shards };
    });
    // The sum, each worker a range of it: in parallel, and the same whichever sums which.
    const sums = sumRanges(this.summed.length, this.workers.length);
    await this.all(this.workers.length, (k) => ({ type: 'sum', ...sums[k] }));
    const M = this.config.modalities.length;
    const microLosses = micro.map(() => 0);
    const modalitySums = new Float64Array(M);
    const modalityCounts = new Float64Array(M);
    replies.forEach((reply, k) => {
      if (reply.type !== 'gradients') throw new Error(`worker thread ${k + 1} answered ${reply.type} to a gradients request`);
      reply.losses.forEach((loss, j) => (microLosses[j] += loss));
      for (let j = 0; j < micro.length; j++)
        for (let m = 0; m < M; m++) {
          modalitySums[m] += reply.modalitySums[j][m];
          modalityCounts[m] += reply.modalityCounts[j][m];
        }
    });
    return { flat: this.summed, microLosses, modalitySums, modalityCounts };
  }

  /**
   * The evaluation of ../evaluate.ts with its forward passes spread over the workers, one pass
   * each per round; the sums are added in pass order, so the result equals the one-thread one.
   * A cancel (`signal`) is honoured between rounds; `onProgress` gets the fraction done.
   */
  async evaluate(
    tokens: ArrayLike<number>,
    maxWindows: number,
    options: { signal?: AbortSignal; onProgress?: (fraction: number) => void } = {},
  ): Promise<EvalResult> {
    const plan = planEvaluation(this.config, tokens, maxWindows);
    const totals = new EvalTotals(this.config);
    const N = this.workers.length;
    for (let round = 0; round < plan.batches.length; round += N) {
      options.signal?.throwIfAborted();
      const passes = Math.min(N, plan.batches.length - round);
      const replies = await this.all(passes, (k) => {
        const { inputs, targets, n } = evalBatchTokens(plan, round + k, this.config.seq_len);
        return {
          type: 'evaluate',
          weightsVersion: this.weightsVersion,
          batches: [{ inputs: inputs.slice(), targets: targets.slice(), windows: n }],
        };
      });
      for (const reply of replies) {
        if (reply.type !== 'evaluate') throw new Error(`a worker thread answered ${reply.type} to an evaluate request`);
        reply.sums.forEach((sums, j) => totals.add(sums, reply.counts[j]));
      }
      const last = plan.batches[round + passes - 1];
      options.onProgress?.((last.first + last.n) / plan.windows.count);
    }
    return totals.result(plan.windows.count);
  }

  /**
   * Feature capture (analysis/pca-collect.ts) with its forward passes shared out: each worker
   * takes the pass `claim` gives it (null: none left) as soon as it is done with one, so a slower
   * worker takes fewer, and the caller may serve passes from the same `claim` on its own thread.
   * `onPass` gets each pass's rows as they arrive (passes complete in any order). Each pass is
   * computed exactly as on one thread. The first failure (in worker order) is thrown once every
   * worker has stopped.
   */
  async capture(
    passes: readonly CapturePass[],
    claim: () => number | null,
    onPass: (index: number, layers: Float32Array[]) => Promise<void>,
  ): Promise<void> {
    const serve = async (worker: GradientWorker): Promise<void> => {
      for (let index = claim(); index !== null; index = claim()) {
        const { windows, count, rows } = passes[index];
        const reply = await worker.request({ type: 'capture', weightsVersion: this.weightsVersion, windows, count, rows });
        if (reply.type !== 'capture') throw new Error(`worker thread ${worker.index + 1} answered ${reply.type} to a capture request`);
        await onPass(index, reply.layers);
      }
    };
    const settled = await Promise.allSettled(this.workers.map(serve));
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /** One request to each of the first `count` workers, all at once; the first failure (in worker order) is thrown once all have settled. */
  private async all(count: number, build: (k: number) => WorkerRequest): Promise<FromWorker[]> {
    const settled = await Promise.allSettled(this.workers.slice(0, count).map((w, k) => w.request(build(k))));
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    return settled.map((r) => (r as PromiseFulfilledResult<FromWorker>).value);
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

/**
 * A pool starting in the background, for work the caller can also do on its own thread (feature
 * capture): the caller goes on working while the workers start (a second or more each) and hands
 * work over once they are ready. A pool that fails to start fails the work (`throwIfFailed`).
 */
export class StartingPool {
  private pool: WorkerPool | null = null;
  private failure: unknown = null;
  private waiting: ((pool: WorkerPool) => void) | null = null;
  private readonly started: Promise<void>;

  constructor(start: Promise<WorkerPool>) {
    this.started = start.then(
      (pool) => {
        this.pool = pool;
        const waiting = this.waiting;
        this.waiting = null;
        waiting?.(pool);
      },
      (error: unknown) => {
        this.failure = error;
      },
    );
  }

  /** Calls `use` with the pool: now if it is ready, else when it becomes ready, unless the returned `leave` was called first. */
  join(use: (pool: WorkerPool) => void): () => void {
    this.throwIfFailed();
    if (this.pool) {
      use(this.pool);
      return () => {};
    }
    this.waiting = use;
    return () => {
      if (this.waiting === use) this.waiting = null;
    };
  }

  throwIfFailed(): void {
    if (this.failure) throw this.failure;
  }

  /** Resolves once the workers are ready; rejects if they failed to start. */
  async ready(): Promise<void> {
    await this.started;
    this.throwIfFailed();
  }

  async close(): Promise<void> {
    await this.started;
    await this.pool?.close();
  }
}
