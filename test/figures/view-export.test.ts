/**
 * Figures of real runs, headless and through the API: a tiny dense and a tiny MoT run are trained
 * here by the real `motlab train` (6 steps, evaluation and checkpoints every 3), then
 *   - `motlab figure` writes each kind with its CSV and sidecar; the losses CSV holds the run's
 *     raw validation losses and the training losses smoothed by an EMA computed here in Python;
 *   - the PDF has only embedded TrueType fonts and the preset's page size (pdffonts, pdfinfo);
 *   - the API's exportFigure and `motlab figure --spec` give the same bytes for one view state
 *     (PDF after removing its creation date; SVG and PNG as they are);
 *   - `--all` writes a figure set; bad input gets one clear line.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { clientFor, startTestServer } from '../api/harness.ts';
import { assertOneLineError, runCli } from '../hostile/helpers.ts';
import { MOTLAB, PYTHON, synthData, trainTiny } from '../training/helpers.ts';
import type { RunningServer } from '../../src-main/server/server.ts';
import type { MethodInput } from '../../src-main/common/api/definition.ts';

let server: RunningServer;
let workspace: string;
let cleanup: () => Promise<void>;
let runsDir: string;
let out: string;

/**
 * `motlab figure …` in `cwd`, without blocking this process: the API server under test runs in it,
 * and a server frozen by spawnSync would drop its idle keep-alive sockets under the client.
 */
function figureCli(args: string[], cwd = runsDir): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [MOTLAB, 'figure', ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  return new Promise((resolve) => child.on('close', (status) => resolve({ status, stdout, stderr })));
}

before(async () => {
  ({ server, workspace, cleanup } = await startTestServer());
  runsDir = path.join(workspace, 'runs');
  out = path.join(workspace, 'figures');
  mkdirSync(out, { recursive: true });
  const data = path.join(workspace, 'synth-data');
  synthData(data, 3);
  for (const config of ['dense', 'mot'])
    trainTiny(path.join(runsDir, `tiny-${config}`), { config, data, steps: 6, evalEvery: 3, checkpointEvery: 3 });
});

after(() => cleanup?.());

/** The CSV as rows of fields (Python's csv module: an independent reader). */
function csvRows(file: string): string[][] {
  const r = spawnSync(PYTHON, ['-c', 'import csv,json,sys; print(json.dumps(list(csv.reader(open(sys.argv[1], newline="")))))', file], {
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

test('motlab figure losses: the CSV holds the raw losses and their bias-corrected EMA (computed in Python), the sidecar regenerates it', async () => {
  const file = path.join(out, 'losses-train.csv');
  const r = await figureCli(['losses', '--run', 'tiny-mot', '--split', 'train', '--smoothing', '0.5', '--out', file]);
  assert.equal(r.status, 0, r.stderr);
  const rows = csvRows(file);
  const header = rows[0];
  const modalities = ['all', 'text', 'image', 'speech'];
  assert.deepEqual(header, ['step', ...modalities.flatMap((m) => [`tiny-mot · ${m} raw`, `tiny-mot · ${m} smoothed (EMA 0.5)`])]);
  // TensorBoard's EMA with bias correction, from metrics.jsonl, in Python.
  const expected = spawnSync(
    PYTHON,
    [
      '-c',
      `
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
train = sorted({r['step']: r for r in recs if r['type'] == 'train'}.values(), key=lambda r: r['step'])
out = []
for m in ['all', 'text', 'image', 'speech']:
    s, k, raw, sm = 0.0, 0, [], []
    for r in train:
        v = r['loss'].get(m)
        raw.append(v)
        if v is None: sm.append(None); continue
        s = 0.5 * s + 0.5 * v; k += 1; sm.append(s / (1 - 0.5 ** k))
    out.append([raw, sm])
print(json.dumps({'steps': [r['step'] for r in train], 'series': out}))
`,
      path.join(runsDir, 'tiny-mot', 'metrics.jsonl'),
    ],
    { encoding: 'utf8' },
  );
  assert.equal(expected.status, 0, expected.stderr);
  const { steps, series } = JSON.parse(expected.stdout) as { steps: number[]; series: (number | null)[][][] };
  assert.deepEqual(
    rows.slice(1).map((row) => Number(row[0])),
    steps,
  );
  series.forEach(([raw, smoothed], m) => {
    rows.slice(1).forEach((row, i) => {
      assert.ok(Math.abs(Number(row[1 + 2 * m]) - (raw[i] as number)) < 1e-6, `raw ${header[1 + 2 * m]} at step ${steps[i]}`);
      assert.ok(Math.abs(Number(row[2 + 2 * m]) - (smoothed[i] as number)) < 1e-9, `smoothed ${header[2 + 2 * m]} at step ${steps[i]}`);
    });
  });
  const sidecar = JSON.parse(readFileSync(path.join(out, 'losses-train.json'), 'utf8'));
  assert.equal(sidecar.smoothing, 0.5);
  assert.deepEqual(sidecar.view.runs, ['tiny-mot']);
  // The sidecar regenerates the same CSV.
  const again = path.join(out, 'losses-again.csv');
  assert.equal((await figureCli(['--spec', path.join(out, 'losses-train.json'), '--out', again])).status, 0);
  assert.equal(readFileSync(again, 'utf8'), readFileSync(file, 'utf8'));
});

test('motlab figure step-match and towers: PDFs with embedded TrueType fonts only, page size of the preset', async () => {
  const cases: [string[], string, number, number][] = [
    [['step-match', '--reference', 'tiny-dense', '--run', 'tiny-mot', '--preset', 'icml-full'], 'step-match.pdf', 6.75, 6.75 * 0.618],
    [['towers', '--run', 'tiny-mot', '--panel', 'weight-drift', '--preset', '3.5x2.5'], 'drift.pdf', 3.5, 2.5],
  ];
  for (const [args, name, w, h] of cases) {
    const file = path.join(out, name);
    const r = await figureCli([...args, '--out', file]);
    assert.equal(r.status, 0, r.stderr);
    const fonts = spawnSync('pdffonts', [file], { encoding: 'utf8' }).stdout.trim().split('\n').slice(2);
    assert.ok(fonts.length >= 1, `${name}: no fonts`);
    for (const line of fonts) {
      assert.match(line, /TrueType/, `${name}: ${line}`);
      assert.doesNotMatch(line, /Type 3/, `${name}: ${line}`);
      // Columns "emb sub uni": embedded.
      assert.match(line, /\s+yes\s+(yes|no)\s+(yes|no)\s+\d+\s+\d+\s*$/, `${name}: not embedded: ${line}`);
    }
    const size = /Page size:\s+([\d.]+) x ([\d.]+) pts/.exec(spawnSync('pdfinfo', [file], { encoding: 'utf8' }).stdout);
    assert.ok(size, `${name}: pdfinfo page size`);
    assert.ok(Math.abs(Number(size[1]) - w * 72) < 0.01 && Math.abs(Number(size[2]) - h * 72) < 0.05, `${name}: ${size[0]}`);
    assert.ok(existsSync(file.replace(/\.pdf$/, '.csv')) && existsSync(file.replace(/\.pdf$/, '.json')));
  }
});

/** The PDF without its creation date, and without the file /ID pdfkit derives from that date. */
const withoutCreationDate = (pdf: Buffer): string =>
  pdf
    .toString('latin1')
    // pdfkit writes the date inline or as an object of its own: every PDF date string goes.
    .replace(/\(D:\d{14}Z\)/g, '')
    .replace(/\/ID \[<[0-9a-f]+> <[0-9a-f]+>\]/g, '');

test("the API's exportFigure and motlab figure --spec give the same file for one view state", async () => {
  const client = clientFor(server);
  const cases: MethodInput<'exportFigure'>[] = [
    { view: { kind: 'losses', runs: ['tiny-dense', 'tiny-mot'] }, figure: { format: 'pdf', preset: 'neurips', palette: 'greyscale' } },
    { view: { kind: 'pca', run: 'tiny-mot', layer: 1, checkpoint: 3, probeTokens: 60 }, figure: { format: 'svg', legend: 'right' } },
    { view: { kind: 'towers', run: 'tiny-mot', panel: 'output-drift' }, figure: { format: 'png', dpi: 150, title: true } },
  ];
  for (const [i, c] of cases.entries()) {
    const fromApi = await client.exportFigure(c);
    const spec = path.join(out, `spec-${i}.json`);
    writeFileSync(spec, fromApi.sidecar);
    const format = c.figure!.format!;
    const file = path.join(out, `cli-${i}.${format}`);
    const r = await figureCli(['--spec', spec, '--out', file]);
    assert.equal(r.status, 0, r.stderr);
    const fromCli = readFileSync(file);
    const apiBytes = Buffer.from(fromApi.data, fromApi.encoding === 'base64' ? 'base64' : 'utf8');
    if (format === 'pdf') {
      assert.match(apiBytes.toString('latin1'), /\/CreationDate/);
      assert.notEqual(withoutCreationDate(apiBytes), apiBytes.toString('latin1'), 'the creation date was found and removed');
      assert.equal(withoutCreationDate(apiBytes), withoutCreationDate(fromCli), `${c.view.kind} PDF`);
    } else assert.ok(apiBytes.equals(fromCli), `${c.view.kind} ${format}: API and CLI files differ`);
    assert.equal(readFileSync(file.replace(/\.\w+$/, '.csv'), 'utf8'), fromApi.csv);
    assert.equal(readFileSync(file.replace(/\.\w+$/, '.json'), 'utf8'), fromApi.sidecar);
  }
  // The app names runs of its workspace: a folder path is refused.
  await assert.rejects(
    client.exportFigure({ view: { kind: 'losses', runs: [path.join(runsDir, 'tiny-mot')] }, figure: { format: 'svg' } }),
    /not the name of a run of the workspace/,
  );
});

test('motlab figure --all writes the figure set of a MoT run against a reference', async () => {
  const dir = path.join(out, 'set');
  const r = await figureCli(['--all', '--run', 'tiny-mot', '--reference', 'tiny-dense', '--format', 'svg', '--out', dir]);
  assert.equal(r.status, 0, r.stderr);
  const svgs = readdirSync(dir).filter((f) => f.endsWith('.svg'));
  for (const name of ['losses-val', 'step-match', 'pca-grid', 'separability-layers', 'towers-ffn-weight-drift', 'towers-output-drift'])
    assert.ok(svgs.includes(`${name}.svg`), `${name}.svg in ${svgs.join(', ')}`);
  for (const f of svgs) {
    assert.ok(existsSync(path.join(dir, f.replace(/\.svg$/, '.json'))), `${f}: sidecar`);
    assert.doesNotMatch(readFileSync(path.join(dir, f), 'utf8'), /(href|src)="(https?:|file:)/, `${f}: external reference`);
  }
});

test('motlab figure: bad input gets one clear line', async () => {
  const runDir = path.join(runsDir, 'tiny-mot');
  const cases: [string[], RegExp][] = [
    [['bogus', '--run', runDir, '--out', '/tmp/x.pdf'], /unknown figure kind "bogus"/],
    [['losses', '--run', runDir, '--preset', '3x', '--out', path.join(out, 'x.pdf')], /preset/],
    [['losses', '--run', path.join(workspace, 'nope'), '--out', path.join(out, 'x.pdf')], /nope.*run folder/],
    [['pca', '--run', runDir, '--checkpoints', '7', '--out', path.join(out, 'x.svg')], /no checkpoint at step 7/],
    [['--spec', path.join(workspace, 'missing.json'), '--out', path.join(out, 'x.pdf')], /missing\.json: cannot read/],
    [['routing', '--run', runDir, '--out', path.join(out, 'x.pdf')], /no MoE towers/],
    [['losses', '--run', runDir, '--format', 'gif', '--out', path.join(out, 'x.gif')], /--format must be one of pdf, svg, png, csv/],
  ];
  for (const [args, pattern] of cases)
    assertOneLineError(await runCli(['figure', ...args], { timeoutMs: 120_000 }), pattern, args.join(' '));
});
