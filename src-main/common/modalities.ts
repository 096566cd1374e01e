/**
 * Token id → modality, defined once. A dataset declares each modality's id range [start, end);
 * a token's modality is the one whose range holds it (docs/architecture.md, "Tokens").
 */
import { z } from 'zod';

/**
 * The largest vocabulary a dataset or model may declare: lookup tables (token id → modality)
 * are this long, so a file must not be able to ask for more.
 */
export const MAX_VOCAB_SIZE = 1 << 20;
/** Modalities a dataset or model may declare. */
export const MAX_MODALITIES = 8;

/** A modality of a dataset and of a model config: a name and its token id range [start, end). */
export const modalitySchema = z.strictObject({
  name: z
    .string()
    .max(64)
    .regex(/^[a-z][a-z0-9_]*$/, 'a lowercase identifier such as "text"'),
  start: z.number().int().nonnegative().max(MAX_VOCAB_SIZE),
  end: z.number().int().positive().max(MAX_VOCAB_SIZE),
});
export type Modality = z.infer<typeof modalitySchema>;
type ModalityRange = Pick<Modality, 'start' | 'end'>;

/** Lookup table token id → modality index (-1: no modality), covering at least the vocabulary. */
export function modalityTable(modalities: readonly ModalityRange[], vocabSize = 0): Int32Array {
  const table = new Int32Array(Math.max(vocabSize, ...modalities.map((m) => m.end))).fill(-1);
  modalities.forEach((m, i) => table.fill(i, m.start, m.end));
  return table;
}

/** Modality index of one token id, or -1 when no declared range holds it. */
export function modalityOfToken(modalities: readonly ModalityRange[], token: number): number {
  for (let i = 0; i < modalities.length; i++) {
    if (token >= modalities[i].start && token < modalities[i].end) return i;
  }
  return -1;
}

/** Per-token modality index (order of `modalities`), -1 for a token no range holds. */
export function modalityIds(tokens: ArrayLike<number>, modalities: readonly ModalityRange[], vocabSize?: number): Int32Array {
  const table = modalityTable(modalities, vocabSize);
  const out = new Int32Array(tokens.length);
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    out[i] = t >= 0 && t < table.length ? table[t] : -1;
  }
  return out;
}
