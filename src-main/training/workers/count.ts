/**
 * How many gradient workers a run trains with (docs/workers.md): what was asked for (a number, or
 * 'auto' = the cores available), capped by the batch (every worker needs at least one window),
 * and 1 where data parallelism does not apply.
 */
import { availableParallelism } from 'node:os';
import type { EngineName } from '../../common/vocabulary.ts';
import type { ModelConfig } from '../../model/config.ts';

export { MAX_WORKERS } from '../../common/vocabulary.ts';

export type WorkersRequest = number | 'auto';

export interface WorkerPlan {
  count: number;
  /** Why fewer workers than asked for are used, in words a person can act on (null when as asked). */
  reason: string | null;
}

export function planWorkers(requested: WorkersRequest, engine: EngineName, config: ModelConfig, batchSize: number): WorkerPlan {
  const wanted = requested === 'auto' ? availableParallelism() : requested;
  if (wanted <= 1) return { count: 1, reason: null };
  const single = (reason: string): WorkerPlan => ({ count: 1, reason: `training on 1 worker, not ${wanted}: ${reason}` });
  if (engine !== 'wasm' && engine !== 'cpu')
    return requested === 'auto'
      ? { count: 1, reason: null }
      : single(`the ${engine} engine already uses the whole device (workers apply to the wasm and cpu engines)`);
  if (config.moe)
    return single(
      'MoE routing is decided over the whole batch (expert choice ranks all its tokens; token-choice capacity counts them), ' +
        'so splitting the batch across workers would change the model; MoE configs train on one worker',
    );
  if (wanted > batchSize)
    return {
      count: batchSize,
      reason: `training on ${batchSize} workers, not ${wanted}: each worker needs at least one of the batch's ${batchSize} windows`,
    };
  return { count: wanted, reason: null };
}

/**
 * Workers for independent forward passes (evaluation, feature capture): any model may use them
 * (an MoE pass holds one window), on the wasm and cpu engines; worth starting only when each
 * worker gets at least two passes (a worker's start-up costs about as much as a pass).
 */
export function forwardPassWorkers(requested: WorkersRequest, engine: EngineName, passes: number): number {
  if (engine !== 'wasm' && engine !== 'cpu') return 1;
  const wanted = requested === 'auto' ? availableParallelism() : requested;
  return Math.max(1, Math.min(wanted, Math.floor(passes / 2)));
}
