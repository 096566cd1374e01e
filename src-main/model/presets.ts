/**
 * Named architectures (dense, MoT, the paper's ablations, MoE baselines) and sizes.
 * A preset is a function of the dataset's modalities: towers are written in modality names.
 */
import { MotlabError } from '../common/errors.ts';
import type { PresetName, SizeName } from '../common/vocabulary.ts';
import type { Modality, ModelConfig, MoeConfig, TowerAssignment } from './config.ts';
import { parseModelConfig } from './config.ts';

export const PRESET_DESCRIPTIONS: Record<PresetName, string> = {
  dense: 'Dense transformer: every weight shared by all modalities',
  mot: 'Mixture-of-Transformers: attention, FFN and norms untied per modality',
  'mot-ffn': 'MoT ablation: only the FFN untied per modality (paper §3.5)',
  'mot-text-isolated': 'MoT leave-one-out: text alone, image+speech share a tower',
  'mot-image-isolated': 'MoT leave-one-out: image alone, text+speech share a tower',
  'mot-speech-isolated': 'MoT leave-one-out: speech alone, text+image share a tower',
  moe4x: 'MoE-4x baseline: 4 FFN experts, expert-choice routing (not causal)',
  'moe4x-topk': 'MoE-4x, token-choice top-1 with capacity, load-balancing and z-loss',
  'mot-moe': 'MoT with a 4-expert (expert-choice) MoE inside the text tower (paper §5)',
};

interface SizeSpec {
  d_model: number;
  n_layers: number;
  n_heads: number;
  ffn_hidden: number;
  seq_len: number;
}

export const SIZES: Record<SizeName, SizeSpec> = {
  tiny: { d_model: 32, n_layers: 2, n_heads: 2, ffn_hidden: 64, seq_len: 32 },
  small: { d_model: 128, n_layers: 4, n_heads: 4, ffn_hidden: 352, seq_len: 128 },
  base: { d_model: 512, n_layers: 8, n_heads: 8, ffn_hidden: 1376, seq_len: 512 },
};

function isolate(names: string[], alone: string, preset: string): TowerAssignment {
  if (!names.includes(alone))
    throw new MotlabError('invalid_config', `Preset "${preset}" needs a modality named "${alone}"; the dataset has ${names.join(', ')}`);
  const rest = names.filter((n) => n !== alone);
  return rest.length ? [[alone], rest] : [[alone]];
}

function moe(routing: MoeConfig['routing'], towers: number[]): MoeConfig {
  return routing === 'expert_choice'
    ? { experts: 4, routing, top_k: 1, capacity_factor: 1, renormalize: false, aux_loss: 0, z_loss: 0, towers }
    : { experts: 4, routing, top_k: 1, capacity_factor: 1.25, renormalize: false, aux_loss: 0.01, z_loss: 0.001, towers };
}

/** The tower layout and MoE settings of a preset for these modalities. */
export function presetArchitecture(preset: PresetName, modalities: readonly Modality[]): Pick<ModelConfig, 'towers' | 'moe'> {
  const names = modalities.map((m) => m.name);
  const shared: TowerAssignment = [names];
  const untied: TowerAssignment = names.map((n) => [n]);
  switch (preset) {
    case 'dense':
      return { towers: { attention: shared, ffn: shared, norm: shared } };
    case 'mot':
      return { towers: { attention: untied, ffn: untied, norm: untied } };
    case 'mot-ffn':
      return { towers: { attention: shared, ffn: untied, norm: shared } };
    case 'mot-text-isolated':
    case 'mot-image-isolated':
    case 'mot-speech-isolated': {
      const t = isolate(names, preset.split('-')[1], preset);
      return { towers: { attention: t, ffn: t, norm: t } };
    }
    case 'moe4x':
      return { towers: { attention: shared, ffn: shared, norm: shared }, moe: moe('expert_choice', [0]) };
    case 'moe4x-topk':
      return { towers: { attention: shared, ffn: shared, norm: shared }, moe: moe('token_choice', [0]) };
    case 'mot-moe': {
      if (!names.includes('text'))
        throw new MotlabError('invalid_config', `Preset "mot-moe" needs a modality named "text"; the dataset has ${names.join(', ')}`);
      return { towers: { attention: untied, ffn: untied, norm: untied }, moe: moe('expert_choice', [names.indexOf('text')]) };
    }
  }
}

/** A complete, validated model config for a preset, size and dataset vocabulary. */
export function buildModelConfig(
  preset: PresetName,
  size: SizeName,
  dataset: { vocab_size: number; modalities: readonly Modality[] },
  overrides: Partial<ModelConfig> = {},
): ModelConfig {
  return parseModelConfig({
    vocab_size: dataset.vocab_size,
    ...SIZES[size],
    norm_style: 'chameleon',
    qk_norm: false,
    rope_theta: 10000,
    modalities: dataset.modalities.map((m) => ({ ...m })),
    ...presetArchitecture(preset, dataset.modalities),
    ...overrides,
  });
}
