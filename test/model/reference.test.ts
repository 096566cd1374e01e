/**
 * The TensorFlow.js model against the plain-JS reference (test/model/reference.ts) for one tiny
 * config of every kind: logits, per-modality losses, total loss (with MoE auxiliary losses) and
 * the MoE routing decisions — on the cpu and the wasm engines.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  BATCH,
  disposeAll,
  maxAbsDiff,
  modelKinds,
  randomWeights,
  randomWindows,
  runModel,
  toRef,
  toTensors,
  useBackend,
} from './helpers.ts';
import { referenceForward } from './reference.ts';

for (const engine of ['cpu', 'wasm'] as const) {
  describe(`model vs plain-JS reference (${engine})`, () => {
    for (const [kind, config] of Object.entries(modelKinds())) {
      it(kind, async () => {
        await useBackend(engine);
        const weights = randomWeights(config, 11);
        const { inputs, targets } = randomWindows(config, 5);
        const ref = referenceForward(config, toRef(weights), inputs, targets, BATCH);
        const params = toTensors(weights);
        try {
          const got = runModel(config, params, inputs, targets);
          const scale = Math.max(1, ...Array.from(ref.logits, Math.abs));
          assert.ok(maxAbsDiff(got.logits, ref.logits) < 1e-4 * scale, `logits differ by ${maxAbsDiff(got.logits, ref.logits)}`);
          assert.deepEqual(got.modalityCounts, ref.modalityCounts);
          ref.modalityLoss.forEach((l, m) => {
            if (l === null) assert.equal(got.modalityLoss[m], null);
            else assert.ok(Math.abs(got.modalityLoss[m]! - l) < 1e-4, `modality ${m}: ${got.modalityLoss[m]} vs ${l}`);
          });
          assert.ok(Math.abs(got.ce - ref.meanCe) < 1e-4, `ce ${got.ce} vs ${ref.meanCe}`);
          assert.ok(Math.abs(got.loss - ref.loss) < 1e-4, `loss ${got.loss} vs ${ref.loss}`);
          if (config.moe?.routing === 'token_choice') assert.ok(ref.aux > 1e-3, 'the aux loss is exercised');

          // Routing: the same experts process the same number of tokens, with the same drops.
          const gotMoe = got.routing.flatMap((r) => r.towers);
          assert.equal(gotMoe.length, ref.routing.length);
          ref.routing.forEach((r, j) => {
            assert.equal(gotMoe[j].layer, r.layer);
            assert.equal(gotMoe[j].tower, r.tower);
            assert.equal(gotMoe[j].capacity, r.capacity);
            assert.deepEqual(
              gotMoe[j].tokensPerExpert,
              r.kept.map((k) => k.length),
            );
          });
          if (kind.includes('drops'))
            assert.ok(
              ref.routing.some((r) => r.dropped.length > 0),
              'the config drops tokens',
            );
        } finally {
          disposeAll(params);
        }
      });
    }
  });
}
