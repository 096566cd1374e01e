import { z } from 'zod';
import { MotlabError, type MotlabErrorCode } from './errors.ts';
import { oneLine } from './text.ts';

/** Issues listed in one message; the rest are counted ("and 3 more"). */
const MAX_ISSUES = 10;

/**
 * "towers.ffn[1][0]: expected string" — the path a person edits, then the reason. Keys and
 * values in issues come from the file: each issue is escaped and bounded, and only the first
 * few are listed.
 */
export function describeZodIssues(error: z.ZodError): string {
  const shown = error.issues.slice(0, MAX_ISSUES).map((issue) => {
    const path = issue.path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join('');
    return oneLine(`${path || '(root)'}: ${issue.message}`, 300);
  });
  const more = error.issues.length - shown.length;
  return shown.join('; ') + (more > 0 ? `; and ${more} more` : '');
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
