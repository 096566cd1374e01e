/**
 * Shared setup of the hostile-input suite: the real `motlab` command and the real `motlab serve`
 * as child processes (with their peak memory from /proc), and small real run folders and
 * datasets written by the lab's own writers, ready to be damaged.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeCheckpoint } from '../../src-main/checkpoints/run-folder.ts';
import { writeRunJson, type RunJson } from '../../src-main/runs/run-json.ts';
import { encodeSafetensors, type TensorIn } from '../../src-main/checkpoints/safetensors.ts';
import { encodeNpy } from '../../src-main/data/npy.ts';
import type { ModelConfig } from '../../src-main/model/config.ts';
import { buildModelConfig } from '../../src-main/model/presets.ts';
import { expectedTensorShapes } from '../../src-main/model/tensor-names.ts';
import { TRAINING_DEFAULTS } from '../../src-main/training/config.ts';
import { Rng } from '../../src-main/util/rng.ts';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const MOTLAB = path.join(REPO, 'bin', 'motlab.mjs');

/** Peak resident memory of a live process (VmHWM), in MiB; 0 once it has exited. */
export function peakRssMiB(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

export interface CliRun {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
  /** Highest VmHWM seen while it ran (sampled every 20 ms). */
  peakRssMiB: number;
  timedOut: boolean;
}

/** Run `motlab …` to completion (or kill it after `timeoutMs`), watching its memory. */
export function runCli(args: string[], options: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<CliRun> {
  const started = Date.now();
  const child = spawn(process.execPath, [MOTLAB, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, MOTLAB_DEBUG: '', ...options.env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  let peak = 0;
  const sampler = setInterval(() => (peak = Math.max(peak, peakRssMiB(child.pid!))), 20);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, options.timeoutMs ?? 60_000);
  return new Promise((resolve) => {
    child.on('close', (status, signal) => {
      clearInterval(sampler);
      clearTimeout(timer);
      resolve({ status, signal, stdout, stderr, ms: Date.now() - started, peakRssMiB: peak, timedOut });
    });
  });
}

/** Node prints stack frames as "    at fn (file:line:col)". */
export const STACK_FRAME = /^\s+at .+(\(|:\d+)/m;

/**
 * The contract for bad input on the command line: exit 1, exactly one line on stderr naming the
 * problem, no stack trace, no raw control characters, bounded length.
 */
export function assertOneLineError(r: CliRun, pattern: RegExp, what = ''): void {
  const label = `${what} (exit ${r.status}, ${r.ms} ms)\nstderr: ${r.stderr.slice(0, 2000)}`;
  assert.equal(r.timedOut, false, `timed out: ${label}`);
  assert.equal(r.status, 1, label);
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `one line expected: ${label}`);
  assert.doesNotMatch(r.stderr, STACK_FRAME, label);
  assert.match(lines[0], /^motlab \w+: /, label);
  assert.match(lines[0], pattern, label);
  assert.ok(lines[0].length <= 2300, `error line of ${lines[0].length} characters: ${label.slice(0, 300)}`);
  assertNoControlCharacters(r.stderr, label);
}

// eslint-disable-next-line no-control-regex
const RAW_CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e]/;

export function assertNoControlCharacters(text: string, label = ''): void {
  assert.doesNotMatch(text, RAW_CONTROL, `raw control characters in output ${label}`);
}

// ---------------------------------------------------------------------------------------------
// Fixtures

export const TINY_SPEC = {
  name: 'hostile-tiny',
  vocab_size: 48,
  modalities: [
    { name: 'text', start: 0, end: 16 },
    { name: 'image', start: 16, end: 32 },
    { name: 'speech', start: 32, end: 48 },
  ],
  splits: ['train', 'val'],
};

/** A small valid dataset folder (or a damaged one, with `spec` and token counts overridden). */
export function writeDataset(
  dir: string,
  options: { spec?: Record<string, unknown>; trainTokens?: number; valTokens?: number; seed?: number } = {},
): string {
  mkdirSync(dir, { recursive: true });
  const rng = new Rng(options.seed ?? 1);
  const spec = { ...TINY_SPEC, ...options.spec };
  writeFileSync(path.join(dir, 'dataset.json'), JSON.stringify(spec, null, 2));
  for (const [split, n] of [
    ['train', options.trainTokens ?? 4000],
    ['val', options.valTokens ?? 600],
  ] as const) {
    const data = new Uint16Array(n);
    for (let i = 0; i < n; i++) data[i] = rng.int(TINY_SPEC.vocab_size);
    writeFileSync(path.join(dir, `${split}.tokens.npy`), encodeNpy({ dtype: '<u2', shape: [n], data }));
  }
  return dir;
}

export function tinyConfig(): ModelConfig {
  return buildModelConfig('mot', 'tiny', TINY_SPEC);
}

/** Deterministic small weights for every tensor of `config` (what an initialised model looks like). */
export function tinyWeights(config: ModelConfig, seed = 5): Record<string, TensorIn> {
  const rng = new Rng(seed);
  const out: Record<string, TensorIn> = {};
  for (const [name, shape] of Object.entries(expectedTensorShapes(config))) {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    const norm = name.includes('norm');
    for (let i = 0; i < data.length; i++) data[i] = norm ? 1 : (rng.uniform() - 0.5) * 0.04;
    out[name] = { shape, data };
  }
  return out;
}

/**
 * A completed run folder with one checkpoint at step 1, written by the lab's own writers: the
 * same files training leaves (run.json, metrics.jsonl, checkpoints/step-000001/…).
 */
export async function writeRun(
  runDir: string,
  datasetDir: string,
  options: { status?: RunJson['status']; config?: ModelConfig; preset?: string } = {},
): Promise<RunJson> {
  const config = options.config ?? tinyConfig();
  const now = new Date().toISOString();
  const run: RunJson = {
    name: path.basename(runDir),
    created: now,
    updated: now,
    preset: options.preset ?? 'mot',
    size: 'tiny',
    model: config,
    training: { ...TRAINING_DEFAULTS.tiny, steps: 1 },
    dataset: { path: datasetDir, name: TINY_SPEC.name },
    engine: 'wasm',
    seed: 0,
    status: options.status ?? 'completed',
  };
  await writeRunJson(runDir, run);
  const model = tinyWeights(config);
  const optimizer: Record<string, TensorIn> = {};
  for (const [name, t] of Object.entries(model)) {
    optimizer[`${name}.exp_avg`] = { shape: t.shape, data: new Float32Array(t.data.length) };
    optimizer[`${name}.exp_avg_sq`] = { shape: t.shape, data: new Float32Array(t.data.length) };
  }
  const state = { tokens: 128, flops: 1, elapsed_s: 0.1, data_rng: new Rng(7).state(), seed: 0, engine: 'wasm', lr: 0.001 };
  await writeCheckpoint(runDir, 1, { model, optimizer, state, config });
  const record = (step: number) => ({
    type: 'train',
    step,
    time: Date.now(),
    elapsed_s: step,
    tokens: 128 * step,
    flops: step,
    lr: 0.001,
    loss: { all: 3.9, text: 3.8, image: 3.9, speech: 4 },
    grad_norm: 1,
    grad_norm_towers: {},
    tokens_per_s: 100,
    step_ms: 10,
  });
  writeFileSync(path.join(runDir, 'metrics.jsonl'), JSON.stringify(record(1)) + '\n');
  return run;
}

/** A safetensors file with this exact header text (and `dataBytes` zero bytes after it). */
export function safetensorsWithHeader(headerText: string | Buffer, dataBytes = 0): Buffer {
  const json = typeof headerText === 'string' ? Buffer.from(headerText, 'utf8') : headerText;
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(json.length), 0);
  return Buffer.concat([prefix, json, Buffer.alloc(dataBytes)]);
}

/** Re-encode a model file of the lab with a different metadata config (the tensors unchanged). */
export function modelFileWithConfig(config: unknown, weights: Record<string, TensorIn>): Buffer {
  return encodeSafetensors(weights, { format: 'motlab', config: JSON.stringify(config) });
}

// ---------------------------------------------------------------------------------------------
// The real server

export interface ServeProcess {
  child: ChildProcess;
  url: string;
  port: number;
  output(): string;
  /** SIGTERM, then wait for the exit; returns the exit code. */
  stop(): Promise<number | null>;
}

/** Start `motlab serve --port 0 …` and wait for the URL it prints. */
export async function startServe(args: string[], env: NodeJS.ProcessEnv = {}): Promise<ServeProcess> {
  const child = spawn(process.execPath, [MOTLAB, 'serve', '--port', '0', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, MOTLAB_DEBUG: '', ...env },
  });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString('utf8')));
  child.stderr!.on('data', (c: Buffer) => (out += c.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const deadline = Date.now() + 120_000;
  for (;;) {
    const m = /serving at (http:\/\/[^\s/]+:(\d+)\/)/.exec(out);
    if (m) {
      return {
        child,
        url: m[1].replace(/\?token=.*/, ''),
        port: Number(m[2]),
        output: () => out,
        async stop() {
          if (child.exitCode === null) child.kill('SIGTERM');
          return exited;
        },
      };
    }
    if (child.exitCode !== null) throw new Error(`motlab serve exited (${child.exitCode}): ${out}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`motlab serve did not start: ${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Send raw bytes on a new TCP connection; resolve what came back before the close (or the timeout). */
export function rawExchange(port: number, request: string | Buffer, host = '127.0.0.1', timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    let got = '';
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(got);
    };
    const timer = setTimeout(done, timeoutMs);
    socket.on('data', (c) => (got += c.toString('latin1')));
    socket.on('error', done);
    socket.on('close', done);
    socket.write(request);
  });
}
