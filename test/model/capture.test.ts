/**
 * captureActivations and captureRows (src-main/model/capture.ts) against independent computations: the float64
 * reference of docs/architecture.md (./reference.ts) per layer, a plain-JS output head on the
 * captured last layer against `forward`'s logits, and the PyTorch implementation
 * (bench/torch_mot.py hidden) on the same checkpoint file.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { readModelFile } from '../../src-main/checkpoints/run-folder.ts';
import { decodeSafetensors, encodeSafetensors } from '../../src-main/checkpoints/safetensors.ts';
import { evalWindows } from '../../src-main/data/dataset.ts';
import { encodeNpy } from '../../src-main/data/npy.ts';
import { captureActivations, captureRows } from '../../src-main/model/capture.ts';
import type { ModelConfig } from '../../src-main/model/config.ts';
import { forward, prepareBatch, type Params } from '../../src-main/model/mot.ts';
import { MotlabError } from '../../src-main/common/errors.ts';
import { Rng } from '../../src-main/util/rng.ts';
import { BATCH, disposeAll, modelKinds, randomWeights, randomWindows, tinyConfig, toRef, toTensors, useBackend } from './helpers.ts';
import { referenceForward } from './reference.ts';

/** |got − want| ≤ tol·(1 + |want|) everywhere. */
function assertClose(got: ArrayLike<number>, want: ArrayLike<number>, what: string, tol = 1e-4): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    if (!(Math.abs(got[i] - want[i]) <= tol * (1 + Math.abs(want[i]))))
      assert.fail(`${what}: element ${i} is ${got[i]}, expected ${want[i]}`);
  }
}

/** Per-position rows (the reference's layout) as one row-major array. */
const flat = (rows: ArrayLike<number>[]): Float64Array => Float64Array.from(rows.flatMap((r) => Array.from(r)));

const towerOfPosition = (config: ModelConfig, component: 'attention' | 'ffn' | 'norm', token: number): number => {
  const m = config.modalities.find((x) => token >= x.start && token < x.end)!;
  return config.towers[component].findIndex((group) => group.includes(m.name));
};

describe('captureActivations', () => {
  for (const engine of ['cpu', 'wasm'] as const) {
    it(`per layer, in position order, equals the float64 reference on ${engine} (residual, attention, FFN, MoE routing)`, async () => {
      await useBackend(engine);
      for (const [kind, config] of Object.entries(modelKinds())) {
        const weights = randomWeights(config, 11);
        const { inputs, targets } = randomWindows(config, 12);
        const ref = referenceForward(config, toRef(weights), inputs, targets, BATCH);
        const params = toTensors(weights);
        const batch = prepareBatch(config, inputs, targets, BATCH);
        try {
          const got = captureActivations(config, params, batch, { attention: true, ffn: true });
          const N = BATCH * config.seq_len;
          assert.equal(got.positions, N);
          assert.equal(got.width, config.d_model);
          assert.deepEqual(
            got.layers.map((l) => l.layer),
            [...Array(config.n_layers).keys()],
          );
          for (const layer of got.layers) {
            const l = layer.layer;
            assertClose(layer.residual, flat(ref.hidden[l]), `${kind} layer ${l} residual`);
            assertClose(layer.attention!, flat(ref.attentionOut[l]), `${kind} layer ${l} attention`);
            assertClose(layer.ffn!, flat(ref.ffnOut[l]), `${kind} layer ${l} ffn`);
            const moe = ref.routing.filter((r) => r.layer === l);
            assert.equal(layer.routing !== undefined, moe.length > 0, `${kind} layer ${l}: routing only for MoE layers`);
            if (!layer.routing) continue;
            const E = config.moe!.experts;
            const routed = new Set<number>();
            for (const r of moe) {
              r.positions.forEach((p, i) => {
                routed.add(p);
                assertClose(
                  layer.routing!.probabilities.subarray(p * E, (p + 1) * E),
                  r.probabilities[i],
                  `${kind} layer ${l} probabilities of ${p}`,
                );
                const max = Math.max(...r.probabilities[i]);
                assert.equal(layer.routing!.topExpert[p], r.probabilities[i].indexOf(max), `${kind} layer ${l} top expert of ${p}`);
              });
            }
            for (let p = 0; p < N; p++) {
              if (routed.has(p)) continue;
              assert.equal(layer.routing.topExpert[p], -1, `${kind}: position ${p} is outside the MoE towers`);
              assert.ok(Number.isNaN(layer.routing.probabilities[p * E]));
            }
          }
        } finally {
          batch.dispose();
          disposeAll(params);
        }
      }
    });
  }

  it("the last layer's residual through the final norm and output head gives forward's logits; nothing stays allocated", async () => {
    await useBackend('wasm');
    for (const config of [tinyConfig('mot'), tinyConfig('mot-text-isolated', { norm_style: 'pre' }), tinyConfig('mot-moe')]) {
      const weights = randomWeights(config, 21);
      const { inputs, targets } = randomWindows(config, 22);
      const params = toTensors(weights);
      const batch = prepareBatch(config, inputs, targets, BATCH);
      try {
        captureActivations(config, params, batch); // warm the RoPE/mask cache
        const before = tf.memory().numTensors;
        const { layers } = captureActivations(config, params, batch, { layers: [config.n_layers - 1] });
        assert.equal(tf.memory().numTensors, before, 'every tensor is disposed');
        const logits = tf.tidy(() => forward(config, params, batch).logits.dataSync());
        // RMSNorm_final^{t_n(p)} and the output head, in float64 from the captured rows.
        const { d_model: D, vocab_size: V } = config;
        const out = weights['output.weight'].values;
        const expected = new Float64Array(inputs.length * V);
        for (let p = 0; p < inputs.length; p++) {
          const h = layers[0].residual.subarray(p * D, (p + 1) * D);
          const w = weights[`norm.${towerOfPosition(config, 'norm', inputs[p])}.weight`].values;
          const r = 1 / Math.sqrt(h.reduce((s, x) => s + x * x, 0) / D + 1e-5);
          for (let v = 0; v < V; v++) {
            let z = 0;
            for (let j = 0; j < D; j++) z += out[v * D + j] * h[j] * r * w[j];
            expected[p * V + v] = z;
          }
        }
        assertClose(logits, expected, `logits of ${config.towers.attention.length} attention towers`);
      } finally {
        batch.dispose();
        disposeAll(params);
      }
    }
  });

  for (const engine of ['cpu', 'wasm'] as const)
    it(`captureRows: the chosen rows of every layer, in the order asked, equal the float64 reference on ${engine}`, async () => {
      await useBackend(engine);
      for (const [kind, config] of Object.entries(modelKinds())) {
        const weights = randomWeights(config, 13);
        const { inputs, targets } = randomWindows(config, 14);
        const ref = referenceForward(config, toRef(weights), inputs, targets, BATCH);
        const params = toTensors(weights);
        const S = config.seq_len;
        // Rows out of order, both windows, and a second set holding only text positions (the
        // other towers then have no row left in the last block).
        const rng = new Rng(15);
        const shuffled = Array.from({ length: BATCH * S }, (_, p) => p);
        for (let i = shuffled.length - 1; i > 0; i--) {
          const j = rng.int(i + 1);
          [shuffled[i], shuffled[j]] = [shuffled[j], shuffled[i]];
        }
        const text = config.modalities[0];
        const textOnly = Array.from(inputs.keys()).filter((p) => inputs[p] >= text.start && inputs[p] < text.end);
        try {
          for (const [what, positions] of [
            ['half the rows, shuffled', shuffled.slice(0, S)],
            ['text rows only', textOnly],
          ] as const) {
            assert.ok(positions.length > 0);
            const before = tf.memory().numTensors;
            const got = captureRows(config, params, inputs, BATCH, {
              window: Int32Array.from(positions, (p) => Math.floor(p / S)),
              offset: Int32Array.from(positions, (p) => p % S),
            });
            assert.equal(tf.memory().numTensors, before, `${kind}, ${what}: every tensor is disposed`);
            assert.equal(got.length, config.n_layers);
            got.forEach((rows, l) => assertClose(rows, flat(positions.map((p) => ref.hidden[l][p])), `${kind}, ${what}: layer ${l}`));
          }
          assert.throws(
            () => captureRows(config, params, inputs, BATCH, { window: Int32Array.of(BATCH), offset: Int32Array.of(0) }),
            (e: unknown) => e instanceof MotlabError && e.code === 'invalid_request' && /outside the 2×\d+ pass/.test(e.message),
          );
        } finally {
          disposeAll(params);
        }
      }
    });

  it('runs only the blocks it needs and names bad layers', async () => {
    await useBackend('cpu');
    const config = tinyConfig('mot');
    const weights = randomWeights(config, 31);
    const { inputs, targets } = randomWindows(config, 32);
    const params = toTensors(weights);
    const batch = prepareBatch(config, inputs, targets, BATCH);
    try {
      const all = captureActivations(config, params, batch);
      // Without layer 1's weights, layer 0 is still captured (block 1 never runs) and equals the full pass.
      const firstOnly: Params = Object.fromEntries(Object.entries(params).filter(([n]) => !n.startsWith('layers.1.')));
      const [layer0] = captureActivations(config, firstOnly, batch, { layers: [0] }).layers;
      assert.deepEqual(layer0.residual, all.layers[0].residual);
      assert.equal(layer0.attention, undefined);
      assert.throws(
        () => captureActivations(config, firstOnly, batch, { layers: [1] }),
        (e: unknown) => e instanceof MotlabError && e.code === 'invalid_checkpoint' && /layers\.1\./.test(e.message),
      );
      for (const bad of [2, -1, 0.5])
        assert.throws(
          () => captureActivations(config, params, batch, { layers: [bad] }),
          (e: unknown) => e instanceof MotlabError && e.code === 'invalid_request' && e.message.includes(`layer ${bad} does not exist`),
        );
    } finally {
      batch.dispose();
      disposeAll(params);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Against PyTorch: the residual stream of a checkpoint PyTorch wrote, on the windows `eval` uses.

const PYTHON = '/usr/bin/python3';
const SCRIPT = fileURLToPath(new URL('../../bench/torch_mot.py', import.meta.url));
const probe = spawnSync(PYTHON, ['-c', 'import torch, numpy'], { encoding: 'utf8' });
const skip = probe.status === 0 ? false : 'python3-torch is not installed (apt-get install python3-torch)';

describe('captureActivations against PyTorch (bench/torch_mot.py hidden)', { skip }, () => {
  const root = mkdtempSync(join(tmpdir(), 'motlab-capture-'));
  after(() => rmSync(root, { recursive: true, force: true }));

  it('equals the hidden states PyTorch computes from the same checkpoint file, to 1e-4', async () => {
    await useBackend('wasm');
    const base = tinyConfig('mot', { d_model: 32, n_heads: 4, seq_len: 16 });
    const dataDir = join(root, 'data');
    mkdirSync(dataDir);
    writeFileSync(
      join(dataDir, 'dataset.json'),
      JSON.stringify({ name: 'capture', vocab_size: 24, modalities: base.modalities, splits: ['val'] }),
    );
    const rng = new Rng(41);
    const tokens = Uint16Array.from({ length: 4 * 16 + 3 }, () => rng.int(24));
    writeFileSync(join(dataDir, 'val.tokens.npy'), encodeNpy({ dtype: '<u2', shape: [tokens.length], data: tokens }));
    const WINDOWS = 4;

    const cases: [string, ModelConfig][] = [
      ['mot, pre-norm, qk-norm', { ...base, norm_style: 'pre', qk_norm: true }],
      ['mot-moe (expert choice)', tinyConfig('mot-moe', { d_model: 32, n_heads: 4, seq_len: 16 })],
    ];
    const files = cases.map(([name, config], i) => {
      const dir = join(root, name.replace(/\W+/g, '-'));
      mkdirSync(dir);
      const model = Object.fromEntries(
        Object.entries(randomWeights(config, 50 + i)).map(([n, w]) => [n, { shape: w.shape, data: w.values }]),
      );
      writeFileSync(join(dir, 'model.safetensors'), encodeSafetensors(model, { format: 'motlab', config: JSON.stringify(config) }));
      return { dir, hidden: join(dir, 'hidden.safetensors') };
    });
    // One Python process for both (importing torch takes seconds).
    const args = files.flatMap((f) => ['--checkpoint', f.dir, '--out', f.hidden]);
    execFileSync(PYTHON, [SCRIPT, 'hidden', ...args, '--data', dataDir, '--windows', String(WINDOWS)]);

    for (const [i, [name, config]] of cases.entries()) {
      const { dir, hidden: file } = files[i];
      const torch = decodeSafetensors(readFileSync(file), file);
      assert.deepEqual(JSON.parse(torch.metadata.modalities), ['text', 'image', 'speech']);
      assert.deepEqual(
        Array.from(torch.tensors.position.data),
        Array.from({ length: WINDOWS * config.seq_len }, (_, p) => p % config.seq_len),
      );

      const { tensors } = await readModelFile(join(dir, 'model.safetensors'));
      const params: Params = Object.fromEntries(Object.entries(tensors).map(([n, t]) => [n, tf.tensor(t.data, t.shape)]));
      // MoE routing sees the whole batch: one window per pass, as PyTorch's eval and hidden do.
      const perPass = config.moe ? 1 : WINDOWS;
      const { inputs, targets } = evalWindows(tokens, config.seq_len, WINDOWS);
      const S = config.seq_len;
      try {
        for (let k = 0; k < WINDOWS; k += perPass) {
          const rows = [k * S, (k + perPass) * S];
          const batch = prepareBatch(config, inputs.slice(...rows), targets.slice(...rows), perPass);
          try {
            const { layers } = captureActivations(config, params, batch);
            assert.deepEqual(Array.from(torch.tensors.token.data.subarray(...rows)), Array.from(inputs.slice(...rows)));
            assert.deepEqual(Array.from(torch.tensors.modality.data.subarray(...rows)), Array.from(batch.inputModality));
            for (const { layer, residual } of layers) {
              const theirs = torch.tensors[`layers.${layer}`];
              assert.deepEqual(theirs.shape, [WINDOWS * S, config.d_model]);
              assertClose(
                residual,
                theirs.data.subarray(rows[0] * config.d_model, rows[1] * config.d_model),
                `${name} window ${k} layer ${layer}`,
              );
            }
          } finally {
            batch.dispose();
          }
        }
      } finally {
        disposeAll(params);
      }
    }
  });
});
