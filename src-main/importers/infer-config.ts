/**
 * The model config of a checkpoint that came without ours: what the weights' shapes tell
 * (layers, width, FFN width, towers per component, vocabulary, QK-norm and with it the heads,
 * MoE experts), completed from the preset and size or a config file for what they cannot tell
 * (heads without QK-norm, RoPE θ, norm style, window length, the tower grouping, MoE routing),
 * then from the naming family's known values and the lab's defaults. Every field says where it
 * came from, so the import can report what was assumed.
 */
import { MotlabError } from '../common/errors.ts';
import { COMPONENTS, type Component, type PresetName, type SizeName } from '../common/vocabulary.ts';
import { MODEL_LIMITS, parseModelConfig, type Modality, type ModelConfig, type TowerAssignment } from '../model/config.ts';
import { presetArchitecture, SIZES } from '../model/presets.ts';
import { expectedTensorShapes } from '../model/tensor-names.ts';
import { tensorMismatches } from '../checkpoints/run-folder.ts';
import type { NameMapping } from './mappings.ts';

export interface ConfigHints {
  preset?: PresetName;
  size?: SizeName;
  /** A run config file (`--config`, parsed by training/config.ts): its preset, size and model fields. */
  configFile?: { preset?: PresetName; size?: SizeName; model?: Partial<ModelConfig> };
  /** The dataset the run will refer to: its modalities unless the config file gives them. */
  dataset: { name: string; vocab_size: number; modalities: readonly Modality[] };
  mapping: NameMapping;
  /** The lab cannot run this model: shapes may differ from our table (e.g. grouped-query K/V) and biases may be present. */
  weightsOnly: boolean;
}

export type FieldOrigin = 'weights' | 'config file' | 'preset' | 'size' | 'naming family' | 'dataset' | 'lab default';

export interface InferredConfig {
  config: ModelConfig;
  /** Each top-level config field → where its value came from. */
  origins: Record<string, FieldOrigin>;
}

/** The lab's defaults for what neither the weights nor the hints say (as buildModelConfig). */
const LAB_DEFAULTS = { norm_style: 'chameleon', rope_theta: 10000 } as const;
/** A window length for weights-only imports, where nothing reads it. */
const WEIGHTS_ONLY_SEQ_LEN = 2048;

function indicesOf(names: Iterable<string>, pattern: RegExp): number[] {
  const found = new Set<number>();
  for (const n of names) {
    const m = pattern.exec(n);
    if (m) found.add(Number(m[1]));
  }
  return [...found].sort((a, b) => a - b);
}

/** The tower layout for `count` towers when nothing says how modalities group: one, or one per modality. */
function layoutByCount(count: number, modalities: readonly Modality[]): TowerAssignment | null {
  const names = modalities.map((m) => m.name);
  if (count === 1) return [names];
  if (count === names.length) return names.map((n) => [n]);
  return null;
}

export function inferModelConfig(shapes: ReadonlyMap<string, number[]>, hints: ConfigHints, source: string): InferredConfig {
  const fail = (what: string): never => {
    throw new MotlabError('invalid_checkpoint', `${source}: ${what}`);
  };
  const names = [...shapes.keys()];
  const shape = (name: string): number[] | undefined => shapes.get(name);
  const origins: Record<string, FieldOrigin> = {};
  const fromFile = hints.configFile?.model ?? {};
  const preset = hints.preset ?? hints.configFile?.preset;
  const size = hints.size ?? hints.configFile?.size;

  // What the weights say.
  const embed = shape('embed.weight');
  if (!embed || embed.length !== 2) return fail('no embedding matrix after renaming (embed.weight, [vocabulary, width])');
  const [vocab, width] = embed;
  const layers = indicesOf(names, /^layers\.(\d+)\./);
  if (layers.length === 0) return fail('no transformer layers after renaming (layers.{l}.…)');
  const layerCount = layers[layers.length - 1] + 1;
  if (layerCount > MODEL_LIMITS.n_layers)
    fail(`layer index ${layerCount - 1} is beyond the ${MODEL_LIMITS.n_layers} layers the lab accepts`);
  if (layers.length !== layerCount) {
    const missing = Array.from({ length: layerCount }, (_, l) => l).filter((l) => !layers.includes(l));
    fail(`layers ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', …' : ''} are missing (the last layer is ${layerCount - 1})`);
  }
  const towerCounts: Record<Component, number> = {
    attention: indicesOf(names, /^layers\.0\.attention\.wq\.(\d+)\.weight$/).length,
    ffn: indicesOf(names, /^layers\.0\.feed_forward\.(?:w1|router)\.(\d+)\.weight$/).length,
    norm: indicesOf(names, /^layers\.0\.attention_norm\.(\d+)\.weight$/).length,
  };
  for (const c of COMPONENTS) if (towerCounts[c] === 0) fail(`layer 0 has no ${c} weights after renaming`);
  const w1 = names.find((n) => /^layers\.0\.feed_forward\.(?:w1\.\d+|experts\.\d+\.\d+\.w1)\.weight$/.test(n));
  const ffnHidden = w1 ? shape(w1)![0] : fail('layer 0 has no FFN input matrix (feed_forward.w1)');
  const qNorm = shape('layers.0.attention.q_norm.0.weight');
  const qkNorm = qNorm !== undefined;
  const routerTowers = indicesOf(names, /^layers\.0\.feed_forward\.router\.(\d+)\.weight$/);

  const config: Record<string, unknown> = {};
  const set = (field: string, value: unknown, origin: FieldOrigin): void => {
    config[field] = value;
    origins[field] = origin;
  };
  /** A field the weights fix: a config file that says otherwise is an error. */
  const fixed = (field: keyof ModelConfig, value: unknown): void => {
    const stated = (fromFile as Record<string, unknown>)[field];
    if (stated !== undefined && JSON.stringify(stated) !== JSON.stringify(value))
      fail(`the config file says ${field} = ${JSON.stringify(stated)}, but the weights have ${JSON.stringify(value)}`);
    set(field, value, 'weights');
  };
  fixed('vocab_size', vocab);
  fixed('d_model', width);
  fixed('n_layers', layerCount);
  fixed('ffn_hidden', ffnHidden);
  fixed('qk_norm', qkNorm);
  if (qNorm) {
    if (qNorm.length !== 1 || qNorm[0] < 2 || width % qNorm[0] !== 0)
      fail(`q_norm has shape [${qNorm.join(', ')}], which is no head size of width ${width}`);
    fixed('n_heads', width / qNorm[0]);
  } else if (fromFile.n_heads !== undefined) set('n_heads', fromFile.n_heads, 'config file');
  else if (size) set('n_heads', SIZES[size].n_heads, 'size');
  else
    fail(
      'the number of attention heads cannot be read from the weights (they have no QK-norm): pass --preset and --size, or --config with model.n_heads',
    );

  // What the hints say, then the naming family, then the lab.
  const choose = (field: 'norm_style' | 'rope_theta' | 'seq_len'): void => {
    if (fromFile[field] !== undefined) return set(field, fromFile[field], 'config file');
    if (field === 'seq_len' && size) return set(field, SIZES[size].seq_len, 'size');
    if (hints.mapping.defaults?.[field] !== undefined) return set(field, hints.mapping.defaults[field], 'naming family');
    if (field === 'seq_len') {
      if (hints.weightsOnly) return set(field, WEIGHTS_ONLY_SEQ_LEN, 'lab default');
      return fail('the window length (seq_len) cannot be read from the weights: pass --size, or --config with model.seq_len');
    }
    set(field, LAB_DEFAULTS[field], 'lab default');
  };
  choose('norm_style');
  choose('rope_theta');
  choose('seq_len');

  const modalities = fromFile.modalities ?? hints.dataset.modalities.map((m) => ({ ...m }));
  set('modalities', modalities, fromFile.modalities ? 'config file' : 'dataset');

  // Towers: the config file, the preset, the naming family, or one / one per modality.
  const presetLayout = preset ? presetArchitecture(preset, modalities) : null;
  const towers: Record<string, TowerAssignment> = {};
  let towerOrigin: FieldOrigin = 'weights';
  for (const c of COMPONENTS) {
    let layout: TowerAssignment | null | undefined = fromFile.towers?.[c];
    let origin: FieldOrigin = 'config file';
    if (!layout && presetLayout) [layout, origin] = [presetLayout.towers[c], 'preset'];
    if (!layout && hints.mapping.towers) [layout, origin] = [hints.mapping.towers(modalities), 'naming family'];
    if (!layout) [layout, origin] = [layoutByCount(towerCounts[c], modalities), 'weights'];
    if (!layout)
      return fail(
        `the weights have ${towerCounts[c]} ${c} towers for ${modalities.length} modalities (${modalities.map((m) => m.name).join(', ')}): ` +
          'which modalities share a tower cannot be read from the weights; pass --preset, or --config with model.towers',
      );
    if (layout.length !== towerCounts[c])
      fail(
        `the ${origin} gives ${layout.length} ${c} tower${layout.length === 1 ? '' : 's'} (${JSON.stringify(layout)}), the weights have ${towerCounts[c]}`,
      );
    towers[c] = layout;
    if (origin !== 'weights') towerOrigin = origin;
  }
  set('towers', towers, towerOrigin);

  if (routerTowers.length > 0) {
    const moe = fromFile.moe ?? presetLayout?.moe;
    if (!moe)
      return fail(
        'the weights have MoE routers, whose routing cannot be read from them: pass --preset (moe4x, moe4x-topk, mot-moe) or --config with model.moe',
      );
    const experts = shape(`layers.0.feed_forward.router.${routerTowers[0]}.weight`)![0];
    const adjusted = { ...moe, experts, towers: routerTowers };
    set('moe', adjusted, fromFile.moe ? 'config file' : 'preset');
  } else if (fromFile.moe || presetLayout?.moe) {
    fail(`the ${fromFile.moe ? 'config file' : `preset ${preset}`} has MoE towers, but the weights have no routers`);
  }

  let parsed: ModelConfig;
  try {
    parsed = parseModelConfig(config);
  } catch (e) {
    return fail((e as Error).message);
  }
  checkAgainstTable(parsed, shapes, hints.weightsOnly, fail);
  return { config: parsed, origins };
}

/**
 * The renamed tensors must be exactly the config's table. Weights-only imports may differ in
 * shape (e.g. grouped-query K/V projections) and add biases of the table's matrices.
 */
function checkAgainstTable(
  config: ModelConfig,
  shapes: ReadonlyMap<string, number[]>,
  weightsOnly: boolean,
  fail: (what: string) => never,
): void {
  const tensors = Object.fromEntries([...shapes].map(([n, s]) => [n, { shape: s }]));
  if (!weightsOnly) {
    const problems = tensorMismatches(config, tensors);
    if (problems.length) fail(`the renamed tensors do not fit the model config: ${problems.join('; ')}`);
    return;
  }
  const expected = expectedTensorShapes(config);
  const missing = Object.keys(expected).filter((n) => !shapes.has(n));
  const extra = [...shapes.keys()].filter(
    (n) => !Object.hasOwn(expected, n) && !(n.endsWith('.bias') && Object.hasOwn(expected, n.replace(/\.bias$/, '.weight'))),
  );
  const list = (xs: string[]) => xs.slice(0, 5).join(', ') + (xs.length > 5 ? ` and ${xs.length - 5} more` : '');
  if (missing.length) fail(`the renamed tensors lack ${list(missing)}`);
  if (extra.length) fail(`the renamed tensors include names outside the lab's table: ${list(extra)}`);
}

/** "seq_len 2048 (lab default), rope_theta 1000000 (naming family)": what the weights did not say. */
export function describeAssumptions(inferred: InferredConfig): string[] {
  return Object.entries(inferred.origins)
    .filter(([, origin]) => origin !== 'weights')
    .map(([field, origin]) => {
      const value = (inferred.config as Record<string, unknown>)[field];
      const shown = field === 'modalities' ? (value as Modality[]).map((m) => m.name).join('/') : JSON.stringify(value);
      return `${field} ${shown} (${origin})`;
    });
}
