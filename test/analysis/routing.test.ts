import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  affinityMatrix,
  consecutiveSameExpert,
  droppedByModality,
  droppedByPosition,
  droppedRate,
  DROPPED,
  entropy,
  loadBalanceLoss,
  mutualInformation,
  routingAgreement,
  routingOverTraining,
  type TokenRouting,
} from '../../src-main/analysis/routing.ts';
import type { MetricsRecord, MoeRoutingStats } from '../../src-main/common/metrics.ts';
import { withTinyRun } from './tiny-run.ts';

const close = (a: number, b: number, tol = 1e-12): void => assert.ok(Math.abs(a - b) <= tol, `${a} ≠ ${b}`);

function stats(layer: number, meanProb: number[], firstChoiceShare: number[], extra: Partial<MoeRoutingStats> = {}): MoeRoutingStats {
  return {
    layer,
    tower: 0,
    routing: 'token_choice',
    tokens: 100,
    capacity: 50,
    tokensPerExpert: firstChoiceShare.map((f) => Math.round(f * 100)),
    dropped: 0,
    meanProb,
    firstChoiceShare,
    expertsPerToken: null,
    loadBalance: NaN, // recomputed from f and P, not read
    zLoss: 3,
    ...extra,
  };
}

function record(step: number, layers: MoeRoutingStats[]): MetricsRecord {
  return {
    type: 'train',
    step,
    time: 0,
    elapsed_s: 0,
    tokens: 0,
    flops: 0,
    lr: 0,
    loss: { all: 1 },
    grad_norm: 1,
    grad_norm_towers: {},
    tokens_per_s: 0,
    step_ms: 0,
    moe: layers.map((s) => ({ layer: s.layer, towers: [s] })),
  };
}

test('uniform routing: aux loss equals its coefficient, entropy log E; collapse: entropy 0', () => {
  const E = 4;
  const uniform = Array(E).fill(1 / E);
  const oneHot = [1, 0, 0, 0];
  close(loadBalanceLoss(uniform, uniform, 0.01), 0.01);
  close(entropy(uniform), Math.log(E));
  assert.equal(entropy(oneHot), 0);
  close(loadBalanceLoss(oneHot, oneHot, 0.01), 0.04); // E·1·1·α

  const records = [
    record(1, [stats(0, uniform, uniform), stats(1, oneHot, oneHot)]),
    record(2, [stats(0, uniform, uniform), stats(1, oneHot, oneHot)]),
  ];
  const [layer0, layer1] = routingOverTraining(records, { auxLoss: 0.01, zLoss: 0.001 });
  assert.deepEqual(layer0.steps, [1, 2]);
  layer0.auxLoss.forEach((v) => close(v, 0.01));
  layer0.loadBalance.forEach((v) => close(v, 1));
  layer0.routerEntropy.forEach((v) => close(v, Math.log(4)));
  assert.deepEqual(layer1.routerEntropy, [0, 0]);
  assert.deepEqual(layer1.firstChoiceEntropy, [0, 0]);
  assert.deepEqual(layer0.zLoss, [3, 3]);
  // experts × steps load matrix; each step's shares sum to 1.
  assert.equal(layer0.load.length, E);
  assert.equal(layer0.load[0].length, 2);
  assert.deepEqual(
    layer1.load.map((row) => row[0]),
    [1, 0, 0, 0],
  );
});

test('expert-choice adds no auxiliary loss; dropped rates count choices (token-choice) or tokens (expert-choice)', () => {
  const tc = { routing: 'token_choice' as const, tokens: 5, tokensPerExpert: [3, 3, 2, 0], dropped: 2 };
  close(droppedRate(tc), 2 / 10);
  const ec = { routing: 'expert_choice' as const, tokens: 10, tokensPerExpert: [3, 3, 3, 3], dropped: 1 };
  close(droppedRate(ec), 0.1);
  const p = [0.7, 0.1, 0.1, 0.1];
  const [series] = routingOverTraining(
    [record(5, [stats(0, p, [1, 0, 0, 0], { routing: 'expert_choice', tokens: 10, tokensPerExpert: [3, 3, 3, 3], dropped: 1 })])],
    {
      auxLoss: 0.01,
      zLoss: 0,
    },
  );
  assert.deepEqual(series.auxLoss, [0]);
  close(series.loadBalance[0], 4 * 0.7);
  close(series.droppedRate[0], 0.1);
  // Entropy of P by hand: -(0.7 ln 0.7 + 3·0.1 ln 0.1)
  close(series.routerEntropy[0], -(0.7 * Math.log(0.7) + 3 * 0.1 * Math.log(0.1)));
});

function routing(expert: number[], modality: number[], extra: Partial<TokenRouting> = {}): TokenRouting {
  return { experts: 3, modalities: ['text', 'image', 'speech'], expert, modality, position: expert.map((_, i) => i), ...extra };
}

test('mutual information: 0 for independent routing, H(modality) for modality-determined routing', () => {
  // Independent: counts are the outer product of expert shares [1,2,3] and modality shares [2,2,1].
  const independent = [1, 2, 3].map((a) => [2, 2, 1].map((b) => a * b));
  close(mutualInformation(independent).nats, 0, 1e-12);
  // Determined: expert = modality, with 10, 20, 30 tokens.
  const hModality = -[1 / 6, 1 / 3, 1 / 2].reduce((s, p) => s + p * Math.log(p), 0);
  const determined = mutualInformation([
    [10, 0, 0],
    [0, 20, 0],
    [0, 0, 30],
  ]);
  close(determined.nats, hModality);
  close(determined.bits, hModality / Math.LN2);
  close(determined.fractionOfModalityEntropy, 1);
  // Modality still determined when text is split over two experts (the expert tells the modality).
  close(
    mutualInformation([
      [5, 0, 0],
      [5, 0, 0],
      [0, 20, 30],
    ]).nats,
    mutualInformation([
      [10, 0],
      [0, 50],
    ]).nats,
  );
});

test('mutual information agrees with scikit-learn’s mutual_info_score on random routing', () => {
  let seed = 7;
  const rand = (): number => (seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32;
  const modality = Array.from({ length: 3000 }, () => Math.floor(rand() * 3));
  const expert = modality.map((m) => (rand() < 0.6 ? m : Math.floor(rand() * 3)));
  const ours = mutualInformation(affinityMatrix(routing(expert, modality)).counts).nats;
  const script =
    'import sys,json; from sklearn.metrics import mutual_info_score; d=json.load(sys.stdin); print(repr(mutual_info_score(d[0], d[1])))';
  const expected = Number(execFileSync('/usr/bin/python3', ['-c', script], { input: JSON.stringify([modality, expert]) }).toString());
  close(ours, expected, 1e-10);
});

test('affinity matrix: counts, P(expert | modality) and P(modality | expert); dropped tokens counted apart', () => {
  const a = affinityMatrix(routing([0, 0, 1, 2, DROPPED, 1], [0, 0, 0, 1, 1, 2]));
  assert.deepEqual(a.counts, [
    [2, 0, 0],
    [1, 0, 1],
    [0, 1, 0],
  ]);
  assert.deepEqual(
    a.expertGivenModality.map((r) => r[0]),
    [2 / 3, 1 / 3, 0],
  );
  assert.deepEqual(a.modalityGivenExpert[1], [0.5, 0, 0.5]);
  assert.deepEqual(a.dropped, [0, 1, 0]);
  assert.throws(() => affinityMatrix(routing([0, 3], [0, 0])), /token 1 has expert 3/);
  assert.throws(() => affinityMatrix(routing([0, 1], [0, 7])), /token 1 has modality 7/);
});

test('consecutive same-expert rate counts adjacent positions of one window only', () => {
  // Window 0: positions 0..3 with experts 1,1,2,2 → pairs (1,1) (1,2) (2,2): 2 of 3 the same.
  // Window 1: positions 0, 2, 3 → one pair (2→3), experts 1,1: the same; 0→2 is not adjacent, window 0→1 not a pair.
  const r = routing([1, 1, 2, 2, 0, 1, 1], [0, 0, 0, 0, 0, 0, 0], { position: [0, 1, 2, 3, 0, 2, 3], sequence: [0, 0, 0, 0, 1, 1, 1] });
  const loc = consecutiveSameExpert(r);
  assert.equal(loc.pairs, 4);
  close(loc.sameExpertRate, 3 / 4);
  close(loc.uniformBaseline, 1 / 3);
  // Expert shares 1/7, 4/7, 2/7 → Σ p² = (1 + 16 + 4)/49
  close(loc.marginalBaseline, 21 / 49);
});

test('routing agreement between checkpoints and dropped rates by modality and position', () => {
  const ag = routingAgreement([0, 1, 2, 2, DROPPED], [0, 2, 2, 2, 1], 3);
  assert.equal(ag.tokens, 4);
  close(ag.agreement, 3 / 4);
  assert.throws(() => routingAgreement([0], [0, 1], 3), /1 tokens against 2/);

  const r = routing([0, DROPPED, 1, DROPPED, DROPPED, 2], [0, 0, 1, 1, 2, 2], { position: [0, 1, 2, 3, 4, 5] });
  assert.deepEqual(
    droppedByModality(r).map((d) => d.rate),
    [0.5, 0.5, 0.5],
  );
  const byPosition = droppedByPosition(r, 3, 6);
  assert.deepEqual(
    byPosition.map((d) => [d.label, d.tokens, d.dropped]),
    [
      ['0–1', 2, 1],
      ['2–3', 2, 1],
      ['4–5', 2, 1],
    ],
  );
  assert.deepEqual(
    droppedByPosition(r, 4, 10).map((d) => d.label),
    ['0–2', '3–4', '5–7', '8–9'],
  );
  assert.throws(() => droppedByPosition(r, 2, 5), /token 5 at position 5/);
});

test('on a real tiny MoE run: statistics agree with what the router recorded, shares and drops add up', () => {
  withTinyRun('moe4x-topk', 3, 3, ({ records, model }) => {
    const moe = model.moe as { aux_loss: number; z_loss: number; top_k: number };
    const series = routingOverTraining(records, { auxLoss: moe.aux_loss, zLoss: moe.z_loss });
    const train = records.filter((x) => x.type === 'train');
    assert.equal(series.length, train[0].moe!.length); // one MoE tower per layer
    for (const s of series) {
      assert.deepEqual(s.steps, [1, 2, 3]);
      assert.equal(s.experts, 4);
      s.steps.forEach((step, i) => {
        const recorded = train.find((x) => x.step === step)!.moe!.find((l) => l.layer === s.layer)!.towers[0];
        close(s.loadBalance[i], recorded.loadBalance, 1e-9); // the model's own E·Σ f·P
        close(s.auxLoss[i], moe.aux_loss * recorded.loadBalance, 1e-9);
        close(
          s.load.reduce((sum, row) => sum + row[i], 0),
          1,
          1e-12,
        );
        // Every choice is kept or dropped: kept + dropped = tokens · k.
        close(s.droppedRate[i] * recorded.tokens * moe.top_k, recorded.dropped, 1e-9);
        assert.ok(s.routerEntropy[i] > 0 && s.routerEntropy[i] <= Math.log(4) + 1e-12);
      });
    }
  });
});
