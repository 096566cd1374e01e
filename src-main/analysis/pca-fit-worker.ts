/**
 * A PCA fit worker (a worker_thread started by ./pca-fit-pool.ts): per request, the PCA of one
 * (layer, checkpoint) feature matrix and its modality separability — the pure computations of
 * ./pca/, exactly as analyzeRunPca runs them in-process. Requests arrive one at a time.
 */
import { parentPort } from 'node:worker_threads';
import { MotlabError } from '../common/errors.ts';
import { fitAndSeparate, type FitRequest, type FitReply } from './pca-fit-pool.ts';

const port = parentPort;
if (!port) throw new Error('pca-fit-worker.ts runs as a worker thread (started by analysis/pca-fit-pool.ts)');

port.on('message', (request: FitRequest) => {
  let reply: FitReply;
  try {
    reply = { id: request.id, x: request.x, ...fitAndSeparate(request) };
  } catch (e) {
    reply = {
      id: request.id,
      x: request.x,
      error: { code: e instanceof MotlabError ? e.code : 'internal', message: e instanceof Error ? e.message : String(e) },
    };
  }
  port.postMessage(reply, [request.x.buffer as ArrayBuffer]);
});
