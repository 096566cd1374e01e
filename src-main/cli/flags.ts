import { MotlabError } from '../common/errors.ts';
import { ENGINE_CHOICES, isEngineChoice, type EngineChoice } from '../common/vocabulary.ts';

export function parseEngineFlag(value: string | undefined): EngineChoice {
  const v = value ?? 'auto';
  if (isEngineChoice(v)) return v;
  throw new MotlabError('invalid_config', `--engine must be one of ${ENGINE_CHOICES.join(', ')} (got "${v}")`);
}

/** A positive integer flag, or undefined when absent. */
export function parseIntFlag(flag: string, value: string | undefined, min = 1): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min) throw new MotlabError('invalid_config', `${flag} must be an integer ≥ ${min} (got "${value}")`);
  return n;
}
