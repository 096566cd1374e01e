/**
 * `npm run findings -- --runs DIR --out docs/findings/fashion-tri [--train] [--engine wasm]`
 *
 * The fashion-tri findings report (docs/findings/fashion-tri.md): regenerates every figure of the
 * report from the study runs with the same export as `motlab figure` (figures/kinds.ts), and
 * writes numbers.json, the numbers the report quotes. With --train, first trains the runs that
 * are missing, exactly as the report's runs were trained:
 *
 *   motlab train --config <preset> --size small --out DIR/<preset> --engine wasm
 *
 * for preset in dense, mot, mot-ffn, mot-text-isolated, mot-image-isolated, mot-speech-isolated,
 * moe4x, mot-moe (the built-in fashion-tri data, `small` = 600 steps, batch 8, checkpoints every
 * 100 steps, evaluation every 50). A run whose folder has a checkpoint at step 600 is left as it is.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { initEngine } from '../src-main/engine/engine.ts';
import { parseInProcessEngineFlag } from '../src-main/cli/flags.ts';
import { exportViewFigure, parseViewState, type FigureContext } from '../src-main/figures/kinds.ts';
import { readRunForAnalysis } from '../src-main/analysis/run-checkpoints.ts';
import { lossCurves } from '../src-main/analysis/curves.ts';
import { collectStepMatch } from '../src-main/analysis/steps-to-match.ts';
import type { PcaResult } from '../src-main/analysis/pca-collect.ts';
import type { RoutingReport, TowersReport } from '../src-main/common/analysis-reports.ts';

export const STUDY_RUNS = [
  'dense',
  'mot',
  'mot-ffn',
  'mot-text-isolated',
  'mot-image-isolated',
  'mot-speech-isolated',
  'moe4x',
  'mot-moe',
] as const;
const FINAL_STEP = 600;

const { values } = parseArgs({
  options: {
    runs: { type: 'string' },
    out: { type: 'string', default: 'docs/findings/fashion-tri' },
    train: { type: 'boolean', default: false },
    engine: { type: 'string', default: 'wasm' },
    only: { type: 'string' },
  },
});
if (!values.runs) {
  console.error('findings: --runs DIR (the folder holding the study runs) is required');
  process.exit(2);
}
const runsDir = path.resolve(values.runs);
const outDir = path.resolve(values.out);
const run = (name: string) => path.join(runsDir, name);
const ROOT = path.resolve(import.meta.dirname, '..');

if (values.train) {
  for (const preset of STUDY_RUNS) {
    if (existsSync(path.join(run(preset), 'checkpoints', `step-${String(FINAL_STEP).padStart(6, '0')}`, 'state.json'))) continue;
    const args = ['train', '--config', preset, '--size', 'small', '--out', run(preset), '--engine', values.engine];
    if (existsSync(path.join(run(preset), 'run.json'))) args.push('--resume');
    console.log(`training ${preset}: motlab ${args.join(' ')}`);
    const r = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'motlab.mjs'), ...args], { stdio: 'inherit' });
    if (r.status !== 0) process.exit(r.status ?? 1);
  }
}

await initEngine(parseInProcessEngineFlag(values.engine));
const ctx: FigureContext = { runDir: (ref) => run(ref), cache: new Map(), creationDate: new Date(0) };

/** The report's figures: file stem, view state, figure options. */
const FIGURES: { name: string; view: unknown; figure: Record<string, unknown> }[] = [
  {
    name: 'losses',
    view: { kind: 'losses', runs: ['dense', 'mot', 'mot-ffn', 'moe4x', 'mot-moe'], split: 'val', modalities: ['text', 'image', 'speech'] },
    figure: { preset: 'icml-full', aspect: 0.42, legend: 'top' },
  },
  {
    name: 'losses-isolated',
    view: {
      kind: 'losses',
      runs: ['dense', 'mot', 'mot-text-isolated', 'mot-image-isolated', 'mot-speech-isolated'],
      split: 'val',
      modalities: ['text', 'image', 'speech'],
    },
    figure: { preset: 'icml-full', aspect: 0.42, legend: 'top' },
  },
  {
    name: 'losses-train',
    view: { kind: 'losses', runs: ['dense', 'mot'], split: 'train', smoothing: 0.9, modalities: ['text', 'image', 'speech'] },
    figure: { preset: 'icml-full', aspect: 0.42, legend: 'top' },
  },
  {
    name: 'step-match',
    view: { kind: 'step-match', reference: 'dense', runs: ['mot', 'mot-ffn', 'moe4x', 'mot-moe'], modalities: ['text', 'image', 'speech'] },
    figure: { preset: 'icml-full', aspect: 0.45, legend: 'top' },
  },
  {
    name: 'step-match-isolated',
    view: {
      kind: 'step-match',
      reference: 'dense',
      runs: ['mot-text-isolated', 'mot-image-isolated', 'mot-speech-isolated'],
      modalities: ['text', 'image', 'speech'],
    },
    figure: { preset: 'icml-full', aspect: 0.45, legend: 'top' },
  },
  {
    name: 'pca-grid-mot',
    view: { kind: 'pca-grid', run: 'mot', layers: [0, 1, 2, 3], checkpoints: [100, 300, 600] },
    figure: { preset: 'icml-column', aspect: 1.25, format: 'png', dpi: 200 },
  },
  {
    name: 'pca-grid-dense',
    view: { kind: 'pca-grid', run: 'dense', layers: [0, 1, 2, 3], checkpoints: [100, 300, 600] },
    figure: { preset: 'icml-column', aspect: 1.25, format: 'png', dpi: 200 },
  },
  { name: 'separability-mot', view: { kind: 'separability', run: 'mot', over: 'layers' }, figure: { legend: 'right' } },
  { name: 'separability-dense', view: { kind: 'separability', run: 'dense', over: 'layers' }, figure: { legend: 'right' } },
  { name: 'towers-tokens', view: { kind: 'towers', run: 'mot', panel: 'tokens' }, figure: {} },
  {
    name: 'towers-attention-weight-drift',
    view: { kind: 'towers', run: 'mot', panel: 'weight-drift', component: 'attention' },
    figure: { preset: 'icml-full', aspect: 0.45 },
  },
  {
    name: 'towers-ffn-weight-drift',
    view: { kind: 'towers', run: 'mot', panel: 'weight-drift' },
    figure: { preset: 'icml-full', aspect: 0.45 },
  },
  {
    name: 'towers-ffn-output-drift',
    view: { kind: 'towers', run: 'mot', panel: 'output-drift' },
    figure: { preset: 'icml-full', aspect: 0.45 },
  },
  {
    name: 'towers-grad-norms',
    view: { kind: 'towers', run: 'mot', panel: 'grad-norms' },
    figure: { legend: 'right', preset: 'icml-full', aspect: 0.4 },
  },
  { name: 'routing-load', view: { kind: 'routing', run: 'moe4x', layer: 3, panel: 'load' }, figure: {} },
  { name: 'routing-affinity', view: { kind: 'routing', run: 'moe4x', layer: 3, panel: 'affinity' }, figure: {} },
];

await mkdir(outDir, { recursive: true });
const only = values.only?.split(',');
for (const f of FIGURES) {
  if (only && !only.includes(f.name)) continue;
  const t = performance.now();
  const view = parseViewState(f.view, f.name);
  const exported = await exportViewFigure(view, { format: 'svg', ...f.figure }, ctx);
  const file = path.join(outDir, `${f.name}.${exported.format}`);
  await writeFile(file, exported.data);
  await writeFile(path.join(outDir, `${f.name}.json`), exported.sidecar);
  // Point clouds' CSVs run to megabytes: those are regenerated from the sidecar, not committed.
  if (view.kind !== 'pca-grid') await writeFile(path.join(outDir, `${f.name}.csv`), exported.csv);
  console.log(`${path.relative(process.cwd(), file)} (${((performance.now() - t) / 1000).toFixed(1)} s)`);
}

// The numbers the report quotes, from the same analyses (kept in ctx.cache where a figure ran them).
const numbers: Record<string, unknown> = {};
const finalLoss: Record<string, Record<string, number | null>> = {};
for (const name of STUDY_RUNS) {
  const r = await readRunForAnalysis(run(name));
  const curves = lossCurves(r.records, { kind: 'eval', split: 'val' }, 'steps');
  finalLoss[name] = Object.fromEntries(curves.map((c) => [c.modality, c.loss[c.loss.length - 1]]));
}
numbers.finalValidationLoss = finalLoss;
const matches: Record<string, unknown> = {};
const others = STUDY_RUNS.filter((n) => n !== 'dense');
const report = await collectStepMatch(
  { name: 'dense', dir: run('dense') },
  others.map((name) => ({ name, dir: run(name) })),
);
for (const name of others) {
  matches[name] = Object.fromEntries(
    report.rows
      .filter((r) => r.run === name)
      .map((r) => [
        r.modality,
        {
          slope: r.slope,
          matched: `${r.matchedPoints}/${r.referencePoints}`,
          stepToReachDenseFinal: r.xToReachFinal,
          finalFraction: r.finalFraction,
        },
      ]),
  );
}
numbers.stepsToMatchDense = matches;

const pcaEntries = async (name: string) => {
  const hit = [...ctx.cache!.entries()].find(
    ([k]) => k.startsWith('["pca",') && k.includes(JSON.stringify(run(name))) && k.includes('"all","all"'),
  );
  const result = (await hit?.[1]) as PcaResult | undefined;
  return result?.entries.map((e) => ({
    layer: e.layer,
    step: e.checkpoint,
    probeAccuracy: e.separability.probeAccuracy,
    silhouette: e.separability.silhouette,
    betweenWithin: e.separability.betweenWithinRatio,
    explained12: e.explainedVarianceRatio.slice(0, 2),
  }));
};
numbers.separability = { mot: await pcaEntries('mot'), dense: await pcaEntries('dense') };
/** The result of an analysis a figure ran, by the start of its cache key. */
async function cachedResult<T>(prefix: string): Promise<T | undefined> {
  const entry = [...ctx.cache!.entries()].find(([key]) => key.startsWith(prefix));
  return entry ? ((await entry[1]) as T) : undefined;
}
const towers = await cachedResult<TowersReport>('["towers",');
if (towers) {
  const last = towers.checkpoints.length - 1;
  const summary = (table: TowersReport['outputs']['ffn'] | undefined, metric: 'cka' | 'cosine') =>
    table?.[metric].pairs.map(([a, b], pi) => ({
      pair: `${a}·${b}`,
      byLayerAtFirst: table[metric].values.map((row) => row[0][pi]),
      byLayerAtLast: table[metric].values.map((row) => row[last][pi]),
    }));
  numbers.towers = {
    tokensPerTower: towers.tokensPerTower.filter((t) => t.component === 'ffn'),
    checkpoints: towers.checkpoints,
    ffnWeightsCka: summary(towers.weights.ffn, 'cka'),
    ffnOutputsCka: summary(towers.outputs.ffn, 'cka'),
    attentionWeightsCka: summary(towers.weights.attention, 'cka'),
    gradNormMeans: towers.gradNorms.map((g) => ({ key: g.key, mean: g.values.reduce((s, v) => s + v, 0) / g.values.length })),
  };
}
const routing = await cachedResult<RoutingReport>('["routing",');
if (routing) {
  numbers.routing = routing.atCheckpoints
    .filter((c) => c.step === routing.checkpoints[routing.checkpoints.length - 1])
    .map((c) => ({
      layer: c.layer,
      step: c.step,
      expertGivenModality: c.affinity.expertGivenModality,
      miBits: c.mutualInformation.bits,
      miFraction: c.mutualInformation.fractionOfModalityEntropy,
      sameExpertRate: c.locality.sameExpertRate,
      dropped: c.droppedByModality,
    }));
}
if (!only) {
  await writeFile(path.join(outDir, 'numbers.json'), JSON.stringify(numbers, null, 2) + '\n');
  console.log(`${path.relative(process.cwd(), path.join(outDir, 'numbers.json'))}`);
}
