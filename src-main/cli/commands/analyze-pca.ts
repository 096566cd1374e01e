/** `motlab analyze pca`: feature PCA across checkpoints of a run, or of an activation dump. */
import { writeFile } from 'node:fs/promises';
import { MotlabError } from '../../common/errors.ts';
import { initEngine } from '../../engine/engine.ts';
import { analyzeActivationsPca, analyzeRunPca, pcaResultCsv, pcaResultJson, type PcaResult } from '../../analysis/pca-collect.ts';
import { parseInProcessEngineFlag, parseIntFlag, parseCommandFlags } from '../flags.ts';

const HELP = `motlab analyze pca --run DIR [--checkpoints all|latest|S1,S2,…] [--layers all|L1,…] [--components K]
                   [--basis fixed|aligned] [--reference STEP] [--probe-tokens N] [--seed N] [--split val]
                   [--engine …] [--json] [--csv FILE]
motlab analyze pca --activations FILE [--layers all|L1,…] [--components K] [--seed N] [--json] [--csv FILE]

  Probes N positions per modality (default 2000) of the split's evaluation windows, the same at
  every checkpoint; captured features are cached in DIR/analyses/pca/ and reused.
  --basis aligned (default): a basis per checkpoint, matched and sign-aligned along the chain from
  the reference; fixed: the reference checkpoint's basis applied to all. --reference defaults to
  the last checkpoint analysed. --components defaults to 10.`;

export async function runAnalyzePcaCommand(argv: string[]): Promise<number> {
  const values = parseCommandFlags(
    argv,
    {
      run: { type: 'string' },
      activations: { type: 'string' },
      checkpoints: { type: 'string', default: 'all' },
      layers: { type: 'string', default: 'all' },
      components: { type: 'string' },
      basis: { type: 'string', default: 'aligned' },
      reference: { type: 'string' },
      'probe-tokens': { type: 'string' },
      seed: { type: 'string' },
      split: { type: 'string', default: 'val' },
      engine: { type: 'string', default: 'auto' },
      json: { type: 'boolean', default: false },
      csv: { type: 'string' },
    },
    HELP,
  );
  if (!values) return 0;
  if (!values.run === !values.activations)
    throw new MotlabError('invalid_config', `give exactly one of --run DIR or --activations FILE\n\n${HELP}`);
  if (values.basis !== 'fixed' && values.basis !== 'aligned')
    throw new MotlabError('invalid_config', `--basis must be fixed or aligned (got "${values.basis}")`);
  const layers = parseList('--layers', values.layers, 0);
  const components = parseIntFlag('--components', values.components);
  const seed = parseIntFlag('--seed', values.seed, 0);

  let result: PcaResult;
  if (values.activations) {
    result = await analyzeActivationsPca({ file: values.activations, layers, components, seed });
  } else {
    await initEngine(parseInProcessEngineFlag(values.engine));
    const checkpoints = values.checkpoints === 'latest' ? 'latest' : parseList('--checkpoints', values.checkpoints, 0);
    let lastMessage = '';
    result = await analyzeRunPca({
      runDir: values.run!,
      split: values.split,
      checkpoints,
      layers,
      components,
      basis: values.basis,
      reference: parseIntFlag('--reference', values.reference, 0),
      probeTokens: parseIntFlag('--probe-tokens', values['probe-tokens'], 2),
      seed,
      onProgress: (p) => {
        if (p.message !== lastMessage && process.stderr.isTTY) process.stderr.write(`\r${p.message}`.padEnd(60));
        lastMessage = p.message;
      },
    });
    if (process.stderr.isTTY) process.stderr.write('\n');
  }
  if (values.csv) await writeFile(values.csv, pcaResultCsv(result));
  if (values.json) {
    console.log(JSON.stringify(pcaResultJson(result)));
    return 0;
  }
  if (result.probe) {
    console.log(
      `probe set: seed ${result.probe.seed}, ${result.probe.counts.map((c) => `${c.modality} ${c.label}`).join(', ')} (${result.probe.windows} windows of ${result.probe.split})`,
    );
    console.log(`basis: ${result.basis}${result.reference !== null ? ` (reference step ${result.reference})` : ''}`);
  }
  console.log('layer  checkpoint  probe_acc  silhouette  between/within  EVR PC1..3');
  for (const e of result.entries) {
    const s = e.separability;
    console.log(
      `${String(e.layer).padStart(5)}  ${String(e.checkpoint ?? '-').padStart(10)}  ${s.probeAccuracy.toFixed(3).padStart(9)}  ${s.silhouette
        .toFixed(3)
        .padStart(10)}  ${s.betweenWithinRatio.toFixed(3).padStart(14)}  ${e.explainedVarianceRatio
        .slice(0, 3)
        .map((v) => v.toFixed(3))
        .join(' ')}`,
    );
  }
  return 0;
}

/** 'all' → 'all'; 'a,b,c' → integers ≥ min. */
function parseList(flag: string, value: string, min: number): 'all' | number[] {
  if (value === 'all') return 'all';
  const items = value.split(',').map((s) => s.trim());
  if (items.length === 0 || items.some((s) => s === ''))
    throw new MotlabError('invalid_config', `${flag} must be "all" or a comma-separated list of integers (got "${value}")`);
  return items.map((s) => parseIntFlag(flag, s, min)!);
}
