/**
 * Bounded memory on big checkpoints: a synthetic sharded checkpoint (~185 MiB of real bytes) is
 * inspected in place (tower drift for every layer) and imported, each in a `motlab` child whose
 * peak resident memory (VmHWM) is measured; neither may grow with the checkpoint beyond a
 * constant. The same check at 2 GiB: `npx tsx bench/inspect-large.ts` (too slow for CI here).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { PYTHON } from '../training/helpers.ts';
import { motlabWithPeak, writeShardedPlaybook, type SyntheticModel } from './synthetic.ts';
import type { WeightAnalysis } from '../../src-main/common/weight-analysis.ts';

const linux = existsSync('/proc/self/status');

const SMALL: SyntheticModel = { layers: 2, width: 64, ffn: 176, towers: 3, vocab: 700, shards: 2 };
const BIG: SyntheticModel = { layers: 20, width: 256, ffn: 704, towers: 3, vocab: 700, shards: 4 };

let root = '';
let small = '';
let big = { index: '', bytes: 0 };

before(() => {
  root = mkdtempSync(path.join(tmpdir(), 'motlab-large-'));
  small = writeShardedPlaybook(path.join(root, 'small'), SMALL).index;
  big = writeShardedPlaybook(path.join(root, 'big'), BIG);
});

after(() => {
  if (root) rmSync(root, { recursive: true, force: true });
});

test(
  'inspecting a sharded checkpoint reads one weight at a time: tower drift for every layer, memory independent of its size',
  { skip: !linux && 'needs /proc (Linux)' },
  () => {
    const args = (index: string) => ['analyze', 'weights', '--from', index, '--singular-values', '0', '--metrics', 'cosine', '--json'];
    const base = motlabWithPeak(args(small));
    assert.equal(base.status, 0, base.stderr);
    const r = motlabWithPeak(args(big.index));
    assert.equal(r.status, 0, r.stderr);
    const analysis = JSON.parse(r.stdout) as WeightAnalysis;
    // Every layer: wq wk wv wo attention_norm w1 w2 w3 ffn_norm, 3 tower pairs each; and the final norm.
    assert.equal(analysis.drift.length, (BIG.layers * 9 + 1) * 3);
    assert.deepEqual([...new Set(analysis.drift.map((d) => d.layer))], [...Array.from({ length: BIG.layers }, (_, l) => l), null]);
    const bigMiB = big.bytes / 2 ** 20;
    console.log(
      `inspect: ${bigMiB.toFixed(0)} MiB checkpoint, peak RSS ${r.peakMiB.toFixed(0)} MiB (small checkpoint: ${base.peakMiB.toFixed(0)} MiB)`,
    );
    assert.ok(
      r.peakMiB - base.peakMiB < 64,
      `peak RSS grew by ${(r.peakMiB - base.peakMiB).toFixed(0)} MiB for a ${bigMiB.toFixed(0)} MiB checkpoint`,
    );

    // One layer's drift against numpy reading the shard through the index.
    const expected = JSON.parse(
      spawnSync(
        PYTHON,
        [
          '-c',
          String.raw`
import json, struct, sys, os
import numpy as np
index = sys.argv[1]
wm = json.load(open(index))['weight_map']
def load(name):
    raw = open(os.path.join(os.path.dirname(index), wm[name]), 'rb')
    n = struct.unpack('<Q', raw.read(8))[0]; h = json.loads(raw.read(n)); b, e = h[name]['data_offsets']
    raw.seek(8 + n + b); return np.frombuffer(raw.read(e - b), dtype='<f4').astype(np.float64)
a, b = load('layers.19.feed_forward.local_experts.0.w1.weight'), load('layers.19.feed_forward.local_experts.2.w1.weight')
print(json.dumps((a @ b) / np.linalg.norm(a) / np.linalg.norm(b)))`,
          big.index,
        ],
        { encoding: 'utf8' },
      ).stdout,
    ) as number;
    const got = analysis.drift.find((d) => d.layer === 19 && d.weight === 'w1' && d.towers.join() === '0,2')!;
    assert.ok(Math.abs(got.cosine! - expected) < 1e-12, `${got.cosine} ≠ ${expected}`);
  },
);

test(
  'importing a sharded checkpoint streams it into the run folder with memory independent of its size',
  { skip: !linux && 'needs /proc (Linux)' },
  () => {
    const base = motlabWithPeak(['import', '--from', small, '--size', 'tiny', '--out', path.join(root, 'small-run')]);
    assert.equal(base.status, 0, base.stderr);
    const r = motlabWithPeak(['import', '--from', big.index, '--size', 'tiny', '--out', path.join(root, 'big-run')]);
    assert.equal(r.status, 0, r.stderr);
    console.log(
      `import: ${(big.bytes / 2 ** 20).toFixed(0)} MiB checkpoint, peak RSS ${r.peakMiB.toFixed(0)} MiB (small: ${base.peakMiB.toFixed(0)} MiB)`,
    );
    assert.ok(r.peakMiB - base.peakMiB < 64, `peak RSS grew by ${(r.peakMiB - base.peakMiB).toFixed(0)} MiB`);
    // The imported run reads back with the drift of the source.
    const a = motlabWithPeak([
      'analyze',
      'weights',
      '--run',
      path.join(root, 'big-run'),
      '--singular-values',
      '0',
      '--metrics',
      'cosine',
      '--json',
    ]);
    assert.equal(a.status, 0, a.stderr);
    const fromRun = JSON.parse(a.stdout) as WeightAnalysis;
    assert.equal(fromRun.drift.length, (BIG.layers * 9 + 1) * 3);
  },
);
