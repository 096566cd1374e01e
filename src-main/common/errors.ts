/**
 * An error a person can act on: what went wrong, where (a file, a config field), and why.
 * Every layer (CLI, API, UI) shows `message` as it is; `code` lets callers branch.
 */
import { bounded, terminalSafe } from './text.ts';

export const MOTLAB_ERROR_CODES = [
  'invalid_config',
  'invalid_dataset',
  'invalid_checkpoint',
  'not_found',
  'non_finite_loss',
  'engine_unavailable',
  'invalid_request',
  'conflict',
  'unauthorized',
  'internal',
] as const;
export type MotlabErrorCode = (typeof MOTLAB_ERROR_CODES)[number];

export function isMotlabErrorCode(code: string): code is MotlabErrorCode {
  return (MOTLAB_ERROR_CODES as readonly string[]).includes(code);
}

export class MotlabError extends Error {
  readonly code: MotlabErrorCode;
  /**
   * Messages often quote what a file holds (a tensor name, a JSON value): control characters are
   * escaped and the length bounded here, once, so that no file can put escape sequences on a
   * terminal or megabytes into an answer through an error.
   */
  constructor(code: MotlabErrorCode, message: string, options?: { cause?: unknown }) {
    super(bounded(terminalSafe(message)), options);
    this.name = 'MotlabError';
    this.code = code;
  }
}
