/** `motlab analyze weights`: weight-space analyses of a run or of any checkpoint in place. */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { MotlabError } from '../../common/errors.ts';
import { WEIGHT_CSV_COLUMNS, weightAnalysisRows, type WeightAnalysis } from '../../common/weight-analysis.ts';
import { csvText } from '../../util/csv.ts';
import { DEFAULT_SINGULAR_VALUES } from '../../analysis/weights-collect.ts';
import type { WeightDriftMetric } from '../../analysis/weights.ts';
import { MAPPING_CHOICES } from '../../importers/mappings.ts';
import { analyzeWeightsOf } from '../../api/handlers/imports.ts';
import { parseIntFlag, parseCommandFlags } from '../flags.ts';
import { progressLine } from '../progress.ts';

const HELP = `motlab analyze weights (--run <runDir> [--checkpoint STEP|latest] | --from <file|index.json|dir> [--mapping M]) [options]

  Per tensor: Frobenius norm, top singular values, stable rank; per layer and weight: tower drift
  between every pair of towers (cosine, linear CKA). Reads one weight at a time, so a checkpoint
  larger than memory can be inspected in place with --from.

  --mapping M            the tensor naming of --from: ${MAPPING_CHOICES.join(', ')} or a mapping file (default auto)
  --singular-values K    top singular values per matrix (default ${DEFAULT_SINGULAR_VALUES}; 0 for none)
  --metrics LIST         tower drift metrics, comma-separated: cosine,cka (default both)
  --json                 print the whole result as JSON
  --csv FILE             write one row per number (layer, component, weight, tower, other_tower, metric, value)`;

function parseMetrics(value: string): WeightDriftMetric[] {
  const list = value
    .split(',')
    .map((m) => m.trim())
    .filter(Boolean);
  for (const m of list)
    if (m !== 'cosine' && m !== 'cka') throw new MotlabError('invalid_config', `--metrics takes cosine and/or cka (got "${m}")`);
  return [...new Set(list)] as WeightDriftMetric[];
}

function fmt(v: number | null): string {
  return v === null ? '–' : Number.isFinite(v) ? v.toFixed(4) : 'NaN';
}

function printSummary(a: WeightAnalysis): void {
  console.log(`${a.source}${a.step !== null ? ` (step ${a.step})` : ''}: ${a.tensors.length} tensors`);
  console.log(`towers: ${(['attention', 'ffn', 'norm'] as const).map((c) => `${c} ${a.towers[c].join(' | ')}`).join('; ')}`);
  if (a.skipped.length)
    console.log(
      `not in the lab's table, left out: ${a.skipped.slice(0, 5).join(', ')}${a.skipped.length > 5 ? ` and ${a.skipped.length - 5} more` : ''}`,
    );
  const layers = [...new Set(a.tensors.map((t) => t.layer))];
  for (const layer of layers) {
    console.log(layer === null ? '\nmodel-level' : `\nlayer ${layer}`);
    const weights = [...new Set(a.tensors.filter((t) => t.layer === layer).map((t) => t.weight))];
    for (const weight of weights) {
      const towers = a.tensors.filter((t) => t.layer === layer && t.weight === weight);
      const norms = towers
        .map(
          (t) =>
            `${t.towerLabel ?? 'all'} ‖·‖=${t.frobenius.toPrecision(4)}${t.singularValues?.length ? ` σ₁=${t.singularValues[0].toPrecision(4)}` : ''}`,
        )
        .join(', ');
      const drift = a.drift
        .filter((d) => d.layer === layer && d.weight === weight)
        .map((d) => `${d.labels[0]}~${d.labels[1]} cos ${fmt(d.cosine)}${d.cka !== null ? ` cka ${fmt(d.cka)}` : ''}`)
        .join(', ');
      console.log(`  ${weight.padEnd(16)} ${norms}${drift ? `; ${drift}` : ''}`);
    }
  }
}

export async function runAnalyzeWeights(argv: string[]): Promise<number> {
  const values = parseCommandFlags(
    argv,
    {
      run: { type: 'string' },
      checkpoint: { type: 'string', default: 'latest' },
      from: { type: 'string' },
      mapping: { type: 'string', default: 'auto' },
      'singular-values': { type: 'string' },
      metrics: { type: 'string', default: 'cosine,cka' },
      json: { type: 'boolean', default: false },
      csv: { type: 'string' },
    },
    HELP,
  );
  if (!values) return 0;
  if ((values.run === undefined) === (values.from === undefined))
    throw new MotlabError('invalid_config', `give exactly one of --run and --from\n\n${HELP}`);
  const singularValues = parseIntFlag('--singular-values', values['singular-values'], 0) ?? DEFAULT_SINGULAR_VALUES;
  const metrics = parseMetrics(values.metrics);
  const target = values.run
    ? {
        run: path.resolve(values.run),
        step: values.checkpoint === 'latest' ? ('latest' as const) : parseIntFlag('--checkpoint', values.checkpoint, 0)!,
      }
    : { from: values.from!, mapping: values.mapping };
  const onProgress = progressLine<[number, string]>(([fraction, name]) => `analysing ${(100 * fraction).toFixed(0)}%: ${name}`);
  const analysis = await analyzeWeightsOf(target, {
    singularValues,
    metrics,
    onProgress: onProgress && ((f, name) => onProgress([f, name])),
  });
  if (onProgress) process.stderr.write('\n');
  if (values.csv) await writeFile(values.csv, csvText([WEIGHT_CSV_COLUMNS, ...weightAnalysisRows(analysis)]));
  if (values.json) console.log(JSON.stringify(analysis));
  else printSummary(analysis);
  return 0;
}
