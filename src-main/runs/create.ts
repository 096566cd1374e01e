/**
 * Creating a run: from a preset (or a run config file), a size, a dataset and overrides to a
 * validated run.json. Everything is checked before anything is written, so a bad request
 * leaves no folder behind.
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { buildModelConfig } from '../model/presets.ts';
import { isPresetName, PRESET_NAMES, type EngineChoice, type PresetName, type SizeName } from '../common/vocabulary.ts';
import { parseRunConfigFile, trainingConfigSchema, TRAINING_DEFAULTS, type RunConfigFile } from '../training/config.ts';
import { loadDataset, resolveDatasetDir, windowCount, type Dataset } from '../data/dataset.ts';
import { MAX_JSON_FILE_BYTES, readRegularText } from '../data/regular-file.ts';
import { MotlabError } from '../common/errors.ts';
import { parseOrThrow } from '../common/validate.ts';
import { RUN_JSON, writeRunJson, type RunJson } from './run-json.ts';

/** The built-in dataset a run uses when none is named. */
export const DEFAULT_DATASET = 'fashion-tri';
/** The size a run gets when neither the request nor its config file names one. */
const DEFAULT_SIZE: SizeName = 'small';

/** Training settings a request may set on top of the size's defaults (and on resume, except the seed). */
export interface TrainingOverrides {
  steps?: number;
  checkpoint_every?: number;
  eval_every?: number;
  seed?: number;
}

export interface NewRunRequest {
  /** A preset name, or a run config file (JSON). */
  config: string;
  size?: SizeName;
  /** A dataset folder or the name of a built-in dataset. */
  data: string;
  engine: EngineChoice;
  /** Gradient workers; default: the config file's, else the cores available. */
  workers?: number;
  overrides: TrainingOverrides;
}

export function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export async function readRunConfigFile(file: string): Promise<RunConfigFile> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readRegularText(file, { maxBytes: MAX_JSON_FILE_BYTES, code: 'invalid_config', what: 'a config file' }));
  } catch (error) {
    const why = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message;
    throw new MotlabError('invalid_config', `cannot read config file ${file}: ${why}`);
  }
  return parseRunConfigFile(raw, file);
}

/** The preset and config file a `config` argument names. */
async function resolveConfig(config: string): Promise<{ preset: PresetName; file: RunConfigFile }> {
  if (isPresetName(config)) return { preset: config, file: parseRunConfigFile({}, 'defaults') };
  if (config.endsWith('.json') || existsSync(config)) {
    const file = await readRunConfigFile(config);
    return { preset: file.preset ?? 'dense', file };
  }
  throw new MotlabError('invalid_config', `--config "${config}" is neither a preset (${PRESET_NAMES.join(', ')}) nor a JSON file`);
}

/** Refuse now, not at the first evaluation: a split must hold one window of seq_len + 1 tokens. */
function checkSplitsHoldAWindow(dataset: Dataset, datasetDir: string, seqLen: number): void {
  for (const split of ['train', 'val']) {
    const tokens = dataset.splits[split];
    if (tokens && windowCount(tokens.length, seqLen) === 0)
      throw new MotlabError(
        'invalid_dataset',
        `${datasetDir}: split "${split}" has ${tokens.length} tokens; seq_len ${seqLen} needs at least ${seqLen + 1}`,
      );
  }
}

/** The run.json of a new run in `runDir`: validated, nothing written. */
export async function planNewRun(runDir: string, request: NewRunRequest): Promise<RunJson> {
  const { preset, file } = await resolveConfig(request.config);
  const size = request.size ?? file.size ?? DEFAULT_SIZE;
  const datasetDir = resolveDatasetDir(request.data);
  const dataset = await loadDataset(datasetDir);
  const training = parseOrThrow(
    trainingConfigSchema,
    { ...TRAINING_DEFAULTS[size], ...file.training, ...definedOnly(request.overrides) },
    'training settings',
  );
  const model = buildModelConfig(preset, size, dataset.spec, file.model ?? {});
  checkSplitsHoldAWindow(dataset, datasetDir, model.seq_len);
  const now = new Date().toISOString();
  const workers = request.workers ?? file.workers;
  return {
    name: path.basename(runDir),
    created: now,
    updated: now,
    preset,
    size,
    model,
    training,
    dataset: { path: datasetDir, name: dataset.spec.name },
    engine: request.engine,
    ...(workers !== undefined ? { workers } : {}),
    seed: training.seed,
    status: 'created',
  };
}

/** Write a planned run into `runDir`, which must not hold a run yet. */
export async function createRun(runDir: string, run: RunJson): Promise<void> {
  if (existsSync(path.join(runDir, RUN_JSON)))
    throw new MotlabError('conflict', `${runDir} already holds a run; pass --resume to continue it, or choose another --out`);
  await mkdir(runDir, { recursive: true });
  await writeRunJson(runDir, run);
}
