/**
 * The new readers against bad input, one case each: sharded index files (missing shard, a shard
 * outside the folder, a tensor listed twice, a shard that disagrees with the index), mapping files
 * (malformed JSON, bad patterns, backreferences, unknown $n, two names onto one, catastrophic
 * patterns in linear time) and foreign names. Every refusal is a MotlabError naming the file and
 * the problem; through the CLI, one line on stderr and exit code 1.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { MotlabError } from '../../src-main/common/errors.ts';
import { encodeSafetensors, type TensorIn } from '../../src-main/checkpoints/safetensors.ts';
import { openCheckpointSource } from '../../src-main/importers/source.ts';
import { applyMapping, BUILTIN_MAPPINGS, MAX_NAME_LENGTH, parseMappingFile, readMappingFile } from '../../src-main/importers/mappings.ts';
import { openMappedWeights } from '../../src-main/importers/inspect.ts';
import { assertOneLineError, runCli } from '../hostile/helpers.ts';

let root = '';
const t = (shape: number[], fill = 0.5): TensorIn => ({ shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(fill) });

/** A folder with two shards of a tiny playbook-named checkpoint and an index (editable per case). */
function shardedFolder(
  name: string,
  index: (weightMap: Record<string, string>) => unknown = (weightMap) => ({ weight_map: weightMap }),
): string {
  const dir = path.join(root, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'a.safetensors'), encodeSafetensors({ 'tok_embeddings.weight': t([4, 2]), 'norm.0.weight': t([2]) }));
  writeFileSync(path.join(dir, 'b.safetensors'), encodeSafetensors({ 'output.weight': t([4, 2]) }));
  const weightMap = { 'tok_embeddings.weight': 'a.safetensors', 'norm.0.weight': 'a.safetensors', 'output.weight': 'b.safetensors' };
  const value = index(weightMap);
  writeFileSync(path.join(dir, 'model.safetensors.index.json'), typeof value === 'string' ? value : JSON.stringify(value));
  return path.join(dir, 'model.safetensors.index.json');
}

async function refuses(promise: Promise<unknown>, pattern: RegExp, file: string): Promise<void> {
  await assert.rejects(promise, (e: unknown) => {
    assert.ok(e instanceof MotlabError, `not a MotlabError: ${String(e)}`);
    assert.ok(e.message.includes(file), `"${e.message}" does not name ${file}`);
    assert.match(e.message, pattern);
    return true;
  });
}

before(() => {
  root = mkdtempSync(path.join(tmpdir(), 'motlab-hostile-import-'));
  writeFileSync(path.join(root, 'outside.safetensors'), encodeSafetensors({ 'output.weight': t([4, 2]) }));
});

after(() => {
  if (root) rmSync(root, { recursive: true, force: true });
});

test('a well-formed sharded checkpoint opens, with every tensor from its shard', async () => {
  const source = await openCheckpointSource(path.dirname(shardedFolder('good')));
  try {
    assert.equal(source.kind, 'sharded');
    assert.deepEqual([...source.tensors.keys()].sort(), ['norm.0.weight', 'output.weight', 'tok_embeddings.weight']);
    assert.deepEqual(Array.from(await source.read('output.weight')), new Array(8).fill(0.5));
  } finally {
    await source.close();
  }
});

test('malformed index files are refused, naming the index and the problem', async () => {
  const cases: [string, (m: Record<string, string>) => unknown, RegExp][] = [
    ['not-json', () => '{"weight_map": {', /not valid JSON/],
    ['no-map', () => ({ metadata: {} }), /has no "weight_map" object/],
    ['empty-map', () => ({ weight_map: {} }), /lists no tensors/],
    ['not-a-name', (m) => ({ weight_map: { ...m, 'output.weight': 7 } }), /gives tensor "output\.weight" a number, not a shard file name/],
    [
      'dotdot',
      (m) => ({ weight_map: { ...m, 'output.weight': '../outside.safetensors' } }),
      /shard "\.\.\/outside\.safetensors" lies outside the checkpoint folder/,
    ],
    [
      'absolute',
      (m) => ({ weight_map: { ...m, 'output.weight': path.join(root, 'outside.safetensors') } }),
      /lies outside the checkpoint folder/,
    ],
    ['missing', (m) => ({ weight_map: { ...m, 'output.weight': 'c.safetensors' } }), /shard "c\.safetensors" is missing/],
    [
      'twice',
      () =>
        '{"weight_map": {"tok_embeddings.weight": "a.safetensors", "norm.0.weight": "a.safetensors", "output.weight": "b.safetensors", "output.weight": "b.safetensors"}}',
      /tensor "output\.weight" is listed twice \(in weight_map\)/,
    ],
    [
      'moved',
      (m) => ({ weight_map: { ...m, 'norm.0.weight': 'b.safetensors' } }),
      /lists tensor "norm\.0\.weight" in b\.safetensors, which does not hold it/,
    ],
    [
      'unlisted',
      (m) => ({ weight_map: { 'tok_embeddings.weight': m['tok_embeddings.weight'], 'output.weight': m['output.weight'] } }),
      /shard a\.safetensors holds tensor "norm\.0\.weight", which the index does not list/,
    ],
  ];
  for (const [name, index, pattern] of cases) {
    const file = shardedFolder(name, index);
    await refuses(openCheckpointSource(file), pattern, file);
  }
  // A shard in the folder that is a link leading out of it.
  const linked = shardedFolder('link');
  rmSync(path.join(path.dirname(linked), 'b.safetensors'));
  symlinkSync(path.join(root, 'outside.safetensors'), path.join(path.dirname(linked), 'b.safetensors'));
  await refuses(
    openCheckpointSource(linked),
    /shard "b\.safetensors" leads outside the checkpoint folder \(a link to .*outside\.safetensors\)/,
    linked,
  );
  // A shard in the same tensor twice: both shards hold output.weight.
  const twice = shardedFolder('in-two-shards');
  writeFileSync(
    path.join(path.dirname(twice), 'a.safetensors'),
    encodeSafetensors({ 'tok_embeddings.weight': t([4, 2]), 'norm.0.weight': t([2]), 'output.weight': t([4, 2]) }),
  );
  await refuses(
    openCheckpointSource(twice),
    /shard a\.safetensors holds tensor "output\.weight", which the index puts in b\.safetensors \(listed twice\)/,
    twice,
  );
  // A truncated shard: the shard's own reader names the shard.
  const truncated = shardedFolder('truncated');
  truncateSync(path.join(path.dirname(truncated), 'b.safetensors'), 60);
  await refuses(openCheckpointSource(truncated), /b\.safetensors: .*(truncated|past)/, 'b.safetensors');
  // An index far larger than any index is refused before it is read (a sparse file: no bytes written).
  const huge = shardedFolder('huge');
  truncateSync(huge, 65 * 1024 * 1024);
  await refuses(openCheckpointSource(huge), /is more than an index file can be/, huge);
});

test('malformed mapping files are refused, naming the file, the rule and the problem', async () => {
  const file = path.join(root, 'mapping.json');
  const cases: [string, RegExp][] = [
    ['[{"pattern": "a", "to": "b"}', /not valid JSON/],
    ['{"pattern": "a", "to": "b"}', /not a mapping file: \(root\): /],
    ['[]', /at least one rule/],
    ['[{"pattern": "a"}]', /not a mapping file: \[0\]\.to/],
    ['[{"pattern": "a", "to": "b", "extra": 1}]', /not a mapping file: .*extra/],
    ['[{"pattern": "(", "to": "b"}]', /rule 1: pattern "\(" is not a valid regular expression/],
    ['[{"pattern": "(a)\\\\1", "to": "b"}]', /rule 1: pattern "\(a\)\\\\1" uses a backreference or lookaround/],
    ['[{"pattern": "(?=a)a", "to": "b"}]', /uses a backreference or lookaround/],
    ['[{"pattern": "(a)(b)", "to": "x.$3"}]', /rule 1: "to" "x\.\$3" refers to \$3, but the pattern has 2 capture groups/],
    ['[{"pattern": "a", "to": "costs $"}]', /has a "\$" that is neither \$1…\$9 nor \$\$/],
    ['[{"pattern": "", "to": "b"}]', /rule 1: pattern is empty/],
    [JSON.stringify([{ pattern: 'x'.repeat(1001), to: 'b' }]), /pattern is 1001 characters long \(at most 1000\)/],
    [JSON.stringify(new Array(201).fill({ pattern: 'a', to: 'b' })), /at most 200 rules/],
  ];
  for (const [text, pattern] of cases) {
    writeFileSync(file, text);
    await refuses(readMappingFile(file), pattern, file);
  }
  await refuses(readMappingFile(path.join(root, 'no-such-mapping.json')), /no such mapping file/, 'no-such-mapping.json');
});

test('mappings: $n and $$ substitute, null drops, two names onto one and unknown names are refused with a few of them', () => {
  const mapping = parseMappingFile(
    JSON.stringify([
      { pattern: 'blk\\.(\\d+)\\.(q|k)', to: 'layers.$1.attention.w$2.0.weight' },
      { pattern: 'cost', to: 'x$$y' },
      { pattern: 'vision\\..*', to: null },
    ]),
    'm.json',
  );
  assert.deepEqual(applyMapping(mapping, ['blk.3.q', 'cost', 'vision.patch'], 'ckpt'), {
    renamed: new Map([
      ['layers.3.attention.wq.0.weight', 'blk.3.q'],
      ['x$y', 'cost'],
    ]),
    dropped: ['vision.patch'],
  });
  assert.throws(
    () => applyMapping(parseMappingFile('[{"pattern": "(a|b)x", "to": "same"}]', 'm.json'), ['ax', 'bx'], 'ckpt.safetensors'),
    /ckpt\.safetensors: tensors "ax" and "bx" both map to "same" \(mapping file m\.json\)/,
  );
  const names = ['tok_embeddings.weight', 'what.0', 'what.1', 'what.2', 'what.3', 'what.4', 'what.5'];
  assert.throws(
    () => applyMapping(BUILTIN_MAPPINGS.playbook, names, 'ckpt.safetensors'),
    /ckpt\.safetensors: 6 tensor names the playbook mapping does not know: "what\.0", "what\.1", "what\.2", "what\.3", "what\.4" and 1 more/,
  );
  assert.throws(
    () => applyMapping(BUILTIN_MAPPINGS.lab, ['x'.repeat(MAX_NAME_LENGTH + 1)], 'ckpt'),
    /a tensor name is 513 characters long/,
  );
});

test('catastrophic patterns run in linear time on long names', () => {
  const mapping = parseMappingFile(
    JSON.stringify([
      { pattern: '(a+)+b', to: 'x' },
      { pattern: '(.*)*c', to: 'y' },
      { pattern: '.*', to: null },
    ]),
    'evil.json',
  );
  const names = Array.from({ length: 200 }, (_, i) => 'a'.repeat(300 + i));
  const started = performance.now();
  const { dropped } = applyMapping(mapping, names, 'ckpt');
  const ms = performance.now() - started;
  assert.equal(dropped.length, 200);
  // A backtracking engine needs about 2^300 steps for one of these names; linear matching, milliseconds.
  assert.ok(ms < 5000, `${ms} ms`);
});

test('through the CLI: one line naming the file and the problem', async () => {
  const twice = shardedFolder('cli-twice', () => '{"weight_map": {"output.weight": "b.safetensors", "output.weight": "b.safetensors"}}');
  assertOneLineError(
    await runCli(['import', '--from', twice, '--out', path.join(root, 'never')]),
    /model\.safetensors\.index\.json: tensor "output\.weight" is listed twice/,
  );
  const badMapping = path.join(root, 'bad-mapping.json');
  writeFileSync(badMapping, '[{"pattern": "(a)\\\\1", "to": "b"}]');
  assertOneLineError(
    await runCli(['analyze', 'weights', '--from', path.dirname(shardedFolder('cli-good')), '--mapping', badMapping]),
    /bad-mapping\.json: rule 1: pattern .* uses a backreference/,
  );
  assertOneLineError(
    await runCli(['import', '--from', path.join(root, 'nothing-here'), '--out', path.join(root, 'never')]),
    /nothing-here: no such file or folder/,
  );
  // A shape that does not fit the table: one tower's wq of another width.
  const playbook = path.join(root, 'misshapen.safetensors');
  writeFileSync(
    playbook,
    encodeSafetensors({
      'tok_embeddings.weight': t([646, 4]),
      'output.weight': t([646, 4]),
      'norm.0.weight': t([4]),
      'layers.0.attention.local_experts_wq.0.weight': t([4, 6]),
      'layers.0.attention.local_experts_wk.0.weight': t([4, 4]),
      'layers.0.attention.local_experts_wv.0.weight': t([4, 4]),
      'layers.0.attention.local_experts_wo.0.weight': t([4, 4]),
      'layers.0.attention.local_experts_attention_norm.0.weight': t([4]),
      'layers.0.feed_forward.local_experts.0.w1.weight': t([8, 4]),
      'layers.0.feed_forward.local_experts.0.w2.weight': t([4, 8]),
      'layers.0.feed_forward.local_experts.0.w3.weight': t([8, 4]),
      'layers.0.feed_forward.local_experts_ffn_norm.0.weight': t([4]),
    }),
  );
  assertOneLineError(
    await runCli(['import', '--from', playbook, '--preset', 'dense', '--size', 'tiny', '--out', path.join(root, 'never')]),
    /misshapen\.safetensors: the renamed tensors do not fit the model config: tensor layers\.0\.attention\.wq\.0\.weight has shape \[4, 6\], the config needs \[4, 4\]/,
  );
  // Inspected in place, the same file is read as it is (the analyses need no config).
  const mapped = await openMappedWeights(playbook, 'playbook');
  assert.equal(mapped.shapes.get('layers.0.attention.wq.0.weight')?.join(), '4,6');
  await mapped.close();
});
