/**
 * A gradient worker (a worker_thread started by ./pool.ts): its own TensorFlow.js backend and
 * its own copy of the model. Per request it loads the newest weights from shared memory (when
 * they changed), computes the gradients of its shard of each micro-batch with the trainer's own
 * definition (../gradients.ts), and writes their sum into its shared gradient buffer; then sums
 * its range of every worker's gradients (./gradient-sum.ts) when asked; or it
 * evaluates the forward passes it is given (../evaluate.ts), or runs a pass of feature capture
 * (model/capture.ts `captureRows`) and sends back the probed rows only. Requests arrive one at a time.
 *
 * MOTLAB_WORKER_FAULT=throw:<step>, exit:<step> or hang:<step> makes worker 0 fail at that step
 * (hang: block forever, answering nothing): the tests use it to check that a failing worker stops
 * the run cleanly.
 */
import { parentPort, threadId, workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import { initEngine } from '../../engine/engine.ts';
import { copyTensorInto } from '../../engine/tfjs-fixes/backend-memory.ts';
import { MotlabError } from '../../common/errors.ts';
import type { ModelConfig } from '../../model/config.ts';
import { prepareBatch } from '../../model/mot.ts';
import { captureRows } from '../../model/capture.ts';
import { addMicroBatchGradients } from '../gradients.ts';
import { sumGradients } from './gradient-sum.ts';
import { evalBatchLossSums } from '../evaluate.ts';
import type { FromWorker, ParamLayout, ToWorker } from './protocol.ts';

interface Loaded {
  config: ModelConfig;
  layout: ParamLayout;
  weights: Float32Array;
  gradients: Float32Array;
  allGradients: Float32Array[];
  summed: Float32Array;
  params: Record<string, tf.Variable>;
  varList: tf.Variable[];
  weightsVersion: number;
}

const port = parentPort;
if (!port) throw new Error('gradient-worker.ts runs as a worker thread (started by training/workers/pool.ts)');
const workerIndex = (workerData as { index?: number } | null)?.index ?? threadId;
let loaded: Loaded | null = null;
let queue = Promise.resolve();

port.on('message', (message: ToWorker) => {
  queue = queue.then(() => handle(message));
});

async function handle(message: ToWorker): Promise<void> {
  try {
    const reply = await answer(message);
    // Captured rows are handed over, not copied.
    port!.postMessage(reply, reply.type === 'capture' ? reply.layers.map((l) => l.buffer as ArrayBuffer) : []);
  } catch (e) {
    const failed: FromWorker = {
      type: 'failed',
      id: message.id,
      code: e instanceof MotlabError ? e.code : null,
      message: e instanceof Error ? e.message : String(e),
    };
    port!.postMessage(failed);
  }
}

async function answer(message: ToWorker): Promise<FromWorker> {
  if (message.type === 'init') {
    const engine = await initEngine(message.engine);
    const weights = new Float32Array(message.weights);
    const params: Record<string, tf.Variable> = {};
    for (const slot of message.layout)
      params[slot.name] = tf.variable(
        tf.tensor(weights.slice(slot.offset, slot.offset + slot.size), slot.shape, 'float32'),
        true,
        slot.name,
      );
    loaded = {
      config: message.config,
      layout: message.layout,
      weights,
      gradients: new Float32Array(message.gradients),
      allGradients: message.allGradients.map((b) => new Float32Array(b)),
      summed: new Float32Array(message.summed),
      params,
      varList: message.layout.map((slot) => params[slot.name]),
      weightsVersion: 0,
    };
    return { type: 'ready', id: message.id, detail: engine.detail };
  }
  const w = loaded;
  if (!w) throw new Error('the worker got a request before init');
  if (message.type === 'sum') {
    sumGradients(w.summed, w.allGradients, message.first, message.end);
    return { type: 'summed', id: message.id };
  }
  if (message.weightsVersion !== w.weightsVersion) {
    // The wasm engine copies a new tensor's values into its own memory at once, so it may read the
    // shared buffer in place; the cpu engine keeps the array it is given, so it gets a copy.
    const inPlace = tf.getBackend() === 'wasm';
    for (const slot of w.layout) {
      const values = inPlace
        ? w.weights.subarray(slot.offset, slot.offset + slot.size)
        : w.weights.slice(slot.offset, slot.offset + slot.size);
      const value = tf.tensor(values, slot.shape, 'float32');
      w.params[slot.name].assign(value);
      value.dispose();
    }
    w.weightsVersion = message.weightsVersion;
  }
  if (message.type === 'gradients') {
    injectFault(message.step);
    return gradients(w, message);
  }
  if (message.type === 'capture')
    return { type: 'capture', id: message.id, layers: captureRows(w.config, w.params, message.windows, message.count, message.rows) };
  const sums: Float32Array[] = [];
  const counts: number[][] = [];
  for (const b of message.batches) {
    const out = evalBatchLossSums(w.config, w.params, b.inputs, b.targets, b.windows);
    sums.push(out.sums);
    counts.push(out.counts);
  }
  return { type: 'evaluate', id: message.id, sums, counts };
}

async function gradients(w: Loaded, message: Extract<ToWorker, { type: 'gradients' }>): Promise<FromWorker> {
  let sum: tf.Tensor[] | null = null;
  const losses: number[] = [];
  const modalitySums: Float32Array[] = [];
  const modalityCounts: number[][] = [];
  for (const shard of message.micro) {
    const batch = prepareBatch(w.config, shard.inputs, shard.targets, shard.windows);
    try {
      const out = await addMicroBatchGradients(w.config, w.params, w.varList, batch, sum, shard.scale);
      sum = out.sum;
      losses.push(out.loss);
      modalitySums.push(out.modalitySums);
      modalityCounts.push(batch.modalityCounts);
    } finally {
      batch.dispose();
    }
  }
  sum!.forEach((g, i) => {
    copyTensorInto(g, w.gradients, w.layout[i].offset);
    g.dispose();
  });
  return { type: 'gradients', id: message.id, losses, modalitySums, modalityCounts };
}

/** The test hook described at the top: fail worker 0 at one step (1-based, the step being trained). */
function injectFault(step: number): void {
  const fault = /^(throw|exit|hang):(\d+)$/.exec(process.env.MOTLAB_WORKER_FAULT ?? '');
  if (!fault || workerIndex !== 0 || Number(fault[2]) !== step) return;
  if (fault[1] === 'exit') process.exit(3); // in a worker thread this ends the thread, as a crash would
  if (fault[1] === 'hang') Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0); // blocks for ever, using no CPU
  throw new Error(`injected fault at step ${step} (MOTLAB_WORKER_FAULT)`);
}
