/** A short name for a model's tower layout: what the runs table and the analysis views call it. */
import type { ModelConfig } from './config.ts';

/** 'dense', 'MoE', 'MoT', 'MoT+MoE', or 'MoT (ffn)' when only some components are untied; '—' without towers. */
export function modelKindOf(model: Partial<ModelConfig> | undefined): string {
  const towers = model?.towers;
  if (!towers) return '—';
  const moe = model?.moe !== undefined;
  const split = (['attention', 'ffn', 'norm'] as const).filter((c) => (towers[c]?.length ?? 1) > 1);
  if (split.length === 0) return moe ? 'MoE' : 'dense';
  const kind = split.length === 3 ? 'MoT' : `MoT (${split.join('+')})`;
  return moe ? `${kind}+MoE` : kind;
}
