/**
 * Checkpoints from elsewhere, as the API and the CLI offer them (docs/importing.md): import one
 * into a run folder (importers/ writes the checkpoint, this writes run.json marked `imported`),
 * and the weight-space analyses of a run or of a checkpoint in place.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { MotlabError } from '../../common/errors.ts';
import { weightsOnlyMessage } from '../../common/imported-source.ts';
import type { PresetName, SizeName } from '../../common/vocabulary.ts';
import type { WeightAnalysis } from '../../common/weight-analysis.ts';
import type { ApiHandlers } from '../../common/api/definition.ts';
import type { RunSummary } from '../../common/api/types.ts';
import { loadDatasetSpec } from '../../data/dataset.ts';
import { writeRunJson, type RunJson } from '../../runs/run-json.ts';
import { DEFAULT_DATASET, readRunConfigFile } from '../../runs/create.ts';
import { TRAINING_DEFAULTS } from '../../training/config.ts';
import { importCheckpoint, type ImportedCheckpoint } from '../../importers/import.ts';
import { BUILTIN_MAPPINGS } from '../../importers/mappings.ts';
import { openMappedWeights } from '../../importers/inspect.ts';
import type { WriteProgress } from '../../importers/write-checkpoint.ts';
import { collectWeightAnalysis, openRunWeights, type WeightAnalysisOptions } from '../../analysis/weights-collect.ts';
import type { WeightSource } from '../../common/weight-analysis.ts';
import { allowedReadPath } from '../workspace.ts';
import { existingRunDir, runDirOf, type ApiContext } from '../context.ts';
import { findDataset } from './datasets.ts';

export interface ImportRunOptions {
  from: string;
  mapping: string;
  preset?: PresetName;
  size?: SizeName;
  /** A run config file (`--config`): preset, size, model fields, training settings. */
  configFile?: string;
  /** The dataset folder the run refers to (its modalities name the towers). */
  datasetDir: string;
  weightsOnly?: boolean;
  /** The new run folder. */
  out: string;
  onProgress?: (p: WriteProgress) => void;
}

/** One line about an imported run, for run.json's message and the CLI. */
export function importedMessage(imported: ImportedCheckpoint): string {
  const from = `Imported from ${imported.source.path} (${imported.source.mapping} names)`;
  return imported.source.weights_only ? `${from}: ${weightsOnlyMessage(imported.source.weights_only)}` : `${from}.`;
}

/** Import a checkpoint into a new run folder with a run.json the whole lab reads. */
export async function importRun(options: ImportRunOptions): Promise<{ run: RunJson; imported: ImportedCheckpoint }> {
  if (options.configFile && (options.preset || options.size))
    throw new MotlabError(
      'invalid_config',
      'give either --preset/--size or --config, not both (the config file holds a preset and a size)',
    );
  const configFile = options.configFile ? await readRunConfigFile(options.configFile) : undefined;
  const spec = await loadDatasetSpec(options.datasetDir);
  const imported = await importCheckpoint({
    from: options.from,
    mapping: options.mapping,
    preset: options.preset,
    size: options.size,
    configFile,
    dataset: { name: spec.name, vocab_size: spec.vocab_size, modalities: spec.modalities },
    weightsOnly: options.weightsOnly,
    out: options.out,
    onProgress: options.onProgress,
  });
  const size = options.size ?? configFile?.size;
  const preset = options.preset ?? configFile?.preset;
  const now = new Date().toISOString();
  // run.json needs training settings: the lab's for the size (eval reads its window count), and
  // as many steps as the checkpoint has, so that the run reads as complete.
  const training = { ...TRAINING_DEFAULTS[size ?? 'small'], ...configFile?.training, steps: Math.max(imported.step, 1) };
  const run: RunJson = {
    name: path.basename(options.out),
    created: now,
    ...(preset ? { preset } : {}),
    ...(size ? { size } : {}),
    model: imported.config,
    training,
    dataset: { path: options.datasetDir, name: spec.name },
    engine: 'imported',
    seed: training.seed,
    status: 'completed',
    message: importedMessage(imported),
    updated: now,
    source: imported.source,
  };
  await writeRunJson(options.out, run);
  return { run, imported };
}

/** The weight-space analyses of a run folder, or of a checkpoint in place (`from`, renamed by `mapping`). */
export async function analyzeWeightsOf(
  target: { run: string; step?: number | 'latest' } | { from: string; mapping: string },
  options: WeightAnalysisOptions,
): Promise<WeightAnalysis> {
  const source: WeightSource =
    'run' in target ? await openRunWeights(target.run, target.step ?? 'latest') : await openMappedWeights(target.from, target.mapping);
  try {
    return await collectWeightAnalysis(source, options);
  } finally {
    await source.close();
  }
}

/** A run name from a checkpoint's file or folder name: "<name>-imported", made unique in the workspace. */
function importedRunName(ctx: ApiContext, source: string): string {
  const stem = path
    .basename(source)
    .replace(/\.safetensors(\.index\.json)?$/, '')
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '')
    .slice(0, 60);
  const base = `${stem || 'checkpoint'}-imported`;
  let name = base;
  for (let i = 2; existsSync(runDirOf(ctx, name)); i++) name = `${base}-${i}`;
  return name;
}

/** The imports area of the API: Open checkpoint… and the weight-space analyses. */
export function importHandlers(
  ctx: ApiContext,
  summarize: (run: string) => Promise<RunSummary>,
): Pick<ApiHandlers, 'importCheckpoint' | 'analyzeWeights'> {
  return {
    async importCheckpoint(input) {
      const roots = ctx.options.workspaceRoots;
      const from = await allowedReadPath(input.path, roots, 'the checkpoint');
      const mapping =
        Object.hasOwn(BUILTIN_MAPPINGS, input.mapping) || input.mapping === 'auto'
          ? input.mapping
          : await allowedReadPath(input.mapping, roots, 'the mapping file');
      const dataset = await findDataset(ctx, input.dataset ?? DEFAULT_DATASET);
      const name = input.name ?? importedRunName(ctx, from);
      const out = runDirOf(ctx, name);
      if (existsSync(out)) throw new MotlabError('conflict', `A run named "${name}" already exists; choose another name.`);
      await importRun({
        from,
        mapping,
        preset: input.preset,
        size: input.size,
        datasetDir: dataset.path,
        weightsOnly: input.weightsOnly,
        out,
      });
      const summary = await summarize(name);
      ctx.emit({ type: 'run-status', run: name, status: summary.status, message: summary.message });
      return summary;
    },
    async analyzeWeights({ run, step, singularValues, metrics }) {
      return analyzeWeightsOf({ run: existingRunDir(ctx, run), step: step ?? 'latest' }, { singularValues, metrics });
    },
  };
}
