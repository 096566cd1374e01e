/**
 * `motlab data check`: everything a person needs to know before training on a dataset folder.
 * Never throws on a data problem: each one becomes a line in `problems` (the dataset cannot be
 * used as it is) or `warnings` (it can, but probably not as intended).
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { loadDatasetSpec, loadSplitTokens, windowCount, type TokenArray } from './dataset.ts';
import { modalityTable } from '../common/modalities.ts';
import { splitFileName, type DatasetSpec } from './format.ts';
import { terminalSafe } from '../common/text.ts';

/** Sequence lengths whose window counts the report lists (the preset sizes' seq_len). */
export const CHECK_SEQ_LENS = [32, 128, 512];
const MAX_POSITIONS = 5;

export interface TokenIssue {
  count: number;
  /** The first few offending positions, with their tokens. */
  first: { position: number; token: number }[];
}

export interface SplitReport {
  split: string;
  file: string;
  dtype: string | null;
  tokens: number;
  modalities: { name: string; count: number; share: number }[];
  /** Ids < 0 or >= vocab_size. */
  outOfVocab: TokenIssue;
  /** Ids inside the vocabulary that no modality's range holds. */
  outsideModalities: TokenIssue;
  /** Non-overlapping windows per seq_len. */
  windows: Record<string, number>;
  /** Why the split could not be read, if it could not. */
  error: string | null;
}

export interface DatasetReport {
  dir: string;
  ok: boolean;
  spec: DatasetSpec | null;
  splits: SplitReport[];
  problems: string[];
  warnings: string[];
}

const message = (e: unknown): string => (e instanceof Error ? e.message : String(e));
const emptyIssue = (): TokenIssue => ({ count: 0, first: [] });

function newSplitReport(dir: string, split: string): SplitReport {
  const file = path.join(dir, splitFileName(split));
  return {
    split,
    file,
    dtype: null,
    tokens: 0,
    modalities: [],
    outOfVocab: emptyIssue(),
    outsideModalities: emptyIssue(),
    windows: {},
    error: null,
  };
}

function analyse(report: SplitReport, tokens: TokenArray, spec: DatasetSpec): void {
  report.dtype = tokens instanceof Uint16Array ? 'uint16' : 'int32';
  report.tokens = tokens.length;
  const table = modalityTable(spec.modalities, spec.vocab_size);
  const counts = new Array<number>(spec.modalities.length).fill(0);
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    const m = t >= 0 && t < table.length ? table[t] : -1;
    if (m >= 0) {
      counts[m]++;
      continue;
    }
    const issue = t < 0 || t >= spec.vocab_size ? report.outOfVocab : report.outsideModalities;
    if (issue.first.length < MAX_POSITIONS) issue.first.push({ position: i, token: t });
    issue.count++;
  }
  report.modalities = spec.modalities.map((m, i) => ({
    name: m.name,
    count: counts[i],
    share: tokens.length ? counts[i] / tokens.length : 0,
  }));
  for (const s of CHECK_SEQ_LENS) report.windows[String(s)] = windowCount(tokens.length, s);
}

const describeIssue = (issue: TokenIssue): string =>
  issue.first.map((p) => `${p.token} at ${p.position}`).join(', ') + (issue.count > issue.first.length ? ', …' : '');

export interface CheckOptions {
  /** The seq_len the dataset is meant for: a split with no window of it is a problem. */
  seqLen?: number;
}

export async function checkDataset(dir: string, options: CheckOptions = {}): Promise<DatasetReport> {
  const report: DatasetReport = { dir, ok: false, spec: null, splits: [], problems: [], warnings: [] };
  if (!existsSync(dir)) {
    report.problems.push(`Folder ${dir} does not exist`);
    return report;
  }
  if (!statSync(dir).isDirectory()) {
    report.problems.push(`${dir} is not a folder`);
    return report;
  }
  try {
    report.spec = await loadDatasetSpec(dir);
  } catch (e) {
    report.problems.push(message(e));
    return report;
  }
  const spec = report.spec;
  if (!spec.splits.includes('train')) report.problems.push(`dataset.json: splits has no "train" split (have ${spec.splits.join(', ')})`);
  if (!spec.splits.includes('val'))
    report.problems.push(`dataset.json: splits has no "val" split, so validation losses cannot be computed`);
  for (const split of spec.splits) {
    const r = newSplitReport(dir, split);
    report.splits.push(r);
    let tokens: TokenArray;
    try {
      tokens = await loadSplitTokens(r.file);
    } catch (e) {
      r.error = message(e);
      report.problems.push(r.error);
      continue;
    }
    analyse(r, tokens, spec);
    if (r.outOfVocab.count)
      report.problems.push(`${r.file}: ${r.outOfVocab.count} token id(s) outside [0, ${spec.vocab_size}): ${describeIssue(r.outOfVocab)}`);
    if (r.outsideModalities.count)
      report.problems.push(
        `${r.file}: ${r.outsideModalities.count} token id(s) in no modality's range: ${describeIssue(r.outsideModalities)}`,
      );
    if (r.tokens < 2) report.problems.push(`${r.file}: ${r.tokens} token(s); a split needs at least 2`);
    for (const m of r.modalities) if (m.count === 0) report.warnings.push(`split "${split}" has no ${m.name} tokens`);
    // A window of seq_len S needs S + 1 tokens (inputs and the targets shifted by one).
    const short = CHECK_SEQ_LENS.filter((s) => r.windows[String(s)] === 0);
    if (options.seqLen !== undefined && windowCount(r.tokens, options.seqLen) === 0 && r.tokens >= 2)
      report.problems.push(
        `split "${split}" has ${r.tokens} tokens; seq_len ${options.seqLen} needs at least ${options.seqLen + 1} for one window`,
      );
    else if (short.length === CHECK_SEQ_LENS.length && r.tokens >= 2 && options.seqLen === undefined)
      report.problems.push(
        `split "${split}" has ${r.tokens} tokens, too few for any preset size (seq_len ${CHECK_SEQ_LENS.join(', ')} need ` +
          `at least ${CHECK_SEQ_LENS[0] + 1}); pass --seq-len if you train with a shorter one`,
      );
    else if (short.length && r.tokens >= 2)
      report.warnings.push(`split "${split}" (${r.tokens} tokens) is too short for seq_len ${short.join(', ')}`);
  }
  // Token files that dataset.json does not list are ignored by the lab: probably a typo.
  const listed = new Set(spec.splits.map(splitFileName));
  for (const f of readdirSync(dir)) {
    if (f.endsWith('.tokens.npy') && !listed.has(f))
      report.warnings.push(`${path.join(dir, f)} is not listed in dataset.json "splits" and is ignored`);
  }
  report.ok = report.problems.length === 0;
  return report;
}

/** A plain-text table for the terminal (text from the files escaped: see common/text.ts). */
export function formatDatasetReport(report: DatasetReport): string {
  return terminalSafe(formatReportLines(report));
}

function formatReportLines(report: DatasetReport): string {
  const lines: string[] = [];
  const spec = report.spec;
  lines.push(`Dataset ${report.dir}`);
  if (spec) {
    lines.push(`  name ${spec.name}, vocab_size ${spec.vocab_size}, splits ${spec.splits.join(', ')}`);
    lines.push(`  modalities ${spec.modalities.map((m) => `${m.name} [${m.start}, ${m.end})`).join(', ')}`);
    const readable = report.splits.filter((s) => s.error === null);
    if (readable.length) {
      const header = [
        'split',
        'dtype',
        'tokens',
        ...spec.modalities.map((m) => m.name),
        'invalid',
        ...CHECK_SEQ_LENS.map((s) => `win@${s}`),
      ];
      const rows = readable.map((s) => [
        s.split,
        s.dtype ?? '?',
        String(s.tokens),
        ...s.modalities.map((m) => `${m.count} (${(100 * m.share).toFixed(1)}%)`),
        String(s.outOfVocab.count + s.outsideModalities.count),
        ...CHECK_SEQ_LENS.map((n) => String(s.windows[String(n)] ?? 0)),
      ]);
      const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
      const fmt = (cells: string[]): string => '  ' + cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
      lines.push('', fmt(header), ...rows.map(fmt));
    }
  }
  if (report.problems.length) lines.push('', 'Problems:', ...report.problems.map((p) => `  ✗ ${p}`));
  if (report.warnings.length) lines.push('', 'Warnings:', ...report.warnings.map((w) => `  ! ${w}`));
  lines.push('', report.ok ? 'OK: the dataset can be used for training.' : `NOT OK: ${report.problems.length} problem(s).`);
  return lines.join('\n');
}
