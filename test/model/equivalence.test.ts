/**
 * Structural properties of the one-code-path model:
 *  - which positions hold which modality only changes the grouping: any layout (shuffled,
 *    single-modality windows) equals the reference, which applies each token's towers directly;
 *  - permuting the tower order together with the tower weights changes nothing;
 *  - dense ≡ MoT (and every ablation) when all towers hold identical weights.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ModelConfig } from '../../src-main/model/config.ts';
import { Rng } from '../../src-main/util/rng.ts';
import {
  BATCH,
  disposeAll,
  maxAbsDiff,
  randomWeights,
  randomWindows,
  runModel,
  tinyConfig,
  toRef,
  toTensors,
  useBackend,
} from './helpers.ts';
import { referenceForward } from './reference.ts';

function assertMatchesReference(config: ModelConfig, weights: ReturnType<typeof randomWeights>, inputs: Int32Array, targets: Int32Array) {
  const ref = referenceForward(config, toRef(weights), inputs, targets, BATCH);
  const params = toTensors(weights);
  try {
    const got = runModel(config, params, inputs, targets);
    assert.ok(maxAbsDiff(got.logits, ref.logits) < 1e-4, `logits differ by ${maxAbsDiff(got.logits, ref.logits)}`);
    assert.ok(Math.abs(got.loss - ref.loss) < 1e-4);
    return got;
  } finally {
    disposeAll(params);
  }
}

describe('modality layout only changes the grouping', () => {
  it('shuffled positions (same tokens) match per-token towers', async () => {
    await useBackend('cpu');
    const config = tinyConfig('mot', { qk_norm: true });
    const weights = randomWeights(config, 21);
    const { inputs } = randomWindows(config, 8);
    const rng = new Rng(99);
    const seen = new Set<number>();
    for (let trial = 0; trial < 3; trial++) {
      // Fisher–Yates over the whole batch: the same multiset of tokens in a new layout.
      const shuffled = Int32Array.from(inputs);
      for (let i = shuffled.length - 1; i > 0; i--) {
        const j = rng.int(i + 1);
        [shuffled[i], shuffled[j]] = [shuffled[j], shuffled[i]];
      }
      const targets = Int32Array.from(shuffled, (_, i) => shuffled[(i + 1) % shuffled.length]);
      const got = assertMatchesReference(config, weights, shuffled, targets);
      seen.add(Math.round(got.loss * 1e6));
    }
    assert.equal(seen.size, 3, 'different layouts give different losses');
  });

  it('windows of a single modality (one tower holds every row)', async () => {
    await useBackend('cpu');
    const config = tinyConfig('mot-text-isolated');
    const weights = randomWeights(config, 22);
    for (const m of config.modalities) {
      const rng = new Rng(m.start);
      const inputs = Int32Array.from({ length: BATCH * config.seq_len }, () => m.start + rng.int(m.end - m.start));
      const targets = Int32Array.from(inputs, (_, i) => inputs[(i + 3) % inputs.length]);
      assertMatchesReference(config, weights, inputs, targets);
    }
  });
});

it('permuting tower order together with tower weights gives identical outputs', async () => {
  await useBackend('cpu');
  const config = tinyConfig('mot');
  const weights = randomWeights(config, 23);
  const { inputs, targets } = randomWindows(config, 8);
  const perm = [2, 0, 1]; // new tower t serves what old tower perm[t] served
  const permuted: ModelConfig = {
    ...config,
    towers: {
      attention: perm.map((p) => config.towers.attention[p]),
      ffn: perm.map((p) => config.towers.ffn[p]),
      norm: perm.map((p) => config.towers.norm[p]),
    },
  };
  const renamed = Object.fromEntries(
    Object.entries(weights).map(([name, w]) => {
      // ".{t}.weight" → ".{new t}.weight", where perm[new t] = t
      const m = /^(.*)\.(\d+)\.weight$/.exec(name);
      return m ? [`${m[1]}.${perm.indexOf(Number(m[2]))}.weight`, w] : [name, w];
    }),
  );
  const a = toTensors(weights);
  const b = toTensors(renamed);
  try {
    const x = runModel(config, a, inputs, targets);
    const y = runModel(permuted, b, inputs, targets);
    assert.ok(maxAbsDiff(x.logits, y.logits) < 1e-6);
    assert.ok(Math.abs(x.loss - y.loss) < 1e-6);
    assert.deepEqual(
      x.modalityLoss.map((l) => l!.toFixed(5)),
      y.modalityLoss.map((l) => l!.toFixed(5)),
    );
  } finally {
    disposeAll(a);
    disposeAll(b);
  }
});

for (const engine of ['cpu', 'wasm'] as const) {
  it(`dense ≡ MoT and every ablation when all towers hold identical weights (${engine})`, async () => {
    await useBackend(engine);
    const dense = tinyConfig('dense', { qk_norm: true });
    const denseWeights = randomWeights(dense, 24);
    const { inputs, targets } = randomWindows(dense, 8);
    const denseParams = toTensors(denseWeights);
    const base = runModel(dense, denseParams, inputs, targets);
    disposeAll(denseParams);
    for (const preset of ['mot', 'mot-ffn', 'mot-text-isolated', 'mot-speech-isolated'] as const) {
      const config = tinyConfig(preset, { qk_norm: true });
      // Every tower t of a component gets a copy of the dense tower 0.
      const copied = Object.fromEntries(
        Object.keys(randomWeights(config, 0)).map((name) => [
          name,
          denseWeights[name.replace(/\.\d+\.weight$/, '.0.weight')] ?? denseWeights[name],
        ]),
      );
      const params = toTensors(copied);
      try {
        const got = runModel(config, params, inputs, targets);
        assert.ok(maxAbsDiff(got.logits, base.logits) < 1e-5, `${preset}: logits differ by ${maxAbsDiff(got.logits, base.logits)}`);
        assert.ok(Math.abs(got.loss - base.loss) < 1e-6, preset);
        got.modalityLoss.forEach((l, m) => assert.ok(Math.abs(l! - base.modalityLoss[m]!) < 1e-5, `${preset} modality ${m}`));
      } finally {
        disposeAll(params);
      }
    }
  });
}
