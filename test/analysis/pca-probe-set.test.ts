/**
 * The probe set on a synthetic split whose modality layout the test writes itself: the counts
 * are re-counted here directly from the tokens, every sampled position is checked against the
 * split and its window, and the sample is seeded, stratified and spread over the windows.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_PROBE_OVERSAMPLE, sampleProbeSet } from '../../src-main/analysis/pca/probe-set.ts';
import { MotlabError } from '../../src-main/common/errors.ts';
import { Rng } from '../../src-main/util/rng.ts';

const MODALITIES = [
  { name: 'text', start: 0, end: 10 },
  { name: 'image', start: 10, end: 30 },
  { name: 'speech', start: 30, end: 40 },
];

/** Documents of text (5–30 tokens), image (runs of 49) and, rarely, speech (runs of 20); token 45 belongs to no modality. */
function syntheticSplit(seed: number, length: number, speechShare = 0.1): Int32Array {
  const rng = new Rng(seed);
  const out = new Int32Array(length);
  let p = 0;
  while (p < length) {
    const u = rng.uniform();
    const [lo, hi, run] = u < speechShare ? [30, 40, 20] : u < 0.5 ? [10, 30, 49] : [0, 10, 5 + rng.int(26)];
    for (let i = 0; i < run && p < length; i++) out[p++] = lo + rng.int(hi - lo);
    if (p < length && rng.uniform() < 0.05) out[p++] = 45;
  }
  return out;
}

function modalityOf(token: number): number {
  return MODALITIES.findIndex((m) => token >= m.start && token < m.end);
}

test('every sampled position is a real token of its modality inside its window, and the counts are right', () => {
  const seqLen = 32;
  const tokens = syntheticSplit(1, 40_001);
  const probe = sampleProbeSet(tokens, MODALITIES, { seqLen, perModality: 300, seed: 5 });
  const windowsInSplit = Math.floor((tokens.length - 1) / seqLen); // 1250 full windows (+1 target)
  const available = [0, 0, 0];
  for (let p = 0; p < windowsInSplit * seqLen; p++) if (modalityOf(tokens[p]) >= 0) available[modalityOf(tokens[p])]++;
  assert.deepEqual(
    probe.counts.map((c) => c.available),
    available,
  );
  probe.counts.forEach((c, m) => {
    assert.equal(c.modality, MODALITIES[m].name);
    assert.equal(c.sampled, Math.min(300, c.inDrawnWindows));
    assert.ok(
      c.inDrawnWindows >= Math.min(available[m], DEFAULT_PROBE_OVERSAMPLE * 300),
      `${c.modality}: ${c.inDrawnWindows} in the drawn windows`,
    );
  });
  assert.deepEqual(
    probe.counts.map((c) => c.sampled),
    [300, 300, 300],
  );

  const { window, offset, split, modality, token } = probe.positions;
  assert.equal(split.length, 900);
  const perWindow = new Array<number>(probe.windowStarts.length).fill(0);
  for (let i = 0; i < split.length; i++) {
    if (i > 0) assert.ok(split[i] > split[i - 1], 'positions ascend without repeats');
    assert.equal(split[i], probe.windowStarts[window[i]] + offset[i]);
    assert.ok(offset[i] >= 0 && offset[i] < seqLen);
    assert.equal(token[i], tokens[split[i]]);
    assert.equal(modality[i], modalityOf(tokens[split[i]]));
    assert.equal(probe.windows[window[i] * seqLen + offset[i]], token[i]);
    perWindow[window[i]]++;
  }
  probe.windowStarts.forEach((start, w) => {
    assert.equal(start % seqLen, 0);
    assert.ok(start + seqLen < tokens.length, 'an evaluation window (with its target token)');
    if (w > 0) assert.ok(start > probe.windowStarts[w - 1]);
    assert.deepEqual(probe.windows.subarray(w * seqLen, (w + 1) * seqLen), tokens.subarray(start, start + seqLen));
    assert.ok(perWindow[w] > 0, `window ${w} holds no sampled position`);
  });
  // Two-stage sampling pays off: far fewer windows to run than the split has.
  assert.ok(probe.windowStarts.length < windowsInSplit / 2, `${probe.windowStarts.length} of ${windowsInSplit} windows`);
});

test('the probe set is a function of its seed', () => {
  const tokens = syntheticSplit(2, 20_000);
  const a = sampleProbeSet(tokens, MODALITIES, { seqLen: 16, perModality: 100, seed: 1 });
  const b = sampleProbeSet(tokens, MODALITIES, { seqLen: 16, perModality: 100, seed: 1 });
  const c = sampleProbeSet(tokens, MODALITIES, { seqLen: 16, perModality: 100, seed: 2 });
  assert.deepEqual(a, b);
  assert.notDeepEqual(a.positions.split, c.positions.split);
});

test('a modality with fewer tokens than asked for is taken whole', () => {
  const tokens = syntheticSplit(3, 30_001, 0.01);
  const seqLen = 25;
  const speech: number[] = [];
  for (let p = 0; p < 1200 * seqLen; p++) if (modalityOf(tokens[p]) === 2) speech.push(p);
  assert.ok(speech.length > 0 && speech.length < 500, `${speech.length} speech tokens`);
  const probe = sampleProbeSet(tokens, MODALITIES, { seqLen, perModality: 500, seed: 4 });
  const speechCount = probe.counts[2];
  assert.deepEqual([speechCount.sampled, speechCount.inDrawnWindows, speechCount.available], [speech.length, speech.length, speech.length]);
  assert.deepEqual(
    Array.from(probe.positions.split).filter((_, i) => probe.positions.modality[i] === 2),
    speech,
  );
});

test('positions are drawn uniformly: every text token is equally likely (all windows drawn, 400 seeds)', () => {
  const seqLen = 20;
  const tokens = syntheticSplit(5, 4001);
  const textAtOffset = new Array<number>(seqLen).fill(0);
  let text = 0;
  for (let p = 0; p < 200 * seqLen; p++)
    if (modalityOf(tokens[p]) === 0) {
      textAtOffset[p % seqLen]++;
      text++;
    }
  const perOffset = new Array<number>(seqLen).fill(0);
  const seeds = 400;
  const perModality = 40;
  for (let seed = 0; seed < seeds; seed++) {
    // oversample this large draws every window, leaving only the uniform draw of positions.
    const probe = sampleProbeSet(tokens, MODALITIES, { seqLen, perModality, seed, oversample: 1000 });
    assert.equal(probe.counts[0].inDrawnWindows, text);
    probe.positions.offset.forEach((o, i) => {
      if (probe.positions.modality[i] === 0) perOffset[o]++;
    });
  }
  // Each text token is in the sample with probability perModality / text: expected counts per
  // offset follow the split's text layout; allow 4 standard deviations.
  for (let o = 0; o < seqLen; o++) {
    const expected = (seeds * perModality * textAtOffset[o]) / text;
    assert.ok(Math.abs(perOffset[o] - expected) < 4 * Math.sqrt(expected) + 1, `offset ${o}: ${perOffset[o]} vs ${expected.toFixed(1)}`);
  }
});

test('bad probe-set requests are refused with the reason', () => {
  const tokens = syntheticSplit(6, 100);
  assert.throws(
    () => sampleProbeSet(tokens, MODALITIES, { seqLen: 100 }),
    (e: unknown) => e instanceof MotlabError && /100 tokens, too few for one window of seq_len 100/.test(e.message),
  );
  assert.throws(
    () => sampleProbeSet(tokens, MODALITIES, { seqLen: 10, perModality: 0 }),
    (e: unknown) => e instanceof MotlabError && /positive integer, got 0/.test(e.message),
  );
});
