/** Human labels for token ids in the dataset browser. */
import type { DatasetOverview } from '../../src-main/common/api/types.ts';

type Labels = Pick<DatasetOverview, 'decoder' | 'specialTokens'>;

/** A byte as a visible character: letters as themselves, space as ␣, others as hex. */
function byteLabel(b: number): string {
  if (b === 32) return '␣';
  if (b > 32 && b < 127) return String.fromCharCode(b);
  return `0x${b.toString(16).padStart(2, '0')}`;
}

/** "'e'", "<bos>", "code 12", "unit 7" or "id 1234". */
export function tokenLabel(id: number, modality: { name: string; start: number }, labels: Labels): string {
  const special = labels.specialTokens[String(id)];
  if (special) return special;
  if (labels.decoder === 'fashion-tri') {
    if (modality.name === 'text') return `'${byteLabel(id)}'`;
    if (modality.name === 'image') return `code ${id - modality.start}`;
    if (modality.name === 'speech') return `unit ${id - modality.start}`;
  }
  return `id ${id}`;
}

export function pct(x: number, digits = 1): string {
  return `${(100 * x).toFixed(digits)}%`;
}
