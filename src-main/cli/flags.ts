import { parseArgs, type ParseArgsConfig } from 'node:util';
import { MotlabError } from '../common/errors.ts';
import { oneLine } from '../common/text.ts';
import {
  ENGINE_CHOICES,
  IN_PROCESS_ENGINE_CHOICES,
  isEngineChoice,
  MAX_WORKERS,
  TORCH_ENGINE,
  type EngineChoice,
  type InProcessEngineChoice,
} from '../common/vocabulary.ts';

/** `--engine` of `motlab train`: any engine, `torch` included. */
export function parseEngineFlag(value: string | undefined): EngineChoice {
  const v = value ?? 'auto';
  if (isEngineChoice(v)) return v;
  throw new MotlabError('invalid_config', `--engine must be one of ${ENGINE_CHOICES.join(', ')} (got ${shown(v)})`);
}

/** `--engine` of work done in the lab's process (evaluation, analyses): not `torch`, which only trains. */
export function parseInProcessEngineFlag(value: string | undefined): InProcessEngineChoice {
  const v = parseEngineFlag(value);
  if (v === TORCH_ENGINE)
    throw new MotlabError(
      'invalid_config',
      `--engine torch only trains runs; evaluation and analyses run on the lab's engines (${IN_PROCESS_ENGINE_CHOICES.join(', ')})`,
    );
  return v;
}

/** A whole-number flag in [min, max], or undefined when absent. Decimal digits only ("1e3", "0x10" are refused). */
export function parseIntFlag(flag: string, value: string | undefined, min = 1, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (value === undefined) return undefined;
  const n = /^[+-]?\d{1,16}$/.test(value.trim()) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max)
    throw new MotlabError(
      'invalid_config',
      `${flag} must be a whole number ≥ ${min}${max < Number.MAX_SAFE_INTEGER ? ` and ≤ ${max.toLocaleString('en-US')}` : ''} (got ${shown(value)})`,
    );
  return n;
}

/** A flag's value quoted for an error line: escaped and short. */
function shown(value: string): string {
  return oneLine(JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value), 60);
}

/**
 * `--steps -5` → `--steps=-5`: node's parseArgs takes "-5" for an option and fails with an
 * "ambiguous" error; joined, the value reaches the flag's own check and gets its message.
 */
export function joinNegativeValues(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const next = argv[i + 1];
    if (/^--[^=]+$/.test(arg) && next !== undefined && /^-(\d|\.\d)/.test(next)) {
      out.push(`${arg}=${next}`);
      i++;
    } else out.push(arg);
  }
  return out;
}

/** True for node:util parseArgs' usage errors (unknown option, missing value, …). */
export function isParseArgsError(error: unknown): error is Error {
  const code = (error as { code?: unknown } | null)?.code;
  return error instanceof Error && typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_');
}

/** `--workers N|auto` (docs/workers.md): undefined when not given (the config file or the run decides). */
export function parseWorkersFlag(value: string | undefined): number | 'auto' | undefined {
  if (value === undefined || value === 'auto') return value;
  return parseIntFlag('--workers', value, 1, MAX_WORKERS);
}

const HELP_FLAG = { help: { type: 'boolean', default: false } } as const;
type FlagOptions = NonNullable<ParseArgsConfig['options']>;
/** The parsed values of a command's flags, typed from its options. */
export type CommandFlags<O extends FlagOptions> = ReturnType<typeof parseArgs<{ options: O; strict: true }>>['values'];

/**
 * A command's flags, parsed strictly (node's parseArgs) with `--help` added; null when --help was
 * given, after printing `help` (the command then exits 0).
 */
export function parseCommandFlags<const O extends FlagOptions>(argv: string[], options: O, help: string): CommandFlags<O> | null {
  const { values } = parseArgs({ args: argv, options: { ...options, ...HELP_FLAG }, strict: true });
  if ((values as { help?: boolean }).help) {
    console.log(help);
    return null;
  }
  return values as CommandFlags<O>;
}
