/**
 * The one place an API call is validated and its errors are shaped; both transports call it.
 */
import { MotlabError } from '../common/errors.ts';
import { describeZodIssues } from '../common/validate.ts';
import { apiDefinition, isMethodName, type ApiHandlers, type MethodName } from '../common/api/definition.ts';
import type { ApiErrorShape, Envelope } from '../common/api/types.ts';

export async function dispatch(handlers: ApiHandlers, method: string, rawInput: unknown): Promise<Envelope> {
  try {
    if (!isMethodName(method)) throw new MotlabError('not_found', `Unknown API method "${method}"`);
    const parsed = apiDefinition[method].input.safeParse(rawInput ?? {});
    if (!parsed.success) {
      throw new MotlabError('invalid_request', `Invalid ${method} request: ${describeZodIssues(parsed.error)}`);
    }
    const handler = handlers[method] as (input: unknown) => Promise<unknown>;
    return { ok: true, result: await handler(parsed.data) };
  } catch (error) {
    return { ok: false, error: toErrorShape(error) };
  }
}

export function toErrorShape(error: unknown): ApiErrorShape {
  if (error instanceof MotlabError) return { code: error.code, message: error.message };
  // Unexpected: keep the message (it is all a person has to go on) but mark it internal.
  const message = error instanceof Error ? error.message : String(error);
  return { code: 'internal', message: `Internal error: ${message}` };
}

/** HTTP status for an error code (the body carries the code itself). */
export function httpStatusOf(code: string): number {
  switch (code) {
    case 'invalid_request':
    case 'invalid_config':
    case 'invalid_dataset':
      return 400;
    case 'unauthorized':
      return 401;
    case 'not_found':
      return 404;
    case 'conflict':
      return 409;
    case 'invalid_checkpoint':
    case 'non_finite_loss':
      return 422;
    case 'engine_unavailable':
      return 503;
    default:
      return 500;
  }
}

export type { MethodName };
