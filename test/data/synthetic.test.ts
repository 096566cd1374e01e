import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { loadDataset, type Dataset } from '../../src-main/data/dataset.ts';
import { writeSyntheticDataset } from '../../src-main/data/synthetic.ts';

const root = mkdtempSync(join(tmpdir(), 'motlab-synth-'));
after(() => rmSync(root, { recursive: true, force: true }));

const FILES = ['dataset.json', 'train.tokens.npy', 'val.tokens.npy'];
const hashes = (dir: string): string[] =>
  FILES.map((f) =>
    createHash('sha256')
      .update(readFileSync(join(dir, f)))
      .digest('hex'),
  );

// Special tokens as documented in the dataset description (text range).
const BOS = 1;
const BOI = 3;
const EOI = 4;
const BOSP = 5;
const EOSP = 6;

let ds: Dataset;
before(async () => {
  await writeSyntheticDataset(join(root, 'big'), { tokens: 200_000, seed: 9 });
  ds = await loadDataset(join(root, 'big')); // also validates every token against the ranges
});

test('same seed gives identical bytes; another seed differs; sizes follow the options', async () => {
  await writeSyntheticDataset(join(root, 'a'), { tokens: 30_000, seed: 4, valFraction: 0.2 });
  await writeSyntheticDataset(join(root, 'b'), { tokens: 30_000, seed: 4, valFraction: 0.2 });
  await writeSyntheticDataset(join(root, 'c'), { tokens: 30_000, seed: 5, valFraction: 0.2 });
  assert.deepEqual(hashes(join(root, 'a')), hashes(join(root, 'b')));
  const [, trainA, valA] = hashes(join(root, 'a'));
  const [, trainC, valC] = hashes(join(root, 'c'));
  assert.notEqual(trainA, trainC);
  assert.notEqual(valA, valC);
  const a = await loadDataset(join(root, 'a'));
  assert.equal(a.splits.train.length, 30_000);
  assert.equal(a.splits.val.length, 7_500); // 20% of all tokens
  assert.ok(a.splits.train instanceof Uint16Array);
});

test('modalities and segments are well formed', () => {
  const { spec, splits } = ds;
  assert.deepEqual(
    spec.modalities.map((m) => m.name),
    ['text', 'image', 'speech'],
  );
  const range = (name: string) => spec.modalities.find((m) => m.name === name)!;
  const [text, image, speech] = ['text', 'image', 'speech'].map(range);
  const t = splits.train;
  let images = 0;
  let speeches = 0;
  for (let i = 0; i < t.length; i++) {
    if (t[i] === BOI) {
      let j = i + 1;
      while (j < t.length && t[j] >= image.start && t[j] < image.end) j++;
      if (j < t.length) {
        assert.equal(t[j], EOI, `image at ${i} ends with <eoi>`);
        assert.equal(j - i - 1, 64, 'an image is an 8×8 grid');
        images++;
      }
    } else if (t[i] === BOSP) {
      let j = i + 1;
      while (j < t.length && t[j] >= speech.start && t[j] < speech.end) j++;
      if (j < t.length) {
        assert.equal(t[j], EOSP, `speech at ${i} ends with <eosp>`);
        speeches++;
      }
    }
  }
  assert.ok(images > 500 && speeches > 500, `${images} images, ${speeches} speech segments`);
  // Every modality has a real share of the tokens.
  const count = (r: { start: number; end: number }) => t.filter((x) => x >= r.start && x < r.end).length / t.length;
  for (const r of [text, image, speech]) assert.ok(count(r) > 0.1, `${r.start}..${r.end} share ${count(r)}`);
});

function entropyBits(values: Iterable<number>): number {
  const h = new Map<number, number>();
  let n = 0;
  for (const v of values) {
    h.set(v, (h.get(v) ?? 0) + 1);
    n++;
  }
  let e = 0;
  for (const c of h.values()) e -= (c / n) * Math.log2(c / n);
  return e;
}

test('the modalities have clearly different unigram statistics', () => {
  const t = Array.from(ds.splits.train);
  const entropies = ds.spec.modalities.map((m) => entropyBits(t.filter((x) => x >= m.start && x < m.end)));
  for (let i = 0; i < entropies.length; i++)
    for (let j = i + 1; j < entropies.length; j++)
      assert.ok(Math.abs(entropies[i] - entropies[j]) > 0.25, `entropies ${entropies.map((e) => e.toFixed(3)).join(', ')}`);
  // Local statistics differ too: speech units repeat (durations), text words rarely do.
  const repeatRate = (m: { start: number; end: number }) => {
    let same = 0;
    let all = 0;
    for (let i = 1; i < t.length; i++)
      if (t[i] >= m.start && t[i] < m.end && t[i - 1] >= m.start && t[i - 1] < m.end) {
        all++;
        if (t[i] === t[i - 1]) same++;
      }
    return same / all;
  };
  const [text, , speech] = ds.spec.modalities;
  assert.ok(repeatRate(speech) > 0.4 && repeatRate(text) < 0.1, `repeat rates text ${repeatRate(text)}, speech ${repeatRate(speech)}`);
});

/** Plug-in mutual information (bits) of paired samples. */
function mutualInformation(pairs: [number, number][]): number {
  const joint = new Map<string, number>();
  const px = new Map<number, number>();
  const py = new Map<number, number>();
  for (const [x, y] of pairs) {
    joint.set(`${x},${y}`, (joint.get(`${x},${y}`) ?? 0) + 1);
    px.set(x, (px.get(x) ?? 0) + 1);
    py.set(y, (py.get(y) ?? 0) + 1);
  }
  const n = pairs.length;
  let mi = 0;
  for (const [key, c] of joint) {
    const [x, y] = key.split(',').map(Number);
    mi += (c / n) * Math.log2((c * n) / (px.get(x)! * py.get(y)!));
  }
  return mi;
}

test('modalities are mutually informative within a document (vs documents shuffled)', () => {
  const t = Array.from(ds.splits.train);
  const docs: number[][] = [];
  for (let i = 0, start = 0; i <= t.length; i++) {
    if (i === t.length || (t[i] === BOS && i > start)) {
      docs.push(t.slice(start, i));
      start = i;
    }
  }
  const segment = (d: number[], open: number, close: number) => {
    const a = d.indexOf(open);
    const b = d.indexOf(close);
    return a >= 0 && b > a ? d.slice(a + 1, b) : null;
  };
  const mode = (a: number[]) => {
    const h = new Map<number, number>();
    for (const v of a) h.set(v, (h.get(v) ?? 0) + 1);
    return [...h].sort((p, q) => q[1] - p[1] || p[0] - q[0])[0][0];
  };
  const image = ds.spec.modalities[1];
  // Coarse image summary: the most common code block (16 codes) of the grid.
  const imageSummary = (d: number[]) => {
    const s = segment(d, BOI, EOI);
    return s && s.length === 64 ? [mode(s.map((c) => (c - image.start) >> 4))] : null;
  };
  const textWords = (d: number[]) => {
    const w = d.filter((x) => x > EOSP && x < image.start);
    return w.length ? w : null;
  };
  const speechUnits = (d: number[]) => segment(d, BOSP, EOSP);
  const pairs = (shift: number, fx: (d: number[]) => number[] | null, fy: (d: number[]) => number[] | null) => {
    const xs = docs.map(fx);
    const ys = docs.map(fy);
    const both = docs.map((_, i) => i).filter((i) => xs[i] && ys[i]);
    const out: [number, number][] = [];
    both.forEach((i, k) => {
      const j = both[(k + shift) % both.length]; // shift 1: each x meets another document's y
      for (const x of xs[i]!) for (const y of ys[j]!) out.push([x, y]);
    });
    return out;
  };
  for (const [name, fx, fy] of [
    ['image/text', imageSummary, textWords],
    ['image/speech', imageSummary, speechUnits],
    ['speech/text', (d: number[]) => (speechUnits(d) ? [mode(speechUnits(d)!)] : null), textWords],
  ] as const) {
    const real = mutualInformation(pairs(0, fx, fy));
    const shuffled = mutualInformation(pairs(1, fx, fy));
    assert.ok(real > 2 * shuffled && real - shuffled > 0.04, `${name}: MI ${real.toFixed(4)} bits, shuffled ${shuffled.toFixed(4)}`);
  }
});
