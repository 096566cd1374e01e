/**
 * The model config: the JSON stored in every checkpoint's safetensors metadata
 * (docs/architecture.md, "Checkpoint files"). Field names are snake_case on purpose: they are the
 * on-disk contract shared with the PyTorch implementation.
 */
import { z } from 'zod';
import { parseOrThrow } from '../common/validate.ts';
import { COMPONENTS, type Component } from '../common/vocabulary.ts';
import { MAX_MODALITIES, MAX_VOCAB_SIZE, modalitySchema } from '../common/modalities.ts';

export type { Modality } from '../common/modalities.ts';

/**
 * The largest models the lab accepts, far above the `base` size and above what tfjs can train
 * here, so that only a damaged or hostile file reaches them. They bound what a config read from
 * a file (a checkpoint's metadata, run.json, a config file) can make the lab allocate or loop over.
 */
export const MODEL_LIMITS = {
  vocab_size: MAX_VOCAB_SIZE,
  d_model: 16_384,
  n_layers: 256,
  n_heads: 256,
  ffn_hidden: 65_536,
  seq_len: 65_536,
  /** Weights in all, 8 GiB of float32. */
  parameters: 2 ** 31,
  /** Tensors in the checkpoint table (expectedTensorShapes). */
  tensors: 32_768,
} as const;
export const MAX_MODEL_TENSORS = MODEL_LIMITS.tensors;

/** A partition of the modality names into groups; group t is served by tower t. */
const towerAssignmentSchema = z
  .array(z.array(z.string().max(64)).min(1, 'a tower serves at least one modality').max(MAX_MODALITIES))
  .min(1)
  .max(MAX_MODALITIES);
export type TowerAssignment = z.infer<typeof towerAssignmentSchema>;

export const moeConfigSchema = z.strictObject({
  experts: z.number().int().min(2).max(64),
  routing: z.enum(['expert_choice', 'token_choice']),
  top_k: z.number().int().min(1).max(64),
  capacity_factor: z.number().positive().max(64),
  renormalize: z.boolean(),
  aux_loss: z.number().nonnegative(),
  z_loss: z.number().nonnegative(),
  /** Indices of the `ffn` towers that are MoE; the other ffn towers stay dense SwiGLU. */
  towers: z.array(z.number().int().nonnegative()).min(1).max(MAX_MODALITIES),
});
export type MoeConfig = z.infer<typeof moeConfigSchema>;

/** The fields, without the cross-field checks (used for partial overrides in config files). */
export const modelConfigFieldsSchema = z.strictObject({
  vocab_size: z.number().int().min(2).max(MODEL_LIMITS.vocab_size),
  d_model: z.number().int().min(2).max(MODEL_LIMITS.d_model),
  n_layers: z.number().int().min(1).max(MODEL_LIMITS.n_layers),
  n_heads: z.number().int().min(1).max(MODEL_LIMITS.n_heads),
  ffn_hidden: z.number().int().min(1).max(MODEL_LIMITS.ffn_hidden),
  seq_len: z.number().int().min(2).max(MODEL_LIMITS.seq_len),
  norm_style: z.enum(['chameleon', 'pre']),
  qk_norm: z.boolean(),
  rope_theta: z.number().positive(),
  modalities: z.array(modalitySchema).min(1).max(MAX_MODALITIES),
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
  // Counted arithmetically: the table itself is only built for a config within the limits.
  const size = tensorTableSize(c);
  if (size.tensors > MODEL_LIMITS.tensors)
    ctx.addIssue({
      code: 'custom',
      path: [],
      message: `the model would have ${size.tensors.toLocaleString('en-US')} tensors (at most ${MODEL_LIMITS.tensors.toLocaleString('en-US')})`,
    });
  if (size.parameters > MODEL_LIMITS.parameters)
    ctx.addIssue({
      code: 'custom',
      path: [],
      message: `the model would have ${size.parameters.toExponential(3)} parameters (at most ${MODEL_LIMITS.parameters.toExponential(3)})`,
    });
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

/**
 * How many tensors and weights expectedTensorShapes(config) (model/tensor-names.ts) lists,
 * counted without building the table: a config read from a file is checked against the limits
 * (MODEL_LIMITS) and a file's tensor count compared with this before a table of its claimed size
 * is ever made.
 */
export function tensorTableSize(config: ModelConfig): { tensors: number; parameters: number } {
  const { vocab_size: V, d_model: D, n_heads: H, ffn_hidden: F, n_layers: L } = config;
  const attentionTowers = config.towers.attention.length;
  const ffnTowers = config.towers.ffn.length;
  const normTowers = config.towers.norm.length;
  const moeTowers = config.moe ? new Set(config.moe.towers.filter((t) => t < ffnTowers)).size : 0;
  const experts = config.moe?.experts ?? 0;
  let tensors = 2 + normTowers; // embed, output, final norms
  let parameters = 2 * V * D + normTowers * D;
  // Per layer: attention projections, QK norms, the two norms, dense and MoE FFN towers.
  tensors += L * (4 * attentionTowers + (config.qk_norm ? 2 * attentionTowers : 0) + 2 * normTowers);
  parameters += L * (4 * attentionTowers * D * D + (config.qk_norm ? 2 * attentionTowers * (D / H) : 0) + 2 * normTowers * D);
  tensors += L * (3 * (ffnTowers - moeTowers) + moeTowers * (1 + 3 * experts));
  parameters += L * (3 * F * D * (ffnTowers - moeTowers) + moeTowers * (experts * D + 3 * experts * F * D));
  return { tensors, parameters };
}
