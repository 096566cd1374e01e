/**
 * Text widths without a DOM, for layout (margins, legends, label thinning): advance widths of
 * the figure font (DejaVu Sans, regular and bold) in em, read from its hmtx table for printable
 * ASCII and the few symbols the charts use. Other characters count as 0.6 em.
 */
const CHARACTERS = ' !"#$%&\'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~⁰¹²³⁴⁵⁶⁷⁸⁹⁻×−·μ–—…≈';

const REGULAR = [
  0.3179, 0.4009, 0.46, 0.8379, 0.6362, 0.9502, 0.7798, 0.2749, 0.3901, 0.3901, 0.5, 0.8379, 0.3179, 0.3608, 0.3179, 0.3369, 0.6362, 0.6362,
  0.6362, 0.6362, 0.6362, 0.6362, 0.6362, 0.6362, 0.6362, 0.6362, 0.3369, 0.3369, 0.8379, 0.8379, 0.8379, 0.5308, 1, 0.6841, 0.686, 0.6982,
  0.77, 0.6318, 0.5752, 0.7749, 0.752, 0.2949, 0.2949, 0.6558, 0.5571, 0.8628, 0.748, 0.7871, 0.603, 0.7871, 0.6948, 0.6348, 0.6108, 0.7319,
  0.6841, 0.9888, 0.6851, 0.6108, 0.6851, 0.3901, 0.3369, 0.3901, 0.8379, 0.5, 0.5, 0.6128, 0.6348, 0.5498, 0.6348, 0.6152, 0.3521, 0.6348,
  0.6338, 0.2778, 0.2778, 0.5791, 0.2778, 0.9741, 0.6338, 0.6118, 0.6348, 0.6348, 0.4111, 0.521, 0.3921, 0.6338, 0.5918, 0.8179, 0.5918,
  0.5918, 0.5249, 0.6362, 0.3369, 0.6362, 0.8379, 0.4009, 0.4009, 0.4009, 0.4009, 0.4009, 0.4009, 0.4009, 0.4009, 0.4009, 0.4009, 0.5278,
  0.8379, 0.8379, 0.3179, 0.6362, 0.5, 1, 1, 0.8379,
];

const BOLD = [
  0.3481, 0.4561, 0.521, 0.8379, 0.6958, 1.002, 0.8721, 0.3062, 0.457, 0.457, 0.5229, 0.8379, 0.3799, 0.415, 0.3799, 0.3652, 0.6958, 0.6958,
  0.6958, 0.6958, 0.6958, 0.6958, 0.6958, 0.6958, 0.6958, 0.6958, 0.3999, 0.3999, 0.8379, 0.8379, 0.8379, 0.5801, 1, 0.7739, 0.7622, 0.7339,
  0.8301, 0.6831, 0.6831, 0.8208, 0.8369, 0.3721, 0.3721, 0.7749, 0.6372, 0.9951, 0.8369, 0.8501, 0.7329, 0.8501, 0.77, 0.7202, 0.6821,
  0.812, 0.7739, 1.103, 0.771, 0.7241, 0.7251, 0.457, 0.3652, 0.457, 0.8379, 0.5, 0.5, 0.6748, 0.7158, 0.5928, 0.7158, 0.6782, 0.4351,
  0.7158, 0.7119, 0.3428, 0.3428, 0.665, 0.3428, 1.042, 0.7119, 0.687, 0.7158, 0.7158, 0.4932, 0.5952, 0.478, 0.7119, 0.6519, 0.9238, 0.645,
  0.6519, 0.582, 0.7119, 0.3652, 0.7119, 0.8379, 0.438, 0.438, 0.438, 0.438, 0.438, 0.438, 0.438, 0.438, 0.438, 0.438, 0.5278, 0.8379,
  0.8379, 0.3799, 0.7358, 0.5, 1, 1, 0.8379,
];

const OTHER_EM = 0.6;

function widthTable(ems: readonly number[]): Map<string, number> {
  return new Map(Array.from(CHARACTERS, (c, i) => [c, ems[i]]));
}
const REGULAR_EM = widthTable(REGULAR);
const BOLD_EM = widthTable(BOLD);

/** Width of `text` at `fontSize` in the same user units. */
export function textWidth(text: string, fontSize: number, weight: 'normal' | 'bold' = 'normal'): number {
  const table = weight === 'bold' ? BOLD_EM : REGULAR_EM;
  let em = 0;
  for (const c of text) em += table.get(c) ?? OTHER_EM;
  return em * fontSize;
}

/** `text` shortened with an ellipsis to fit `maxWidth` (unchanged when it fits). */
export function fitText(text: string, fontSize: number, maxWidth: number, weight: 'normal' | 'bold' = 'normal'): string {
  if (textWidth(text, fontSize, weight) <= maxWidth) return text;
  const chars = Array.from(text);
  while (chars.length > 0 && textWidth(chars.join('') + '…', fontSize, weight) > maxWidth) chars.pop();
  return chars.length > 0 ? chars.join('') + '…' : '';
}
