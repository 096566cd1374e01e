/**
 * What state a run is in, from what is on disk (run.json's status, the run lock) and what a
 * live training job last reported. 'interrupted' is a run whose run.json says it is training
 * but which no live process owns: it can be continued from its last checkpoint. A run locked on
 * another host (a synced cluster run) shows run.json's status: nothing here can tell more.
 */
import { ACTIVE_STATUSES, type RunStatus, type StoredRunStatus } from '../common/vocabulary.ts';
import { unlockedTrainerAlive, type LockState } from './lock.ts';

export interface RunStatusView {
  status: RunStatus;
  message?: string;
}

const INTERRUPTED_MESSAGE = 'The training process ended without finishing; continue it from its last checkpoint.';

/**
 * `stored`: run.json's status, message and pid. `live`: the latest status a training job of
 * this process reported ('starting' before it said anything), when there is one.
 */
export function inferRunStatus(
  stored: { status: StoredRunStatus; message?: string; pid?: number },
  lock: LockState,
  live?: RunStatusView,
): RunStatusView {
  if (live) return live.status === 'starting' ? { status: 'starting' } : { status: live.status, message: live.message ?? stored.message };
  const shown: RunStatus = stored.status === 'created' ? 'starting' : stored.status;
  if (!ACTIVE_STATUSES.includes(shown)) return { status: shown, message: stored.message };
  if (lock.state === 'held' || unlockedTrainerAlive(lock, stored.pid)) return { status: shown, message: stored.message };
  // A run folder synced from a cluster (rsync, a shared filesystem) while a trainer there writes
  // it: shown as run.json says, so that the lab keeps reading it as it grows.
  if (lock.state === 'foreign')
    return {
      status: shown,
      message: `Trained by process ${lock.holder.pid} on ${lock.holder.host} (since ${lock.holder.since}); the lab shows the folder as it is synced and cannot check that process from here.`,
    };
  return { status: 'interrupted', message: INTERRUPTED_MESSAGE };
}
