/**
 * The child side of a job (`motlab job`, forked by JobManager with an IPC channel): say ready,
 * take one `start`, run the job, report, exit. A parent that goes away does not stop the job:
 * reports are dropped, and the job finishes into the run folder. SIGINT and SIGTERM ask the job
 * to stop (training checkpoints first; other kinds cancel); a second one exits at once.
 */
import { MotlabError } from '../../common/errors.ts';
import type { ApiErrorShape } from '../../common/api/types.ts';
import type { JobRunner } from './kind.ts';
import { JobControls, runJob } from './host.ts';
import { isParentMessage, type ChildMessage, type JobSpec } from './protocol.ts';

/** Exit code of a job process ended by a second interrupt (128 + SIGINT). */
const EXIT_INTERRUPTED = 130;

function errorShape(error: unknown): ApiErrorShape {
  if (error instanceof MotlabError) return { code: error.code, message: error.message };
  return { code: 'internal', message: error instanceof Error ? error.message : String(error) };
}

/** Resolves once the message is written (the last one must be, before disconnecting); a gone parent drops it. */
function send(message: ChildMessage): Promise<void> {
  return new Promise<void>((resolve) => {
    if (process.connected) process.send!(message, undefined, undefined, () => resolve());
    else resolve();
  });
}

/** Take the parent's messages: the job (resolved), cancel and controls (at any time, before the job starts too). */
function receiveJob(abort: AbortController, controls: JobControls): Promise<JobSpec> {
  return new Promise<JobSpec>((resolve) => {
    process.on('message', (raw: unknown) => {
      if (!isParentMessage(raw)) return;
      if (raw.type === 'start') resolve(raw.job);
      else if (raw.type === 'cancel') abort.abort();
      else controls.dispatch(raw.action);
    });
  });
}

/** SIGINT and SIGTERM ask the job to stop; a second one exits at once. Returns the undo. */
function stopOnInterrupt(controls: JobControls): () => void {
  let interrupts = 0;
  const onSignal = () => {
    if (++interrupts > 1) process.exit(EXIT_INTERRUPTED);
    controls.dispatch('stop');
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
}

export async function serveJobChild(runners: readonly JobRunner[]): Promise<number> {
  if (typeof process.send !== 'function')
    throw new MotlabError('invalid_request', 'motlab job runs jobs for the app or `motlab serve`, which start it with an IPC channel');
  const abort = new AbortController();
  const controls = new JobControls(abort);
  const spec = receiveJob(abort, controls);
  const undoInterrupts = stopOnInterrupt(controls);
  void send({ type: 'ready' });
  try {
    const outcome = await runJob(runners, await spec, {
      abort,
      controls,
      progress: (fraction, message) => {
        if (message !== undefined) console.log(message); // the job's log (train.log for training)
        void send({ type: 'progress', fraction, message });
      },
      report: (event) => {
        if (event.type === 'note') console.log(`note: ${event.message}`);
        void send({ type: 'run-event', event });
      },
    });
    await send({ type: 'finished', outcome });
    return 0;
  } catch (error) {
    const shape = errorShape(error);
    console.error(`job failed: ${shape.message}`);
    if (shape.code === 'internal' && error instanceof Error && error.stack) console.error(error.stack);
    await send({ type: 'failed', error: shape });
    return 1;
  } finally {
    undoInterrupts();
    if (process.connected) process.disconnect();
  }
}
