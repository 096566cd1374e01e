/**
 * Text from files (tensor and dataset names, paths, JSON values) on its way to a terminal or
 * a one-line error: control characters made visible, length bounded. A file must not be able
 * to move the cursor, recolour the screen, set the window title, or print megabytes.
 */

/** Longest error line we print; a longer message is cut with a note of how much was left out. */
export const MAX_MESSAGE_LENGTH = 2000;

// C0 controls except tab and newline, DEL, C1 controls (0x9b is an 8-bit CSI to some
// terminals), and the bidirectional overrides that can reorder what a reader sees.
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
// eslint-disable-next-line no-control-regex
const UNSAFE_OR_NEWLINE = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

const escape = (c: string): string => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;

/** `text` with unsafe characters written as \uXXXX; newlines and tabs kept. */
export function terminalSafe(text: string): string {
  return text.replace(UNSAFE, escape);
}

/** One line of at most `max` characters: unsafe characters and newlines escaped, the rest cut. */
export function oneLine(text: string, max = MAX_MESSAGE_LENGTH): string {
  return bounded(
    text.replace(UNSAFE_OR_NEWLINE, (c) => (c === '\n' ? ' ' : escape(c))),
    max,
  );
}

/** `text` cut to at most about `max` characters, saying how much was cut. */
export function bounded(text: string, max = MAX_MESSAGE_LENGTH): string {
  if (text.length <= max) return text;
  return `${text.slice(0, max)}… (${(text.length - max).toLocaleString('en-US')} more characters)`;
}

/** A name from a file, quoted for a message: escaped (JSON style, control characters visible) and bounded. */
export function quoteName(name: string, max = 200): string {
  const quoted = terminalSafe(JSON.stringify(name.length > max ? name.slice(0, max) : name));
  return name.length > max ? `${quoted}… (${name.length.toLocaleString('en-US')} characters)` : quoted;
}

/** A name as it is when it is plain (letters, digits, "._-"), else quoted as quoteName does. */
export function plainOrQuoted(name: string, max = 200): string {
  return name.length <= max && /^[A-Za-z0-9_.-]+$/.test(name) ? name : quoteName(name, max);
}

/** A list of numbers (a shape) as "[a, b, c]", with at most `max` of them shown. */
export function describeList(values: readonly unknown[], max = 8): string {
  const shown = values.slice(0, max).map(String).join(', ');
  return values.length > max ? `[${shown}, … (${values.length.toLocaleString('en-US')} in all)]` : `[${shown}]`;
}
