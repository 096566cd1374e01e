/**
 * The routing and towers analyses on real tiny runs trained by the real `motlab train` (moe4x-topk
 * and mot, 4 steps, checkpoints every 2), read back through the real `motlab analyze` command.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { motlab, synthData, trainTiny } from '../training/helpers.ts';
import { linearCka } from '../../src-main/analysis/towers.ts';
import type { RoutingReport, TowersReport } from '../../src-main/common/analysis-reports.ts';

const root = mkdtempSync(path.join(tmpdir(), 'motlab-analyze-'));
const data = path.join(root, 'data');
const moe = path.join(root, 'moe');
const mot = path.join(root, 'mot');
after(() => rmSync(root, { recursive: true, force: true }));

before(() => {
  synthData(data, 5);
  trainTiny(moe, { config: 'moe4x-topk', data, steps: 4, checkpointEvery: 2, evalEvery: 2 });
  trainTiny(mot, { config: 'mot', data, steps: 4, checkpointEvery: 2, evalEvery: 2 });
});

test('analyze routing: affinity counts add up to the probe tokens, MI within [0, H(modality)]', () => {
  const csv = path.join(root, 'routing.csv');
  const r = motlab(['analyze', 'routing', '--run', moe, '--windows', '4', '--json', '--csv', csv, '--engine', 'wasm']);
  assert.equal(r.status, 0, r.stderr);
  const report = JSON.parse(r.stdout) as RoutingReport;
  assert.deepEqual(report.checkpoints, [2, 4]);
  const layers = new Set(report.atCheckpoints.map((c) => c.layer));
  assert.ok(layers.size >= 1);
  assert.equal(report.atCheckpoints.length, 2 * layers.size);
  for (const c of report.atCheckpoints) {
    // moe4x: one MoE ffn tower serves every token, so every probe token is routed or dropped.
    const routed = c.affinity.counts.flat().reduce((s, n) => s + n, 0);
    const dropped = c.affinity.dropped.reduce((s, n) => s + n, 0);
    assert.equal(routed + dropped, report.probe.tokens);
    assert.equal(c.tokens, report.probe.tokens);
    assert.equal(
      c.droppedByModality.reduce((s, d) => s + d.tokens, 0),
      report.probe.tokens,
    );
    assert.equal(
      c.droppedByPosition.reduce((s, d) => s + d.dropped, 0),
      dropped,
    );
    assert.ok(c.mutualInformation.nats >= 0 && c.mutualInformation.nats <= c.mutualInformation.modalityEntropyNats + 1e-12);
    assert.equal(c.locality.uniformBaseline, 1 / report.experts);
    assert.ok(c.locality.sameExpertRate >= 0 && c.locality.sameExpertRate <= 1);
    if (c.step === 2) assert.equal(c.agreementWithPrevious, null);
    else assert.equal(c.agreementWithPrevious?.previousStep, 2);
  }
  // Over training: one series per MoE layer, every logged step, load columns summing to 1.
  assert.equal(report.overTraining.length, layers.size);
  for (const s of report.overTraining) {
    assert.deepEqual(s.steps, [1, 2, 3, 4]);
    s.steps.forEach((_, i) => assert.ok(Math.abs(s.load.reduce((sum, row) => sum + row[i], 0) - 1) < 1e-9));
  }
  const lines = readFileSync(csv, 'utf8').trim().split('\n');
  assert.equal(lines.length, 1 + report.atCheckpoints.length * report.experts * report.modalities.length);
});

test('analyze routing refuses a run without MoE, naming the run', () => {
  const r = motlab(['analyze', 'routing', '--run', mot, '--engine', 'wasm']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /no MoE towers/);
  assert.ok(r.stderr.includes(mot));
});

test('analyze towers: drift tables have layers × checkpoints entries; a tower against itself has CKA 1', () => {
  const r = motlab(['analyze', 'towers', '--run', mot, '--windows', '2', '--json', '--engine', 'wasm']);
  assert.equal(r.status, 0, r.stderr);
  const report = JSON.parse(r.stdout) as TowersReport;
  assert.deepEqual(report.checkpoints, [2, 4]);
  const tables = [report.weights.attention, report.weights.ffn, report.outputs.ffn];
  for (const pair of tables) {
    assert.ok(pair);
    for (const table of [pair.cosine, pair.cka]) {
      assert.equal(table.layers.length, report.layers);
      assert.deepEqual(table.checkpoints, [2, 4]);
      assert.equal(table.pairs.length, 3); // text, image, speech towers
      for (const row of table.values) {
        assert.equal(row.length, 2);
        for (const cell of row) for (const v of cell) assert.ok(Number.isFinite(v) && v <= 1 + 1e-9, `${table.metric} ${v}`);
      }
    }
  }
  // Tokens per tower: each component's shares sum to 1.
  for (const component of ['attention', 'ffn', 'norm']) {
    const share = report.tokensPerTower.filter((t) => t.component === component).reduce((s, t) => s + t.share, 0);
    assert.ok(Math.abs(share - 1) < 1e-9);
  }
  // Gradient norms: a series per tower key, one value per step.
  assert.ok(report.gradNorms.some((g) => g.key === 'ffn.text'));
  for (const g of report.gradNorms) assert.deepEqual(g.steps, [1, 2, 3, 4]);
});

test('CKA of a tower output with itself is 1 (the measure the drift table uses)', () => {
  const rows = 64;
  const columns = 8;
  const data = Float64Array.from({ length: rows * columns }, (_, i) => Math.sin(i * 1.7) + (i % 5));
  assert.ok(Math.abs(linearCka({ rows, columns, data }, { rows, columns, data }) - 1) < 1e-12);
});
