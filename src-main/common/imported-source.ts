/**
 * What run.json records about a run imported from a checkpoint trained elsewhere
 * (docs/importing.md), and what a weights-only import cannot do. Browser-safe.
 */
import { z } from 'zod';

/** `__metadata__.format` of a model.safetensors the lab holds but cannot run. */
export const WEIGHTS_ONLY_FORMAT = 'motlab-weights-only';

export const importedSourceSchema = z.strictObject({
  kind: z.literal('imported'),
  /** The file or folder imported, as an absolute path on the machine that imported it. */
  path: z.string().min(1),
  /** One safetensors file, or shards listed by an index file. */
  format: z.enum(['safetensors', 'sharded']),
  /** "lab", "playbook", "bagel", or a mapping file's path. */
  mapping: z.string().min(1),
  /** Set when the lab cannot run the model: why. Only weight-space analyses apply. */
  weights_only: z.string().optional(),
  /** Config fields the weights did not tell, with where their values came from. */
  assumed: z.array(z.string()),
  /** Source tensors the mapping dropped (not part of the language model). */
  dropped: z.number().int().nonnegative(),
});
export type ImportedSource = z.infer<typeof importedSourceSchema>;

/** What needs the model's forward pass, which a weights-only run does not have. */
export const FORWARD_PASS_ANALYSES = [
  'evaluation (losses per modality)',
  'training or continuing training',
  'activation analyses (PCA, separability, activation CKA, routing)',
] as const;

/** Weight-space analyses, which every checkpoint supports. */
export const WEIGHT_ANALYSES = 'weight norms, singular-value spectra and weight tower drift (motlab analyze weights)';

export function weightsOnlyMessage(reason: string | undefined): string {
  return (
    `imported weights only${reason ? ` (${reason})` : ''}: the lab cannot run this model’s forward pass, so ` +
    `${FORWARD_PASS_ANALYSES.join('; ')} are unavailable; ${WEIGHT_ANALYSES} work`
  );
}
