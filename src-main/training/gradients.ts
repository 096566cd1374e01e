/**
 * Forward and backward of one micro-batch, its gradients added into a running sum: the one
 * definition used by the trainer's own thread and by its gradient workers (./workers/).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ModelConfig } from '../model/config.ts';
import { computeLoss, type PreparedBatch, type RoutingStats } from '../model/mot.ts';

export interface MicroBatchGradients {
  /** The running sum with this micro-batch's gradients added, one per variable in order. */
  sum: tf.Tensor[];
  /** The micro-batch's loss (times `scale`), as read back. */
  loss: number;
  /** Σ CE per modality over the micro-batch's targets (unscaled). */
  modalitySums: Float32Array;
  routing: RoutingStats[];
}

/**
 * Gradients of `scale` × the loss of `batch` with respect to `varList`, added into `sum` (null at
 * the first micro-batch; the previous sum's tensors are disposed). `scale` is a shard's share of
 * the batch (n_k / B) on a gradient worker: the loss is a mean over the shard's targets, so the
 * shards' scaled gradients add up to the gradient of the mean over the whole batch. At scale 1 no
 * multiplication is made (the single-thread path is unchanged, bit for bit).
 */
export async function addMicroBatchGradients(
  config: ModelConfig,
  params: Record<string, tf.Tensor>,
  varList: tf.Variable[],
  batch: PreparedBatch,
  sum: tf.Tensor[] | null,
  scale = 1,
): Promise<MicroBatchGradients> {
  let modalitySums: tf.Tensor | null = null;
  let routing: RoutingStats[] = [];
  const { value, grads } = tf.variableGrads(() => {
    const out = computeLoss(config, params, batch);
    modalitySums = tf.keep(out.modalityLossSums);
    routing = out.routing;
    return scale === 1 ? out.loss : tf.mul(out.loss, scale);
  }, varList);
  const loss = (await value.data())[0];
  value.dispose();
  return { sum: addGradients(sum, varList, grads), loss, modalitySums: readAndDispose(modalitySums), routing };
}

function readAndDispose(tensor: tf.Tensor | null): Float32Array {
  if (!tensor) throw new Error('computeLoss returned no per-modality loss sums');
  const values = tensor.dataSync() as Float32Array;
  tensor.dispose();
  return values;
}

/** `sum` + this micro-batch's gradients (a parameter without a gradient this time adds zero). */
function addGradients(sum: tf.Tensor[] | null, varList: tf.Variable[], grads: tf.NamedTensorMap): tf.Tensor[] {
  const list = varList.map((v) => grads[v.name] ?? null);
  if (sum === null) return list.map((g, i) => g ?? tf.zerosLike(varList[i]));
  const next = sum.map((a, i) => (list[i] ? tf.add(a, list[i]) : a));
  sum.forEach((a, i) => list[i] && a.dispose());
  list.forEach((g) => g?.dispose());
  return next;
}
