/**
 * Name mappings: how another implementation's tensor names become ours (docs/architecture.md
 * §5, docs/importing.md). A mapping is a list of rules `{pattern, to}`: the first rule whose
 * regular expression matches the whole source name renames it to `to` with `$1`…`$9` replaced
 * by the captured groups, or drops it when `to` is null. A name no rule matches is an error,
 * and so are two names mapped onto one. The built-in mappings are rule lists like a mapping
 * file's, so there is one way of renaming.
 *
 * Mapping files come from people we do not know: their patterns run on V8's linear-time regular
 * expression engine (no backtracking, so no pattern can take exponential time), with bounded
 * pattern, rule and name counts.
 */
import { setFlagsFromString } from 'node:v8';
import { z } from 'zod';
import { MotlabError } from '../common/errors.ts';
import { quoteName } from '../common/text.ts';
import { errnoOf, readRegularText } from '../data/regular-file.ts';
import { describeZodIssues } from '../common/validate.ts';
import type { Modality, ModelConfig, TowerAssignment } from '../model/config.ts';

export interface MappingRule {
  /** The pattern as written (shown in messages). */
  pattern: string;
  regex: RegExp;
  /** Our name, with `$1`…`$9` for the captured groups; null drops the tensor. */
  to: string | null;
}

export interface NameMapping {
  /** "lab", "playbook", "bagel", or the mapping file's path. */
  name: string;
  rules: MappingRule[];
  /**
   * Set when the lab cannot run this architecture: why (imports are then weights only, and the
   * analyses that need a forward pass say so).
   */
  weightsOnly?: string;
  /** Config fields the names do not tell, known for this family (documented in importing.md). */
  defaults?: Partial<Pick<ModelConfig, 'norm_style' | 'rope_theta' | 'seq_len'>>;
  /** The tower layout for a dataset's modalities, when the family fixes it. */
  towers?: (modalities: readonly Modality[]) => TowerAssignment | null;
}

/** Limits for mapping files (far above any real checkpoint's needs). */
export const MAX_MAPPING_FILE_BYTES = 1024 * 1024;
export const MAX_RULES = 200;
export const MAX_PATTERN_LENGTH = 1000;
/** Tensor names longer than this are refused before any pattern sees them. */
export const MAX_NAME_LENGTH = 512;

// ---------------------------------------------------------------------------------------------
// Patterns on the linear-time engine

let linearEngine: boolean | undefined;

/** V8's non-backtracking engine (the `l` flag) exists behind a flag that can be set at run time. */
function linearFlag(): string {
  // The flag is passed as a variable: eslint's no-invalid-regexp does not know `l`.
  const flag = 'l';
  if (linearEngine === undefined) {
    try {
      new RegExp('a', flag);
      linearEngine = true;
    } catch {
      setFlagsFromString('--enable-experimental-regexp-engine');
      try {
        new RegExp('a', flag);
        linearEngine = true;
      } catch {
        linearEngine = false;
      }
    }
  }
  return linearEngine ? flag : '';
}

/** A whole-name matcher for `pattern`, or a MotlabError saying what is wrong with it. */
export function compileRule(pattern: string, to: string | null, where: string): MappingRule {
  const fail = (what: string): never => {
    throw new MotlabError('invalid_config', `${where}: ${what}`);
  };
  if (pattern.length === 0) fail('pattern is empty');
  if (pattern.length > MAX_PATTERN_LENGTH) fail(`pattern is ${pattern.length} characters long (at most ${MAX_PATTERN_LENGTH})`);
  let regex: RegExp;
  let groups: number;
  try {
    regex = new RegExp(`^(?:${pattern})$`, linearFlag());
    // An empty alternative always matches "": the match array's length counts the groups.
    groups = (new RegExp(`(?:${pattern})|`, linearFlag()).exec('') as RegExpExecArray).length - 1;
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    if (/linear time/.test(message))
      return fail(
        `pattern ${quoteName(pattern)} uses a backreference or lookaround, which mapping patterns may not (they must run in linear time)`,
      );
    return fail(
      `pattern ${quoteName(pattern)} is not a valid regular expression (${message.replace(/^Invalid regular expression: /, '')})`,
    );
  }
  if (to !== null) {
    if (to.length === 0 || to.length > MAX_NAME_LENGTH) fail(`"to" must be 1–${MAX_NAME_LENGTH} characters`);
    for (const m of to.matchAll(/\$(\$|\d?)/g)) {
      if (m[1] === '$') continue;
      if (m[1] === '') fail(`"to" ${quoteName(to)} has a "$" that is neither $1…$9 nor $$`);
      const n = Number(m[1]);
      if (n < 1 || n > groups)
        fail(`"to" ${quoteName(to)} refers to $${n}, but the pattern has ${groups} capture group${groups === 1 ? '' : 's'}`);
    }
  }
  return { pattern, regex, to };
}

function substitute(to: string, match: RegExpExecArray): string {
  return to.replace(/\$(\$|\d)/g, (_, g: string) => (g === '$' ? '$' : (match[Number(g)] ?? '')));
}

function rules(list: [string, string | null][], name: string): MappingRule[] {
  return list.map(([pattern, to], i) => compileRule(pattern, to, `the ${name} mapping, rule ${i + 1}`));
}

// ---------------------------------------------------------------------------------------------
// The built-in mappings

const LAB: NameMapping = { name: 'lab', rules: rules([['(.+)', '$1']], 'lab') };

/** The MoT paper's playbook code; {m} is the tower index. */
const PLAYBOOK_RULES: [string, string][] = [
  ['tok_embeddings\\.weight', 'embed.weight'],
  ['output\\.weight', 'output.weight'],
  ['norm\\.(\\d+)\\.weight', 'norm.$1.weight'],
  ['layers\\.(\\d+)\\.attention\\.local_experts_(wq|wk|wv|wo)\\.(\\d+)\\.weight', 'layers.$1.attention.$2.$3.weight'],
  ['layers\\.(\\d+)\\.attention\\.local_experts_(q|k)_normalization\\.(\\d+)\\.weight', 'layers.$1.attention.$2_norm.$3.weight'],
  ['layers\\.(\\d+)\\.attention\\.local_experts_attention_norm\\.(\\d+)\\.weight', 'layers.$1.attention_norm.$2.weight'],
  ['layers\\.(\\d+)\\.feed_forward\\.local_experts\\.(\\d+)\\.(w1|w2|w3)\\.weight', 'layers.$1.feed_forward.$3.$2.weight'],
  ['layers\\.(\\d+)\\.feed_forward\\.local_experts_ffn_norm\\.(\\d+)\\.weight', 'layers.$1.ffn_norm.$2.weight'],
];
const PLAYBOOK: NameMapping = { name: 'playbook', rules: rules(PLAYBOOK_RULES, 'playbook'), defaults: { norm_style: 'chameleon' } };

/**
 * BAGEL: Qwen2 names, the understanding tower plain and the generation tower with `_moe_gen`.
 * Qwen2 has q/k/v biases and grouped-query attention, which our forward pass does not.
 */
const BAGEL_PREFIX = '(?:language_model\\.)?';
const BAGEL_RULES: [string, string | null][] = [
  ['model\\.embed_tokens\\.weight', 'embed.weight'],
  ['lm_head\\.weight', 'output.weight'],
  ['model\\.norm\\.weight', 'norm.0.weight'],
  ['model\\.norm_moe_gen\\.weight', 'norm.1.weight'],
];
for (const [suffix, tower] of [
  ['', 0],
  ['_moe_gen', 1],
] as const) {
  const layer = 'model\\.layers\\.(\\d+)\\.';
  BAGEL_RULES.push(
    [`${layer}self_attn\\.(q|k|v|o)_proj${suffix}\\.(weight|bias)`, `layers.$1.attention.w$2.${tower}.$3`],
    [`${layer}self_attn\\.(q|k)_norm${suffix}\\.weight`, `layers.$1.attention.$2_norm.${tower}.weight`],
    [`${layer}mlp${suffix}\\.gate_proj\\.weight`, `layers.$1.feed_forward.w1.${tower}.weight`],
    [`${layer}mlp${suffix}\\.up_proj\\.weight`, `layers.$1.feed_forward.w3.${tower}.weight`],
    [`${layer}mlp${suffix}\\.down_proj\\.weight`, `layers.$1.feed_forward.w2.${tower}.weight`],
    [`${layer}input_layernorm${suffix}\\.weight`, `layers.$1.attention_norm.${tower}.weight`],
    [`${layer}post_attention_layernorm${suffix}\\.weight`, `layers.$1.ffn_norm.${tower}.weight`],
  );
}
// Not the language model: the vision encoder, the VAE adapters, RoPE buffers.
BAGEL_RULES.push(['(?:vit_model|connector|vae2llm|llm2vae|latent_pos_embed|vit_pos_embed|time_embedder)\\..*', null]);
BAGEL_RULES.push(['model\\.rotary_emb\\..*', null]);

const BAGEL: NameMapping = {
  name: 'bagel',
  rules: rules(
    BAGEL_RULES.map(([p, to]) => [BAGEL_PREFIX + p, to]),
    'bagel',
  ),
  weightsOnly:
    'BAGEL is a Qwen2 Mixture-of-Transformers: its attention has q/k/v biases and grouped-query attention (fewer key/value heads), which the lab’s forward pass does not implement',
  // Qwen2 normalises before attention and before the FFN; Qwen2.5's RoPE base.
  defaults: { norm_style: 'pre', rope_theta: 1_000_000 },
  // Tower 0 understands (text, ViT tokens), tower 1 generates images.
  towers: (modalities) => {
    const names = modalities.map((m) => m.name);
    if (!names.includes('image') || names.length < 2) return null;
    return [names.filter((n) => n !== 'image'), ['image']];
  },
};

export const BUILTIN_MAPPINGS = { lab: LAB, playbook: PLAYBOOK, bagel: BAGEL } as const;
export type BuiltinMappingName = keyof typeof BUILTIN_MAPPINGS;
export const MAPPING_CHOICES = ['auto', ...Object.keys(BUILTIN_MAPPINGS)] as const;

// ---------------------------------------------------------------------------------------------
// Mapping files

const mappingFileSchema = z
  .array(
    z.strictObject({
      pattern: z.string(),
      to: z.string().nullable(),
    }),
  )
  .min(1, 'a mapping file lists at least one rule')
  .max(MAX_RULES, `at most ${MAX_RULES} rules`);

/** A mapping file's text: a JSON list of `{"pattern": regex, "to": name template | null}`. */
export function parseMappingFile(text: string, file: string): NameMapping {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new MotlabError('invalid_config', `${file}: not valid JSON (${e instanceof Error ? e.message.slice(0, 200) : String(e)})`);
  }
  const parsed = mappingFileSchema.safeParse(json);
  if (!parsed.success)
    throw new MotlabError('invalid_config', `${file}: not a mapping file: ${describeZodIssues(parsed.error).slice(0, 600)}`);
  return { name: file, rules: parsed.data.map((r, i) => compileRule(r.pattern, r.to, `${file}: rule ${i + 1}`)) };
}

export async function readMappingFile(file: string): Promise<NameMapping> {
  let text: string;
  try {
    text = await readRegularText(file, { maxBytes: MAX_MAPPING_FILE_BYTES, code: 'invalid_config', what: 'a mapping file' });
  } catch (e) {
    if (errnoOf(e) === 'ENOENT') throw new MotlabError('not_found', `${file}: no such mapping file`);
    throw e;
  }
  return parseMappingFile(text, file);
}

/** "auto", a built-in name, or a mapping file. */
export async function resolveMapping(choice: string): Promise<NameMapping | 'auto'> {
  if (choice === 'auto') return 'auto';
  if (Object.hasOwn(BUILTIN_MAPPINGS, choice)) return BUILTIN_MAPPINGS[choice as BuiltinMappingName];
  if (!/[\\/]|\.json$/i.test(choice))
    throw new MotlabError('invalid_config', `--mapping must be ${MAPPING_CHOICES.join(', ')} or a mapping file (.json), got "${choice}"`);
  return readMappingFile(choice);
}

// ---------------------------------------------------------------------------------------------
// Applying a mapping

export interface RenamedTensors {
  /** Our name → the source name, in the source's order. */
  renamed: Map<string, string>;
  /** Source names the mapping drops. */
  dropped: string[];
}

function listSome(names: readonly string[], count = 5): string {
  const shown = names.slice(0, count).map((n) => quoteName(n, 120));
  return shown.join(', ') + (names.length > count ? ` and ${names.length - count} more` : '');
}

/** Rename every source tensor, or a MotlabError naming `source` and the names that do not fit. */
export function applyMapping(mapping: NameMapping, names: readonly string[], source: string): RenamedTensors {
  const renamed = new Map<string, string>();
  const dropped: string[] = [];
  const unknown: string[] = [];
  for (const name of names) {
    if (name.length > MAX_NAME_LENGTH)
      throw new MotlabError(
        'invalid_checkpoint',
        `${source}: a tensor name is ${name.length} characters long (at most ${MAX_NAME_LENGTH}): ${listSome([name], 1)}`,
      );
    let done = false;
    for (const rule of mapping.rules) {
      const m = rule.regex.exec(name);
      if (!m) continue;
      done = true;
      if (rule.to === null) {
        dropped.push(name);
        break;
      }
      const to = substitute(rule.to, m);
      const earlier = renamed.get(to);
      if (earlier !== undefined)
        throw new MotlabError(
          'invalid_checkpoint',
          `${source}: tensors ${quoteName(earlier)} and ${quoteName(name)} both map to "${to}" (${mappingLabel(mapping)})`,
        );
      renamed.set(to, name);
      break;
    }
    if (!done) unknown.push(name);
  }
  if (unknown.length)
    throw new MotlabError(
      'invalid_checkpoint',
      `${source}: ${unknown.length} tensor name${unknown.length === 1 ? '' : 's'} the ${mappingLabel(mapping)} does not know: ${listSome(unknown)}` +
        ' (choose another --mapping, or write a mapping file; see docs/importing.md)',
    );
  return { renamed, dropped };
}

export function mappingLabel(mapping: NameMapping): string {
  return Object.hasOwn(BUILTIN_MAPPINGS, mapping.name) ? `${mapping.name} mapping` : `mapping file ${mapping.name}`;
}

/**
 * The built-in mapping a set of names follows: our own when the file says so (or has our
 * names), else the one that knows every name with the most renamed.
 */
export function detectMapping(names: readonly string[], metadata: Record<string, string>, source: string): NameMapping {
  if (metadata.format === 'motlab' || names.includes('embed.weight')) return LAB;
  const fits: { mapping: NameMapping; renamed: number }[] = [];
  for (const mapping of [PLAYBOOK, BAGEL]) {
    try {
      const { renamed } = applyMapping(mapping, names, source);
      if (renamed.size > 0) fits.push({ mapping, renamed: renamed.size });
    } catch {
      // not this one
    }
  }
  fits.sort((a, b) => b.renamed - a.renamed);
  if (fits.length === 0)
    throw new MotlabError(
      'invalid_checkpoint',
      `${source}: the tensor names (${listSome(names, 3)}) follow none of the built-in namings (lab, playbook, bagel): pass --mapping with a mapping file (docs/importing.md)`,
    );
  return fits[0].mapping;
}
