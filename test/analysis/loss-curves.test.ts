/**
 * The loss-curve and step-matching collect functions (analysis/loss-curves.ts,
 * analysis/steps-to-match.ts) on real tiny runs trained here with the real CLI (dense, MoT,
 * MoE top-1; 20 steps, an evaluation every 5), through `motlab analyze` and the API. Expected
 * numbers come from Python reading metrics.jsonl on its own: the bias-corrected EMA as an
 * explicitly weighted mean, x positions by numpy interpolation, the step matching from its
 * definition.
 */
import assert from 'node:assert/strict';
import { appendFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { LossCurvesReport, StepMatchReport } from '../../src-main/common/api/analysis.ts';
import type { MotlabClient } from '../../src-main/common/api/client.ts';
import { clientFor, startTestServer } from '../api/harness.ts';
import { execFile } from 'node:child_process';
import { MOTLAB } from '../training/helpers.ts';
import { runPython, skipUnlessPython } from './python.ts';
import { TINY_COMPARISON, trainComparisonRuns } from './tiny-run.ts';

/**
 * The real CLI in a child process, without blocking this process: the API server of these tests
 * runs in it, and a loop blocked for seconds lets the server's keep-alive sockets expire under
 * the client's feet.
 */
function motlab(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [MOTLAB, ...args], { maxBuffer: 1 << 28 }, (error, stdout, stderr) =>
      resolve({ status: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

const skip = skipUnlessPython('numpy', 'python3-numpy');
const root = mkdtempSync(path.join(tmpdir(), 'motlab-loss-curves-'));
const names = TINY_COMPARISON.map((r) => r.name);
let dirs: string[] = [];
let server: Awaited<ReturnType<typeof startTestServer>> | undefined;
let client: MotlabClient;

before(async () => {
  if (skip) return;
  dirs = trainComparisonRuns(root);
  server = await startTestServer();
  mkdirSync(path.join(server.workspace, 'runs'), { recursive: true });
  dirs.forEach((dir, i) => cpSync(dir, path.join(server!.workspace, 'runs', names[i]), { recursive: true }));
  client = clientFor(server.server);
});
after(async () => {
  await server?.cleanup();
  rmSync(root, { recursive: true, force: true });
});

/** What Python finds in the metrics files. */
interface Expected {
  curves: Record<string, { steps: number[]; x: number[]; raw: (number | null)[]; smoothed: (number | null)[] }>;
  summary: Record<string, { finalStep: number; finalLoss: number; finalSmoothed: number; bestStep: number; bestLoss: number }>;
  match: Record<string, { slope: number | null; matched: number; points: number; reach: number | null }>;
}

const EXPECTED = `
FIELD = {'steps': 'step', 'tokens': 'tokens', 'flops': 'flops', 'wall': 'elapsed_s'}[params['x']]
def records(path):
    return [json.loads(l) for l in open(path) if l.strip()]
def curve(recs, split, modality):
    train = [r for r in recs if r['type'] == 'train']
    pool = train if split == 'train' else [r for r in recs if r['type'] == 'eval' and r.get('split', 'val') == 'val']
    by_step = {r['step']: r for r in pool}
    steps = sorted(by_step)
    anchor = {0: 0.0}
    for r in train:
        anchor[r['step']] = r[FIELD]
    a = sorted(anchor)
    x = [float(by_step[s][FIELD]) for s in steps] if split == 'train' else [float(v) for v in np.interp(steps, a, [anchor[s] for s in a])]
    return steps, x, [by_step[s]['loss'].get(modality) for s in steps]
def ema(values, w):
    # The bias-corrected EMA at the k-th value is the mean of the values so far weighted by w^age.
    out, seen = [], []
    for v in values:
        if v is None:
            out.append(None)
            continue
        seen.append(v)
        weights = w ** np.arange(len(seen) - 1, -1, -1, dtype=float)
        out.append(float(np.dot(weights, seen) / weights.sum()))
    return out
def first_reach(points, target):
    for i, (x, l) in enumerate(points):
        if l <= target:
            if i == 0:
                return x
            x0, l0 = points[i - 1]
            return x0 + (l0 - target) / (l0 - l) * (x - x0)
    return None
runs = {name: records(path) for name, path in params['metrics'].items()}
curves, summary, match = {}, {}, {}
for name, recs in runs.items():
    for split in ['train', 'val']:
        for m in ['all', 'text', 'image', 'speech']:
            steps, x, raw = curve(recs, split, m)
            smoothed = ema(raw, params['smoothing'] if split == 'train' else 0.0)
            key = f'{name}/{m}/{split}'
            curves[key] = dict(steps=steps, x=x, raw=raw, smoothed=smoothed)
            idx = [i for i, v in enumerate(raw) if v is not None]
            best = min(idx, key=lambda i: (smoothed[i], i))
            summary[key] = dict(finalStep=steps[idx[-1]], finalLoss=raw[idx[-1]], finalSmoothed=smoothed[idx[-1]], bestStep=steps[best], bestLoss=smoothed[best])
ref = params['reference']
for name in runs:
    if name == ref:
        continue
    for m in ['all', 'text', 'image', 'speech']:
        def points(n):
            _, x, loss = curve(runs[n], 'val', m)
            return [(xi, l) for xi, l in zip(x, loss) if l is not None]
        r, o = points(ref), points(name)
        pairs = [(x, first_reach(o, l)) for x, l in r if x > 0]
        got = [(x, y) for x, y in pairs if y is not None]
        match[f'{name}/{m}'] = dict(
            slope=sum(x * y for x, y in got) / sum(x * x for x, y in got) if got else None,
            matched=len(got), points=len(pairs), reach=first_reach(o, r[-1][1]))
emit(dict(curves=curves, summary=summary, match=match))
`;

function expected(x: string, smoothing: number): Expected {
  const metrics = Object.fromEntries(names.map((n, i) => [n, path.join(dirs[i], 'metrics.jsonl')]));
  return runPython<Expected>(EXPECTED, {}, { metrics, x, smoothing, reference: 'dense' });
}

const close = (actual: number | null | undefined, wanted: number | null | undefined, what: string) => {
  if (wanted === null || wanted === undefined) return assert.equal(actual ?? null, null, what);
  assert.ok(
    typeof actual === 'number' && Math.abs(actual - wanted) <= 1e-9 * Math.max(1, Math.abs(wanted)),
    `${what}: ${actual} ≠ ${wanted}`,
  );
};
const closeAll = (actual: readonly (number | null)[], wanted: readonly (number | null)[], what: string) => {
  assert.equal(actual.length, wanted.length, `${what}: length`);
  actual.forEach((v, i) => close(v, wanted[i], `${what}[${i}]`));
};

function checkReport(report: LossCurvesReport, want: Expected, splits: ('train' | 'val')[]) {
  assert.deepEqual(
    report.runs.map((r) => [r.name, r.modelKind, r.colourIndex, r.lastStep]),
    [
      ['dense', 'dense', 0, 20],
      ['mot', 'MoT', 1, 20],
      ['moe', 'MoE', 2, 20],
    ],
  );
  assert.deepEqual(report.modalities, ['all', 'text', 'image', 'speech']);
  assert.equal(report.series.length, names.length * 4 * splits.length, 'one series per run × modality × split');
  for (const s of report.series) {
    const key = `${s.run}/${s.modality}/${s.split}`;
    const w = want.curves[key];
    assert.deepEqual(s.steps, w.steps, `${key} steps`);
    closeAll(s.x, w.x, `${key} x`);
    closeAll(s.raw, w.raw, `${key} raw`);
    closeAll(s.smoothed, w.smoothed, `${key} smoothed`);
  }
  assert.equal(report.summary.length, report.series.length);
  for (const r of report.summary) {
    const key = `${r.run}/${r.modality}/${r.split}`;
    const w = want.summary[key];
    assert.equal(r.finalStep, w.finalStep, `${key} final step`);
    assert.equal(r.bestStep, w.bestStep, `${key} best step`);
    close(r.finalLoss, w.finalLoss, `${key} final`);
    close(r.finalSmoothed, w.finalSmoothed, `${key} final smoothed`);
    close(r.bestLoss, w.bestLoss, `${key} best`);
  }
}

test('motlab analyze losses: every curve, its EMA and the final/best table agree with Python', { skip }, async () => {
  for (const [x, smoothing] of [
    ['steps', 0.6],
    ['tokens', 0.9],
  ] as const) {
    const r = await motlab([
      'analyze',
      'losses',
      '--runs',
      dirs.join(','),
      '--split',
      'both',
      '--x',
      x,
      '--smoothing',
      String(smoothing),
      '--json',
    ]);
    assert.equal(r.status, 0, r.stderr);
    const report = JSON.parse(r.stdout) as LossCurvesReport;
    assert.equal(report.x, x);
    assert.equal(report.smoothing, smoothing);
    checkReport(report, expected(x, smoothing), ['train', 'val']);
  }
  const human = await motlab(['analyze', 'losses', '--runs', dirs.join(',')]);
  assert.equal(human.status, 0, human.stderr);
  assert.match(human.stdout, /^dense\s+dense\s+all\s+validation\s+5\s+20\s+\d\.\d{4}/m);
  const bad = await motlab(['analyze', 'losses', '--runs', dirs[0], '--x', 'epochs']);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /--x must be one of steps, tokens, flops, wall \(got "epochs"\)/);
});

test(
  'motlab analyze losses --csv: one wide CSV (x, raw and smoothed columns named with the EMA weight), read by Python',
  { skip },
  async () => {
    const file = path.join(root, 'losses.csv');
    const r = await motlab(['analyze', 'losses', '--runs', dirs.join(','), '--split', 'train', '--x', 'flops', '--csv', file]);
    assert.equal(r.status, 0, r.stderr);
    const table = runPython<{ header: string[]; rows: string[][] }>(
      `import csv\nrows = list(csv.reader(open(params['file'], newline='')))\nemit(dict(header=rows[0], rows=rows[1:]))`,
      {},
      { file },
    );
    assert.equal(table.header[0], 'training FLOPs');
    assert.equal(table.header.length, 1 + names.length * 4 * 2);
    assert.ok(table.header.includes('mot · speech raw') && table.header.includes('mot · speech smoothed (EMA 0.6)'));
    const want = expected('flops', 0.6);
    for (const column of ['dense · all smoothed (EMA 0.6)', 'moe · image raw']) {
      const c = table.header.indexOf(column);
      const [run, rest] = column.split(' · ');
      const [modality, kind] = rest.split(' ');
      const curve = want.curves[`${run}/${modality}/train`];
      const byX = new Map(curve.x.map((x, i) => [x, kind === 'raw' ? curve.raw[i] : curve.smoothed[i]]));
      let seen = 0;
      for (const row of table.rows) {
        if (row[c] === '') continue;
        seen += 1;
        close(Number(row[c]), byX.get(Number(row[0])), `${column} at ${row[0]}`);
      }
      assert.equal(seen, curve.raw.filter((v) => v !== null).length, `${column}: every logged value`);
    }
  },
);

test(
  'getLossCurves: the same curves through the API; down-sampling keeps every bucket’s extremes; a zoomed range is read at full resolution',
  { skip },
  async () => {
    const want = expected('steps', 0.6);
    const full = await client.getLossCurves({ runs: names, split: 'both' });
    checkReport(full, want, ['train', 'val']);
    assert.deepEqual(full.extent, [0, 20]);

    // Three buckets over steps 1..20: 20 points > 4 per bucket, so each curve is thinned.
    const thin = await client.getLossCurves({ runs: names, split: 'train', buckets: 3 });
    for (const s of thin.series) {
      const w = want.curves[`${s.run}/${s.modality}/train`];
      assert.ok(s.x.length < w.x.length, `${s.run}/${s.modality} thinned (${s.x.length} of ${w.x.length})`);
      assert.equal(s.fullPoints, w.x.length);
      const kept = new Set(s.steps);
      assert.ok(kept.has(w.steps[0]) && kept.has(w.steps.at(-1)!), 'first and last kept');
      // The kept points are the logged values themselves.
      s.steps.forEach((step, i) => close(s.raw[i], w.raw[w.steps.indexOf(step)], `${s.run}/${s.modality} raw at ${step}`));
      const [x0, x1] = [w.x[0], w.x.at(-1)!];
      for (let b = 0; b < 3; b++) {
        const members = w.x.map((_, i) => i).filter((i) => Math.min(2, Math.floor(((w.x[i] - x0) / (x1 - x0)) * 3)) === b);
        for (const values of [w.raw, w.smoothed]) {
          const finite = members.filter((i) => values[i] !== null);
          if (finite.length === 0) continue;
          const lo = finite.reduce((a, i) => ((values[i] as number) < (values[a] as number) ? i : a));
          const hi = finite.reduce((a, i) => ((values[i] as number) > (values[a] as number) ? i : a));
          assert.ok(kept.has(w.steps[lo]) && kept.has(w.steps[hi]), `${s.run}/${s.modality} bucket ${b}: extremes kept`);
        }
      }
    }

    const zoomed = await client.getLossCurves({ runs: ['mot'], split: 'train', range: [5, 12], buckets: 400 });
    for (const s of zoomed.series) {
      // Every step inside, and one beyond each edge so the line reaches the frame; smoothed over the whole run.
      assert.deepEqual(s.steps, [4, 5, 6, 7, 8, 9, 10, 11, 12, 13]);
      const w = want.curves[`mot/${s.modality}/train`];
      closeAll(s.smoothed, w.smoothed.slice(3, 13), `mot/${s.modality} smoothed in range`);
      assert.equal(s.fullPoints, 10);
    }
    // The final/best table stays the whole run's.
    assert.deepEqual(
      zoomed.summary.map((r) => r.finalStep),
      zoomed.summary.map((r) => want.summary[`mot/${r.modality}/train`].finalStep),
    );
  },
);

test('getLossCurves while a run grows: appended records extend the curves and never change earlier values', { skip }, async () => {
  const runDir = path.join(server!.workspace, 'runs', 'growing');
  cpSync(dirs[1], runDir, { recursive: true });
  const lines = readFileSync(path.join(dirs[1], 'metrics.jsonl'), 'utf8').split('\n').filter(Boolean);
  writeFileSync(path.join(runDir, 'metrics.jsonl'), lines.slice(0, 12).join('\n') + '\n');
  const before = await client.getLossCurves({ runs: ['growing'], split: 'train', smoothing: 0.8 });
  appendFileSync(path.join(runDir, 'metrics.jsonl'), lines.slice(12).join('\n') + '\n');
  const grown = await client.getLossCurves({ runs: ['growing'], split: 'train', smoothing: 0.8 });
  const want = expected('steps', 0.8);
  for (const s of grown.series) {
    const early = before.series.find((b) => b.modality === s.modality)!;
    assert.ok(early.steps.length < s.steps.length);
    assert.deepEqual(s.smoothed.slice(0, early.smoothed.length), early.smoothed, `${s.modality}: earlier smoothed values unchanged`);
    closeAll(s.smoothed, want.curves[`mot/${s.modality}/train`].smoothed, `${s.modality}: the whole curve`);
  }
});

test(
  'getStepMatch and motlab analyze step-match: the same slopes, equal to Python’s, on steps, FLOPs and training time',
  { skip },
  async () => {
    for (const x of ['steps', 'flops', 'wall'] as const) {
      const want = expected(x, 0.6).match;
      const api = await client.getStepMatch({ reference: 'dense', runs: ['mot', 'moe'], x });
      const cli = await motlab(['analyze', 'step-match', '--reference', dirs[0], '--run', dirs[1], '--run', dirs[2], '--x', x, '--json']);
      assert.equal(cli.status, 0, cli.stderr);
      const fromCli = JSON.parse(cli.stdout) as StepMatchReport;
      assert.equal(api.reference.name, 'dense');
      assert.deepEqual(api.modalities, ['all', 'text', 'image', 'speech']);
      assert.equal(api.rows.length, 8);
      for (const row of api.rows) {
        const w = want[`${row.run}/${row.modality}`];
        close(row.slope, w.slope, `${x} ${row.run}/${row.modality} slope`);
        assert.equal(row.matchedPoints, w.matched);
        assert.equal(row.referencePoints, w.points);
        close(row.xToReachFinal, w.reach, `${x} ${row.run}/${row.modality} reach`);
        const twin = fromCli.rows.find((r) => r.run === row.run && r.modality === row.modality)!;
        assert.equal(twin.slope, row.slope, 'the CLI reports the very same number');
      }
      assert.ok(
        api.rows.some((r) => r.slope !== null),
        'some modality matched',
      );
    }
  },
);

test(
  'bad input: a run named twice, a missing run, a line that is not a record, a corrupt line (skipped, not fatal)',
  { skip },
  async () => {
    await assert.rejects(client.getLossCurves({ runs: ['dense', 'dense'] }), /run "dense" is listed twice/);
    await assert.rejects(client.getLossCurves({ runs: ['nope'] }), /No run named "nope"/);
    await assert.rejects(client.getLossCurves({ runs: ['dense'], range: [3, 3] }), /from < to/);
    const odd = path.join(server!.workspace, 'runs', 'odd');
    cpSync(dirs[0], odd, { recursive: true });
    appendFileSync(path.join(odd, 'metrics.jsonl'), JSON.stringify({ type: 'note', step: 3 }) + '\n');
    const report = await client.getLossCurves({ runs: ['odd'] });
    assert.equal(report.series.length, 4);
    assert.match(
      report.notes.join('\n'),
      /odd: 1 line\(s\) of metrics\.jsonl are not metrics records and were skipped \(unknown record type "note"\)/,
    );
    appendFileSync(path.join(odd, 'metrics.jsonl'), '{"type": "train", "step": \n');
    appendFileSync(
      path.join(odd, 'metrics.jsonl'),
      JSON.stringify({ type: 'eval', step: 25, time: 0, split: 'val', windows: 1, loss: { all: 1 } }) + '\n',
    );
    // A torn or corrupt line loses no data: it is skipped and counted, the lines after it are read.
    const after = await client.getLossCurves({ runs: ['odd'] });
    assert.match(after.notes.join('\n'), /odd: 2 line\(s\) of metrics\.jsonl are not metrics records and were skipped/);
    const all = after.series.find((c) => c.modality === 'all' && c.split === 'val')!;
    assert.equal(all.x.at(-1), 25);
    assert.equal(all.raw.at(-1), 1);
  },
);
