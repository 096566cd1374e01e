/**
 * A seeded mutation fuzzer over every kind of file the lab reads: model and optimizer
 * safetensors, token .npy, dataset.json, run.json, state.json and metrics.jsonl. Each case takes
 * a valid file written by the lab's own writers, damages it (bytes, structure, JSON values,
 * lines), writes it in place in a real run folder / dataset and calls every reader of that file
 * the lab has, down to the API handlers the UI calls.
 *
 * The oracle, per reader: it returns, or (where a refusal is allowed) throws a MotlabError whose
 * message is bounded and free of raw control characters; its result serialises as JSON (what
 * the transports do next). Anything else is a crash: a TypeError, a RangeError, a MotlabError
 * from a reader that must never refuse (the Runs list, data check, readMetrics on content). A
 * reader that takes longer than the per-case limit is a hang.
 *
 * Used by test/hostile/fuzz.test.ts (a few thousand cases in `npm test`) and scripts/fuzz.ts
 * (long runs, `npm run fuzz -- --cases N`).
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createApi, type MotlabApi } from '../../src-main/api/impl.ts';
import { lastTrainRecord, readRunJsonForDisplay } from '../../src-main/api/run-files.ts';
import { listDatasetsOf } from '../../src-main/api/workspace.ts';
import { readCheckpoint, readMetrics, readModelFile } from '../../src-main/checkpoints/run-folder.ts';
import { readRunJson } from '../../src-main/runs/run-json.ts';
import { decodeSafetensors, readSafetensorsFile } from '../../src-main/checkpoints/safetensors.ts';
import { checkDataset, formatDatasetReport } from '../../src-main/data/check.ts';
import { loadDataset, loadDatasetSpec, loadSplitTokens } from '../../src-main/data/dataset.ts';
import { decodeNpy } from '../../src-main/data/npy.ts';
import { buildModelConfig } from '../../src-main/model/presets.ts';
import { MotlabError } from '../../src-main/common/errors.ts';
import { Rng } from '../../src-main/util/rng.ts';
import { MAX_MESSAGE_LENGTH } from '../../src-main/common/text.ts';
import { encodeSafetensors, type TensorIn } from '../../src-main/checkpoints/safetensors.ts';
import { openCheckpointSource } from '../../src-main/importers/source.ts';
import { readMappingFile } from '../../src-main/importers/mappings.ts';
import { analyzeWeightsOf, importRun } from '../../src-main/api/handlers/imports.ts';
import { MOTLAB, TINY_SPEC, tinyWeights, writeDataset, writeRun } from './helpers.ts';
import { playbookNameOf } from '../importers/synthetic.ts';

export const FILE_KINDS = [
  'model.safetensors',
  'optimizer.safetensors',
  'tokens.npy',
  'dataset.json',
  'run.json',
  'state.json',
  'metrics.jsonl',
  // Checkpoints from elsewhere (importers/): a sharded checkpoint's index and one of its shards,
  // a mapping file, and a single file with the MoT playbook's (foreign) tensor names.
  'shards.index.json',
  'shard.safetensors',
  'mapping.json',
  'foreign.safetensors',
] as const;
export type FileKind = (typeof FILE_KINDS)[number];

export interface FuzzFailure {
  kind: FileKind;
  caseIndex: number;
  mutation: string;
  reader: string;
  error: string;
}

export interface KindStats {
  cases: number;
  /** Reader calls that returned. */
  returned: number;
  /** Reader calls that refused the file with a MotlabError (where refusing is allowed). */
  refused: number;
}

export interface FuzzReport {
  seed: number;
  cases: number;
  readerCalls: number;
  byKind: Record<FileKind, KindStats>;
  crashes: FuzzFailure[];
  hangs: FuzzFailure[];
  slowestMs: number;
  slowest: string;
  /** Total milliseconds per "kind: reader". */
  readerMs: Record<string, number>;
  peakRssMiB: number;
  seconds: number;
}

export interface FuzzOptions {
  seed: number;
  cases: number;
  /** First case index (a long run split into pieces continues where the last piece stopped). */
  firstCase?: number;
  /** A reader call slower than this is a hang. */
  caseTimeoutMs?: number;
  /** Scratch folder (created, and removed at the end). */
  workDir: string;
  /** Called after each case (progress, and a heartbeat for a watchdog). */
  onCase?(caseIndex: number, report: FuzzReport): void;
}

// ---------------------------------------------------------------------------------------------
// The fixture: a workspace with one run and one dataset, written by the lab's writers

interface Fixture {
  workspace: string;
  runDir: string;
  checkpointDir: string;
  datasetDir: string;
  api: MotlabApi;
  originals: Record<FileKind, Buffer>;
  fileOf: Record<FileKind, string>;
}

async function makeFixture(workDir: string): Promise<Fixture> {
  rmSync(workDir, { recursive: true, force: true });
  const workspace = path.join(workDir, 'workspace');
  const datasetDir = writeDataset(path.join(workspace, 'datasets', 'fuzzed'), { trainTokens: 400, valTokens: 200 });
  // The example dataset is present, so opening the workspace starts no child process.
  writeDataset(path.join(workspace, 'datasets', 'example-synth'), { trainTokens: 100, valTokens: 100 });
  const runDir = path.join(workspace, 'runs', 'fuzzed');
  // Small, and with every kind of tensor: MoT towers and an MoE tower (routers, experts).
  const config = buildModelConfig('mot-moe', 'tiny', TINY_SPEC, { d_model: 8, n_heads: 2, n_layers: 1, ffn_hidden: 8, seq_len: 16 });
  await writeRun(runDir, datasetDir, { config, preset: 'mot-moe' });
  const checkpointDir = path.join(runDir, 'checkpoints', 'step-000001');
  const evalLine = JSON.stringify({ type: 'eval', step: 1, time: 0, split: 'val', windows: 2, loss: { all: 3.8, text: 3.7, image: null } });
  writeFileSync(path.join(runDir, 'metrics.jsonl'), readFileSync(path.join(runDir, 'metrics.jsonl'), 'utf8') + evalLine + '\n');
  const fileOf: Record<FileKind, string> = {
    'model.safetensors': path.join(checkpointDir, 'model.safetensors'),
    'optimizer.safetensors': path.join(checkpointDir, 'optimizer.safetensors'),
    'tokens.npy': path.join(datasetDir, 'train.tokens.npy'),
    'dataset.json': path.join(datasetDir, 'dataset.json'),
    'run.json': path.join(runDir, 'run.json'),
    'state.json': path.join(checkpointDir, 'state.json'),
    'metrics.jsonl': path.join(runDir, 'metrics.jsonl'),
    ...writeImportFixtures(path.join(workDir, 'imports')),
  };
  const originals = Object.fromEntries(FILE_KINDS.map((k) => [k, readFileSync(fileOf[k])])) as Record<FileKind, Buffer>;
  const { api, ready } = createApi({
    workspace,
    cliPath: MOTLAB,
    builtinDatasets: path.join(workDir, 'no-builtins'),
  });
  await ready;
  return { workspace, runDir, checkpointDir, datasetDir, api, originals, fileOf };
}

type ImportKind = 'shards.index.json' | 'shard.safetensors' | 'mapping.json' | 'foreign.safetensors';

/**
 * A small MoT checkpoint under the playbook's names, as one file and as two shards with an index;
 * and under made-up names ("blk.<layer>.<weight>.<tower>") with the mapping file that renames them.
 */
function writeImportFixtures(dir: string): Record<ImportKind, string> {
  mkdirSync(path.join(dir, 'sharded'), { recursive: true });
  const config = buildModelConfig('mot', 'tiny', TINY_SPEC, { d_model: 8, n_heads: 2, n_layers: 1, ffn_hidden: 8, seq_len: 16 });
  const weights = tinyWeights(config);
  const renamed = (rename: (n: string) => string): Record<string, TensorIn> =>
    Object.fromEntries(Object.entries(weights).map(([n, t]) => [rename(n), t]));
  const playbook = renamed(playbookNameOf);
  const foreign = path.join(dir, 'playbook.safetensors');
  writeFileSync(foreign, encodeSafetensors(playbook));
  const names = Object.keys(playbook).sort();
  const half = Math.ceil(names.length / 2);
  const weightMap: Record<string, string> = {};
  names.forEach((n, i) => (weightMap[n] = i < half ? 'model-00001-of-00002.safetensors' : 'model-00002-of-00002.safetensors'));
  for (const [file, part] of [
    ['model-00001-of-00002.safetensors', names.slice(0, half)],
    ['model-00002-of-00002.safetensors', names.slice(half)],
  ] as const)
    writeFileSync(path.join(dir, 'sharded', file), encodeSafetensors(Object.fromEntries(part.map((n) => [n, playbook[n]]))));
  const index = path.join(dir, 'sharded', 'model.safetensors.index.json');
  writeFileSync(index, JSON.stringify({ metadata: { total_size: 0 }, weight_map: weightMap }, null, 1));
  const custom = renamed((n) =>
    n.replace(/^layers\.(\d+)\.(.+)\.(\d+)\.weight$/, 'blk.$1.$2.$3').replace(/^(embed|output)\.weight$/, '$1'),
  );
  writeFileSync(path.join(dir, 'custom.safetensors'), encodeSafetensors(custom));
  const mapping = path.join(dir, 'mapping.json');
  writeFileSync(
    mapping,
    JSON.stringify(
      [
        { pattern: 'blk\\.(\\d+)\\.(.+)\\.(\\d+)', to: 'layers.$1.$2.$3.weight' },
        { pattern: '(embed|output)', to: '$1.weight' },
        { pattern: 'norm\\.(\\d+)\\.weight', to: 'norm.$1.weight' },
        { pattern: 'ignored\\..*', to: null },
      ],
      null,
      1,
    ),
  );
  return {
    'shards.index.json': index,
    'shard.safetensors': path.join(dir, 'sharded', 'model-00002-of-00002.safetensors'),
    'mapping.json': mapping,
    'foreign.safetensors': foreign,
  };
}

// ---------------------------------------------------------------------------------------------
// Readers of each kind of file. `refuses: false` means the reader must always answer.

interface Reader {
  name: string;
  refuses: boolean;
  call(f: Fixture, bytes: Buffer): unknown;
}

const api = (f: Fixture) => f.api.handlers;

/** Readers of a checkpoint from elsewhere: open it, analyse it in place, import it (into a fresh run folder). */
const importReaders = (from: (f: Fixture) => string, mapping: (f: Fixture) => string): Reader[] => [
  {
    name: 'openCheckpointSource',
    refuses: true,
    call: async (f) => {
      const source = await openCheckpointSource(from(f));
      await source.close();
      return source.tensors.size;
    },
  },
  {
    name: 'analyzeWeightsOf',
    refuses: true,
    call: (f) => analyzeWeightsOf({ from: from(f), mapping: mapping(f) }, { singularValues: 2, metrics: ['cosine', 'cka'] }),
  },
  {
    name: 'importRun',
    refuses: true,
    call: async (f) => {
      const out = path.join(f.workspace, 'imported');
      try {
        const { imported } = await importRun({
          from: from(f),
          mapping: mapping(f),
          preset: 'mot',
          size: 'tiny',
          datasetDir: f.datasetDir,
          out,
        });
        return imported.source;
      } finally {
        rmSync(out, { recursive: true, force: true });
      }
    },
  },
];

const IMPORT_READERS: Record<ImportKind, Reader[]> = {
  'shards.index.json': importReaders(
    (f) => f.fileOf['shards.index.json'],
    () => 'auto',
  ),
  'shard.safetensors': importReaders(
    (f) => path.dirname(f.fileOf['shards.index.json']),
    () => 'playbook',
  ),
  'mapping.json': [
    { name: 'readMappingFile', refuses: true, call: async (f) => (await readMappingFile(f.fileOf['mapping.json'])).rules.length },
    ...importReaders(
      (f) => path.join(path.dirname(f.fileOf['mapping.json']), 'custom.safetensors'),
      (f) => f.fileOf['mapping.json'],
    ),
  ],
  'foreign.safetensors': [
    ...importReaders(
      (f) => f.fileOf['foreign.safetensors'],
      () => 'auto',
    ),
    ...importReaders(
      (f) => f.fileOf['foreign.safetensors'],
      () => 'bagel',
    ).slice(1, 2),
  ],
};

const READERS: Record<FileKind, Reader[]> = {
  ...IMPORT_READERS,
  'model.safetensors': [
    { name: 'decodeSafetensors', refuses: true, call: (_f, bytes) => decodeSafetensors(bytes, 'model.safetensors') },
    { name: 'readModelFile', refuses: true, call: (f) => readModelFile(f.fileOf['model.safetensors']) },
    { name: 'readCheckpoint', refuses: true, call: (f) => readCheckpoint(f.runDir, 1) },
    { name: 'api.listCheckpoints', refuses: false, call: (f) => api(f).listCheckpoints({ run: 'fuzzed' }) },
  ],
  'optimizer.safetensors': [
    { name: 'readSafetensorsFile', refuses: true, call: (f) => readSafetensorsFile(f.fileOf['optimizer.safetensors']) },
    { name: 'readCheckpoint', refuses: true, call: (f) => readCheckpoint(f.runDir, 'latest') },
  ],
  'tokens.npy': [
    { name: 'decodeNpy', refuses: true, call: (_f, bytes) => decodeNpy(bytes, 'train.tokens.npy') },
    { name: 'loadSplitTokens', refuses: true, call: (f) => loadSplitTokens(f.fileOf['tokens.npy']) },
    { name: 'loadDataset', refuses: true, call: (f) => loadDataset(f.datasetDir) },
    { name: 'checkDataset', refuses: false, call: async (f) => formatDatasetReport(await checkDataset(f.datasetDir)) },
    { name: 'api.getDatasetOverview', refuses: true, call: (f) => api(f).getDatasetOverview({ dataset: 'fuzzed' }) },
    {
      name: 'api.getDatasetDocuments',
      refuses: true,
      call: (f) => api(f).getDatasetDocuments({ dataset: 'fuzzed', split: 'train', offset: 0, count: 3 }),
    },
  ],
  'dataset.json': [
    { name: 'loadDatasetSpec', refuses: true, call: (f) => loadDatasetSpec(f.datasetDir) },
    { name: 'checkDataset', refuses: false, call: async (f) => formatDatasetReport(await checkDataset(f.datasetDir)) },
    { name: 'listDatasetsOf', refuses: false, call: (f) => listDatasetsOf(f.workspace, path.join(f.workspace, 'none')) },
    { name: 'api.getDatasetOverview', refuses: true, call: (f) => api(f).getDatasetOverview({ dataset: 'fuzzed' }) },
    {
      name: 'api.getDatasetDocuments',
      refuses: true,
      call: (f) => api(f).getDatasetDocuments({ dataset: 'fuzzed', split: 'val', offset: 1, count: 2 }),
    },
  ],
  'run.json': [
    { name: 'readRunJson', refuses: true, call: (f) => readRunJson(f.runDir) },
    { name: 'readRunJsonForDisplay', refuses: false, call: (f) => readRunJsonForDisplay(f.runDir) },
    { name: 'api.listRuns', refuses: false, call: (f) => listsFuzzedRun(f) },
    { name: 'api.getRun', refuses: false, call: (f) => api(f).getRun({ run: 'fuzzed' }) },
  ],
  'state.json': [
    { name: 'readCheckpoint', refuses: true, call: (f) => readCheckpoint(f.runDir, 1) },
    { name: 'api.listCheckpoints', refuses: false, call: (f) => api(f).listCheckpoints({ run: 'fuzzed' }) },
  ],
  'metrics.jsonl': [
    { name: 'readMetrics', refuses: false, call: (f) => readMetrics(f.runDir, 0) },
    { name: 'readMetrics(offset)', refuses: false, call: (f, bytes) => readMetrics(f.runDir, bytes.indexOf(0x0a) + 1) },
    { name: 'lastTrainRecord', refuses: false, call: (f) => lastTrainRecord(f.runDir) },
    { name: 'api.listRuns', refuses: false, call: (f) => listsFuzzedRun(f) },
    { name: 'api.exportMetrics', refuses: false, call: (f) => api(f).exportMetrics({ run: 'fuzzed', format: 'csv' }) },
  ],
};

async function listsFuzzedRun(f: Fixture): Promise<unknown> {
  const runs = await api(f).listRuns({});
  if (!runs.some((r) => r.name === 'fuzzed')) throw new Error('listRuns left the damaged run out');
  return runs;
}

// ---------------------------------------------------------------------------------------------
// Mutations

const INTERESTING_BYTES = [
  0x00, 0x01, 0x07, 0x0a, 0x1b, 0x20, 0x22, 0x2c, 0x2d, 0x30, 0x39, 0x3a, 0x5b, 0x5c, 0x5d, 0x7b, 0x7d, 0x7f, 0x80, 0x9b, 0xc0, 0xff,
];

const INTERESTING_VALUES: (() => unknown)[] = [
  () => null,
  () => true,
  () => -1,
  () => 0,
  () => 1,
  () => 0.5,
  () => 2 ** 31,
  () => 2 ** 32 + 1,
  () => 2 ** 53 + 2,
  () => 1e12,
  () => 2e9,
  () => 1e308,
  () => -1e308,
  () => 5e-324,
  () => '',
  () => '\u001b]0;title\u0007\u001b[2J\u009b31m\u202e',
  () => 'x'.repeat(70_000),
  () => '2024-01-01T00:00:00Z',
  () => [],
  () => [null],
  () => [1, 2, 3],
  () => ({}),
  () => ({ __proto__: { polluted: true } }),
  () => JSON.parse('{"__proto__": {"polluted": true}}'),
  () => new Array(20_000).fill(0),
  () => nested(1000),
];

function nested(depth: number): unknown {
  let v: unknown = 0;
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

type Mutation = { name: string; apply(bytes: Buffer, rng: Rng): Buffer };

const pick = <T>(rng: Rng, items: readonly T[]): T => items[rng.int(items.length)];

const BYTE_MUTATIONS: Mutation[] = [
  {
    name: 'flip bytes',
    apply(b, rng) {
      const out = Buffer.from(b);
      if (out.length === 0) return out;
      for (let n = 1 + rng.int(8); n > 0; n--) out[rng.int(out.length)] = rng.uniform() < 0.6 ? pick(rng, INTERESTING_BYTES) : rng.int(256);
      return out;
    },
  },
  {
    name: 'flip bytes near the start',
    apply(b, rng) {
      const out = Buffer.from(b);
      const span = Math.min(out.length, 256);
      if (span === 0) return out;
      for (let n = 1 + rng.int(4); n > 0; n--) out[rng.int(span)] = pick(rng, INTERESTING_BYTES);
      return out;
    },
  },
  { name: 'truncate', apply: (b, rng) => b.subarray(0, rng.int(b.length + 1)) },
  { name: 'empty', apply: () => Buffer.alloc(0) },
  {
    name: 'delete a range',
    apply(b, rng) {
      const at = rng.int(b.length + 1);
      return Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + rng.int(64)))]);
    },
  },
  {
    name: 'insert bytes',
    apply(b, rng) {
      const at = rng.int(b.length + 1);
      const insert = Buffer.alloc(1 + rng.int(32));
      for (let i = 0; i < insert.length; i++) insert[i] = rng.uniform() < 0.5 ? pick(rng, INTERESTING_BYTES) : rng.int(256);
      return Buffer.concat([b.subarray(0, at), insert, b.subarray(at)]);
    },
  },
  {
    name: 'repeat a range',
    apply(b, rng) {
      const at = rng.int(b.length + 1);
      const chunk = b.subarray(at, at + 1 + rng.int(256));
      return Buffer.concat([b.subarray(0, at), ...new Array(1 + rng.int(64)).fill(chunk), b.subarray(at)]);
    },
  },
  {
    name: 'append garbage',
    apply(b, rng) {
      const tail = Buffer.alloc(1 + rng.int(512));
      for (let i = 0; i < tail.length; i++) tail[i] = rng.int(256);
      return Buffer.concat([b, tail]);
    },
  },
  {
    name: 'replace a number',
    apply(b, rng) {
      const text = b.toString('latin1');
      const numbers = [...text.matchAll(/-?\d+(\.\d+)?(e[+-]?\d+)?/g)];
      if (numbers.length === 0) return b;
      const m = pick(rng, numbers);
      const replacement = String(pick(rng, [0, -1, 1, 3, 2 ** 31, 2 ** 32, 2 ** 53, 1e12, 1e300, 0.5, -0.0]));
      return Buffer.from(text.slice(0, m.index) + replacement + text.slice(m.index! + m[0].length), 'latin1');
    },
  },
];

/** Replace the value at a random path of a JSON value (or delete / add a key). */
function mutateJsonValue(value: unknown, rng: Rng): unknown {
  if (rng.uniform() < 0.15 || value === null || typeof value !== 'object') return pick(rng, INTERESTING_VALUES)();
  if (Array.isArray(value)) {
    if (value.length === 0 || rng.uniform() < 0.1) return [...value, pick(rng, INTERESTING_VALUES)()];
    const i = rng.int(value.length);
    const out = [...value];
    out[i] = mutateJsonValue(out[i], rng);
    return out;
  }
  const out: Record<string, unknown> = { ...(value as Record<string, unknown>) };
  const keys = Object.keys(out);
  const r = rng.uniform();
  if (keys.length === 0 || r < 0.08) {
    out[pick(rng, ['extra', '__proto__', 'constructor', 'x'.repeat(300), '\u001b[31m'])] = pick(rng, INTERESTING_VALUES)();
  } else if (r < 0.18) {
    delete out[pick(rng, keys)];
  } else {
    const k = pick(rng, keys);
    out[k] = mutateJsonValue(out[k], rng);
  }
  return out;
}

function jsonMutation(name: string, parse: (b: Buffer) => unknown, serialize: (v: unknown, original: Buffer) => Buffer): Mutation {
  return {
    name,
    apply(b, rng) {
      let value: unknown;
      try {
        value = parse(b);
      } catch {
        return b;
      }
      let mutated = value;
      for (let n = 1 + rng.int(3); n > 0; n--) mutated = mutateJsonValue(mutated, rng);
      return serialize(mutated, b);
    },
  };
}

const JSON_FILE_MUTATION = jsonMutation(
  'mutate a JSON value',
  (b) => JSON.parse(b.toString('utf8')),
  (v) => Buffer.from(JSON.stringify(v) ?? 'null'),
);

/** Safetensors: mutate the header JSON, keep the length prefix right (or not) and the data. */
const SAFETENSORS_HEADER_MUTATION = jsonMutation(
  'mutate the safetensors header',
  (b) => JSON.parse(b.subarray(8, 8 + Number(b.readBigUInt64LE(0))).toString('utf8')),
  (v, original) => {
    const json = Buffer.from(JSON.stringify(v));
    const prefix = Buffer.alloc(8);
    prefix.writeBigUInt64LE(BigInt(json.length), 0);
    return Buffer.concat([prefix, json, original.subarray(8 + Number(original.readBigUInt64LE(0)))]);
  },
);

const SAFETENSORS_PREFIX_MUTATION: Mutation = {
  name: 'corrupt the header length',
  apply(b, rng) {
    const out = Buffer.from(b);
    if (out.length < 8) return out;
    const n = Number(out.readBigUInt64LE(0));
    const choices = [
      0n,
      1n,
      2n,
      BigInt(n - 1),
      BigInt(n + 1),
      BigInt(out.length),
      2n ** 32n,
      2n ** 63n,
      2n ** 64n - 1n,
      BigInt(rng.int(out.length + 64)),
    ];
    // asUintN: a length a previous mutation already broke may round to 2^64 in Number.
    out.writeBigUInt64LE(BigInt.asUintN(64, pick(rng, choices) as bigint), 0);
    return out;
  },
};

/** npy: rewrite the header dictionary's shape / descr (the length field kept or broken). */
const NPY_HEADER_MUTATION: Mutation = {
  name: 'mutate the npy header',
  apply(b, rng) {
    if (b.length < 10) return b;
    const headerLength = b.readUInt16LE(8);
    const header = b.subarray(10, 10 + headerLength).toString('latin1');
    const replacements = [
      [
        /'shape': \([^)]*\)/,
        `'shape': (${pick(rng, ['', '0,', '-1,', '4294967296,', '400, 2', '1e3,', '99999999999999999999,', 'x,', `${'1, '.repeat(200)}`])})`,
      ],
      [/'descr': '[^']*'/, `'descr': '${pick(rng, ['<u2', '<i4', '<f8', '>u2', '|u1', '<U10', "'", ''])}'`],
      [/'fortran_order': \w+/, `'fortran_order': ${pick(rng, ['True', 'False', 'None'])}`],
    ] as const;
    const [pattern, text] = pick(rng, replacements);
    let next = header.replace(pattern, text);
    const keepLength = rng.uniform() < 0.5;
    next = keepLength ? next.padEnd(headerLength, ' ').slice(0, Math.max(headerLength, next.length)) : next;
    const prefix = Buffer.from(b.subarray(0, 10));
    prefix.writeUInt16LE(Math.min(0xffff, keepLength ? next.length : next.length + rng.int(3) - 1), 8);
    return Buffer.concat([prefix, Buffer.from(next, 'latin1'), b.subarray(10 + headerLength)]);
  },
};

/** metrics.jsonl: what power cuts, editors and bugs leave: garbage, NULs, torn and wrong-shaped lines. */
const METRICS_LINE_MUTATION: Mutation = {
  name: 'damage a metrics line',
  apply(b, rng) {
    const lines = b.toString('utf8').split('\n');
    const i = rng.int(lines.length);
    const damage = pick(rng, [
      () => '\u0000'.repeat(1 + rng.int(4096)),
      () => 'garbage',
      () => lines[i].slice(0, rng.int(lines[i].length + 1)),
      () => '{"type":"train","step":"3","loss":{}}',
      () => '{"type":"eval","step":2,"loss":{"all":"x"}}',
      () => '{"type":"train","step":1e400}',
      () => JSON.stringify(mutateJsonValue(safeParse(lines[i]), rng)) ?? 'null',
      () => '[' + '['.repeat(100_000),
      () => `${lines[i]}\n${lines[i]}`,
      () => '\ufeff' + lines[i],
    ]);
    lines[i] = damage();
    return Buffer.from(lines.join('\n'));
  },
};

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return {};
  }
}

/** Patterns and templates a careless or hostile mapping file may hold. */
const HOSTILE_PATTERNS = [
  '(a+)+$',
  '(.*)*x',
  '((a|a)*)*b',
  '(x+x+)+y',
  '(\\w+\\.)*(\\w+\\.)*z',
  '(a)\\1',
  '(?=a).*',
  '(?<!x)y',
  '[',
  '(',
  ')',
  '*',
  'a{99999}',
  '.{0,65535}',
  '(?<n>a)\\k<n>',
  '\\p{L}+',
  '',
  'x'.repeat(999),
  '((((((((((a))))))))))',
  '(.+)',
];
const HOSTILE_TEMPLATES = ['$9', '$0', '$$', '$', '${1}', '$1$1$1', '', 'x'.repeat(600), 'layers.$1', null, 'embed.weight'];

const MAPPING_RULE_MUTATION: Mutation = {
  name: 'replace a mapping rule',
  apply(b, rng) {
    const rules = safeParse(b.toString('utf8'));
    if (!Array.isArray(rules) || rules.length === 0) return b;
    const out = [...(rules as unknown[])];
    const i = rng.int(out.length);
    const rule = { ...(out[i] as Record<string, unknown>) };
    if (rng.uniform() < 0.6) rule.pattern = pick(rng, HOSTILE_PATTERNS);
    else rule.to = pick(rng, HOSTILE_TEMPLATES);
    out[i] = rule;
    if (rng.uniform() < 0.2) out.splice(rng.int(out.length + 1), 0, ...new Array(1 + rng.int(300)).fill(rule));
    return Buffer.from(JSON.stringify(out));
  },
};

/** Tensor names of another implementation, damaged: wrong indices, two names for one, names no mapping knows. */
const HOSTILE_NAMES = [
  'layers.0.attention.local_experts_wq.0.weight',
  'layers.9.attention.local_experts_wq.0.weight',
  'layers.0.attention.local_experts_wq.7.weight',
  'layers.0.feed_forward.local_experts.0.w1.weight',
  'layers.-1.attention.local_experts_wq.0.weight',
  'layers.00.attention.local_experts_wk.0.weight',
  'layers.99999999999999999999.attention.local_experts_wq.0.weight',
  'tok_embeddings.weight',
  'embed.weight',
  'model.embed_tokens.weight',
  'model.layers.0.self_attn.q_proj_moe_gen.weight',
  'vit_model.x',
  'a'.repeat(600),
  'a'.repeat(400) + 'b',
  '__proto__',
  'constructor',
  '\u001b[31mred',
  '',
  'norm.0.weight',
];

const RENAME_TENSOR_MUTATION: Mutation = {
  name: 'rename a tensor',
  apply(b, rng) {
    if (b.length < 8) return b;
    const n = Number(b.readBigUInt64LE(0));
    const header = safeParse(b.subarray(8, 8 + n).toString('utf8'));
    // An earlier mutation may have left a header that is not a JSON object (null, a number).
    if (!header || typeof header !== 'object' || Array.isArray(header)) return b;
    const keys = Object.keys(header).filter((k) => k !== '__metadata__');
    if (keys.length === 0) return b;
    const renamed: Record<string, unknown> = {};
    const victim = pick(rng, keys);
    const name = pick(rng, HOSTILE_NAMES);
    for (const [k, v] of Object.entries(header))
      Object.defineProperty(renamed, k === victim ? name : k, { value: v, enumerable: true, writable: true, configurable: true });
    const json = Buffer.from(JSON.stringify(renamed));
    const prefix = Buffer.alloc(8);
    prefix.writeBigUInt64LE(BigInt(json.length), 0);
    return Buffer.concat([prefix, json, b.subarray(8 + n)]);
  },
};

/** Index files: shards outside the folder, missing, listed twice; tensors moved or dropped. */
const HOSTILE_SHARDS = [
  '../outside.safetensors',
  '/etc/passwd',
  '/dev/zero',
  'C:\\\\Windows\\\\x.safetensors',
  'sub/../../x.safetensors',
  'missing.safetensors',
  '.',
  '',
  'model-00001-of-00002.safetensors\u0000',
  'model.safetensors.index.json',
  'model-00001-of-00002.safetensors',
  'model-00002-of-00002.safetensors',
];

const INDEX_MUTATION: Mutation = {
  name: 'damage the weight map',
  apply(b, rng) {
    const parsed = safeParse(b.toString('utf8'));
    if (!parsed || typeof parsed !== 'object') return b;
    const map = (parsed as { weight_map?: Record<string, unknown> }).weight_map;
    if (!map || typeof map !== 'object') return b;
    const keys = Object.keys(map);
    const r = rng.uniform();
    if (r < 0.5 && keys.length) map[pick(rng, keys)] = pick(rng, HOSTILE_SHARDS);
    else if (r < 0.7 && keys.length) delete map[pick(rng, keys)];
    else if (r < 0.85 || !keys.length) map[pick(rng, HOSTILE_NAMES)] = pick(rng, HOSTILE_SHARDS);
    else {
      // A tensor listed twice: the same key again in the text.
      const k = pick(rng, keys);
      const text = JSON.stringify(parsed);
      return Buffer.from(text.replace('"weight_map":{', `"weight_map":{${JSON.stringify(k)}:${JSON.stringify(map[k])},`));
    }
    return Buffer.from(JSON.stringify(parsed));
  },
};

const MUTATIONS: Record<FileKind, Mutation[]> = {
  'shards.index.json': [...BYTE_MUTATIONS, JSON_FILE_MUTATION, INDEX_MUTATION, INDEX_MUTATION, INDEX_MUTATION],
  'shard.safetensors': [...BYTE_MUTATIONS, SAFETENSORS_HEADER_MUTATION, SAFETENSORS_PREFIX_MUTATION, RENAME_TENSOR_MUTATION],
  'mapping.json': [...BYTE_MUTATIONS, JSON_FILE_MUTATION, MAPPING_RULE_MUTATION, MAPPING_RULE_MUTATION, MAPPING_RULE_MUTATION],
  'foreign.safetensors': [
    ...BYTE_MUTATIONS,
    SAFETENSORS_HEADER_MUTATION,
    RENAME_TENSOR_MUTATION,
    RENAME_TENSOR_MUTATION,
    RENAME_TENSOR_MUTATION,
  ],
  'model.safetensors': [...BYTE_MUTATIONS, SAFETENSORS_HEADER_MUTATION, SAFETENSORS_HEADER_MUTATION, SAFETENSORS_PREFIX_MUTATION],
  'optimizer.safetensors': [...BYTE_MUTATIONS, SAFETENSORS_HEADER_MUTATION, SAFETENSORS_PREFIX_MUTATION],
  'tokens.npy': [...BYTE_MUTATIONS, NPY_HEADER_MUTATION, NPY_HEADER_MUTATION],
  'dataset.json': [...BYTE_MUTATIONS, JSON_FILE_MUTATION, JSON_FILE_MUTATION, JSON_FILE_MUTATION],
  'run.json': [...BYTE_MUTATIONS, JSON_FILE_MUTATION, JSON_FILE_MUTATION, JSON_FILE_MUTATION],
  'state.json': [...BYTE_MUTATIONS, JSON_FILE_MUTATION, JSON_FILE_MUTATION],
  'metrics.jsonl': [...BYTE_MUTATIONS, METRICS_LINE_MUTATION, METRICS_LINE_MUTATION, METRICS_LINE_MUTATION],
};

// ---------------------------------------------------------------------------------------------
// The loop

// eslint-disable-next-line no-control-regex
const RAW_CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e]/;

/** What is wrong with how a reader ended, or null when it ended acceptably. */
function judge(reader: Reader, outcome: { value?: unknown; error?: unknown }): string | null {
  if (!('error' in outcome)) {
    try {
      JSON.stringify(outcome.value);
    } catch (e) {
      return `its result cannot be serialised: ${String(e)}`;
    }
    return null;
  }
  const e = outcome.error;
  if (!(e instanceof MotlabError)) return e instanceof Error ? `${e.name}: ${e.message.slice(0, 300)}` : `threw ${String(e).slice(0, 300)}`;
  if (!reader.refuses) return `refused a file it must always read: MotlabError(${e.code}): ${e.message.slice(0, 300)}`;
  if (e.message.length > MAX_MESSAGE_LENGTH + 200) return `a ${e.message.length}-character message`;
  if (RAW_CONTROL.test(e.message)) return `raw control characters in the message: ${JSON.stringify(e.message.slice(0, 300))}`;
  return null;
}

const TIMED_OUT = Symbol('timed out');

async function callWithTimeout(
  reader: Reader,
  f: Fixture,
  bytes: Buffer,
  timeoutMs: number,
): Promise<{ value?: unknown; error?: unknown } | typeof TIMED_OUT> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<typeof TIMED_OUT>((resolve) => (timer = setTimeout(() => resolve(TIMED_OUT), timeoutMs)));
  const call = (async () => {
    try {
      return { value: await reader.call(f, bytes) };
    } catch (error) {
      return { error };
    }
  })();
  try {
    return await Promise.race([call, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A report of no cases yet. */
export function emptyFuzzReport(seed: number): FuzzReport {
  return {
    seed,
    cases: 0,
    readerCalls: 0,
    byKind: Object.fromEntries(FILE_KINDS.map((k) => [k, { cases: 0, returned: 0, refused: 0 }])) as Record<FileKind, KindStats>,
    crashes: [],
    hangs: [],
    slowestMs: 0,
    slowest: '',
    readerMs: {},
    peakRssMiB: 0,
    seconds: 0,
  };
}

export async function runFuzz(options: FuzzOptions): Promise<FuzzReport> {
  const started = Date.now();
  const timeoutMs = options.caseTimeoutMs ?? 5000;
  const fixture = await makeFixture(options.workDir);
  const report = emptyFuzzReport(options.seed);
  const first = options.firstCase ?? 0;
  try {
    for (let c = first; c < first + options.cases; c++) {
      // Each case has its own generator: case c is the same in every run with this seed.
      const rng = new Rng((options.seed * 0x9e3779b1 + c) >>> 0);
      const kind = FILE_KINDS[c % FILE_KINDS.length];
      const original = fixture.originals[kind];
      let bytes = original;
      const names: string[] = [];
      for (let n = 1 + (rng.uniform() < 0.25 ? rng.int(3) : 0); n > 0; n--) {
        const mutation = pick(rng, MUTATIONS[kind]);
        names.push(mutation.name);
        bytes = mutation.apply(bytes, rng);
      }
      const mutation = names.join(' + ');
      const file = fixture.fileOf[kind];
      writeFileSync(file, bytes);
      const stats = report.byKind[kind];
      stats.cases++;
      for (const reader of READERS[kind]) {
        const t0 = performance.now();
        const outcome = await callWithTimeout(reader, fixture, bytes, timeoutMs);
        const ms = performance.now() - t0;
        report.readerCalls++;
        report.readerMs[`${kind}: ${reader.name}`] = (report.readerMs[`${kind}: ${reader.name}`] ?? 0) + ms;
        const failure = { kind, caseIndex: c, mutation, reader: reader.name };
        if (ms > report.slowestMs) {
          report.slowestMs = ms;
          report.slowest = `case ${c} (${kind}, ${mutation}) in ${reader.name}`;
        }
        if (outcome === TIMED_OUT || ms > timeoutMs) {
          report.hangs.push({ ...failure, error: `no answer after ${Math.round(ms)} ms` });
          continue;
        }
        const problem = judge(reader, outcome);
        if (problem) report.crashes.push({ ...failure, error: problem });
        else if ('error' in outcome) stats.refused++;
        else stats.returned++;
      }
      writeFileSync(file, original);
      report.cases++;
      if (c % 64 === 0) report.peakRssMiB = Math.max(report.peakRssMiB, process.memoryUsage().rss / 2 ** 20);
      options.onCase?.(c, report);
    }
  } finally {
    await fixture.api.close();
    rmSync(options.workDir, { recursive: true, force: true });
  }
  report.peakRssMiB = Math.max(report.peakRssMiB, peakRss());
  report.seconds = (Date.now() - started) / 1000;
  return report;
}

/** The process's peak resident memory so far (getrusage maxrss), in MiB. */
export function peakRss(): number {
  return process.resourceUsage().maxRSS / 1024;
}

export function describeReport(r: FuzzReport): string {
  const kinds = FILE_KINDS.map((k) => `${k} ${r.byKind[k].cases}`).join(', ');
  return (
    `fuzz (seed ${r.seed}): ${r.cases} cases, ${r.readerCalls} reader calls (${kinds}); ` +
    `crashes ${r.crashes.length}, hangs ${r.hangs.length}, slowest ${r.slowestMs.toFixed(0)} ms, ` +
    `peak RSS ${r.peakRssMiB.toFixed(0)} MiB, ${r.seconds.toFixed(1)} s`
  );
}
