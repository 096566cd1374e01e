import { z } from 'zod';
import { MotlabError, type MotlabErrorCode } from './errors.ts';

/** "towers.ffn[1][0]: expected string" — the path a person edits, then the reason. */
export function describeZodIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      const path = issue.path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join('');
      return `${path || '(root)'}: ${issue.message}`;
    })
    .join('; ');
}

/** Parse `value` with `schema`, throwing a MotlabError that names `what` and every bad field. */
export function parseOrThrow<T extends z.ZodType>(
  schema: T,
  value: unknown,
  what: string,
  code: MotlabErrorCode = 'invalid_config',
): z.output<T> {
  const result = schema.safeParse(value);
  if (!result.success) throw new MotlabError(code, `Invalid ${what}: ${describeZodIssues(result.error)}`);
  return result.data;
}
