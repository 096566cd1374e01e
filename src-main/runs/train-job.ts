/**
 * The "train" job kind: trainRunFolder in a job child, started by the run service for startRun
 * and continueRun. Its output folder is the run folder itself (train.log); it has no result file
 * (the run folder is the result). Pause, resume and stop are honoured between steps; a cancel
 * stops like 'stop' (with a checkpoint), so no trained step is lost.
 */
import { z } from 'zod';
import { ENGINE_CHOICES } from '../common/vocabulary.ts';
import { TrainingControl } from '../training/trainer.ts';
import { defineJobKind } from './jobs/kind.ts';
import { readRunJson } from './run-json.ts';
import { trainRunFolder } from './train.ts';

const positive = z.number().int().positive();

export const trainJobInputSchema = z.strictObject({
  /** fresh: the run was just created; resume: continue from the latest checkpoint (or restart). */
  mode: z.enum(['fresh', 'resume']),
  restart: z.boolean().default(false),
  engine: z.enum(ENGINE_CHOICES).default('auto'),
  overrides: z
    .strictObject({ steps: positive, checkpoint_every: positive, eval_every: positive, seed: z.number().int().nonnegative() })
    .partial()
    .default({}),
});
export type TrainJobInput = z.infer<typeof trainJobInputSchema>;

export const trainJob = defineJobKind({
  name: 'train',
  input: trainJobInputSchema,
  internal: true,
  outputDir: (runDir) => runDir,
  logFile: 'train.log',
  async run(input, ctx) {
    const control = new TrainingControl();
    ctx.onControl((action) => (action === 'pause' ? control.pause() : action === 'resume' ? control.resume() : control.stop()));
    ctx.signal.addEventListener('abort', () => control.stop());
    const totalSteps = input.overrides.steps ?? (await readRunJson(ctx.runDir)).training.steps;
    let fraction = 0;
    await trainRunFolder({
      runDir: ctx.runDir,
      mode: input.mode === 'fresh' ? { kind: 'fresh' } : { kind: 'resume', overrides: input.overrides, restart: input.restart },
      engine: input.engine,
      control,
      onEvent: (event) => {
        ctx.report(event);
        if (event.type === 'metrics' && event.record.type === 'train') {
          fraction = event.record.step / totalSteps;
          ctx.progress(fraction, `step ${event.record.step} of ${totalSteps}`);
        } else if (event.type === 'status' && event.message) ctx.progress(fraction, event.message);
      },
    });
    return undefined;
  },
});
