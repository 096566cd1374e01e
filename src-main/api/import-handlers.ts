/**
 * Checkpoints from elsewhere, as the API and the CLI offer them (docs/importing.md): import one
 * into a run folder (importers/ writes the checkpoint, this writes run.json marked `imported`),
 * and the weight-space analyses of a run or of a checkpoint in place.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { MotlabError } from '../common/errors.ts';
import { weightsOnlyMessage } from '../common/imported-source.ts';
import type { PresetName, SizeName } from '../common/vocabulary.ts';
import type { WeightAnalysis } from '../common/weight-analysis.ts';
import { loadDatasetSpec } from '../data/dataset.ts';
import { writeRunJson, type RunJson } from '../checkpoints/run-folder.ts';
import { parseRunConfigFile, TRAINING_DEFAULTS, type RunConfigFile } from '../training/config.ts';
import { importCheckpoint, type ImportedCheckpoint } from '../importers/import.ts';
import { openMappedWeights } from '../importers/inspect.ts';
import type { WriteProgress } from '../importers/write-checkpoint.ts';
import { collectWeightAnalysis, openRunWeights, type WeightAnalysisOptions, type WeightSource } from '../analysis/weights-collect.ts';

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

async function readConfigFile(file: string): Promise<RunConfigFile> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    const why = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message.slice(0, 200);
    throw new MotlabError('invalid_config', `cannot read config file ${file}: ${why}`);
  }
  return parseRunConfigFile(raw, file);
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
  const configFile = options.configFile ? await readConfigFile(options.configFile) : undefined;
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
