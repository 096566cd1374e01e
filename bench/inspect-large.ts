/**
 * `npx tsx bench/inspect-large.ts [--gib 2] [--import]`: a synthetic sharded checkpoint of about
 * that size (MoT playbook names, 3 towers, real bytes) is written to a temporary folder and
 * inspected in place by `motlab analyze weights --from` (tower drift, cosine, every layer), then
 * optionally imported (streamed into a run folder); prints each child's peak resident memory
 * (VmHWM) and time, then deletes everything. test/importers/large-checkpoint.test.ts does the same
 * at ~185 MiB.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { motlabWithPeak, syntheticBytes, writeShardedPlaybook, type SyntheticModel } from '../test/importers/synthetic.ts';

const { values } = parseArgs({ options: { gib: { type: 'string', default: '2' }, import: { type: 'boolean', default: false } } });
const target = Number(values.gib) * 2 ** 30;
const perLayer =
  syntheticBytes({ layers: 2, width: 1024, ffn: 2816, towers: 3, vocab: 32000, shards: 1 }) -
  syntheticBytes({ layers: 1, width: 1024, ffn: 2816, towers: 3, vocab: 32000, shards: 1 });
const model: SyntheticModel = {
  layers: Math.max(1, Math.round(target / perLayer)),
  width: 1024,
  ffn: 2816,
  towers: 3,
  vocab: 32000,
  shards: 8,
};
const dir = mkdtempSync(path.join(tmpdir(), 'motlab-bench-large-'));
try {
  let t = Date.now();
  const { index, bytes } = writeShardedPlaybook(path.join(dir, 'checkpoint'), model);
  const gib = (bytes / 2 ** 30).toFixed(2);
  console.log(
    `wrote ${gib} GiB (${model.layers} layers, width ${model.width}, FFN ${model.ffn}, ${model.towers} towers, ${model.shards} shards) in ${((Date.now() - t) / 1000).toFixed(0)} s`,
  );
  t = Date.now();
  const inspect = motlabWithPeak(['analyze', 'weights', '--from', index, '--singular-values', '0', '--metrics', 'cosine', '--json']);
  if (inspect.status !== 0) throw new Error(inspect.stderr);
  const drift = (JSON.parse(inspect.stdout) as { drift: unknown[] }).drift.length;
  console.log(
    `inspect (tower drift, ${drift} tower pairs over ${model.layers} layers): peak RSS ${inspect.peakMiB.toFixed(0)} MiB for ${gib} GiB, ${((Date.now() - t) / 1000).toFixed(0)} s`,
  );
  if (values.import) {
    t = Date.now();
    const imported = motlabWithPeak(['import', '--from', index, '--size', 'base', '--out', path.join(dir, 'run')]);
    if (imported.status !== 0) throw new Error(imported.stderr);
    console.log(
      `import (streamed into a run folder): peak RSS ${imported.peakMiB.toFixed(0)} MiB for ${gib} GiB, ${((Date.now() - t) / 1000).toFixed(0)} s`,
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
