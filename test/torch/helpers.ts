/**
 * Running the PyTorch trainer (python/motlab_torch) in tests: Debian's /usr/bin/python3 with
 * python3-torch, PYTHONPATH=python, one torch thread per process (the machine has 2 cores).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { PYTHON, REPO, type CliResult } from '../training/helpers.ts';

export { metricsOf, motlab, PYTHON, REPO, TORCH_SCRIPT, torchAvailable } from '../training/helpers.ts';

const env = { ...process.env, PYTHONPATH: path.join(REPO, 'python') };

/** `python3 -m motlab_torch.<module> …` to completion. */
export function torchModule(module: string, args: string[], timeoutMs = 300_000): CliResult {
  const r = spawnSync(PYTHON, ['-m', `motlab_torch.${module}`, ...args], { encoding: 'utf8', env, timeout: timeoutMs });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `python3 -m motlab_torch.train … --threads 1` to completion. */
export function torchTrain(args: string[]): CliResult {
  return torchModule('train', [...args, '--threads', '1']);
}

export interface TrainEvent {
  type: 'engine' | 'status' | 'checkpoint' | 'metrics';
  status?: string;
  message?: string;
  step?: number;
  record?: Record<string, unknown> & { type: string; step: number };
}

/**
 * The trainer with --progress-jsonl; `onEvent` sees each event with the child (to signal it).
 * Resolves with the exit code, the events and stderr.
 */
export function torchTrainLive(
  args: string[],
  onEvent: (event: TrainEvent, child: ReturnType<typeof spawn>) => void,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; events: TrainEvent[]; stderr: string }> {
  const child = spawn(PYTHON, ['-m', 'motlab_torch.train', ...args, '--threads', '1', '--progress-jsonl'], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const events: TrainEvent[] = [];
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  createInterface({ input: child.stdout }).on('line', (line) => {
    const event = JSON.parse(line) as TrainEvent;
    events.push(event);
    onEvent(event, child);
  });
  return new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, events, stderr })));
}

export interface Records {
  train: Map<number, Record<string, unknown> & { loss: Record<string, number | null>; grad_norm: number }>;
  eval: Map<number, Record<string, unknown> & { loss: Record<string, number | null>; windows: number }>;
}

export function recordsOf(runDir: string): Records {
  const out: Records = { train: new Map(), eval: new Map() };
  const file = path.join(runDir, 'metrics.jsonl');
  if (!existsSync(file)) return out;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    const r = JSON.parse(line);
    if (r.type === 'train') out.train.set(r.step, r);
    else if (r.type === 'eval') out.eval.set(r.step, r);
  }
  return out;
}

/** |a − b| ≤ tol for every modality loss (null where the other is null). */
export function lossesClose(a: Record<string, number | null>, b: Record<string, number | null>, tol: number, what: string): void {
  const keys = Object.keys(a).sort();
  if (keys.join() !== Object.keys(b).sort().join()) throw new Error(`${what}: modalities differ: ${keys} vs ${Object.keys(b)}`);
  for (const k of keys) {
    const x = a[k];
    const y = b[k];
    if (x === null || y === null) {
      if (x !== y) throw new Error(`${what} ${k}: ${x} vs ${y}`);
    } else if (!(Math.abs(x - y) <= tol)) {
      throw new Error(`${what} ${k}: ${x} vs ${y} (|diff| ${Math.abs(x - y)} > ${tol})`);
    }
  }
}

export function readJson(file: string): Record<string, unknown> {
  return JSON.parse(readFileSync(file, 'utf8'));
}

/**
 * `world` processes of the trainer started the way any launcher (torchrun, srun) starts them:
 * RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT in the environment. Resolves with each rank's result.
 */
export async function torchTrainLaunched(args: string[], world: number): Promise<CliResult[]> {
  const port = await new Promise<number>((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
  const ranks = Array.from({ length: world }, (_, rank) => {
    const child = spawn(PYTHON, ['-m', 'motlab_torch.train', ...args, '--threads', '1'], {
      env: { ...env, RANK: String(rank), WORLD_SIZE: String(world), MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    return new Promise<CliResult>((resolve) => child.on('close', (status) => resolve({ status, stdout, stderr })));
  });
  return Promise.all(ranks);
}
