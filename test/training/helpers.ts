/** Running the real `motlab` command in tests: a child process, real files, real output. */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const MOTLAB = path.join(REPO, 'bin', 'motlab.mjs');
export const PYTHON = '/usr/bin/python3';
export const TORCH_SCRIPT = path.join(REPO, 'bench', 'torch_mot.py');

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function motlab(args: string[], options: { timeoutMs?: number } = {}): CliResult {
  const r = spawnSync(process.execPath, [MOTLAB, ...args], { encoding: 'utf8', timeout: options.timeoutMs ?? 300_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export function motlabAsync(args: string[]): ChildProcess {
  return spawn(process.execPath, [MOTLAB, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
}

export interface TrainLine {
  type: 'train';
  step: number;
  loss: Record<string, number | null>;
  grad_norm: number;
}

export function metricsOf(runDir: string): Record<string, unknown>[] {
  const file = path.join(runDir, 'metrics.jsonl');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim().length > 0)
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as Record<string, unknown>];
      } catch {
        return []; // a line torn by SIGKILL
      }
    });
}

export function trainLosses(runDir: string): Map<number, number> {
  const out = new Map<number, number>();
  for (const r of metricsOf(runDir)) if (r.type === 'train') out.set(r.step as number, (r.loss as { all: number }).all);
  return out;
}

export const torchAvailable = spawnSync(PYTHON, ['-c', 'import torch, numpy'], { encoding: 'utf8' }).status === 0;

/** Arguments of `motlab train` for a new tiny MoT run on the wasm engine. */
export function tinyTrainArgs(data: string, out: string, extra: string[] = []): string[] {
  return ['train', '--config', 'mot', '--size', 'tiny', '--data', data, '--out', out, '--engine', 'wasm', ...extra];
}

/** `motlab data synth` into `out`: the tests' small synthetic dataset (40,000 tokens unless told). */
export function synthData(out: string, seed: number, tokens = 40_000): void {
  const r = motlab(['data', 'synth', '--out', out, '--tokens', String(tokens), '--seed', String(seed)]);
  assert.equal(r.status, 0, r.stderr);
}

export interface TinyRunOptions {
  /** A preset name or a config file; default mot. */
  config?: string;
  /** Dataset folder; default the built-in fashion-tri. */
  data?: string;
  steps: number;
  /** Default: once, at the last step. */
  checkpointEvery?: number;
  /** Default: once, at the last step. */
  evalEvery?: number;
}

/** Trains a new tiny run into `out` with the real CLI on the wasm engine; fails the test if it fails. */
export function trainTiny(out: string, options: TinyRunOptions): void {
  const { config = 'mot', data, steps, checkpointEvery = steps, evalEvery = steps } = options;
  const size = config.endsWith('.json') ? [] : ['--size', 'tiny'];
  const r = motlab([
    'train',
    '--config',
    config,
    ...size,
    ...(data ? ['--data', data] : []),
    '--out',
    out,
    '--steps',
    String(steps),
    '--checkpoint-every',
    String(checkpointEvery),
    '--eval-every',
    String(evalEvery),
    '--engine',
    'wasm',
  ]);
  assert.equal(r.status, 0, r.stderr);
}

/** Arguments of `motlab train --resume` on the wasm engine. */
export function resumeArgs(out: string, extra: string[] = []): string[] {
  return ['train', '--out', out, '--resume', '--engine', 'wasm', ...extra];
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
