/**
 * `npm run fuzz -- [--cases N] [--seed S] [--timeout MS]`: a long run of the file fuzzer
 * (test/hostile/fuzz-lib.ts; `npm test` runs a few thousand cases of it). The cases run in a
 * worker thread watched from here: a case that blocks the worker's event loop (which no timer
 * inside it could catch) is reported as a hang, the worker is replaced and the run goes on from
 * the next case. Reports cases, crashes, hangs and the peak resident memory; exits 1 if there
 * was any crash or hang.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import {
  describeReport,
  emptyFuzzReport,
  FILE_KINDS,
  peakRss,
  runFuzz,
  type FuzzFailure,
  type FuzzReport,
} from '../test/hostile/fuzz-lib.ts';

interface Job {
  seed: number;
  firstCase: number;
  cases: number;
  caseTimeoutMs: number;
  workDir: string;
  /** [next case index to run] shared with the watchdog. */
  heartbeat: SharedArrayBuffer;
}

/** A worker that has not finished its first case for this long is blocked (start-up included). */
const STARTUP_LIMIT_MS = 300_000;

type WorkerMessage = { type: 'progress'; report: FuzzReport } | { type: 'done'; report: FuzzReport };

if (!isMainThread) {
  const job = workerData as Job;
  const heartbeat = new Int32Array(job.heartbeat);
  const report = await runFuzz({
    seed: job.seed,
    firstCase: job.firstCase,
    cases: job.cases,
    caseTimeoutMs: job.caseTimeoutMs,
    workDir: job.workDir,
    onCase(caseIndex, r) {
      Atomics.store(heartbeat, 0, caseIndex + 1);
      if ((caseIndex + 1) % 250 === 0) parentPort!.postMessage({ type: 'progress', report: r } satisfies WorkerMessage);
    },
  });
  parentPort!.postMessage({ type: 'done', report } satisfies WorkerMessage);
} else {
  await main();
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      cases: { type: 'string', default: '100000' },
      seed: { type: 'string', default: '1' },
      timeout: { type: 'string', default: '10000' },
    },
  });
  const cases = Number(values.cases);
  const seed = Number(values.seed);
  const caseTimeoutMs = Number(values.timeout);
  if (!Number.isSafeInteger(cases) || cases < 1 || !Number.isSafeInteger(seed) || seed < 0 || !(caseTimeoutMs > 0)) {
    console.error('usage: npm run fuzz -- [--cases N] [--seed S] [--timeout MS]');
    process.exit(2);
  }
  console.log(`fuzz: ${cases} cases, seed ${seed}, ${caseTimeoutMs} ms per reader call, kinds: ${FILE_KINDS.join(', ')}`);
  const started = Date.now();
  const total = emptyFuzzReport(seed);
  let next = 0;
  while (next < cases) {
    const segment = await runSegment({ seed, firstCase: next, cases: cases - next, caseTimeoutMs }, (r) => {
      const done = next + r.cases;
      if (done % 5000 !== 0) return;
      const rate = done / ((Date.now() - started) / 1000);
      console.log(
        `  ${done} cases, ${total.crashes.length + r.crashes.length} crashes, ${total.hangs.length + r.hangs.length} hangs, ${rate.toFixed(0)} cases/s`,
      );
    });
    merge(total, segment.report);
    next += segment.report.cases;
    if (segment.hungAt !== null) {
      // The worker stopped answering in this case: count it, and go on after it.
      const kind = FILE_KINDS[segment.hungAt % FILE_KINDS.length];
      total.hangs.push({
        kind,
        caseIndex: segment.hungAt,
        mutation: '(see the case index)',
        reader: '(worker blocked)',
        error: `no progress for ${2 * caseTimeoutMs} ms`,
      });
      total.cases++;
      next = segment.hungAt + 1;
    }
  }
  total.seconds = (Date.now() - started) / 1000;
  total.peakRssMiB = Math.max(total.peakRssMiB, peakRss());
  console.log(describeReport(total));
  console.log(`  readers by time: ${topReaders(total)}`);
  console.log(`  slowest reader call: ${total.slowest}`);
  for (const [what, list] of [
    ['crash', total.crashes],
    ['hang', total.hangs],
  ] as const)
    for (const f of list.slice(0, 20)) console.log(`  ${what}: ${describeFailure(f)}`);
  process.exit(total.crashes.length + total.hangs.length > 0 ? 1 : 0);
}

interface Segment {
  report: FuzzReport;
  /** The case the worker blocked in, if it did. */
  hungAt: number | null;
}

function runSegment(job: Omit<Job, 'workDir' | 'heartbeat'>, onProgress: (r: FuzzReport) => void): Promise<Segment> {
  const workDir = mkdtempSync(path.join(tmpdir(), 'motlab-fuzz-'));
  const heartbeat = new SharedArrayBuffer(4);
  const beats = new Int32Array(heartbeat);
  Atomics.store(beats, 0, job.firstCase);
  // Workers do not inherit tsx's loader: register it in the worker, then load this file there.
  const bootstrap = `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(import.meta.url)}); })`;
  const worker = new Worker(bootstrap, { eval: true, workerData: { ...job, workDir, heartbeat } satisfies Job });
  let last: FuzzReport | null = null;
  return new Promise((resolve, reject) => {
    let seen = job.firstCase;
    let seenAt = Date.now();
    // Loading the worker (tsx, the readers) and writing the fixture come before the first case:
    // on a loaded machine that takes longer than a case may, so it has a limit of its own.
    const watchdog = setInterval(() => {
      const now = Atomics.load(beats, 0);
      if (now !== seen) {
        seen = now;
        seenAt = Date.now();
      } else if (Date.now() - seenAt > (now === job.firstCase ? STARTUP_LIMIT_MS : stallLimitMs(job.caseTimeoutMs))) {
        clearInterval(watchdog);
        void worker.terminate().then(() => {
          rmSync(workDir, { recursive: true, force: true });
          const report = last ?? emptyFuzzReport(job.seed);
          // Cases before the blocked one finished; the progress report may lag behind them.
          report.cases = now - job.firstCase;
          resolve({ report, hungAt: now });
        });
      }
    }, 500);
    worker.on('message', (m: WorkerMessage) => {
      last = m.report;
      if (m.type === 'progress') onProgress(m.report);
      else {
        clearInterval(watchdog);
        resolve({ report: m.report, hungAt: null });
      }
    });
    worker.on('error', (e) => {
      clearInterval(watchdog);
      rmSync(workDir, { recursive: true, force: true });
      reject(e);
    });
  });
}

/** A worker that has not finished a case for this long is blocked (a reader call may take the timeout, twice over). */
function stallLimitMs(caseTimeoutMs: number): number {
  return 2 * caseTimeoutMs + 10_000;
}

function merge(total: FuzzReport, r: FuzzReport): void {
  total.cases += r.cases;
  total.readerCalls += r.readerCalls;
  for (const k of FILE_KINDS) {
    total.byKind[k].cases += r.byKind[k].cases;
    total.byKind[k].returned += r.byKind[k].returned;
    total.byKind[k].refused += r.byKind[k].refused;
  }
  total.crashes.push(...r.crashes);
  total.hangs.push(...r.hangs);
  if (r.slowestMs > total.slowestMs) {
    total.slowestMs = r.slowestMs;
    total.slowest = r.slowest;
  }
  for (const [k, ms] of Object.entries(r.readerMs)) total.readerMs[k] = (total.readerMs[k] ?? 0) + ms;
  total.peakRssMiB = Math.max(total.peakRssMiB, r.peakRssMiB);
}

function topReaders(r: FuzzReport): string {
  return Object.entries(r.readerMs)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 5)
    .map(([k, ms]) => `${k} ${(ms / 1000).toFixed(1)} s`)
    .join(', ');
}

function describeFailure(f: FuzzFailure): string {
  return `case ${f.caseIndex} ${f.kind} [${f.mutation}] ${f.reader}: ${f.error}`;
}
