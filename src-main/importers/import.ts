/**
 * Importing a checkpoint trained elsewhere into a run folder (docs/importing.md): open the source
 * lazily, rename its tensors (mappings.ts), work out the model config (ours from the file's
 * metadata, else inferred from the shapes and completed from the hints), and stream the weights
 * into `<run>/checkpoints/step-NNNNNN/model.safetensors`. run.json is the caller's to write
 * (the run service owns it), from what `importCheckpoint` returns.
 */
import { readdir, rm, stat } from 'node:fs/promises';
import { MotlabError } from '../common/errors.ts';
import { WEIGHTS_ONLY_FORMAT, type ImportedSource } from '../common/imported-source.ts';
import { parseModelConfig, type ModelConfig } from '../model/config.ts';
import { tensorMismatches } from '../checkpoints/run-folder.ts';
import { applyMapping, detectMapping, mappingLabel, resolveMapping, type NameMapping } from './mappings.ts';
import { describeAssumptions, inferModelConfig, type ConfigHints } from './infer-config.ts';
import { openCheckpointSource, type CheckpointSource } from './source.ts';
import { writeImportedCheckpoint, type PlannedTensor, type WriteProgress } from './write-checkpoint.ts';

export interface ImportOptions extends Omit<ConfigHints, 'mapping' | 'weightsOnly'> {
  /** A safetensors file, an index file, or a folder holding a checkpoint. */
  from: string;
  /** "auto", "lab", "playbook", "bagel" or a mapping file's path. */
  mapping: string;
  /** Import weights only even if the mapping does not say so (a mapping file for an architecture the lab cannot run). */
  weightsOnly?: boolean;
  /** The new run folder: must not exist yet, or be empty. */
  out: string;
  onProgress?: (p: WriteProgress) => void;
}

export interface ImportedCheckpoint {
  runDir: string;
  step: number;
  config: ModelConfig;
  /** For run.json's `source`. */
  source: ImportedSource;
  /** Tensors written. */
  tensors: number;
  bytes: number;
}

/** The config in our own metadata, checked against the tensors and the dataset's modalities. */
function labConfig(source: CheckpointSource, shapes: ReadonlyMap<string, number[]>, options: ImportOptions): ModelConfig {
  const fail = (what: string): never => {
    throw new MotlabError('invalid_checkpoint', `${source.path}: ${what}`);
  };
  let raw: unknown;
  try {
    raw = JSON.parse(source.metadata.config);
  } catch (e) {
    return fail(`__metadata__.config is not valid JSON (${(e as Error).message.slice(0, 200)})`);
  }
  let config: ModelConfig;
  try {
    config = parseModelConfig(raw);
  } catch (e) {
    return fail((e as Error).message);
  }
  const problems = tensorMismatches(config, Object.fromEntries([...shapes].map(([n, s]) => [n, { shape: s }])));
  if (problems.length) fail(`tensors do not match the config in its metadata: ${problems.join('; ')}`);
  const have = JSON.stringify(config.modalities);
  if (have !== JSON.stringify(options.dataset.modalities))
    fail(
      `its modalities (${config.modalities.map((m) => `${m.name} [${m.start}, ${m.end})`).join(', ')}) are not those of dataset ` +
        `${options.dataset.name} (${options.dataset.modalities.map((m) => `${m.name} [${m.start}, ${m.end})`).join(', ')}): pass --data with the dataset it was trained on`,
    );
  return config;
}

async function checkFreshRunFolder(out: string): Promise<boolean> {
  try {
    const s = await stat(out);
    if (!s.isDirectory()) throw new MotlabError('conflict', `${out}: exists and is not a folder`);
    if ((await readdir(out)).length > 0)
      throw new MotlabError('conflict', `${out}: exists and is not empty; imports go to a new run folder`);
    return false;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return true;
    throw e;
  }
}

export async function importCheckpoint(options: ImportOptions): Promise<ImportedCheckpoint> {
  const created = await checkFreshRunFolder(options.out);
  const source = await openCheckpointSource(options.from);
  try {
    const chosen = await resolveMapping(options.mapping);
    const names = [...source.tensors.keys()];
    const mapping: NameMapping = chosen === 'auto' ? detectMapping(names, source.metadata, source.path) : chosen;
    const { renamed, dropped } = applyMapping(mapping, names, source.path);
    const shapes = new Map([...renamed].map(([ours, theirs]) => [ours, source.tensors.get(theirs)!.shape]));
    const weightsOnly = mapping.weightsOnly ?? (options.weightsOnly ? `imported with ${mappingLabel(mapping)} as weights only` : undefined);

    let config: ModelConfig;
    let assumed: string[] = [];
    if (mapping.name === 'lab' && source.metadata.format === 'motlab' && source.metadata.config !== undefined) {
      config = labConfig(source, shapes, options);
    } else {
      const inferred = inferModelConfig(shapes, { ...options, mapping, weightsOnly: weightsOnly !== undefined }, source.path);
      config = inferred.config;
      assumed = describeAssumptions(inferred);
    }

    const step = source.step ?? 0;
    const planned: PlannedTensor[] = [...renamed].map(([name, from]) => ({ name, from, shape: source.tensors.get(from)!.shape }));
    const metadata: Record<string, string> = weightsOnly
      ? { format: WEIGHTS_ONLY_FORMAT, config: JSON.stringify(config), weights_only: weightsOnly }
      : { format: 'motlab', config: JSON.stringify(config) };
    metadata.imported_from = source.path;
    try {
      await writeImportedCheckpoint(options.out, step, source, planned, metadata, options.onProgress);
    } catch (e) {
      if (created) await rm(options.out, { recursive: true, force: true });
      throw e;
    }
    const bytes = planned.reduce((s, t) => s + t.shape.reduce((a, b) => a * b, 1) * 4, 0);
    return {
      runDir: options.out,
      step,
      config,
      tensors: planned.length,
      bytes,
      source: {
        kind: 'imported',
        path: source.path,
        format: source.kind,
        mapping: mapping.name,
        ...(weightsOnly ? { weights_only: weightsOnly } : {}),
        assumed,
        dropped: dropped.length,
      },
    };
  } finally {
    await source.close();
  }
}
