/** `motlab analyze <analysis> …`: analyses of runs, one entry per analysis in ANALYSES. */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { MotlabError } from '../../common/errors.ts';
import { initEngine } from '../../engine/engine.ts';
import { csvText } from '../../util/csv.ts';
import { parseCommandFlags, parseInProcessEngineFlag, parseIntFlag } from '../flags.ts';
import { OUTPUT_OPTIONS } from './analyze-output.ts';

const HELP = `motlab analyze <analysis> [options]

Analyses:
  losses --runs DIR,DIR,… [--x steps|tokens|flops|wall] [--split train|val|both] [--smoothing W] [--json] [--csv FILE]
      per-modality loss curves of several runs (EMA with bias correction) and the final / best
      loss per modality (see motlab analyze losses --help).
  step-match --reference DENSE_DIR --run DIR [--run …] [--x steps|flops|wall] [--json] [--csv FILE]
      the paper's steps to match per modality against a reference run, with the fitted slope
      (motlab compare is this command).
  pca --run DIR | --activations FILE [--checkpoints …] [--layers …] [--components K] [--basis fixed|aligned] [--json] [--csv FILE]
      feature PCA and modality separability per layer × checkpoint (see motlab analyze pca --help).
  routing --run DIR [--checkpoints 100,200|all] [--windows N] [--json] [--csv FILE]
      MoE routing over training (metrics.jsonl) and at checkpoints on the probe set (the first N
      evaluation windows of the val split, default 16): expert × modality affinity and mutual
      information, same-expert rate of consecutive tokens vs 1/E, dropped tokens, agreement.
  towers --run DIR [--checkpoints …] [--windows N] [--rows N] [--json] [--csv FILE]
      MoT towers: tokens per tower, per-tower gradient norms, and tower drift per layer ×
      checkpoint (cosine and linear CKA of weights, and of FFN outputs on the same probe inputs).
  weights (--run DIR [--checkpoint STEP] | --from FILE|DIR [--mapping M]) [--singular-values K] [--metrics cosine,cka] [--json] [--csv FILE]
      Any checkpoint, runnable or not (imported weights only, or inspected in place): per weight and
      tower Frobenius norm, top singular values and stable rank, and tower drift per layer.`;

type Analysis = (argv: string[]) => Promise<number>;

const common = {
  run: { type: 'string' },
  checkpoints: { type: 'string', default: 'all' },
  windows: { type: 'string' },
  engine: { type: 'string', default: 'auto' },
  ...OUTPUT_OPTIONS,
} as const;

function checkpointList(value: string): number[] | undefined {
  if (value === 'all') return undefined;
  return value.split(',').map((s) => parseIntFlag('--checkpoints', s.trim(), 0)!);
}

const progress = (done: number, total: number, what: string): void => {
  if (process.stderr.isTTY) process.stderr.write(`\r${done}/${total} ${what}   `);
};

const fixed = (x: number, digits = 3): string => (Number.isFinite(x) ? x.toFixed(digits) : '—');

const ANALYSES: Record<string, Analysis> = {
  losses: async (argv) => (await import('./analyze-losses.ts')).runAnalyzeLosses(argv),
  'step-match': async (argv) => (await import('./analyze-step-match.ts')).runAnalyzeStepMatch(argv),
  pca: async (argv) => (await import('./analyze-pca.ts')).runAnalyzePcaCommand(argv),
  weights: async (argv) => (await import('./analyze-weights.ts')).runAnalyzeWeights(argv),
  async routing(argv) {
    const values = parseCommandFlags(argv, common, HELP);
    if (!values) return 0;
    if (!values.run) throw new MotlabError('invalid_config', `--run DIR is required\n\n${HELP}`);
    await initEngine(parseInProcessEngineFlag(values.engine));
    const { analyzeRouting, routingCsvRows } = await import('../../analysis/routing-collect.ts');
    const report = await analyzeRouting(path.resolve(values.run), {
      checkpoints: checkpointList(values.checkpoints),
      probeWindows: parseIntFlag('--windows', values.windows),
      onProgress: progress,
    });
    if (values.csv) await writeFile(values.csv, csvText(routingCsvRows(report)));
    if (values.json) return (console.log(JSON.stringify(report)), 0);
    console.log(
      `${report.runDir}: ${report.experts} experts (${report.routing}); probe ${report.probe.windows} ${report.probe.split} windows = ${report.probe.tokens} tokens`,
    );
    for (const c of report.atCheckpoints) {
      console.log(`\nstep ${c.step} layer ${c.layer} tower ${c.tower}: ${c.tokens} tokens`);
      console.log(`  expert × modality counts (${report.modalities.join(', ')}), dropped excluded:`);
      c.affinity.counts.forEach((row, e) => console.log(`    expert ${e}: ${row.join('\t')}`));
      console.log(
        `  MI ${fixed(c.mutualInformation.nats)} nats (${fixed(c.mutualInformation.bits)} bits) of H(modality) ${fixed(c.mutualInformation.modalityEntropyNats)} nats = ${fixed(100 * c.mutualInformation.fractionOfModalityEntropy, 1)}%`,
      );
      console.log(
        `  same expert for consecutive tokens ${fixed(c.locality.sameExpertRate)} (1/E ${fixed(c.locality.uniformBaseline)}, Σp² ${fixed(c.locality.marginalBaseline)})`,
      );
      console.log(`  dropped by modality: ${c.droppedByModality.map((d) => `${d.label} ${fixed(d.rate)}`).join(', ')}`);
      console.log(`  dropped by position: ${c.droppedByPosition.map((d) => `${d.label} ${fixed(d.rate)}`).join(', ')}`);
      if (c.agreementWithPrevious)
        console.log(
          `  agreement with step ${c.agreementWithPrevious.previousStep}: ${fixed(c.agreementWithPrevious.agreement)} (1/E ${fixed(c.agreementWithPrevious.uniformBaseline)})`,
        );
    }
    return 0;
  },

  async towers(argv) {
    const values = parseCommandFlags(argv, { ...common, rows: { type: 'string' } }, HELP);
    if (!values) return 0;
    if (!values.run) throw new MotlabError('invalid_config', `--run DIR is required\n\n${HELP}`);
    await initEngine(parseInProcessEngineFlag(values.engine));
    const { analyzeTowers, towersCsvRows } = await import('../../analysis/towers-collect.ts');
    const report = await analyzeTowers(path.resolve(values.run), {
      checkpoints: checkpointList(values.checkpoints),
      probeWindows: parseIntFlag('--windows', values.windows),
      outputRows: parseIntFlag('--rows', values.rows),
      onProgress: progress,
    });
    if (values.csv) await writeFile(values.csv, csvText(towersCsvRows(report)));
    if (values.json) return (console.log(JSON.stringify(report)), 0);
    console.log(`${report.runDir}: ${report.layers} layers, checkpoints ${report.checkpoints.join(', ')}`);
    console.log('tokens per tower (every layer):');
    for (const t of report.tokensPerTower) console.log(`  ${t.component}.${t.name}: ${t.tokens} (${fixed(100 * t.share, 1)}%)`);
    for (const [kind, group] of [
      ['weights', report.weights],
      ['outputs', report.outputs],
    ] as const) {
      for (const [component, tables] of Object.entries(group)) {
        for (const table of [tables.cosine, tables.cka]) {
          console.log(`\n${component} ${kind}, ${table.metric} (rows: layer; columns: step ${table.checkpoints.join(', ')})`);
          table.pairs.forEach(([a, b], pi) => {
            console.log(`  ${a} vs ${b}`);
            table.layers.forEach((layer, li) => console.log(`    layer ${layer}: ${table.values[li].map((c) => fixed(c[pi])).join('\t')}`));
          });
        }
      }
    }
    return 0;
  },
};

export async function runAnalyzeCommand(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h') {
    console.log(HELP);
    return name ? 0 : 2;
  }
  const analysis = Object.hasOwn(ANALYSES, name) ? ANALYSES[name] : undefined;
  if (!analysis)
    throw new MotlabError('invalid_config', `unknown analysis "${name}" (have ${Object.keys(ANALYSES).join(', ')})\n\n${HELP}`);
  return analysis(rest);
}
