/**
 * Parameter and FLOP accounting (docs/architecture.md, "Compute accounting").
 *
 * Choices, so every number in the lab means the same thing:
 * - `embedding` = embed.weight only (a lookup, no FLOPs). The output head [V, D] is a matmul
 *   every token does, so it counts as non-embedding and as active.
 * - `activePerToken` (N_active) = the non-embedding weights one token uses: one tower per
 *   component (its modality's), norms and QK-norm included; for a token-choice MoE tower the
 *   router plus top_k experts; for an expert-choice MoE tower the router plus
 *   min(capacity_factor, E) experts (on average each token is processed capacity_factor
 *   times). Towers of different modalities can differ (an MoE in the text tower only): N_active
 *   is the largest over modalities; `activePerModality` has each.
 * - FLOPs per token: training 6·N_active + 12·L·seq_len·D (forward + backward of the weights,
 *   plus attention scores and values over the full window); a forward pass 2·N_active +
 *   4·L·seq_len·D. Dense and MoT therefore have equal FLOPs and different parameter counts.
 * - Tensor names and shapes: expectedTensorShapes in model/tensor-names.ts (re-exported
 *   here as tensorShapes).
 */
import { expectedTensorShapes } from './tensor-names.ts';
import { towerOf, type ModelConfig } from './config.ts';

/** name → shape for every parameter, in docs/architecture.md's table order. */
export const tensorShapes = expectedTensorShapes;

export interface ParameterCounts {
  total: number;
  /** embed.weight */
  embedding: number;
  /** Everything else, the output head included. */
  nonEmbedding: number;
  /** N_active: non-embedding weights one token uses (largest over modalities). */
  activePerToken: number;
  activePerModality: Record<string, number>;
  /** Totals over all towers and layers. */
  perComponent: { attention: number; ffn: number; router: number; norm: number; embedding: number; output: number };
}

function ffnTowerActive(config: ModelConfig, tower: number): number {
  const { d_model: D, ffn_hidden: F, moe } = config;
  const expert = 3 * D * F;
  if (!moe || !moe.towers.includes(tower)) return expert;
  const experts = moe.routing === 'token_choice' ? moe.top_k : Math.min(moe.capacity_factor, moe.experts);
  return moe.experts * D + experts * expert;
}

export function parameterCounts(config: ModelConfig): ParameterCounts {
  const { vocab_size: V, d_model: D, n_layers: L, n_heads: H, ffn_hidden: F, moe } = config;
  const hd = D / H;
  const attentionTower = 4 * D * D + (config.qk_norm ? 2 * hd : 0);
  const normTower = 2 * L * D + D; // two norms per layer + the final norm
  const moeTowers = new Set(moe?.towers ?? []);
  let ffn = 0;
  let router = 0;
  config.towers.ffn.forEach((_, t) => {
    if (moe && moeTowers.has(t)) {
      ffn += moe.experts * 3 * D * F;
      router += moe.experts * D;
    } else {
      ffn += 3 * D * F;
    }
  });
  const perComponent = {
    attention: L * attentionTower * config.towers.attention.length,
    ffn: L * ffn,
    router: L * router,
    norm: normTower * config.towers.norm.length,
    embedding: V * D,
    output: V * D,
  };
  const total = Object.values(perComponent).reduce((a, b) => a + b, 0);
  const activePerModality: Record<string, number> = {};
  for (const m of config.modalities) {
    const ffnTower = towerOf(config, 'ffn', m.name);
    activePerModality[m.name] = L * (attentionTower + ffnTowerActive(config, ffnTower)) + normTower + V * D;
  }
  return {
    total,
    embedding: V * D,
    nonEmbedding: total - V * D,
    activePerToken: Math.max(...Object.values(activePerModality)),
    activePerModality,
    perComponent,
  };
}

/** FLOPs per token: 'train' = 6·N_active + 12·L·S·D, 'forward' = 2·N_active + 4·L·S·D. */
export function flopsPerToken(config: ModelConfig, mode: 'train' | 'forward'): number {
  const active = parameterCounts(config).activePerToken;
  const attention = config.n_layers * config.seq_len * config.d_model;
  return mode === 'train' ? 6 * active + 12 * attention : 2 * active + 4 * attention;
}
