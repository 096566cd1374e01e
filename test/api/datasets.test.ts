/**
 * The dataset browser over the real server: getDatasetOverview and getDatasetDocuments on the
 * shipped fashion-tri dataset and on user datasets written by numpy. Every expected number
 * (token counts, histograms, document boundaries, decoded captions, pictures and spectrograms)
 * comes from an independent numpy computation (/usr/bin/python3) on the same files.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ApiError, type MotlabClient } from '../../src-main/common/api/client.ts';
import type { DocumentPage } from '../../src-main/common/api/types.ts';
import { clientFor, ROOT, startTestServer } from './harness.ts';

const FASHION = join(ROOT, 'assets', 'datasets', 'fashion-tri');

/** Runs a Python script (Debian's python3 with numpy) with argv; returns what it prints. */
const python = (script: string, ...args: string[]): string =>
  execFileSync('/usr/bin/python3', ['-c', script, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
const numpy = <T>(script: string, ...args: string[]): T => JSON.parse(python(script, ...args)) as T;

/** Per split: tokens, per-modality counts and histograms (np.bincount), number of <bos> (256). */
const STATS_PY = `
import json, sys, numpy as np
d = sys.argv[1]
spec = json.load(open(d + '/dataset.json'))
out = {}
for split in spec['splits']:
    t = np.load(d + '/' + split + '.tokens.npy').astype(np.int64)
    mods = []
    for m in spec['modalities']:
        sel = t[(t >= m['start']) & (t < m['end'])] - m['start']
        h = np.bincount(sel, minlength=m['end'] - m['start'])
        mods.append({'name': m['name'], 'count': int(sel.size), 'used': int((h > 0).sum()), 'histogram': h.tolist()})
    out[split] = {'tokens': int(t.size), 'bos': int((t == 256).sum()), 'modalities': mods}
print(json.dumps(out))
`;

/** fashion-tri documents offset..offset+count-1 decoded by hand: markers, bytes, codebook lookups. */
const DECODE_PY = `
import json, sys, numpy as np
d, split, offset, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
spec = json.load(open(d + '/dataset.json'))
t = np.load(d + '/' + split + '.tokens.npy').astype(np.int64)
idx = np.load(d + '/' + split + '.docs.npy')
icb = np.load(d + '/image_codebook.npy').astype(np.float64)
scb = np.load(d + '/speech_codebook.npy').astype(np.float64)
bos = np.flatnonzero(t == 256)
docs = []
for n in range(offset, min(offset + count, bos.size)):
    a = int(bos[n]); b = int(bos[n + 1]) if n + 1 < bos.size else t.size
    doc = t[a:b]
    assert doc[0] == 256 and doc[-1] == 257
    segs = []
    i = 1
    while i < doc.size - 1:
        if doc[i] == 258 or doc[i] == 260:
            close = 259 if doc[i] == 258 else 261
            j = i + 1
            while doc[j] != close: j += 1
            ids = doc[i + 1:j]
            if doc[i] == 258:
                codes = ids - 262
                patches = icb[codes].reshape(7, 7, 4, 4).transpose(0, 2, 1, 3).reshape(28, 28)
                pic = np.floor(np.clip(patches, 0, 1) * 255 + 0.5).astype(int)
                segs.append({'modality': 'image', 'start': a + i + 1, 'ids': ids.tolist(), 'image': pic.tolist()})
            else:
                segs.append({'modality': 'speech', 'start': a + i + 1, 'ids': ids.tolist(), 'spectrogram': scb[ids - 518].tolist()})
            i = j + 1
        else:
            j = i
            while doc[j] < 256: j += 1
            segs.append({'modality': 'text', 'start': a + i, 'ids': doc[i:j].tolist(), 'text': bytes(doc[i:j].tolist()).decode('utf-8')})
            i = j
    row = idx[n].tolist()
    voices = spec['tokenizers']['speech']['voices']
    docs.append({'index': n, 'token_range': [a, b], 'segments': segs, 'meta': {
        'source_set': 'train' if row[0] == 0 else 't10k', 'source_index': row[1], 'label': row[2],
        'class_name': spec['classes'][row[2]], 'voice': None if row[4] == 65535 else voices[row[4]],
        'speed_wpm': None if row[5] == 0 else row[5]}})
print(json.dumps({'total': int(bos.size), 'docs': docs, 'range': [float(scb.min()), float(scb.max())]}))
`;

/** A user dataset: int32 tokens, three modalities (one wide enough to be binned), ids drawn in runs. */
const WRITE_USER_PY = `
import json, sys, numpy as np
d, n, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
import os; os.makedirs(d, exist_ok=True)
rng = np.random.default_rng(seed)
mods = [{'name': 'words', 'start': 0, 'end': 10}, {'name': 'pixels', 'start': 10, 'end': 30}, {'name': 'wide', 'start': 30, 'end': 1530}]
json.dump({'name': 'user', 'vocab_size': 1530, 'modalities': mods, 'splits': ['train', 'val']}, open(d + '/dataset.json', 'w'))
for split, size in (('train', n), ('val', n // 4)):
    out = []
    while len(out) < size:
        m = mods[rng.integers(3)]
        out += rng.integers(m['start'], m['end'], size=int(rng.integers(1, 40))).tolist()
    np.save(d + '/' + split + '.tokens.npy', np.array(out[:size], dtype=np.int32))
`;

/** Runs of one modality in window w (256 tokens) of a user split. */
const WINDOW_PY = `
import json, sys, numpy as np
d, split, w = sys.argv[1], sys.argv[2], int(sys.argv[3])
spec = json.load(open(d + '/dataset.json'))
t = np.load(d + '/' + split + '.tokens.npy').astype(np.int64)
def mod(x):
    for m in spec['modalities']:
        if m['start'] <= x < m['end']: return m['name']
    return 'unknown'
a, b = w * 256, min(w * 256 + 256, t.size)
runs = []
for i in range(a, b):
    if runs and runs[-1]['modality'] == mod(t[i]) and runs[-1]['end'] == i:
        runs[-1]['end'] = i + 1; runs[-1]['ids'].append(int(t[i]))
    else:
        runs.append({'modality': mod(t[i]), 'start': i, 'end': i + 1, 'ids': [int(t[i])]})
print(json.dumps({'total': -(-t.size // 256), 'runs': runs}))
`;

interface PyStats {
  [split: string]: { tokens: number; bos: number; modalities: { name: string; count: number; used: number; histogram: number[] }[] };
}
interface PyDocs {
  total: number;
  range: [number, number];
  docs: {
    index: number;
    token_range: [number, number];
    meta: Record<string, unknown>;
    segments: { modality: string; start: number; ids: number[]; text?: string; image?: number[][]; spectrogram?: number[][] }[];
  }[];
}

async function refusal(call: Promise<unknown>): Promise<ApiError> {
  try {
    await call;
  } catch (e) {
    assert.ok(e instanceof ApiError, String(e));
    return e;
  }
  assert.fail('the call was not refused');
}

function assertDocsMatch(page: DocumentPage, expected: PyDocs['docs']): void {
  assert.equal(page.documents.length, expected.length);
  page.documents.forEach((doc, k) => {
    const want = expected[k];
    assert.equal(doc.index, want.index);
    assert.deepEqual(doc.token_range, want.token_range);
    assert.deepEqual(doc.meta, want.meta);
    assert.deepEqual(
      doc.segments.map((s) => s.modality),
      want.segments.map((s) => s.modality),
      `document ${want.index} order`,
    );
    doc.segments.forEach((s, j) => {
      const w = want.segments[j];
      assert.equal(s.start, w.start);
      assert.equal(s.end, w.start + w.ids.length);
      assert.deepEqual(s.ids, w.ids);
      if (w.text !== undefined) assert.equal(s.text, w.text);
      if (w.image) {
        assert.equal(s.image?.length, 28);
        const worst = Math.max(...w.image.flatMap((row, y) => row.map((v, x) => Math.abs(v - s.image![y][x]))));
        assert.ok(worst <= 1, `document ${want.index}: picture differs by up to ${worst} grey levels`);
      }
      if (w.spectrogram) {
        assert.equal(s.spectrogram?.length, w.spectrogram.length);
        const worst = Math.max(...w.spectrogram.flatMap((f, u) => f.map((v, b) => Math.abs(v - s.spectrogram![u][b]))));
        assert.ok(worst <= 6e-4, `document ${want.index}: spectrogram differs by up to ${worst}`);
      }
    });
  });
}

describe('dataset browser API', () => {
  let ctx: Awaited<ReturnType<typeof startTestServer>>;
  let client: MotlabClient;
  before(async () => {
    ctx = await startTestServer();
    client = clientFor(ctx.server);
  });
  after(async () => {
    client?.transport.close?.();
    await ctx.cleanup();
  });

  test('built-in datasets come first and fashion-tri is the form default', async () => {
    const datasets = await client.listDatasets({});
    assert.equal(datasets[0].name, 'fashion-tri');
    assert.equal(datasets[0].builtin, true);
    const builtinFlags = datasets.map((d) => d.builtin);
    assert.deepEqual(
      builtinFlags,
      [...builtinFlags].sort((a, b) => Number(b) - Number(a)),
      'built-ins before workspace datasets',
    );
    assert.ok(
      datasets.some((d) => d.name === 'example-synth' && !d.builtin),
      'the example dataset is still offered',
    );
    assert.equal((await client.getCatalog({})).defaults.dataset, 'fashion-tri');
  });

  test('fashion-tri overview: counts, shares and histograms match numpy', async () => {
    const expected = numpy<PyStats>(STATS_PY, FASHION);
    const o = await client.getDatasetOverview({ dataset: 'fashion-tri' });
    assert.equal(o.decoder, 'fashion-tri');
    assert.equal(o.unit, 'document');
    assert.deepEqual(o.problems, []);
    assert.equal(o.specialTokens['256'], '<bos>');
    assert.deepEqual(
      o.splits.map((s) => s.split),
      ['train', 'val'],
    );
    for (const s of o.splits) {
      const want = expected[s.split];
      assert.equal(s.error, null);
      assert.equal(s.tokens, want.tokens);
      assert.equal(s.documents, want.bos);
      s.modalities.forEach((m, i) => {
        const w = want.modalities[i];
        assert.equal(m.name, w.name);
        assert.equal(m.count, w.count, `${s.split} ${m.name} count`);
        assert.equal(m.share, w.count / want.tokens);
        assert.equal(m.used, w.used);
        assert.equal(m.binWidth, 1);
        assert.deepEqual(m.histogram, w.histogram, `${s.split} ${m.name} histogram`);
      });
    }
  });

  test('fashion-tri documents decode like numpy (captions, pictures, spectrograms, metadata)', async () => {
    const first = numpy<PyDocs>(DECODE_PY, FASHION, 'val', '0', '8');
    const page = await client.getDatasetDocuments({ dataset: 'fashion-tri', split: 'val' });
    assert.equal(page.decoder, 'fashion-tri');
    assert.equal(page.offset, 0);
    assert.equal(page.total, first.total);
    assert.deepEqual(page.spectrogramRange, first.range);
    assertDocsMatch(page, first.docs);
    // Every modality and both image orders occur on this page, so each decoder was compared.
    const kinds = new Set(page.documents.flatMap((d) => d.segments.map((s) => s.modality)));
    assert.deepEqual([...kinds].sort(), ['image', 'speech', 'text']);

    // Deep in the train split (the cache's document index, not a scan from the start).
    const deep = numpy<PyDocs>(DECODE_PY, FASHION, 'train', '19993', '50');
    const tail = await client.getDatasetDocuments({ dataset: 'fashion-tri', split: 'train', offset: 19993, count: 50 });
    assert.equal(tail.documents.length, 7, 'the last page holds what is left');
    assertDocsMatch(tail, deep.docs);
    const past = await client.getDatasetDocuments({ dataset: 'fashion-tri', split: 'train', offset: 20000 });
    assert.deepEqual(past.documents, []);

    // Pages agree with each other.
    const middle = await client.getDatasetDocuments({ dataset: 'fashion-tri', split: 'val', offset: 5, count: 3 });
    assert.deepEqual(middle.documents, page.documents.slice(5, 8));
  });

  test('a user dataset without decoders: token windows, binned histograms, and reloads after a rewrite', async () => {
    const dir = join(ctx.workspace, 'datasets', 'user');
    python(WRITE_USER_PY, dir, '3000', '7');
    const expected = numpy<PyStats>(STATS_PY, dir);
    const o = await client.getDatasetOverview({ dataset: 'user' });
    assert.equal(o.decoder, 'tokens');
    assert.equal(o.unit, 'window');
    assert.equal(o.windowTokens, 256);
    assert.deepEqual(o.problems, []);
    const train = o.splits[0];
    assert.equal(train.tokens, 3000);
    assert.equal(train.documents, Math.ceil(3000 / 256));
    const wide = train.modalities[2];
    assert.equal(wide.count, expected.train.modalities[2].count);
    assert.equal(wide.binWidth, 3, '1500 ids in at most 512 bars');
    assert.equal(wide.histogram.length, 500);
    const h = expected.train.modalities[2].histogram;
    assert.deepEqual(
      wide.histogram,
      Array.from({ length: 500 }, (_, i) => h[3 * i] + h[3 * i + 1] + h[3 * i + 2]),
    );
    assert.deepEqual(train.modalities[0].histogram, expected.train.modalities[0].histogram);

    const want = numpy<{ total: number; runs: { modality: string; start: number; end: number; ids: number[] }[] }>(
      WINDOW_PY,
      dir,
      'train',
      '1',
    );
    const page = await client.getDatasetDocuments({ dataset: 'user', split: 'train', offset: 1, count: 2 });
    assert.equal(page.total, want.total);
    assert.deepEqual(page.documents[0].token_range, [256, 512]);
    assert.deepEqual(page.documents[0].segments, want.runs);
    assert.equal(page.documents[1].index, 2);

    // Rewritten with other data: the cache notices (size and mtime) and the numbers follow.
    python(WRITE_USER_PY, dir, '2000', '8');
    const again = await client.getDatasetOverview({ dataset: 'user' });
    assert.equal(again.splits[0].tokens, 2000);
    assert.equal(again.splits[0].modalities[0].count, numpy<PyStats>(STATS_PY, dir).train.modalities[0].count);
  });

  test('problems of a user dataset are reported and its stray ids shown as "unknown"', async () => {
    const dir = join(ctx.workspace, 'datasets', 'stray');
    python(WRITE_USER_PY, dir, '600', '9');
    // Id 1600 is outside the vocabulary (1530): the check's problem, and an "unknown" run.
    python(`import numpy as np, sys\nt = np.load(sys.argv[1]); t[300] = 1600; np.save(sys.argv[1], t)`, join(dir, 'train.tokens.npy'));
    const o = await client.getDatasetOverview({ dataset: 'stray' });
    assert.equal(o.problems.length, 1);
    assert.match(o.problems[0], /1 token id\(s\) outside \[0, 1530\): 1600 at 300/);
    const page = await client.getDatasetDocuments({ dataset: 'stray', split: 'train', offset: 1, count: 1 });
    const stray = page.documents[0].segments.find((s) => s.modality === 'unknown');
    assert.deepEqual(stray && { start: stray.start, ids: stray.ids }, { start: 300, ids: [1600] });
  });

  test('invalid requests are refused with messages a person can act on', async () => {
    const tooMany = await refusal(client.getDatasetDocuments({ dataset: 'fashion-tri', split: 'val', count: 51 }));
    assert.equal(tooMany.code, 'invalid_request');
    assert.match(tooMany.message, /at most 50 documents per page/);
    const negative = await refusal(client.getDatasetDocuments({ dataset: 'fashion-tri', split: 'val', offset: -1 }));
    assert.match(negative.message, /offset ≥ 0/);
    const badSplit = await refusal(client.getDatasetDocuments({ dataset: 'fashion-tri', split: '../x' }));
    assert.equal(badSplit.code, 'invalid_request');
    const noSplit = await refusal(client.getDatasetDocuments({ dataset: 'fashion-tri', split: 'test' }));
    assert.equal(noSplit.code, 'not_found');
    assert.match(noSplit.message, /has no split "test" \(splits: train, val\)/);
    const noDataset = await refusal(client.getDatasetOverview({ dataset: 'nope' }));
    assert.equal(noDataset.code, 'not_found');
    assert.match(noDataset.message, /No dataset named "nope" \(available: .*fashion-tri/);
    const extra = await refusal(client.getDatasetOverview({ dataset: 'fashion-tri', split: 'val' } as never));
    assert.equal(extra.code, 'invalid_request');
  });
});
