/**
 * Hostile input through the real `motlab` command (issue 8): damaged and malicious files and
 * flag values each get one clear line on stderr and exit 1, fast and in bounded memory; never a
 * stack trace, a hang, raw escape sequences or a "loss NaN" that looks like a result.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { checkpointDirName } from '../../src-main/checkpoints/run-folder.ts';
import { encodeSafetensors, MAX_HEADER_BYTES, MAX_TENSORS } from '../../src-main/checkpoints/safetensors.ts';
import { MODEL_LIMITS } from '../../src-main/model/config.ts';
import {
  assertNoControlCharacters,
  assertOneLineError,
  modelFileWithConfig,
  runCli,
  safetensorsWithHeader,
  STACK_FRAME,
  tinyConfig,
  tinyWeights,
  writeDataset,
  writeRun,
} from './helpers.ts';

const root = mkdtempSync(path.join(tmpdir(), 'motlab-hostile-cli-'));
const data = path.join(root, 'data');
after(() => rmSync(root, { recursive: true, force: true }));

/** A fresh copy of the fixture run (each test damages its own). */
let runCount = 0;
async function freshRun(): Promise<{ dir: string; ckpt: string }> {
  const dir = path.join(root, `run-${runCount++}`);
  await writeRun(dir, data);
  return { dir, ckpt: path.join(dir, 'checkpoints', checkpointDirName(1)) };
}

before(() => {
  writeDataset(data);
});

/** eval loads the engine; wasm is the one every machine has. */
const evalArgs = (dir: string, ...extra: string[]) => ['eval', '--run', dir, '--engine', 'wasm', '--json', ...extra];

describe('flag values', () => {
  test('bad numbers are one-line errors with exit 1, not stack traces', async () => {
    const cases: [string[], RegExp][] = [
      [['train', '--config', 'mot', '--out', path.join(root, 'f1'), '--steps', '-5'], /--steps must be a whole number ≥ 1 .*got "-5"/],
      [['train', '--config', 'mot', '--out', path.join(root, 'f2'), '--steps=-5'], /--steps must be a whole number/],
      [['train', '--config', 'mot', '--out', path.join(root, 'f3'), '--steps', '1e400'], /--steps must be a whole number .*"1e400"/],
      [['train', '--config', 'mot', '--out', path.join(root, 'f4'), '--seed', '99999999999'], /--seed must be a whole number ≥ 0 and ≤/],
      [
        ['train', '--config', 'mot', '--out', path.join(root, 'f5'), '--checkpoint-every', '0x10'],
        /--checkpoint-every must be a whole number/,
      ],
      [['eval', '--run', root, '--data', data, '--windows', '0'], /--windows must be a whole number ≥ 1/],
      [['eval', '--run', root, '--checkpoint', 'newest'], /--checkpoint must be a whole number ≥ 0/],
      [['serve', '--port', '99999'], /--port must be a whole number ≥ 0 and ≤ 65,535/],
      [
        ['train', '--config', 'mot', '--out', path.join(root, 'f6'), '--engine', '\u001b[31mred'],
        /--engine must be one of .*\\u001b\[31mred/,
      ],
    ];
    for (const [args, pattern] of cases) {
      assertOneLineError(await runCli(args), pattern, args.join(' '));
      assert.equal(existsSync(path.join(root, 'f1')), false, 'a refused run creates nothing');
    }
    // An unknown flag is a usage error: one line, exit 2.
    const unknown = await runCli(['train', '--frobnicate']);
    assert.equal(unknown.status, 2);
    assert.equal(unknown.stderr.trimEnd().split('\n').length, 1, unknown.stderr);
    assert.doesNotMatch(unknown.stderr, STACK_FRAME);
  });
});

describe('sizes from files are checked before they are used', () => {
  test('a checkpoint whose metadata claims n_layers 1e6 is refused from its header', async () => {
    const { dir, ckpt } = await freshRun();
    const config = { ...tinyConfig(), n_layers: 1e6 };
    const file = path.join(ckpt, 'model.safetensors');
    writeFileSync(file, modelFileWithConfig(config, tinyWeights(tinyConfig())));
    assert.ok(readFileSync(file).length < 1_000_000);
    const r = await runCli(evalArgs(dir));
    assertOneLineError(r, new RegExp(`model\\.safetensors: Invalid model config: n_layers: .*${MODEL_LIMITS.n_layers}`), 'n_layers 1e6');
    assert.ok(r.peakRssMiB < 700, `peak RSS ${r.peakRssMiB} MiB`);
  });

  test('a config within the limits that does not fit the file is refused by tensor count, before any table', async () => {
    const { dir, ckpt } = await freshRun();
    const config = { ...tinyConfig(), n_layers: MODEL_LIMITS.n_layers };
    writeFileSync(path.join(ckpt, 'model.safetensors'), modelFileWithConfig(config, tinyWeights(tinyConfig())));
    assertOneLineError(await runCli(evalArgs(dir)), /holds \d+ tensors, the config in its metadata needs \d+/, 'n_layers 256');
  });

  for (const vocab of [2e9, 1e12]) {
    test(`dataset.json with vocab_size ${vocab}: data check and train refuse it in bounded memory`, async () => {
      const dir = writeDataset(path.join(root, `vocab-${vocab}`), { spec: { vocab_size: vocab } });
      const check = await runCli(['data', 'check', dir]);
      assert.equal(check.status, 1, check.stderr);
      assert.match(check.stdout, /vocab_size: Too big: expected number to be <=1048576/);
      assert.equal(check.stderr, '');
      assert.ok(check.peakRssMiB < 500, `data check peak RSS ${check.peakRssMiB} MiB`);
      const train = await runCli(['train', '--config', 'mot', '--size', 'tiny', '--data', dir, '--out', path.join(dir, 'run')]);
      assertOneLineError(train, /dataset\.json: vocab_size: Too big/, 'train');
      assert.ok(train.peakRssMiB < 700, `train peak RSS ${train.peakRssMiB} MiB`);
    });
  }
});

describe('files that are not what they claim', () => {
  test('a model file over 2 GiB (sparse) gets a clear error without reading it', async () => {
    const { dir, ckpt } = await freshRun();
    const file = path.join(ckpt, 'model.safetensors');
    truncateSync(file, 3 * 1024 ** 3);
    const r = await runCli(evalArgs(dir));
    assertOneLineError(r, /model\.safetensors: data area has \d+ bytes but the tensors cover \d+/, '3 GiB model');
    assert.doesNotMatch(r.stderr, /ERR_FS_FILE_TOO_LARGE/);
    assert.ok(r.peakRssMiB < 700, `peak RSS ${r.peakRssMiB} MiB`);
  });

  test('an optimizer file that is a folder, a FIFO or /dev/zero is refused at once', async () => {
    for (const kind of ['folder', 'fifo', 'dev-zero'] as const) {
      const { dir, ckpt } = await freshRun();
      const file = path.join(ckpt, 'optimizer.safetensors');
      rmSync(file);
      if (kind === 'folder') mkdirSync(file);
      else if (kind === 'fifo') execFileSync('mkfifo', [file]);
      else symlinkSync('/dev/zero', file);
      const r = await runCli(evalArgs(dir), { timeoutMs: 60_000 });
      const why = { folder: 'a folder', fifo: 'a FIFO \\(named pipe\\)', 'dev-zero': 'a device' }[kind];
      assertOneLineError(r, new RegExp(`optimizer\\.safetensors: is ${why}, not a regular file`), kind);
    }
  });

  test('a 98 MB header, a deeply nested header and 100,000 empty tensors cost almost nothing', async () => {
    const cases: [string, Buffer, RegExp][] = [
      [
        '98 MB header',
        safetensorsWithHeader(Buffer.alloc(98 * 1024 * 1024, 0x5b)),
        new RegExp(`exceeds the ${MAX_HEADER_BYTES}-byte limit`),
      ],
      ['nested header', safetensorsWithHeader('['.repeat(MAX_HEADER_BYTES - 16)), /nests deeper than a safetensors header can/],
      [
        '100,000 empty tensors',
        safetensorsWithHeader(
          '{' + Array.from({ length: 100_000 }, (_, i) => `"t${i}":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}`).join(',') + '}',
        ),
        new RegExp(`more than ${MAX_TENSORS.toLocaleString('en-US')} tensors`),
      ],
    ];
    for (const [what, bytes, pattern] of cases) {
      const { dir, ckpt } = await freshRun();
      writeFileSync(path.join(ckpt, 'model.safetensors'), bytes);
      const r = await runCli(evalArgs(dir));
      assertOneLineError(r, pattern, what);
      assert.ok(r.ms < 30_000, `${what}: ${r.ms} ms`);
      assert.ok(r.peakRssMiB < 800, `${what}: peak RSS ${r.peakRssMiB} MiB`);
    }
  });

  test('an optimizer state missing a tensor stops the resume with a clear error', async () => {
    const { dir, ckpt } = await freshRun();
    const config = tinyConfig();
    const optimizer: Record<string, { shape: number[]; data: Float32Array }> = {};
    for (const [name, t] of Object.entries(tinyWeights(config))) {
      optimizer[`${name}.exp_avg`] = { shape: t.shape, data: new Float32Array(t.data.length) };
      if (name !== 'layers.1.attention.wq.2.weight')
        optimizer[`${name}.exp_avg_sq`] = { shape: t.shape, data: new Float32Array(t.data.length) };
    }
    writeFileSync(path.join(ckpt, 'optimizer.safetensors'), encodeSafetensors(optimizer, { format: 'motlab-optimizer', step: '1' }));
    const r = await runCli(['train', '--out', dir, '--resume', '--steps', '2', '--engine', 'wasm'], { timeoutMs: 120_000 });
    assertOneLineError(r, /the optimizer state lacks layers\.1\.attention\.wq\.2\.weight\.exp_avg_sq/, 'resume');
  });
});

describe('datasets too short for the model', () => {
  test('a val split shorter than seq_len + 1 is a problem for data check, train and eval', async () => {
    const short = writeDataset(path.join(root, 'short-val'), { valTokens: 20 });
    const check = await runCli(['data', 'check', short]);
    assert.equal(check.status, 1);
    assert.match(check.stdout, /split "val" has 20 tokens, too few for any preset size/);
    const checkShort = await runCli(['data', 'check', short, '--seq-len', '16']);
    assert.equal(checkShort.status, 0, checkShort.stdout);
    const checkLong = await runCli(['data', 'check', short, '--seq-len', '32']);
    assert.equal(checkLong.status, 1);
    assert.match(checkLong.stdout, /split "val" has 20 tokens; seq_len 32 needs at least 33/);

    const out = path.join(root, 'short-run');
    assertOneLineError(
      await runCli(['train', '--config', 'mot', '--size', 'tiny', '--data', short, '--out', out, '--engine', 'wasm']),
      /split "val" has 20 tokens; seq_len 32 needs at least 33/,
      'train',
    );
    assert.equal(existsSync(path.join(out, 'run.json')), false);

    const { dir } = await freshRun();
    assertOneLineError(await runCli(evalArgs(dir, '--data', short)), /the split has 20 tokens, fewer than the 33/, 'eval');
  });
});

describe('output', () => {
  test('a finite but huge weight that overflows the loss is an error, not "loss NaN"', async () => {
    const { dir, ckpt } = await freshRun();
    const config = tinyConfig();
    const weights = tinyWeights(config);
    weights['output.weight'].data.fill(3e38);
    writeFileSync(path.join(ckpt, 'model.safetensors'), modelFileWithConfig(config, weights));
    const r = await runCli(evalArgs(dir));
    assertOneLineError(r, /gives a non-finite loss \(all (NaN|Infinity)/, 'huge weight');
    assert.equal(r.stdout, '');
  });

  test('escape sequences in tensor and dataset names are shown escaped; long messages are cut', async () => {
    const { dir, ckpt } = await freshRun();
    const config = tinyConfig();
    const weights = tinyWeights(config);
    const evil = '\u001b]0;pwned\u0007\u001b[2J\u009b31m';
    weights[evil] = weights['norm.0.weight'];
    delete weights['norm.0.weight'];
    writeFileSync(path.join(ckpt, 'model.safetensors'), modelFileWithConfig(config, weights));
    const r = await runCli(evalArgs(dir));
    assertOneLineError(r, /unexpected tensors "\\u001b\]0;pwned\\u0007\\u001b\[2J\\u009b31m"/, 'escapes in a tensor name');

    const named = writeDataset(path.join(root, 'evil-name'), { spec: { name: `data${evil}` } });
    const check = await runCli(['data', 'check', named]);
    assert.equal(check.status, 0, check.stdout);
    assertNoControlCharacters(check.stdout);
    assert.match(check.stdout, /name data\\u001b\]0;pwned/);
    const json = await runCli(['data', 'check', named, '--json']);
    assertNoControlCharacters(json.stdout);
    assert.equal(JSON.parse(json.stdout).spec.name, `data${evil}`, 'the JSON output is still the same JSON');

    // A million-dimension shape: refused with a short line, not megabytes.
    const { dir: dir2, ckpt: ckpt2 } = await freshRun();
    const shape = JSON.stringify(new Array(1_000_000).fill(1));
    writeFileSync(
      path.join(ckpt2, 'model.safetensors'),
      safetensorsWithHeader(`{"x":{"dtype":"F32","shape":${shape},"data_offsets":[0,4]}}`, 4),
    );
    const long = await runCli(evalArgs(dir2));
    assertOneLineError(long, /shape has 1000000 dimensions \(at most 16/, 'long shape');
    assert.ok(long.stderr.length < 400, `${long.stderr.length} characters`);
  });

  test('damaged run folders: one line from info, and compare reads past corrupt metrics lines', async () => {
    const { dir } = await freshRun();
    const run = JSON.parse(readFileSync(path.join(dir, 'run.json'), 'utf8'));
    writeFileSync(path.join(dir, 'run.json'), JSON.stringify({ ...run, created: 12345 }));
    assertOneLineError(await runCli(['info', '--run', dir]), /run\.json: created: /, 'info');

    const a = (await freshRun()).dir;
    const b = (await freshRun()).dir;
    const evalLine = (step: number, loss: number) =>
      JSON.stringify({ type: 'eval', step, time: 0, split: 'val', windows: 1, loss: { all: loss } });
    writeFileSync(path.join(a, 'metrics.jsonl'), [evalLine(0, 4), evalLine(10, 3), evalLine(20, 2)].join('\n') + '\n');
    writeFileSync(
      path.join(b, 'metrics.jsonl'),
      [evalLine(0, 4), 'garbage{', '\u0000'.repeat(40), evalLine(10, 2.5), '{"type":"eval","step":"x","loss":{}}', evalLine(20, 1.5)].join(
        '\n',
      ) + '\n',
    );
    const compare = await runCli(['compare', '--reference', a, '--run', b, '--json']);
    assert.equal(compare.status, 0, compare.stderr);
    const all = JSON.parse(compare.stdout).rows.find((m: { modality: string }) => m.modality === 'all');
    // The other run reaches the reference's final loss (2) half-way between its records at steps
    // 10 (2.5) and 20 (1.5), both read past the garbage, NUL and wrong-shape lines around them.
    assert.equal(all.xToReachFinal, 15);

    const fifoRun = (await freshRun()).dir;
    rmSync(path.join(fifoRun, 'metrics.jsonl'));
    execFileSync('mkfifo', [path.join(fifoRun, 'metrics.jsonl')]);
    assertOneLineError(await runCli(['compare', '--reference', a, '--run', fifoRun]), /metrics\.jsonl: is a FIFO/, 'FIFO metrics');
  });
});
