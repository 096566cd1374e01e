/**
 * The `torch` engine: the PyTorch trainer (python/motlab_torch) run as a separate process on a
 * run folder the lab prepared, on whatever device PyTorch sees, with N processes (DDP).
 *
 * It speaks the lab's protocols, so the rest of the lab treats it like its own trainer: it takes
 * the run lock itself (motlab_torch/lock.py, the protocol of lock.ts), writes run.json's status,
 * metrics.jsonl and atomic checkpoints, prints the trainer's events as JSON lines
 * (--progress-jsonl, forwarded here as run events), and takes "pause", "resume", "stop" on its
 * stdin (--control-stdin; SIGTERM also stops it, as the lock's owner).
 *
 * Which Python: `--python PATH`, else $MOTLAB_PYTHON, else the first of a few usual names that
 * can `import torch, numpy` (a python3 earlier on PATH may lack torch where Debian's has it).
 */
import { spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { MotlabError } from '../common/errors.ts';
import { oneLine } from '../common/text.ts';
import { TORCH_ENGINE } from '../common/vocabulary.ts';
import type { TrainingControl } from '../training/trainer.ts';
import type { RunEvent } from './run-events.ts';

/** Where $MOTLAB_PYTHON is read from. */
export const PYTHON_ENV = 'MOTLAB_PYTHON';
/** Tried in order when neither --python nor $MOTLAB_PYTHON names one. */
const PYTHON_CANDIDATES = ['python3', '/usr/bin/python3', '/usr/local/bin/python3', 'python'];
/** Importing PyTorch takes seconds, more on a busy machine. */
const PROBE_TIMEOUT_MS = 120_000;
/** Lines of the trainer's stderr kept for the error message of a failed run. */
const STDERR_LINES_KEPT = 20;

const PROBE = [
  'import json, sys',
  'try:',
  '    import numpy, torch',
  'except Exception as e:',
  '    print(json.dumps({"error": type(e).__name__ + ": " + str(e)})); sys.exit(0)',
  'mps = getattr(torch.backends, "mps", None)',
  'device = "cuda" if torch.cuda.is_available() else "mps" if (mps and mps.is_available()) else "cpu"',
  'print(json.dumps({"executable": sys.executable, "python": sys.version.split()[0], "torch": torch.__version__, "device": device,',
  '                  "gpus": torch.cuda.device_count() if device == "cuda" else 0}))',
].join('\n');

/** A Python that imports PyTorch, and what PyTorch sees. */
export interface TorchPython {
  /** What to run (as given: a name on PATH or a path). */
  command: string;
  executable: string;
  python: string;
  torch: string;
  /** The device `--device auto` picks: cuda (also ROCm), mps, or cpu. */
  device: string;
  gpus: number;
}

export function describeTorchPython(p: TorchPython): string {
  const device = p.device === 'cuda' ? `cuda × ${p.gpus}` : p.device;
  return `PyTorch ${p.torch} on ${device} (${p.executable}, Python ${p.python})`;
}

/** The folder holding motlab_torch/: the nearest `python/motlab_torch` above this file (source or bundle). */
export function torchPackageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = path.join(dir, 'python');
    if (existsSync(path.join(candidate, 'motlab_torch', 'train.py')) && statSync(candidate).isDirectory()) return candidate;
    const parent = path.dirname(dir);
    if (parent === dir)
      throw new MotlabError('engine_unavailable', 'the PyTorch trainer (python/motlab_torch) is not part of this installation');
    dir = parent;
  }
}

/** Run `command` with PYTHONPATH set to the trainer package (besides what was there). */
function torchEnv(): NodeJS.ProcessEnv {
  const existing = process.env.PYTHONPATH;
  return { ...process.env, PYTHONPATH: existing ? `${torchPackageRoot()}${path.delimiter}${existing}` : torchPackageRoot() };
}

/** `command` if it imports PyTorch, else why not (one line). */
function probe(command: string): Promise<TorchPython | string> {
  return new Promise((resolve) => {
    const child = spawn(command, ['-c', PROBE], { stdio: ['ignore', 'pipe', 'pipe'] });
    // Our own timer, unref'd: spawn's `timeout` option keeps the process alive for its whole
    // length when the program does not exist (the CLI waited 2 minutes to print "not found").
    const timer = setTimeout(() => child.kill('SIGTERM'), PROBE_TIMEOUT_MS);
    timer.unref();
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', (e) => {
      clearTimeout(timer);
      resolve((e as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found' : e.message);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (signal) return resolve(`ended by ${signal}${signal === 'SIGTERM' ? ' (timed out importing torch)' : ''}`);
      try {
        const r = JSON.parse(out.trim().split('\n').at(-1) ?? '') as Partial<TorchPython> & { error?: string };
        if (r.error) return resolve(r.error);
        if (typeof r.torch === 'string') return resolve({ command, ...(r as Omit<TorchPython, 'command'>) });
      } catch {
        // not our probe's answer: say what the program printed
      }
      resolve(oneLine(err.trim().split('\n').at(-1) || `exit code ${code}`, 160));
    });
  });
}

/**
 * The Python that trains `torch` runs: `explicit` (--python), else $MOTLAB_PYTHON, else the
 * first usual name that imports torch. A MotlabError 'engine_unavailable' (one line) when none does.
 */
export async function findTorchPython(explicit?: string): Promise<TorchPython> {
  const named = explicit ?? process.env[PYTHON_ENV] ?? undefined;
  const source = explicit !== undefined ? '--python' : `$${PYTHON_ENV}`;
  const candidates = named ? [named] : PYTHON_CANDIDATES;
  const tried: string[] = [];
  for (const candidate of candidates) {
    const found = await probe(candidate);
    if (typeof found !== 'string') return found;
    tried.push(`${candidate}: ${found}`);
  }
  const hint = named
    ? `${source} names ${named}, which cannot import PyTorch (${tried[0].slice(named.length + 2)})`
    : `No Python with PyTorch found (tried ${tried.join('; ')})`;
  throw new MotlabError(
    'engine_unavailable',
    `${hint}. Install PyTorch and numpy (pip install torch numpy, or apt-get install python3-torch) ` +
      `or name a Python that has them with --python PATH or $${PYTHON_ENV}.`,
  );
}

let availability: Promise<{ available: boolean; reason: string }> | null = null;

/** Whether `torch` can train here (probed once per process; for the new-run form). */
export function torchAvailability(): Promise<{ available: boolean; reason: string }> {
  availability ??= findTorchPython().then(
    (p) => ({ available: true, reason: describeTorchPython(p) }),
    (e: unknown) => ({ available: false, reason: (e as Error).message }),
  );
  return availability;
}

export interface TorchTrainOptions {
  runDir: string;
  python: TorchPython;
  /** Processes (DistributedDataParallel over gloo on CPU, nccl on GPUs). */
  processes: number;
  /** Torch threads per process (default: the trainer's, cores / processes). */
  threads?: number;
  control: TrainingControl;
  onEvent?: (event: RunEvent) => void | Promise<void>;
  /** Each line the trainer writes on stderr (warnings, its error line). */
  onStderr?: (line: string) => void;
}

/** What the trainer prints with --progress-jsonl, checked enough to forward as a run event. */
function asRunEvent(line: string): RunEvent | null {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return null;
  }
  const e = value as { type?: unknown };
  if (!e || typeof e !== 'object') return null;
  if (e.type === 'engine' || e.type === 'status' || e.type === 'checkpoint' || e.type === 'metrics') return value as RunEvent;
  return null;
}

/**
 * Train the run in `runDir` (its run.json written and checked by the run service; no complete
 * checkpoint means step 0) with the PyTorch trainer, forwarding its events and the control's
 * requests. Resolves with how it ended; a failure rejects with the trainer's own error line.
 */
export function trainWithTorch(options: TorchTrainOptions): Promise<'completed' | 'stopped'> {
  const { runDir, python, processes, control } = options;
  const args = [
    '-m',
    'motlab_torch.train',
    '--out',
    runDir,
    '--resume',
    '--progress-jsonl',
    '--control-stdin',
    '--nproc',
    String(processes),
  ];
  if (options.threads !== undefined) args.push('--threads', String(options.threads));
  const child = spawn(python.command, args, { env: torchEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
  let lastStatus: string | undefined;
  const stderr: string[] = [];
  let events = Promise.resolve();

  control.listen((action) => {
    if (child.exitCode === null && child.stdin.writable) child.stdin.write(`${action}\n`);
  });
  // A request made before the trainer started (a stop during start-up) is sent at once.
  if (control.stopRequested) child.stdin.write('stop\n');
  else if (control.paused) child.stdin.write('pause\n');
  child.stdin.on('error', () => undefined); // the trainer has ended; its exit says how

  createInterface({ input: child.stdout }).on('line', (line) => {
    const event = asRunEvent(line);
    if (!event) return void (line.trim() && (events = events.then(() => options.onEvent?.({ type: 'note', message: line }))));
    if (event.type === 'status') lastStatus = event.status;
    events = events.then(() => options.onEvent?.(event));
  });
  createInterface({ input: child.stderr }).on('line', (line) => {
    stderr.push(line);
    if (stderr.length > STDERR_LINES_KEPT) stderr.shift();
    options.onStderr?.(line);
  });

  return new Promise((resolve, reject) => {
    child.on('error', (e) => reject(new MotlabError('engine_unavailable', `cannot start ${python.command}: ${e.message}`)));
    child.on('close', (code, signal) => {
      void events.then(() => {
        if (code === 0 && (lastStatus === 'completed' || lastStatus === 'stopped')) return resolve(lastStatus);
        const said = stderr.filter((l) => l.trim()).at(-1);
        const how = signal ? `was ended by ${signal}` : `exited with code ${code}`;
        const conflict = said !== undefined && / is already being trained by | is locked by /.test(said);
        reject(
          new MotlabError(
            conflict ? 'conflict' : 'internal',
            said ? oneLine(said.replace(/^motlab_torch\.train(?: \(rank \d+\))?: /, ''), 400) : `the ${TORCH_ENGINE} trainer ${how}`,
          ),
        );
      });
    });
  });
}
