/**
 * Token layout of the fashion-tri dataset, shared by the builder and the decoders.
 *
 *   text   [0, 262):   0..255 = UTF-8 bytes, 256.. = the six special tokens below
 *   image  [262, 518): 256 codes of the 4×4-patch codebook (49 per 28×28 image)
 *   speech [518, 518 + units): k-means units of log-mel frames
 *
 * A document is `<bos> segment… <eos>`; image segments are `<boi> 49 codes <eoi>`, speech
 * segments `<bosp> units… <eosp>`, and text segments are the bare byte runs between them.
 */
export const SPECIALS = ['<bos>', '<eos>', '<boi>', '<eoi>', '<bosp>', '<eosp>'] as const;
export type Special = (typeof SPECIALS)[number];

export const BOS = 256;
export const EOS = 257;
export const BOI = 258;
export const EOI = 259;
export const BOSP = 260;
export const EOSP = 261;

export const TEXT_START = 0;
export const TEXT_END = 256 + SPECIALS.length; // 262
export const IMAGE_CODES = 256;
export const IMAGE_START = TEXT_END;
export const IMAGE_END = IMAGE_START + IMAGE_CODES; // 518
export const SPEECH_START = IMAGE_END;

export const IMAGE_SIDE = 28;
export const PATCH = 4;
export const PATCHES_PER_SIDE = IMAGE_SIDE / PATCH; // 7
export const PATCHES_PER_IMAGE = PATCHES_PER_SIDE * PATCHES_PER_SIDE; // 49
export const PATCH_DIM = PATCH * PATCH; // 16

export type ModalityName = 'text' | 'image' | 'speech';

export interface VocabLayout {
  speechUnits: number;
  vocabSize: number;
  modalities: { name: ModalityName; start: number; end: number }[];
}

export function vocabLayout(speechUnits: number): VocabLayout {
  const vocabSize = SPEECH_START + speechUnits;
  return {
    speechUnits,
    vocabSize,
    modalities: [
      { name: 'text', start: TEXT_START, end: TEXT_END },
      { name: 'image', start: IMAGE_START, end: IMAGE_END },
      { name: 'speech', start: SPEECH_START, end: vocabSize },
    ],
  };
}

export const specialName = (token: number): Special | undefined => (token >= 256 && token < TEXT_END ? SPECIALS[token - 256] : undefined);
