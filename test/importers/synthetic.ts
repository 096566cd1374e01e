/**
 * Synthetic sharded checkpoints with the MoT playbook's names (model-0000i-of-0000n.safetensors
 * + model.safetensors.index.json), of any size, written a chunk at a time with real bytes (a
 * fast pseudo-random pattern), for the memory-bound tests and `bench/inspect-large.ts`. Tower t
 * of a weight is base + (t + 1)/4 · noise_t, so towers are similar but not equal.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { MOTLAB } from '../training/helpers.ts';

const PEAK_RSS = path.join(import.meta.dirname, 'peak-rss.mjs');

/** Run `motlab args` with the peak-RSS hook (peak-rss.mjs); its output and peak resident MiB (NaN off Linux). */
export function motlabWithPeak(args: string[]): { status: number | null; stdout: string; stderr: string; peakMiB: number } {
  const r = spawnSync(process.execPath, ['--import', PEAK_RSS, MOTLAB, ...args], {
    encoding: 'utf8',
    maxBuffer: 1 << 28,
    timeout: 1_800_000,
  });
  const m = /peak-rss-kib (\d+)/.exec(r.stderr);
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, peakMiB: m ? Number(m[1]) / 1024 : NaN };
}

/**
 * The MoT playbook's name for one of ours (the inverse of the importers' playbook mapping,
 * written independently of it): how a test turns a lab checkpoint into a playbook one.
 */
export function playbookNameOf(ours: string): string {
  return ours === 'embed.weight'
    ? 'tok_embeddings.weight'
    : ours
        .replace(/attention\.(wq|wk|wv|wo)\.(\d+)/, 'attention.local_experts_$1.$2')
        .replace(/attention\.(q|k)_norm\.(\d+)/, 'attention.local_experts_$1_normalization.$2')
        .replace(/^layers\.(\d+)\.attention_norm\.(\d+)/, 'layers.$1.attention.local_experts_attention_norm.$2')
        .replace(/feed_forward\.(w1|w2|w3)\.(\d+)/, 'feed_forward.local_experts.$2.$1')
        .replace(/^layers\.(\d+)\.ffn_norm\.(\d+)/, 'layers.$1.feed_forward.local_experts_ffn_norm.$2');
}

export interface SyntheticModel {
  layers: number;
  width: number;
  ffn: number;
  towers: number;
  vocab: number;
  shards: number;
}

interface Planned {
  name: string;
  shape: number[];
  /** Tower index, or -1 for shared tensors. */
  tower: number;
  /** Seed of the shared base pattern. */
  base: number;
}

export function playbookTensors(m: SyntheticModel): Planned[] {
  const out: Planned[] = [];
  let base = 1;
  out.push({ name: 'tok_embeddings.weight', shape: [m.vocab, m.width], tower: -1, base: base++ });
  for (let l = 0; l < m.layers; l++) {
    const p = `layers.${l}`;
    const weights: [string, number[]][] = [
      ...['wq', 'wk', 'wv', 'wo'].map((w): [string, number[]] => [`${p}.attention.local_experts_${w}.{m}.weight`, [m.width, m.width]]),
      [`${p}.attention.local_experts_attention_norm.{m}.weight`, [m.width]],
      [`${p}.feed_forward.local_experts.{m}.w1.weight`, [m.ffn, m.width]],
      [`${p}.feed_forward.local_experts.{m}.w2.weight`, [m.width, m.ffn]],
      [`${p}.feed_forward.local_experts.{m}.w3.weight`, [m.ffn, m.width]],
      [`${p}.feed_forward.local_experts_ffn_norm.{m}.weight`, [m.width]],
    ];
    for (const [name, shape] of weights) {
      const b = base++;
      for (let t = 0; t < m.towers; t++) out.push({ name: name.replace('{m}', String(t)), shape, tower: t, base: b });
    }
  }
  const b = base++;
  for (let t = 0; t < m.towers; t++) out.push({ name: `norm.${t}.weight`, shape: [m.width], tower: t, base: b });
  out.push({ name: 'output.weight', shape: [m.vocab, m.width], tower: -1, base: base++ });
  return out;
}

/** xorshift32 → uniform in [-0.5, 0.5). */
function fill(out: Float32Array, seed: number, offset: number): void {
  let s = (Math.imul(seed, 0x9e3779b1) ^ Math.imul(offset + 1, 0x85ebca6b)) >>> 0 || 1;
  for (let i = 0; i < out.length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = (s >>> 0) / 4294967296 - 0.5;
  }
}

const CHUNK = 1 << 20; // values

/** Write the checkpoint into `dir`; returns the index file and the bytes of tensor data. */
export function writeShardedPlaybook(dir: string, m: SyntheticModel): { index: string; bytes: number } {
  mkdirSync(dir, { recursive: true });
  const tensors = playbookTensors(m);
  const perShard = Math.ceil(tensors.length / m.shards);
  const weightMap: Record<string, string> = {};
  let total = 0;
  const base = new Float32Array(CHUNK);
  const noise = new Float32Array(CHUNK);
  for (let s = 0; s < m.shards; s++) {
    const part = tensors.slice(s * perShard, (s + 1) * perShard);
    const file = `model-${String(s + 1).padStart(5, '0')}-of-${String(m.shards).padStart(5, '0')}.safetensors`;
    const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
    let offset = 0;
    for (const t of part) {
      const bytes = t.shape.reduce((a, b) => a * b, 1) * 4;
      header[t.name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + bytes] };
      offset += bytes;
      weightMap[t.name] = file;
    }
    const json = Buffer.from(JSON.stringify(header));
    const prefix = Buffer.alloc(8);
    prefix.writeBigUInt64LE(BigInt(json.length));
    const fd = openSync(path.join(dir, file), 'w');
    try {
      writeSync(fd, prefix);
      writeSync(fd, json);
      for (const t of part) {
        const count = t.shape.reduce((a, b) => a * b, 1);
        for (let first = 0; first < count; first += CHUNK) {
          const n = Math.min(CHUNK, count - first);
          const values = base.subarray(0, n);
          fill(values, t.base, first);
          if (t.tower >= 0) {
            const extra = noise.subarray(0, n);
            fill(extra, 1000 + t.base * 16 + t.tower, first);
            for (let i = 0; i < n; i++) values[i] += ((t.tower + 1) / 4) * extra[i];
          }
          writeSync(fd, new Uint8Array(values.buffer, 0, n * 4));
        }
      }
    } finally {
      closeSync(fd);
    }
    total += offset;
  }
  const index = path.join(dir, 'model.safetensors.index.json');
  writeFileSync(index, JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }));
  return { index, bytes: total };
}

/** Size in bytes of a synthetic model's tensors. */
export function syntheticBytes(m: SyntheticModel): number {
  return playbookTensors(m).reduce((s, t) => s + t.shape.reduce((a, b) => a * b, 1) * 4, 0);
}

/**
 * A small BAGEL-named (Qwen2 MoT) checkpoint in F32: understanding tower plain, generation tower
 * `_moe_gen` = understanding + noise; q/k/v biases and 2 key/value heads of 8 (grouped-query
 * attention), so the lab can import it as weights only. For the end-to-end test, which has no
 * PyTorch to rely on (test/importers/bagel.test.ts makes its file with PyTorch).
 */
export function bagelTensors(layers = 2, width = 32, ffn = 48, vocab = 700): Record<string, { shape: number[]; data: Float32Array }> {
  let state = 12345;
  const random = () => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return state / 2 ** 32 - 0.5;
  };
  const w = (...shape: number[]) => ({ shape, data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => random() / 5) });
  const plusNoise = (t: { shape: number[]; data: Float32Array }) => ({ shape: t.shape, data: t.data.map((v) => v + random() / 10) });
  const ones = (t: { shape: number[]; data: Float32Array }) => ({ shape: t.shape, data: t.data.map((v) => 1 + v) });
  const kv = 2 * 8;
  const out: Record<string, { shape: number[]; data: Float32Array }> = {
    'model.embed_tokens.weight': w(vocab, width),
    'lm_head.weight': w(vocab, width),
    'model.norm.weight': ones(w(width)),
    'model.norm_moe_gen.weight': ones(w(width)),
  };
  for (let l = 0; l < layers; l++) {
    const p = `model.layers.${l}.`;
    const und: [string, { shape: number[]; data: Float32Array }][] = [
      ['self_attn.q_proj.weight', w(width, width)],
      ['self_attn.q_proj.bias', w(width)],
      ['self_attn.k_proj.weight', w(kv, width)],
      ['self_attn.k_proj.bias', w(kv)],
      ['self_attn.v_proj.weight', w(kv, width)],
      ['self_attn.v_proj.bias', w(kv)],
      ['self_attn.o_proj.weight', w(width, width)],
      ['mlp.gate_proj.weight', w(ffn, width)],
      ['mlp.up_proj.weight', w(ffn, width)],
      ['mlp.down_proj.weight', w(width, ffn)],
      ['input_layernorm.weight', ones(w(width))],
      ['post_attention_layernorm.weight', ones(w(width))],
    ];
    for (const [name, t] of und) {
      out[p + name] = t;
      const gen = name.startsWith('mlp.') ? name.replace('mlp.', 'mlp_moe_gen.') : name.replace(/\.(weight|bias)$/, '_moe_gen.$1');
      out[p + gen] = plusNoise(t);
    }
  }
  return out;
}
