/**
 * A checkpoint from elsewhere seen under our tensor names, in place (nothing copied): what the
 * weight-space analyses read when a checkpoint is inspected without importing it, e.g. one far
 * larger than memory. Tensors are read one at a time from the source files.
 */
import { MotlabError } from '../common/errors.ts';
import type { WeightSource } from '../common/weight-analysis.ts';
import type { ModelConfig } from '../model/config.ts';
import { parseModelConfig } from '../model/config.ts';
import { applyMapping, detectMapping, resolveMapping } from './mappings.ts';
import { openCheckpointSource } from './source.ts';

export interface MappedWeights extends WeightSource {
  /** Our own config when the file carries it (tower labels then name modalities). */
  config: ModelConfig | null;
  mapping: string;
  dropped: string[];
}

function ownConfig(metadata: Record<string, string>): ModelConfig | null {
  if (metadata.format !== 'motlab' || metadata.config === undefined) return null;
  try {
    return parseModelConfig(JSON.parse(metadata.config));
  } catch {
    return null; // tower labels fall back to indices; the weights are what is analysed
  }
}

export async function openMappedWeights(from: string, mappingChoice: string): Promise<MappedWeights> {
  const source = await openCheckpointSource(from);
  try {
    const chosen = await resolveMapping(mappingChoice);
    const mapping = chosen === 'auto' ? detectMapping([...source.tensors.keys()], source.metadata, source.path) : chosen;
    const { renamed, dropped } = applyMapping(mapping, [...source.tensors.keys()], source.path);
    const theirName = (ours: string): string => {
      const theirs = renamed.get(ours);
      if (theirs === undefined) throw new MotlabError('not_found', `${source.path}: no tensor maps to "${ours}"`);
      return theirs;
    };
    return {
      label: source.path,
      step: source.step,
      shapes: new Map([...renamed].map(([ours, theirs]) => [ours, source.tensors.get(theirs)!.shape])),
      read: (name) => source.read(theirName(name)),
      readRange: (name, first, count, into) => source.readRange(theirName(name), first, count, into),
      config: mapping.name === 'lab' ? ownConfig(source.metadata) : null,
      mapping: mapping.name,
      dropped,
      close: () => source.close(),
    };
  } catch (e) {
    await source.close();
    throw e;
  }
}
