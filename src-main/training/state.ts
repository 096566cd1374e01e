/**
 * A checkpoint's state.json: everything besides the weights and the optimizer moments that an
 * exact resume needs. Validated on every resume: a state without its data cursor could not
 * resume exactly, one without token counts would log `"tokens": null` forever after, and an
 * all-zero generator state would draw the same crop for ever.
 */
import { z } from 'zod';
import { MotlabError } from '../common/errors.ts';
import { describeZodIssues } from '../common/validate.ts';

const uint32 = z.number().int().min(0).max(0xffffffff);
const count = z.number().finite().nonnegative();

const rngStateSchema = z
  .tuple([uint32, uint32, uint32, uint32])
  .refine((s) => s.some((x) => x !== 0), 'an all-zero generator state (xoshiro128** would only ever return 0)');

const trainStateSchema = z.object({
  step: z.number().int().nonnegative(),
  tokens: count,
  flops: count,
  elapsed_s: count,
  /** The data cursor: training crops are drawn from this generator, so its state is the cursor. */
  data_rng: rngStateSchema,
  seed: z.number().int().nonnegative(),
  /** The engine that wrote it (informative: the PyTorch trainer writes "torch"). */
  engine: z.string(),
  lr: z.number().finite(),
});

/** What a checkpoint's state.json holds. */
export type TrainState = z.infer<typeof trainStateSchema>;

/** The state of `file` for an exact resume, or a MotlabError naming the file and each bad field. */
export function parseTrainState(value: unknown, file: string): TrainState {
  const parsed = trainStateSchema.safeParse(value);
  if (!parsed.success)
    throw new MotlabError('invalid_checkpoint', `${file}: cannot resume exactly from this state: ${describeZodIssues(parsed.error)}`);
  return parsed.data;
}
