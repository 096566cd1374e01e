/**
 * A view's state (a zod object schema of src-main/common/views.ts) as the query of its URL, and
 * back: `#/losses?runs=dense,mot&x=flops&smoothing=0.8`. Fields at their default are left out;
 * strings are written as they are, lists of strings joined by commas, everything else as JSON.
 * Reading tries, per field, the JSON reading, the plain string and the comma list, keeping the
 * first the field's schema accepts; then the whole state is validated by the schema.
 */
import type { z } from 'zod';
import { describeZodIssues } from '../../src-main/common/validate.ts';

type ObjectSchema = z.ZodObject<z.ZodRawShape>;

function isJsonText(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** A string that would read back as something else (JSON) is written as a JSON string. */
function encodeValue(value: unknown): string {
  if (typeof value === 'string') return isJsonText(value) ? JSON.stringify(value) : value;
  if (
    Array.isArray(value) &&
    value.length > 0 &&
    value.every((v) => typeof v === 'string' && v.length > 0 && !v.includes(',') && !isJsonText(v))
  )
    return value.join(',');
  return JSON.stringify(value);
}

/** The default of a field, or undefined when it has none (a required field). */
function defaultOf(field: z.ZodType): unknown {
  const r = field.safeParse(undefined);
  return r.success ? r.data : undefined;
}

/** The state as a URL query (without "?"); `kind` is the route, not part of the query. */
export function encodeViewQuery(schema: ObjectSchema, state: Record<string, unknown>): string {
  const params = new URLSearchParams();
  for (const [key, field] of Object.entries(schema.shape)) {
    if (key === 'kind' || state[key] === undefined) continue;
    const fallback = defaultOf(field as z.ZodType);
    if (fallback !== undefined && JSON.stringify(fallback) === JSON.stringify(state[key])) continue;
    params.set(key, encodeValue(state[key]));
  }
  return params.toString();
}

export type DecodedView<S> = { ok: true; state: S } | { ok: false; problem: string };

/** Reads a query written by encodeViewQuery (or typed by a person) back into a validated state. */
export function decodeViewQuery<S extends ObjectSchema>(schema: S, kind: string, query: string): DecodedView<z.output<S>> {
  const params = new URLSearchParams(query);
  const value: Record<string, unknown> = { kind };
  const unknown: string[] = [];
  for (const [key, text] of params) {
    const field = schema.shape[key] as z.ZodType | undefined;
    if (!field || key === 'kind') {
      unknown.push(key);
      continue;
    }
    const candidates: unknown[] = [];
    if (isJsonText(text)) candidates.push(JSON.parse(text));
    candidates.push(text, text.split(','));
    value[key] = candidates.find((c) => field.safeParse(c).success) ?? candidates[0];
  }
  if (unknown.length > 0)
    return { ok: false, problem: `unknown setting${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')} in the address` };
  const parsed = schema.safeParse(value);
  return parsed.success ? { ok: true, state: parsed.data } : { ok: false, problem: describeZodIssues(parsed.error) };
}
