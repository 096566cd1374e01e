/**
 * The building blocks of fashion-tri, each against an independent computation: FFT vs a plain
 * DFT, resampling vs the analytic signal, log-mel of a tone vs where its frequency falls,
 * k-means on separated clusters, WAV parsing of hand-written bytes, document segmentation of a
 * hand-built stream, and the decoders.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_MEL, fft, logMel, parseWav, resample } from '../../src-main/data/fashion-tri/audio.ts';
import { decodeImageTokens, decodeSpeechUnits, decodeText, segmentDocuments, tokenStats } from '../../src-main/data/fashion-tri/decode.ts';
import { assignNearest, kmeans } from '../../src-main/data/fashion-tri/kmeans.ts';
import { makeCaption } from '../../src-main/data/fashion-tri/captions.ts';
import { BOI, BOS, BOSP, EOI, EOS, EOSP, IMAGE_START, SPEECH_START, vocabLayout } from '../../src-main/data/fashion-tri/vocab.ts';
import { Rng } from '../../src-main/util/rng.ts';

test('fft matches a direct DFT', () => {
  const rng = new Rng(3);
  const n = 64;
  const x = Array.from({ length: n }, () => rng.normal());
  const re = Float64Array.from(x);
  const im = new Float64Array(n);
  fft(re, im);
  for (let k = 0; k < n; k++) {
    let r = 0;
    let i = 0;
    for (let t = 0; t < n; t++) {
      r += x[t] * Math.cos((-2 * Math.PI * k * t) / n);
      i += x[t] * Math.sin((-2 * Math.PI * k * t) / n);
    }
    assert.ok(Math.abs(re[k] - r) < 1e-9 && Math.abs(im[k] - i) < 1e-9, `bin ${k}`);
  }
});

test('resampling 22050 → 16000 Hz reproduces a 1 kHz sine and removes a 10 kHz one', () => {
  const tone = (f: number, rate: number, n: number): Float32Array =>
    Float32Array.from({ length: n }, (_, i) => Math.sin((2 * Math.PI * f * i) / rate));
  const y = resample(tone(1000, 22050, 22050), 22050, 16000);
  assert.equal(y.length, 16000);
  const expected = tone(1000, 16000, 16000);
  let maxErr = 0;
  for (let i = 200; i < 15800; i++) maxErr = Math.max(maxErr, Math.abs(y[i] - expected[i])); // away from the edges
  assert.ok(maxErr < 2e-3, `max error ${maxErr}`);
  // 10 kHz is above the new Nyquist (8 kHz): it must be filtered out, not aliased to 6 kHz.
  const z = resample(tone(10000, 22050, 22050), 22050, 16000);
  let peak = 0;
  for (let i = 200; i < 15800; i++) peak = Math.max(peak, Math.abs(z[i]));
  assert.ok(peak < 0.01, `aliased amplitude ${peak}`);
});

test('log-mel of a pure tone peaks in the band whose centre is nearest the tone', () => {
  const f = 2000;
  const x = Float32Array.from({ length: 16000 }, (_, i) => 0.5 * Math.sin((2 * Math.PI * f * i) / 16000));
  const { frames, data } = logMel(x, DEFAULT_MEL);
  assert.equal(frames, Math.floor((16000 - 400) / 640) + 1);
  // Band centres on the HTK mel scale, computed here.
  const mel = (h: number): number => 2595 * Math.log10(1 + h / 700);
  const lo = mel(DEFAULT_MEL.f_min);
  const hi = mel(DEFAULT_MEL.f_max);
  const centres = Array.from(
    { length: DEFAULT_MEL.n_mels },
    (_, m) => 700 * (10 ** ((lo + ((hi - lo) * (m + 1)) / (DEFAULT_MEL.n_mels + 1)) / 2595) - 1),
  );
  const nearest = centres.reduce((best, c, m) => (Math.abs(c - f) < Math.abs(centres[best] - f) ? m : best), 0);
  const row = Array.from(data.subarray(5 * DEFAULT_MEL.n_mels, 6 * DEFAULT_MEL.n_mels));
  const argmax = row.indexOf(Math.max(...row));
  assert.ok(Math.abs(argmax - nearest) <= 1, `peak band ${argmax}, tone nearest band ${nearest}`);
  assert.ok(row[argmax] - row[0] > 10, 'the tone band stands far above the lowest band');
});

test('parseWav reads a hand-written streamed 16-bit WAV', () => {
  const samples = [0, 16384, -16384, 32767, -32768];
  const header = Buffer.alloc(44);
  header.write('RIFF', 0, 'latin1');
  header.writeUInt32LE(0x7ffff024, 4); // streamed: placeholder sizes, as espeak-ng --stdout writes
  header.write('WAVEfmt ', 8, 'latin1');
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20);
  header.writeUInt16LE(1, 22);
  header.writeUInt32LE(22050, 24);
  header.writeUInt32LE(44100, 28);
  header.writeUInt16LE(2, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36, 'latin1');
  header.writeUInt32LE(0x7ffff000, 40);
  const body = Buffer.alloc(samples.length * 2);
  samples.forEach((s, i) => body.writeInt16LE(s, 2 * i));
  const wav = parseWav(Buffer.concat([header, body]));
  assert.equal(wav.sampleRate, 22050);
  assert.deepEqual(
    Array.from(wav.samples),
    samples.map((s) => s / 32768),
  );
});

test('k-means finds well-separated clusters; assignNearest is brute-force nearest', () => {
  const rng = new Rng(11);
  const truth = [
    [0, 0, 0],
    [5, 5, 0],
    [0, 5, 5],
    [5, 0, 5],
  ];
  const pts: number[] = [];
  for (let i = 0; i < 400; i++) for (const v of truth[i % 4]) pts.push(v + 0.1 * rng.normal());
  const data = Float32Array.from(pts);
  const centers = kmeans(data, 3, { k: 4, iterations: 10, rng: new Rng(5) });
  for (const t of truth) {
    const d = Math.min(...[0, 1, 2, 3].map((c) => Math.hypot(centers[3 * c] - t[0], centers[3 * c + 1] - t[1], centers[3 * c + 2] - t[2])));
    assert.ok(d < 0.05, `a center lies within 0.05 of ${t} (nearest ${d})`);
  }
  const assign = assignNearest(data, centers, 3);
  for (let i = 0; i < 400; i++) {
    let best = 0;
    let bestD = Infinity;
    for (let c = 0; c < 4; c++) {
      let d = 0;
      for (let j = 0; j < 3; j++) d += (data[3 * i + j] - centers[3 * c + j]) ** 2;
      if (d < bestD) {
        bestD = d;
        best = c;
      }
    }
    assert.equal(assign[i], best);
  }
  // Same seed, same data → same centers.
  assert.deepEqual(kmeans(data, 3, { k: 4, iterations: 10, rng: new Rng(5) }), centers);
});

test('segmentDocuments splits a hand-built stream by its markers', () => {
  const text = (s: string): number[] => Array.from(Buffer.from(s));
  const img = Array.from({ length: 49 }, (_, i) => IMAGE_START + i);
  const sp = [SPEECH_START + 3, SPEECH_START + 7];
  const stream = [
    42, // junk before the first <bos> is skipped
    BOS,
    ...text('a coat.'),
    BOI,
    ...img,
    EOI,
    EOS,
    BOS,
    BOSP,
    ...sp,
    EOSP,
    BOI,
    ...img,
    EOI,
    ...text('hi'),
    EOS,
    BOS,
    BOI,
    ...img.slice(0, 5), // truncated last document
  ];
  const docs = segmentDocuments(stream);
  assert.equal(docs.length, 3);
  assert.deepEqual(
    docs.map((d) => d.segments.map((s) => s.modality)),
    [['text', 'image'], ['speech', 'image', 'text'], ['image']],
  );
  assert.equal(decodeText(stream.slice(docs[0].segments[0].start, docs[0].segments[0].end)), 'a coat.');
  assert.deepEqual(stream.slice(docs[1].segments[0].start, docs[1].segments[0].end), sp);
  assert.equal(docs[2].segments[0].end - docs[2].segments[0].start, 5);
  assert.equal(segmentDocuments(stream, 1, 1)[0].start, docs[1].start);
  const stats = tokenStats(stream, vocabLayout(8).modalities);
  // text range: junk 42; doc 1: <bos> 7 bytes <boi> <eoi> <eos>; doc 2: <bos> <bosp> <eosp> <boi> <eoi> 2 bytes <eos>; doc 3: <bos> <boi>
  assert.deepEqual(
    stats.modalities.map((m) => m.count),
    [1 + 11 + 8 + 2, 49 * 2 + 5, 2],
  );
  assert.equal(stats.documents, 3);
  assert.equal(stats.modalities[2].histogram[3], 1);
});

test('decoders: text with specials, image codebook lookup, speech centroids', () => {
  assert.equal(decodeText([BOS, ...Buffer.from('café'), EOS]), '<bos>café<eos>');
  const codebook = new Float32Array(2 * 16);
  codebook.fill(1, 16); // code 1 = white patch
  const tokens = Array.from({ length: 49 }, (_, p) => IMAGE_START + (p === 8 ? 1 : 0)); // patch (1,1)
  const img = decodeImageTokens(tokens, codebook);
  for (let y = 0; y < 28; y++)
    for (let x = 0; x < 28; x++) assert.equal(img[y * 28 + x], y >= 4 && y < 8 && x >= 4 && x < 8 ? 1 : 0, `pixel ${x},${y}`);
  const speechBook = Float32Array.from([1, 2, 3, 4, 5, 6]);
  assert.deepEqual(decodeSpeechUnits([SPEECH_START + 2, SPEECH_START], speechBook, 2), [
    [5, 6],
    [1, 2],
  ]);
});

test('captions are lowercase ASCII and name the class', () => {
  const rng = new Rng(9);
  for (let label = 0; label < 10; label++)
    for (let k = 0; k < 30; k++) {
      const c = makeCaption(label, { brightness: rng.int(3) as 0, size: rng.int(3) as 0, horizontal: 1, vertical: 2, contrast: 0 }, rng);
      assert.match(c, /^[a-z0-9 ,.;'-]+$/);
      const names = [
        ['t-shirt', 'top', 'tee'],
        ['trousers', 'pants'],
        ['pullover', 'sweater', 'jumper'],
        ['dress'],
        ['coat', 'jacket'],
        ['sandal'],
        ['shirt'],
        ['sneaker', 'trainer', 'running shoe'],
        ['bag'],
        ['boot'],
      ][label];
      assert.ok(
        names.some((n) => c.includes(n)),
        `"${c}" names class ${label}`,
      );
    }
});
