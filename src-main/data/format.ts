/**
 * The on-disk dataset format (documented in README.md): a folder with `dataset.json` and, per
 * split, a 1-D `<split>.tokens.npy` of uint16 or int32 token ids. A token's modality is the
 * modality whose [start, end) range holds it.
 */
import { z } from 'zod';
import { MAX_MODALITIES, MAX_VOCAB_SIZE, modalitySchema } from '../common/modalities.ts';

export const datasetSpecSchema = z
  .looseObject({
    name: z.string().min(1).max(200),
    vocab_size: z.number().int().min(2).max(MAX_VOCAB_SIZE),
    modalities: z.array(modalitySchema).min(1).max(MAX_MODALITIES),
    splits: z
      .array(
        z
          .string()
          .max(64)
          .regex(/^[a-z][a-z0-9_-]*$/),
      )
      .min(1)
      .max(32),
    description: z.string().max(100_000).optional(),
    license: z.string().max(100_000).optional(),
  })
  .superRefine((d, ctx) => {
    d.modalities.forEach((m, i) => {
      if (m.end <= m.start) ctx.addIssue({ code: 'custom', path: ['modalities', i, 'end'], message: 'must be greater than start' });
      if (m.end > d.vocab_size)
        ctx.addIssue({ code: 'custom', path: ['modalities', i, 'end'], message: `exceeds vocab_size (${d.vocab_size})` });
      d.modalities.forEach((o, j) => {
        if (j > i && m.start < o.end && o.start < m.end)
          ctx.addIssue({ code: 'custom', path: ['modalities', j], message: `token range overlaps "${m.name}"` });
        if (j > i && m.name === o.name)
          ctx.addIssue({ code: 'custom', path: ['modalities', j, 'name'], message: `duplicate modality "${m.name}"` });
      });
    });
  });
export type DatasetSpec = z.infer<typeof datasetSpecSchema>;

export const splitFileName = (split: string): string => `${split}.tokens.npy`;
