/**
 * The parent↔child protocol of jobs, defined once. The parent (the app's main process or
 * `motlab serve`, through JobManager) forks `motlab job` with an IPC channel; the child says
 * `ready`, gets one `start`, and from then on reports; the parent may send `cancel` and
 * `control` at any time (they are queued until `ready`). Everything a job produces is also in
 * the run folder, so a parent that goes away loses nothing: the child finishes on its own.
 */
import { RUN_CONTROLS, type RunControl } from '../../common/vocabulary.ts';
import type { ApiErrorShape } from '../../common/api/types.ts';
import type { RunEvent } from '../run-events.ts';

export interface JobSpec {
  id: string;
  kind: string;
  /** Already validated by the parent; the child validates it again with the kind's schema. */
  input: unknown;
  runDir: string;
}

/** Parent → child. */
export type ParentMessage =
  | { type: 'start'; job: JobSpec }
  /** Abandon the job now (the parent kills the process if it has not ended after a grace period). */
  | { type: 'cancel' }
  | { type: 'control'; action: RunControl };

/** How a job ended without failing. */
export interface JobOutcome {
  status: 'completed' | 'cancelled';
  /** result.json, when the kind returned a result. */
  resultPath: string | null;
  message?: string;
}

/** Child → parent. */
export type ChildMessage =
  /** Listening: send `start`. */
  | { type: 'ready' }
  | { type: 'progress'; fraction: number; message?: string }
  | { type: 'run-event'; event: RunEvent }
  | { type: 'finished'; outcome: JobOutcome }
  | { type: 'failed'; error: ApiErrorShape };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export function isParentMessage(value: unknown): value is ParentMessage {
  if (!isObject(value)) return false;
  switch (value.type) {
    case 'start':
      return (
        isObject(value.job) &&
        typeof value.job.id === 'string' &&
        typeof value.job.kind === 'string' &&
        typeof value.job.runDir === 'string'
      );
    case 'cancel':
      return true;
    case 'control':
      return (RUN_CONTROLS as readonly unknown[]).includes(value.action);
    default:
      return false;
  }
}

export function isChildMessage(value: unknown): value is ChildMessage {
  if (!isObject(value)) return false;
  switch (value.type) {
    case 'ready':
      return true;
    case 'progress':
      return typeof value.fraction === 'number';
    case 'run-event':
      return isObject(value.event) && typeof value.event.type === 'string';
    case 'finished':
      return isObject(value.outcome) && (value.outcome.status === 'completed' || value.outcome.status === 'cancelled');
    case 'failed':
      return isObject(value.error) && typeof value.error.message === 'string' && typeof value.error.code === 'string';
    default:
      return false;
  }
}
