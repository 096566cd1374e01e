/**
 * A BAGEL-named (Qwen2 MoT) synthetic checkpoint in bfloat16, made by PyTorch: it imports weights
 * only (q/k/v biases, grouped-query attention), says what needs a forward pass, and its tower
 * drift between the understanding and generation towers equals numpy's.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { motlab, PYTHON, torchAvailable } from '../training/helpers.ts';
import type { WeightAnalysis } from '../../src-main/common/weight-analysis.ts';

const skip = torchAvailable ? false : '/usr/bin/python3 cannot import torch and numpy';

/** 2 layers, width 64, 4 heads of 16 with 2 key/value heads, FFN 96, vocabulary 700; the gen tower = und + noise. */
const MAKE_BAGEL = String.raw`
import json, struct, sys
import numpy as np
import torch
torch.manual_seed(0)
D, F, V, HD, KV = 64, 96, 700, 16, 2
t = {}
def w(*shape): return torch.randn(*shape) * 0.1
t['model.embed_tokens.weight'] = w(V, D)
t['lm_head.weight'] = w(V, D)
for suffix in ['', '_moe_gen']:
    t['model.norm%s.weight' % suffix] = 1 + w(D)
for l in range(2):
    p = 'model.layers.%d.' % l
    und = {'self_attn.q_proj': (w(D, D), w(D)), 'self_attn.k_proj': (w(KV * HD, D), w(KV * HD)), 'self_attn.v_proj': (w(KV * HD, D), w(KV * HD)),
           'self_attn.o_proj': (w(D, D), None), 'self_attn.q_norm': (1 + w(HD), None), 'self_attn.k_norm': (1 + w(HD), None),
           'mlp.gate_proj': (w(F, D), None), 'mlp.up_proj': (w(F, D), None), 'mlp.down_proj': (w(D, F), None),
           'input_layernorm': (1 + w(D), None), 'post_attention_layernorm': (1 + w(D), None)}
    for name, (weight, bias) in und.items():
        gen_weight = weight + 0.5 * w(*weight.shape)
        if name.startswith('mlp.'):
            t[p + name + '.weight'] = weight
            t[p + name.replace('mlp.', 'mlp_moe_gen.') + '.weight'] = gen_weight
        else:
            t[p + name + '.weight'] = weight
            t[p + name + '_moe_gen.weight'] = gen_weight
            if bias is not None:
                t[p + name + '.bias'] = bias
                t[p + name + '_moe_gen.bias'] = bias + 0.5 * w(*bias.shape)
# Not the language model: dropped by the mapping.
t['vit_model.vision_model.embeddings.patch_embedding.weight'] = w(8, 3, 2, 2)
t['connector.fc1.weight'] = w(8, 8)
header, blobs, off = {'__metadata__': {'format': 'pt'}}, [], 0
for k in sorted(t):
    b = t[k].to(torch.bfloat16).contiguous().view(torch.int16).numpy().tobytes()
    header[k] = {'dtype': 'BF16', 'shape': list(t[k].shape), 'data_offsets': [off, off + len(b)]}
    blobs.append(b); off += len(b)
h = json.dumps(header).encode()
with open(sys.argv[1], 'wb') as f:
    f.write(struct.pack('<Q', len(h))); f.write(h); f.write(b''.join(blobs))
# What the file holds, as float64 from the bfloat16 values, and the drift numpy computes from them.
x = {k: v.to(torch.bfloat16).double().numpy() for k, v in t.items()}
def cka(a, b):
    a = a - a.mean(0); b = b - b.mean(0)
    return float(np.linalg.norm(b.T @ a) ** 2 / (np.linalg.norm(a.T @ a) * np.linalg.norm(b.T @ b)))
def cos(a, b): return float((a * b).sum() / np.linalg.norm(a) / np.linalg.norm(b))
out = {'embed_norm': float(np.linalg.norm(x['model.embed_tokens.weight'])), 'drift': {}}
for l in range(2):
    p = 'model.layers.%d.' % l
    for ours, theirs, gen in [('wq', 'self_attn.q_proj.weight', 'self_attn.q_proj_moe_gen.weight'), ('wk', 'self_attn.k_proj.weight', 'self_attn.k_proj_moe_gen.weight'),
                              ('w1', 'mlp.gate_proj.weight', 'mlp_moe_gen.gate_proj.weight'), ('w2', 'mlp.down_proj.weight', 'mlp_moe_gen.down_proj.weight')]:
        a, b = x[p + theirs], x[p + gen]
        out['drift']['%d %s' % (l, ours)] = {'cosine': cos(a, b), 'cka': cka(a, b)}
    out['drift']['%d wk bias' % l] = {'cosine': cos(x[p + 'self_attn.k_proj.bias'], x[p + 'self_attn.k_proj_moe_gen.bias'])}
print(json.dumps(out))
`;

let root = '';
let file = '';
let expected: { embed_norm: number; drift: Record<string, { cosine: number; cka?: number }> };

before(() => {
  if (skip) return;
  root = mkdtempSync(path.join(tmpdir(), 'motlab-bagel-'));
  file = path.join(root, 'ema.safetensors');
  const r = spawnSync(PYTHON, ['-c', MAKE_BAGEL, file], { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1' } });
  assert.equal(r.status, 0, r.stderr);
  expected = JSON.parse(r.stdout) as typeof expected;
});

after(() => {
  if (root) rmSync(root, { recursive: true, force: true });
});

test('a BAGEL checkpoint imports weights only and says which analyses need a forward pass', { skip }, () => {
  const run = path.join(root, 'bagel');
  const r = motlab(['import', '--from', file, '--out', run]); // auto: the names say BAGEL
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /naming: bagel \(2 tensors outside the language model dropped\)/);
  assert.match(
    r.stdout,
    /WEIGHTS ONLY: BAGEL is a Qwen2 Mixture-of-Transformers: its attention has q\/k\/v biases and grouped-query attention/,
  );
  assert.match(
    r.stdout,
    /unavailable \(they need the forward pass\): evaluation \(losses per modality\); training or continuing training; activation analyses/,
  );
  const json = JSON.parse(readFileSync(path.join(run, 'run.json'), 'utf8')) as {
    status: string;
    model: Record<string, unknown>;
    source: { weights_only?: string; mapping: string; dropped: number };
  };
  assert.equal(json.status, 'completed');
  assert.equal(json.source.mapping, 'bagel');
  assert.equal(json.source.dropped, 2);
  assert.match(json.source.weights_only ?? '', /grouped-query attention/);
  // Read from the shapes: 4 heads (q_norm holds 16 = 64 / 4), FFN 96; from the family: pre-norm; towers: und = text+speech, gen = image.
  assert.deepEqual(
    [
      json.model.n_layers,
      json.model.d_model,
      json.model.n_heads,
      json.model.ffn_hidden,
      json.model.vocab_size,
      json.model.qk_norm,
      json.model.norm_style,
    ],
    [2, 64, 4, 96, 700, true, 'pre'],
  );
  assert.deepEqual(json.model.towers, {
    attention: [['text', 'speech'], ['image']],
    ffn: [['text', 'speech'], ['image']],
    norm: [['text', 'speech'], ['image']],
  });

  // The forward pass is refused with the reason, not with a shape error.
  const e = motlab(['eval', '--run', run, '--json', '--engine', 'wasm']);
  assert.equal(e.status, 1);
  assert.match(e.stderr, /imported weights only \(BAGEL is a Qwen2 .*\): the lab cannot run this model’s forward pass, so evaluation/);
});

test('the tower drift of the BAGEL import (und against gen) equals numpy on the bfloat16 values', { skip }, () => {
  const run = path.join(root, 'bagel-drift');
  const r = motlab(['import', '--from', file, '--mapping', 'bagel', '--out', run]);
  assert.equal(r.status, 0, r.stderr);
  const a = motlab(['analyze', 'weights', '--run', run, '--json', '--singular-values', '2']);
  assert.equal(a.status, 0, a.stderr);
  const analysis = JSON.parse(a.stdout) as WeightAnalysis;
  assert.deepEqual(analysis.towers.attention, ['text+speech', 'image']);
  // bfloat16 → float32 is exact, so the norms agree to float64 rounding.
  const embed = analysis.tensors.find((t) => t.name === 'embed.weight')!;
  assert.ok(Math.abs(embed.frobenius - expected.embed_norm) < 1e-12 * expected.embed_norm);
  for (const [key, want] of Object.entries(expected.drift)) {
    const [layer, ...weight] = key.split(' ');
    const got = analysis.drift.find((d) => d.layer === Number(layer) && d.weight === weight.join(' '));
    assert.ok(got, `no drift for ${key}`);
    assert.deepEqual(got.labels, ['text+speech', 'image']);
    assert.ok(Math.abs(got.cosine! - want.cosine) < 1e-12, `${key} cosine ${got.cosine} ≠ ${want.cosine}`);
    if (want.cka !== undefined) assert.ok(Math.abs(got.cka! - want.cka) < 1e-10, `${key} CKA ${got.cka} ≠ ${want.cka}`);
  }
  // Every weight of every layer has its pair: 11 weights + 3 biases per layer, and the final norm.
  assert.equal(analysis.drift.length, 2 * 14 + 1);

  // Inspected in place (no import), the same numbers.
  const inPlace = motlab(['analyze', 'weights', '--from', file, '--mapping', 'bagel', '--json', '--singular-values', '2']);
  assert.equal(inPlace.status, 0, inPlace.stderr);
  const direct = JSON.parse(inPlace.stdout) as WeightAnalysis;
  assert.deepEqual(
    direct.drift.map((d) => [d.layer, d.weight, d.cosine, d.cka]),
    analysis.drift.map((d) => [d.layer, d.weight, d.cosine, d.cka]),
  );
});
