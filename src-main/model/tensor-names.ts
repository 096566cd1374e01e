/**
 * The tensor table of docs/architecture.md ("Checkpoint files"): every weight's name and shape for a
 * config. The single source of truth for initialisation, checkpoints and importers.
 */
import type { ModelConfig } from './config.ts';

/** Every tensor of a model with this config, name → shape, in the table's order. */
export function expectedTensorShapes(config: ModelConfig): Record<string, number[]> {
  const { vocab_size: V, d_model: D, n_heads: H, ffn_hidden: F, n_layers: L } = config;
  const hd = D / H;
  const attentionTowers = config.towers.attention.length;
  const ffnTowers = config.towers.ffn.length;
  const normTowers = config.towers.norm.length;
  const moeTowers = new Set(config.moe?.towers ?? []);
  const shapes: Record<string, number[]> = { 'embed.weight': [V, D] };
  for (let l = 0; l < L; l++) {
    const p = `layers.${l}`;
    for (const w of ['wq', 'wk', 'wv', 'wo']) {
      for (let t = 0; t < attentionTowers; t++) shapes[`${p}.attention.${w}.${t}.weight`] = [D, D];
    }
    if (config.qk_norm) {
      for (const w of ['q_norm', 'k_norm']) {
        for (let t = 0; t < attentionTowers; t++) shapes[`${p}.attention.${w}.${t}.weight`] = [hd];
      }
    }
    for (let t = 0; t < normTowers; t++) shapes[`${p}.attention_norm.${t}.weight`] = [D];
    for (let t = 0; t < normTowers; t++) shapes[`${p}.ffn_norm.${t}.weight`] = [D];
    for (let t = 0; t < ffnTowers; t++) {
      if (moeTowers.has(t) && config.moe) {
        shapes[`${p}.feed_forward.router.${t}.weight`] = [config.moe.experts, D];
        for (let e = 0; e < config.moe.experts; e++) {
          shapes[`${p}.feed_forward.experts.${t}.${e}.w1.weight`] = [F, D];
          shapes[`${p}.feed_forward.experts.${t}.${e}.w2.weight`] = [D, F];
          shapes[`${p}.feed_forward.experts.${t}.${e}.w3.weight`] = [F, D];
        }
      } else {
        shapes[`${p}.feed_forward.w1.${t}.weight`] = [F, D];
        shapes[`${p}.feed_forward.w2.${t}.weight`] = [D, F];
        shapes[`${p}.feed_forward.w3.${t}.weight`] = [F, D];
      }
    }
  }
  for (let t = 0; t < normTowers; t++) shapes[`norm.${t}.weight`] = [D];
  shapes['output.weight'] = [V, D];
  return shapes;
}
