import type { EngineName } from '../engine/engine.ts';
import { MotlabError } from '../util/errors.ts';

export const ENGINE_FLAGS = ['auto', 'tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] as const;

export function parseEngineFlag(value: string | undefined): EngineName | 'auto' {
  const v = value ?? 'auto';
  if ((ENGINE_FLAGS as readonly string[]).includes(v)) return v as EngineName | 'auto';
  throw new MotlabError('invalid_config', `--engine must be one of ${ENGINE_FLAGS.join(', ')} (got "${v}")`);
}

/** A positive integer flag, or undefined when absent. */
export function parseIntFlag(flag: string, value: string | undefined, min = 1): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min) throw new MotlabError('invalid_config', `${flag} must be an integer ≥ ${min} (got "${value}")`);
  return n;
}
