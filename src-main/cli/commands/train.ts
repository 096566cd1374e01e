/**
 * `motlab train`: create (or resume) a run folder and train it in this process. When forked by
 * the app it also takes pause/resume/stop over the IPC channel and reports every event back.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { buildModelConfig } from '../../model/presets.ts';
import { isPresetName, PRESET_NAMES, type PresetName, type SizeName } from '../../common/vocabulary.ts';
import { parseRunConfigFile, trainingConfigSchema, TRAINING_DEFAULTS } from '../../training/config.ts';
import { loadDataset, resolveDatasetDir, windowCount } from '../../data/dataset.ts';
import { MAX_JSON_FILE_BYTES, readRegularText } from '../../data/regular-file.ts';
import { readRunJson, writeRunJson, type RunJson } from '../../checkpoints/run-folder.ts';
import { trainRun, TrainingControl, type TrainEvent } from '../../training/trainer.ts';
import { MotlabError } from '../../common/errors.ts';
import { parseOrThrow } from '../../common/validate.ts';
import { parseEngineFlag, parseIntFlag } from '../flags.ts';
import { ProgressPrinter } from '../progress.ts';

/** The built-in dataset a run uses when --data is not given. */
export const DEFAULT_DATASET = 'fashion-tri';

const HELP = `motlab train --config <preset|file.json> --data <datasetDir|builtin> --out <runDir> [options]

  --config NAME|FILE   a preset (${PRESET_NAMES.join(', ')}) or a JSON config file
  --size tiny|small|base   model and schedule size (default: small, or the config file's)
  --data DIR|NAME      dataset folder or built-in dataset name (default: fashion-tri)
  --out DIR            run folder to create (or to continue with --resume)
  --steps N  --checkpoint-every N  --eval-every N  --seed N
  --engine auto|tensorflow-gpu|tensorflow|wasm|cpu   (default auto)
  --resume             continue the run in --out from its latest checkpoint`;

export async function runTrainCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      config: { type: 'string' },
      size: { type: 'string' },
      data: { type: 'string' },
      out: { type: 'string' },
      steps: { type: 'string' },
      'checkpoint-every': { type: 'string' },
      'eval-every': { type: 'string' },
      engine: { type: 'string', default: 'auto' },
      seed: { type: 'string' },
      resume: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (!values.out) throw new MotlabError('invalid_config', `--out <runDir> is required\n\n${HELP}`);
  const runDir = path.resolve(values.out);
  const engine = parseEngineFlag(values.engine);
  const overrides = {
    steps: parseIntFlag('--steps', values.steps, 1, 1e9),
    checkpoint_every: parseIntFlag('--checkpoint-every', values['checkpoint-every'], 1, 1e9),
    eval_every: parseIntFlag('--eval-every', values['eval-every'], 1, 1e9),
    seed: parseIntFlag('--seed', values.seed, 0, 2 ** 31 - 1),
  };

  if (values.resume) {
    if (!existsSync(path.join(runDir, 'run.json')))
      throw new MotlabError('not_found', `${runDir} holds no run to resume (no run.json); drop --resume to start a new run there`);
    const run = await readRunJson(runDir);
    if (overrides.seed !== undefined && overrides.seed !== run.seed)
      throw new MotlabError('invalid_config', `--seed cannot change on --resume (the run was started with seed ${run.seed})`);
    const training = parseOrThrow(
      trainingConfigSchema,
      {
        ...run.training,
        ...definedOnly({ steps: overrides.steps, checkpoint_every: overrides.checkpoint_every, eval_every: overrides.eval_every }),
      },
      'training settings',
    );
    await writeRunJson(runDir, { ...run, training, updated: new Date().toISOString() });
  } else {
    if (existsSync(path.join(runDir, 'run.json')))
      throw new MotlabError('conflict', `${runDir} already holds a run; pass --resume to continue it, or choose another --out`);
    if (!values.config) throw new MotlabError('invalid_config', `--config <preset|file.json> is required\n\n${HELP}`);
    const data = values.data ?? DEFAULT_DATASET;
    await writeRunJson(runDir, await newRun(runDir, values.config, values.size, data, engine, overrides));
  }

  const control = new TrainingControl();
  const printer = new ProgressPrinter(process.stdout, (await readRunJson(runDir)).training.steps);
  // Report to the parent while it is there; a parent that died must not crash the run (the
  // run folder has everything, and the app reconnects to it).
  const send =
    typeof process.send === 'function'
      ? (event: TrainEvent) => {
          if (process.connected) process.send!(event, undefined, undefined, () => undefined);
        }
      : null;
  process.on('message', (message: unknown) => {
    const type = (message as { type?: unknown } | null)?.type;
    if (type === 'pause') control.pause();
    else if (type === 'resume') control.resume();
    else if (type === 'stop') control.stop();
  });
  let interrupts = 0;
  const onSignal = () => {
    interrupts += 1;
    if (interrupts > 1) process.exit(130);
    printer.note('stopping after this step (again to quit at once)…');
    control.stop();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const status = await trainRun({
      runDir,
      engine,
      resume: values.resume,
      control,
      onEvent: (event) => {
        printer.onEvent(event);
        send?.(event);
      },
    });
    printer.finish(`run folder: ${runDir}`);
    return status === 'failed' ? 1 : 0;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (send && process.connected) process.disconnect();
  }
}

async function newRun(
  runDir: string,
  configArg: string,
  sizeArg: string | undefined,
  dataArg: string,
  engine: string,
  overrides: Record<string, number | undefined>,
): Promise<RunJson> {
  let preset: PresetName;
  let file = parseRunConfigFile({}, 'defaults');
  if (isPresetName(configArg)) {
    preset = configArg;
  } else if (configArg.endsWith('.json') || existsSync(configArg)) {
    let raw: unknown;
    try {
      raw = JSON.parse(await readRegularText(configArg, { maxBytes: MAX_JSON_FILE_BYTES, code: 'invalid_config', what: 'a config file' }));
    } catch (error) {
      const why = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message;
      throw new MotlabError('invalid_config', `cannot read config file ${configArg}: ${why}`);
    }
    file = parseRunConfigFile(raw, configArg);
    preset = file.preset ?? 'dense';
  } else {
    throw new MotlabError('invalid_config', `--config "${configArg}" is neither a preset (${PRESET_NAMES.join(', ')}) nor a JSON file`);
  }
  const size = parseSize(sizeArg) ?? file.size ?? 'small';
  const datasetDir = resolveDatasetDir(dataArg);
  const dataset = await loadDataset(datasetDir);
  const training = parseOrThrow(
    trainingConfigSchema,
    { ...TRAINING_DEFAULTS[size], ...file.training, ...definedOnly(overrides) },
    'training settings',
  );
  const model = buildModelConfig(preset, size, dataset.spec, file.model ?? {});
  // Refuse now, not at the first evaluation: a split must hold one window of seq_len + 1 tokens.
  for (const split of ['train', 'val']) {
    const tokens = dataset.splits[split];
    if (tokens && windowCount(tokens.length, model.seq_len) === 0)
      throw new MotlabError(
        'invalid_dataset',
        `${datasetDir}: split "${split}" has ${tokens.length} tokens; seq_len ${model.seq_len} needs at least ${model.seq_len + 1}`,
      );
  }
  const now = new Date().toISOString();
  return {
    name: path.basename(runDir),
    created: now,
    updated: now,
    preset,
    size,
    model,
    training,
    dataset: { path: datasetDir, name: dataset.spec.name },
    engine,
    seed: training.seed,
    status: 'created',
  };
}

function parseSize(value: string | undefined): SizeName | undefined {
  if (value === undefined) return undefined;
  if (value === 'tiny' || value === 'small' || value === 'base') return value;
  throw new MotlabError('invalid_config', `--size must be tiny, small or base (got "${value}")`);
}

function definedOnly<T extends Record<string, unknown>>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
