/**
 * End-to-end: a reduced fashion-tri build (real Fashion-MNIST from Debian's package, real
 * espeak-ng), built twice. Checks byte-identical rebuilds, no image in both splits (by hash
 * of the source pixels), token ranges, decoders, codebook round-trip error on held-out
 * images, captions agreeing with the pixels, and the actionable errors for missing inputs.
 * Source pixels are read here with zlib, independently of the builder's IDX reader.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { after, before, test } from 'node:test';
import { buildFashionTri } from '../../src-main/data/fashion-tri/build.ts';
import { runFashionBuildCommand } from '../../src-main/data/fashion-tri/cli.ts';
import { readDocuments, readSplitStats, segmentDocuments } from '../../src-main/data/fashion-tri/decode.ts';
import { speechToolsAvailable } from '../../src-main/data/fashion-tri/speech.ts';
import { datasetSpecSchema } from '../../src-main/data/format.ts';
import { decodeNpy } from '../../src-main/data/npy.ts';
import { MotlabError } from '../../src-main/common/errors.ts';

const SOURCE = '/usr/share/datasets/fashion-mnist';
const haveSource = existsSync(join(SOURCE, 'train-images-idx3-ubyte.gz'));
const haveSpeech = speechToolsAvailable();
const skip = !haveSource
  ? 'Fashion-MNIST is not installed: `sudo apt-get install dataset-fashion-mnist`'
  : !haveSpeech
    ? 'espeak-ng is not installed: `sudo apt-get install espeak-ng`'
    : false;
if (skip) console.warn(`\n!!! SKIPPING the fashion-tri end-to-end build tests: ${skip} !!!\n`);

/** Round-trip bound for the reduced build (codebook fitted on 150 images): measured ~0.007–0.008. */
const MAX_VAL_MSE = 0.012;

function sourceImages(set: 'train' | 't10k'): Uint8Array {
  const raw = gunzipSync(readFileSync(join(SOURCE, `${set}-images-idx3-ubyte.gz`)));
  return raw.subarray(16);
}
const pixelsOf = (all: Uint8Array, i: number): Uint8Array => all.subarray(i * 784, (i + 1) * 784);
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

const root = mkdtempSync(join(tmpdir(), 'motlab-fashion-'));
after(() => rmSync(root, { recursive: true, force: true }));
const dirA = join(root, 'a');
const dirB = join(root, 'b');
const opts = { trainImages: 150, valImages: 20, seed: 7 };

before(async () => {
  if (skip) return;
  await buildFashionTri({ outDir: dirA, ...opts });
  await buildFashionTri({ outDir: dirB, ...opts });
});

const json = (dir: string): Record<string, unknown> =>
  JSON.parse(readFileSync(join(dir, 'dataset.json'), 'utf8')) as Record<string, unknown>;
const tokensOf = (dir: string, split: string): Uint16Array => decodeNpy(readFileSync(join(dir, `${split}.tokens.npy`))).data as Uint16Array;
const indexOf = (dir: string, split: string): { rows: number; cols: number; data: Uint16Array } => {
  const a = decodeNpy(readFileSync(join(dir, `${split}.docs.npy`)));
  return { rows: a.shape[0], cols: a.shape[1], data: a.data as Uint16Array };
};

test('same seed → byte-identical files', { skip }, () => {
  const files = readdirSync(dirA).sort();
  assert.deepEqual(files, readdirSync(dirB).sort());
  for (const f of [
    'dataset.json',
    'train.tokens.npy',
    'val.tokens.npy',
    'train.docs.npy',
    'val.docs.npy',
    'image_codebook.npy',
    'speech_codebook.npy',
  ])
    assert.ok(files.includes(f), `${f} written`);
  for (const f of files) assert.equal(sha(readFileSync(join(dirA, f))), sha(readFileSync(join(dirB, f))), `${f} differs between builds`);
});

test('dataset.json follows the lab format; every token lies in a declared range', { skip }, () => {
  const spec = datasetSpecSchema.parse(json(dirA));
  assert.deepEqual(
    spec.modalities.map((m) => m.name),
    ['text', 'image', 'speech'],
  );
  assert.deepEqual(spec.splits, ['train', 'val']);
  assert.deepEqual(
    spec.modalities.map((m) => [m.start, m.end]),
    [
      [0, 262],
      [262, 518],
      [518, 646],
    ],
  );
  for (const split of spec.splits) {
    const tokens = tokensOf(dirA, split);
    const docs = segmentDocuments(tokens);
    assert.equal(docs.length, split === 'train' ? opts.trainImages : opts.valImages);
    for (const d of docs) {
      for (const s of d.segments) {
        const m = spec.modalities.find((x) => x.name === s.modality)!;
        for (let i = s.start; i < s.end; i++)
          assert.ok(tokens[i] >= m.start && tokens[i] < m.end, `${split}[${i}]=${tokens[i]} in ${m.name} segment`);
        if (s.modality === 'image') assert.equal(s.end - s.start, 49);
      }
    }
    assert.equal(docs[docs.length - 1].end, tokens.length, 'the stream is whole documents');
    const stats = readSplitStats(dirA, split);
    assert.equal(stats.out_of_range, 0);
    assert.equal(
      stats.modalities.reduce((a, m) => a + m.count, 0),
      tokens.length,
    );
    const declared = (json(dirA).stats as Record<string, Record<string, number>>)[split];
    assert.deepEqual(
      [declared.text, declared.image, declared.speech],
      stats.modalities.map((m) => m.count),
    );
  }
});

test('no image is in both splits (sha256 of the source pixels)', { skip }, () => {
  const sets = { 0: sourceImages('train'), 1: sourceImages('t10k') } as Record<number, Uint8Array>;
  const hashes = (split: string): string[] => {
    const idx = indexOf(dirA, split);
    return Array.from({ length: idx.rows }, (_, r) => sha(pixelsOf(sets[idx.data[r * idx.cols]], idx.data[r * idx.cols + 1])));
  };
  const train = hashes('train');
  const val = hashes('val');
  assert.equal(new Set(train).size, train.length, 'each training image used once');
  assert.equal(new Set(val).size, val.length, 'each val image used once');
  assert.deepEqual(
    val.filter((h) => train.includes(h)),
    [],
  );
});

test('held-out images: tokens are the nearest codes and decode within the MSE bound', { skip }, () => {
  const t10k = sourceImages('t10k');
  const codebook = decodeNpy(readFileSync(join(dirA, 'image_codebook.npy'))).data as Float32Array;
  const docs = readDocuments(dirA, 'val', 1000);
  let se = 0;
  let n = 0;
  for (const d of docs) {
    if (!d.image) continue;
    const src = pixelsOf(t10k, d.meta!.source_index);
    // Nearest code per 4×4 patch, brute force here.
    for (let p = 0; p < 49; p++) {
      const patch = Array.from(
        { length: 16 },
        (_, k) => src[(Math.floor(p / 7) * 4 + Math.floor(k / 4)) * 28 + (p % 7) * 4 + (k % 4)] / 255,
      );
      let best = 0;
      let bestD = Infinity;
      for (let c = 0; c < 256; c++) {
        let dist = 0;
        for (let k = 0; k < 16; k++) dist += (patch[k] - codebook[c * 16 + k]) ** 2;
        if (dist < bestD) {
          bestD = dist;
          best = c;
        }
      }
      assert.equal(d.image_codes[p], best, `doc ${d.index} patch ${p}`);
    }
    for (let i = 0; i < 784; i++) se += (d.image[Math.floor(i / 28)][i % 28] / 255 - src[i] / 255) ** 2;
    n += 784;
  }
  assert.ok(n >= 784 * 5, 'enough val images with an image segment');
  const mse = se / n;
  console.log(`fashion-tri reduced build: val MSE per pixel ${mse.toFixed(5)} (bound ${MAX_VAL_MSE})`);
  assert.ok(mse < MAX_VAL_MSE, `MSE ${mse}`);
});

test('decoded documents are valid and JSON-serialisable; captions match the pixels', { skip }, () => {
  const spec = json(dirA) as {
    caption_attributes: { object_threshold: number; thresholds: { brightness: [number, number]; size: [number, number][] } };
  };
  const { object_threshold: thr, thresholds } = spec.caption_attributes;
  const train = sourceImages('train');
  const docs = readDocuments(dirA, 'train', 1000);
  assert.equal(docs.length, opts.trainImages);
  assert.deepEqual(JSON.parse(JSON.stringify(docs.slice(0, 3))), docs.slice(0, 3));
  const seenOrders = new Set(docs.map((d) => d.order.join('>')));
  assert.ok(seenOrders.size >= 6, `varied layouts (${[...seenOrders].join(', ')})`);
  let checked = 0;
  for (const d of docs) {
    assert.ok(d.order.length >= 2);
    if (d.image)
      assert.ok(
        d.image.length === 28 && d.image.every((r) => r.length === 28 && r.every((v) => Number.isInteger(v) && v >= 0 && v <= 255)),
      );
    if (d.spectrogram) {
      assert.ok(d.spectrogram.length > 5 && d.spectrogram.every((f) => f.length === 32 && f.every(Number.isFinite)));
      assert.equal(d.meta!.voice !== null, true);
    }
    if (d.caption === null) continue;
    assert.match(d.caption, /^[a-z0-9 ,.;'-]+$/);
    // Independent measurement of brightness and size, compared with the words used.
    const src = pixelsOf(train, d.meta!.source_index);
    const obj = Array.from(src, (v) => v / 255).filter((v) => v >= thr);
    const brightness = obj.reduce((a, b) => a + b, 0) / obj.length;
    const size = obj.length / 784;
    const level = (v: number, [a, b]: [number, number]): number => (v < a ? 0 : v < b ? 1 : 2);
    const said = (words: RegExp[]): number => words.findIndex((w) => w.test(d.caption!));
    const b = said([/\bdark\b/, /\b(mid-grey|grey|medium in tone)\b/, /\b(light|pale|bright)\b/]);
    if (b >= 0) {
      assert.equal(b, level(brightness, thresholds.brightness), `"${d.caption}" brightness ${brightness}`);
      checked++;
    }
    const s = said([
      /\b(small|slim|on the small side)\b/,
      /\b(medium-sized|of medium size|average in size)\b/,
      /\b(large|big|wide|filling the frame)\b/,
    ]);
    if (s >= 0) {
      assert.equal(s, level(size, thresholds.size[d.meta!.label]), `"${d.caption}" size ${size}`);
      checked++;
    }
  }
  assert.ok(checked > 50, `${checked} attribute words checked`);
});

test(
  'missing inputs give errors that name the package to install',
  { skip: haveSource ? false : 'needs dataset-fashion-mnist' },
  async () => {
    const out = join(root, 'bad');
    if (haveSpeech)
      await assert.rejects(buildFashionTri({ outDir: out, sourceDir: join(root, 'nowhere'), trainImages: 10 }), (e: unknown) => {
        assert.ok(e instanceof MotlabError);
        assert.match(e.message, /apt-get install dataset-fashion-mnist/);
        return true;
      });
    const path = process.env.PATH;
    process.env.PATH = join(root, 'empty-path'); // espeak-ng cannot be found
    try {
      await assert.rejects(buildFashionTri({ outDir: out, trainImages: 10 }), /apt-get install espeak-ng/);
    } finally {
      process.env.PATH = path;
    }
    assert.equal(await runFashionBuildCommand(['fashion-tri', '--images', 'x', '--out', out]), 2);
    assert.equal(await runFashionBuildCommand(['--images', '10']), 2, '--out is required');
    assert.equal(existsSync(out), false, 'nothing written on error');
  },
);
