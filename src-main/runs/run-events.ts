/** What a training run reports as it goes: the trainer's events, with 'failed' added by the run service. */
import type { StoredRunStatus } from '../common/vocabulary.ts';
import type { TrainEvent } from '../training/trainer.ts';

export type RunEvent = Exclude<TrainEvent, { type: 'status' }> | { type: 'status'; status: StoredRunStatus; message?: string };
