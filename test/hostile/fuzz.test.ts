/**
 * The seeded mutation fuzzer (fuzz-lib.ts) in every test run: a few thousand damaged files of
 * every kind the lab reads, through every reader of each. No crash, no hang; the counts are
 * printed. Long runs: `npm run fuzz -- --cases 100000`.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { describeReport, FILE_KINDS, runFuzz } from './fuzz-lib.ts';

const CASES = Number(process.env.MOTLAB_FUZZ_CASES ?? 3300);

test(`fuzz: ${CASES} mutated files of every kind, no crash and no hang`, async (t) => {
  const report = await runFuzz({
    seed: 20240808,
    cases: CASES,
    caseTimeoutMs: 10_000,
    workDir: mkdtempSync(path.join(tmpdir(), 'motlab-fuzz-')),
  });
  const summary = describeReport(report);
  t.diagnostic(summary);
  console.log(summary);
  const show = (list: typeof report.crashes) =>
    list
      .slice(0, 10)
      .map((f) => `case ${f.caseIndex} ${f.kind} [${f.mutation}] ${f.reader}: ${f.error}`)
      .join('\n');
  assert.equal(report.crashes.length, 0, `crashes:\n${show(report.crashes)}`);
  assert.equal(report.hangs.length, 0, `hangs:\n${show(report.hangs)}`);
  assert.equal(report.cases, CASES);
  for (const kind of FILE_KINDS) {
    const k = report.byKind[kind];
    // The mutations reach both outcomes: some files are refused, some still read.
    assert.ok(k.returned > 0, `${kind}: no reader call returned`);
    if (kind !== 'metrics.jsonl') assert.ok(k.refused > 0, `${kind}: no mutation was refused`);
  }
});
