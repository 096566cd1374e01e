/**
 * The model config: the JSON stored in every checkpoint's safetensors metadata
 * (docs/architecture.md, "Checkpoint files"). Field names are snake_case on purpose: they are the
 * on-disk contract shared with the PyTorch implementation.
 */
import { z } from 'zod';
import { parseOrThrow } from '../common/validate.ts';
import { COMPONENTS, type Component } from '../common/vocabulary.ts';
import { modalitySchema } from '../common/modalities.ts';

export type { Modality } from '../common/modalities.ts';

/** A partition of the modality names into groups; group t is served by tower t. */
const towerAssignmentSchema = z.array(z.array(z.string()).min(1, 'a tower serves at least one modality')).min(1);
export type TowerAssignment = z.infer<typeof towerAssignmentSchema>;

export const moeConfigSchema = z.strictObject({
  experts: z.number().int().min(2).max(64),
  routing: z.enum(['expert_choice', 'token_choice']),
  top_k: z.number().int().min(1),
  capacity_factor: z.number().positive(),
  renormalize: z.boolean(),
  aux_loss: z.number().nonnegative(),
  z_loss: z.number().nonnegative(),
  /** Indices of the `ffn` towers that are MoE; the other ffn towers stay dense SwiGLU. */
  towers: z.array(z.number().int().nonnegative()).min(1),
});
export type MoeConfig = z.infer<typeof moeConfigSchema>;

/** The fields, without the cross-field checks (used for partial overrides in config files). */
export const modelConfigFieldsSchema = z.strictObject({
  vocab_size: z.number().int().min(2),
  d_model: z.number().int().min(2),
  n_layers: z.number().int().min(1),
  n_heads: z.number().int().min(1),
  ffn_hidden: z.number().int().min(1),
  seq_len: z.number().int().min(2),
  norm_style: z.enum(['chameleon', 'pre']),
  qk_norm: z.boolean(),
  rope_theta: z.number().positive(),
  modalities: z.array(modalitySchema).min(1).max(8),
  towers: z.strictObject({ attention: towerAssignmentSchema, ffn: towerAssignmentSchema, norm: towerAssignmentSchema }),
  moe: moeConfigSchema.optional(),
});

export const modelConfigSchema = modelConfigFieldsSchema.superRefine((c, ctx) => {
  if (c.d_model % c.n_heads !== 0) {
    ctx.addIssue({ code: 'custom', path: ['n_heads'], message: `must divide d_model (${c.d_model})` });
  } else if ((c.d_model / c.n_heads) % 2 !== 0) {
    ctx.addIssue({ code: 'custom', path: ['n_heads'], message: 'head size d_model/n_heads must be even for RoPE' });
  }
  const names = c.modalities.map((m) => m.name);
  c.modalities.forEach((m, i) => {
    if (m.end <= m.start) ctx.addIssue({ code: 'custom', path: ['modalities', i, 'end'], message: 'must be greater than start' });
    if (m.end > c.vocab_size)
      ctx.addIssue({ code: 'custom', path: ['modalities', i, 'end'], message: `exceeds vocab_size (${c.vocab_size})` });
    if (names.indexOf(m.name) !== i)
      ctx.addIssue({ code: 'custom', path: ['modalities', i, 'name'], message: `duplicate modality "${m.name}"` });
    c.modalities.forEach((o, j) => {
      if (j > i && m.start < o.end && o.start < m.end)
        ctx.addIssue({ code: 'custom', path: ['modalities', j], message: `token range overlaps "${m.name}"` });
    });
  });
  for (const component of COMPONENTS) {
    const groups = c.towers[component];
    const seen = groups.flat();
    for (const n of seen) {
      if (!names.includes(n))
        ctx.addIssue({ code: 'custom', path: ['towers', component], message: `unknown modality "${n}" (have ${names.join(', ')})` });
    }
    for (const n of names) {
      const count = seen.filter((s) => s === n).length;
      if (count !== 1)
        ctx.addIssue({
          code: 'custom',
          path: ['towers', component],
          message: `modality "${n}" must be in exactly one tower (found in ${count})`,
        });
    }
  }
  if (c.moe) {
    for (const t of c.moe.towers) {
      if (t >= c.towers.ffn.length)
        ctx.addIssue({
          code: 'custom',
          path: ['moe', 'towers'],
          message: `ffn tower ${t} does not exist (${c.towers.ffn.length} ffn towers)`,
        });
    }
    if (c.moe.routing === 'token_choice' && c.moe.top_k > c.moe.experts)
      ctx.addIssue({ code: 'custom', path: ['moe', 'top_k'], message: `cannot exceed experts (${c.moe.experts})` });
  }
});
export type ModelConfig = z.infer<typeof modelConfigSchema>;

export function parseModelConfig(value: unknown): ModelConfig {
  return parseOrThrow(modelConfigSchema, value, 'model config');
}

/** Tower index of `modality` for `component`. */
export function towerOf(config: ModelConfig, component: Component, modality: string): number {
  const t = config.towers[component].findIndex((group) => group.includes(modality));
  if (t < 0) throw new Error(`modality "${modality}" has no ${component} tower`);
  return t;
}

/** Per modality index (dataset order), its tower index for `component`. */
export function towerTable(config: ModelConfig, component: Component): number[] {
  return config.modalities.map((m) => towerOf(config, component, m.name));
}
