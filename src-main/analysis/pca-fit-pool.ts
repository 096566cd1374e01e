/**
 * The (layer, checkpoint) fits of a run's feature PCA — each a PCA plus its modality
 * separability, independent of the others — run concurrently on a few worker threads
 * (./pca-fit-worker.ts), one per core (`fitWorkerCount`), one request per worker at a time.
 * Results are the same as in-process: the computations are pure and deterministic.
 */
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { MotlabError, type MotlabErrorCode } from '../common/errors.ts';
import { workerModuleCode } from '../util/worker-script.ts';
import { fitPca, type PcaFit } from './pca/pca.ts';
import { separability, type SeparabilityResult } from './pca/separability.ts';

export interface FitTask {
  x: Float32Array;
  n: number;
  d: number;
  k: number;
  labels: Int32Array;
  seed: number;
}

export interface FitResult {
  fit: PcaFit;
  separability: SeparabilityResult;
}

export type FitRequest = FitTask & { id: number };
/** A reply hands the request's features back (`x`, transferred both ways: no copy, no fresh memory). */
export type FitReply = { id: number; x: Float32Array } & (FitResult | { error: { code: MotlabErrorCode; message: string } });

/** One fit, in this thread: what every worker runs per request. */
export function fitAndSeparate({ x, n, d, k, labels, seed }: FitTask): FitResult {
  const fit = fitPca(x, n, d, k);
  // The silhouette reuses the fit's coordinates when they span its 10 PCs.
  return { fit, separability: separability(x, n, d, labels, { seed, ...(k >= 10 ? { projection: { data: fit.projection, k } } : {}) }) };
}

/**
 * Workers for `tasks` fits: one per core, at most 4; none unless two would run. Not fewer on a
 * busy machine: the load average lags, and right after a capture it counts the capture's own
 * workers (the 1-minute average then said "no idle core" on this 2-core machine, and the fits ran
 * on one thread: 5.0 s where two workers take 4.0 s).
 */
export function fitWorkerCount(tasks: number): number {
  const count = Math.min(os.availableParallelism(), 4, tasks);
  return count > 1 ? count : 0;
}

/** A fit done on a worker, with the task's features handed back. */
export type PooledFit = FitResult & { x: Float32Array };

interface Slot {
  worker: Worker;
  pending: { id: number; resolve: (result: PooledFit) => void; reject: (error: Error) => void } | null;
}

export class PcaFitPool {
  private readonly slots: Slot[] = [];
  private readonly queue: { request: FitRequest; resolve: (result: PooledFit) => void; reject: (error: Error) => void }[] = [];
  private nextId = 1;
  private failure: MotlabError | null = null;

  constructor(count: number) {
    const code = workerModuleCode(import.meta.url, 'pca-fit-worker');
    for (let index = 0; index < count; index++) {
      const slot: Slot = { worker: new Worker(code, { eval: true }), pending: null };
      slot.worker.on('message', (reply: FitReply) => {
        const pending = slot.pending;
        if (!pending || pending.id !== reply.id) return;
        slot.pending = null;
        if ('error' in reply) pending.reject(new MotlabError(reply.error.code, reply.error.message));
        else pending.resolve({ fit: reply.fit, separability: reply.separability, x: reply.x });
        this.dispatch();
      });
      const crash = (message: string) => {
        this.failure ??= new MotlabError('internal', `PCA worker ${index + 1} of ${count} ${message}`);
        slot.pending?.reject(this.failure);
        slot.pending = null;
        for (const queued of this.queue.splice(0)) queued.reject(this.failure);
      };
      slot.worker.on('error', (error) => crash(`crashed: ${error.message}`));
      slot.worker.on('exit', (exitCode) => crash(`exited unexpectedly (exit code ${exitCode})`));
      this.slots.push(slot);
    }
  }

  /**
   * The fit of `task` on the next free worker. Its features `x` (a Float32Array owning its whole
   * buffer) are transferred there and back: `task.x` is detached meanwhile, and the result's `x`
   * is the same memory. Fresh multi-megabyte copies cost more in page faults here than the fit's
   * own loops over them.
   */
  fit(task: FitTask): Promise<PooledFit> {
    if (this.failure) return Promise.reject(this.failure);
    if (task.x.length !== task.n * task.d)
      return Promise.reject(
        new MotlabError('internal', `PcaFitPool.fit: ${task.x.length} features for ${task.n}×${task.d} (handed to another fit already?)`),
      );
    if (task.x.byteOffset !== 0 || task.x.byteLength !== task.x.buffer.byteLength)
      return Promise.reject(new MotlabError('internal', 'PcaFitPool.fit: the features must own their whole buffer (they are transferred)'));
    return new Promise<PooledFit>((resolve, reject) => {
      this.queue.push({ request: { ...task, id: this.nextId++ }, resolve, reject });
      this.dispatch();
    });
  }

  private dispatch(): void {
    for (const slot of this.slots) {
      while (!slot.pending && this.queue.length > 0) {
        const { request, resolve, reject } = this.queue.shift()!;
        try {
          slot.worker.postMessage(request, [request.x.buffer as ArrayBuffer]);
        } catch (e) {
          // E.g. features already handed to another fit (a detached buffer): this fit fails alone.
          reject(new MotlabError('internal', `PcaFitPool.fit: the features cannot be handed to a worker: ${(e as Error).message}`));
          continue;
        }
        slot.pending = { id: request.id, resolve, reject };
      }
    }
  }

  async close(): Promise<void> {
    this.failure ??= new MotlabError('internal', 'the PCA workers were shut down');
    for (const queued of this.queue.splice(0)) queued.reject(this.failure);
    await Promise.all(
      this.slots.map((slot) => {
        slot.worker.removeAllListeners('exit');
        slot.pending?.reject(this.failure!);
        slot.pending = null;
        return slot.worker.terminate();
      }),
    );
  }
}
