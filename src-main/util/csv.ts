/**
 * The one CSV writer (RFC 4180): fields separated by commas, lines ended by CRLF, a field quoted
 * when it holds a comma, a quote, a line break or surrounding spaces; numbers in shortest
 * round-trip form, NaN and ±Infinity as pandas, numpy and R read them back, null and undefined
 * as empty fields. Every CSV the lab writes — figures, analyses, metrics — goes through it.
 */

function numberField(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (!Number.isFinite(value)) return value > 0 ? 'Infinity' : '-Infinity';
  return String(value);
}

function textField(text: string): string {
  return /[",\r\n]/.test(text) || text !== text.trim() ? `"${text.replace(/"/g, '""')}"` : text;
}

export function csvField(value: unknown): string {
  if (value === null || value === undefined) return '';
  return typeof value === 'number' ? numberField(value) : textField(String(value));
}

/**
 * Rows of fields as CSV text, the header being the first row. `width`, when given, is checked
 * for every row (`onBadRow` names the problem: the caller knows what the rows are).
 */
export function csvText(
  rows: Iterable<readonly unknown[]>,
  check?: { width: number; onBadRow: (row: number, length: number) => Error },
): string {
  // Text fields repeat (run and modality names on every row): each distinct one is quoted once.
  const quoted = new Map<string, string>();
  const lines: string[] = [];
  let index = 0;
  for (const row of rows) {
    if (check && row.length !== check.width) throw check.onBadRow(index, row.length);
    let line = '';
    for (let j = 0; j < row.length; j++) {
      const value = row[j];
      if (j > 0) line += ',';
      if (typeof value === 'number') line += numberField(value);
      else if (typeof value === 'string') {
        let field = quoted.get(value);
        if (field === undefined) quoted.set(value, (field = textField(value)));
        line += field;
      } else line += csvField(value);
    }
    lines.push(line);
    index++;
  }
  return lines.join('\r\n') + '\r\n';
}
