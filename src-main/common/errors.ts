/**
 * An error a person can act on: what went wrong, where (a file, a config field), and why.
 * Every layer (CLI, API, UI) shows `message` as it is; `code` lets callers branch.
 */
export type MotlabErrorCode =
  | 'invalid_config'
  | 'invalid_dataset'
  | 'invalid_checkpoint'
  | 'not_found'
  | 'non_finite_loss'
  | 'engine_unavailable'
  | 'invalid_request'
  | 'conflict'
  | 'unauthorized'
  | 'internal';

export class MotlabError extends Error {
  readonly code: MotlabErrorCode;
  constructor(code: MotlabErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MotlabError';
    this.code = code;
  }
}
