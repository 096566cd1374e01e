/**
 * Test helpers for looking at rendered figures: a PNG decoder (8-bit grey/RGB/grey-alpha/RGBA,
 * every filter, no interlace) written from the PNG specification independently of the encoder
 * in src-main/figures, a PPM reader for pdftoppm, and pixel comparisons.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { inflateSync } from 'node:zlib';

/** Straight RGBA pixels, row-major from the top. */
export interface Image {
  width: number;
  height: number;
  rgba: Uint8Array;
}

export interface PngInfo {
  width: number;
  height: number;
  /** From pHYs, when present and in metres. */
  pixelsPerMetre?: number;
}

function chunks(png: Buffer): { type: string; data: Buffer }[] {
  if (png.readUInt32BE(0) !== 0x89504e47) throw new Error('not a PNG');
  const out = [];
  for (let offset = 8; offset < png.length;) {
    const length = png.readUInt32BE(offset);
    out.push({ type: png.toString('latin1', offset + 4, offset + 8), data: png.subarray(offset + 8, offset + 8 + length) });
    offset += 12 + length;
  }
  return out;
}

export function pngInfo(png: Buffer): PngInfo {
  const all = chunks(png);
  const ihdr = all[0].data;
  const phys = all.find((c) => c.type === 'pHYs');
  return {
    width: ihdr.readUInt32BE(0),
    height: ihdr.readUInt32BE(4),
    pixelsPerMetre: phys && phys.data[8] === 1 ? phys.data.readUInt32BE(0) : undefined,
  };
}

export function decodePng(png: Buffer): Image {
  const all = chunks(png);
  const ihdr = all[0].data;
  const width = ihdr.readUInt32BE(0);
  const height = ihdr.readUInt32BE(4);
  const [depth, colourType, , , interlace] = [ihdr[8], ihdr[9], ihdr[10], ihdr[11], ihdr[12]];
  if (depth !== 8 || interlace !== 0)
    throw new Error(`decodePng handles 8-bit non-interlaced PNGs (got depth ${depth}, interlace ${interlace})`);
  const channels = { 0: 1, 2: 3, 4: 2, 6: 4 }[colourType as 0 | 2 | 4 | 6];
  if (!channels) throw new Error(`decodePng: colour type ${colourType} not handled`);
  const raw = inflateSync(Buffer.concat(all.filter((c) => c.type === 'IDAT').map((c) => c.data)));
  const stride = width * channels;
  const pixels = new Uint8Array(stride * height);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const out = pixels.subarray(y * stride, (y + 1) * stride);
    const prev = y > 0 ? pixels.subarray((y - 1) * stride, y * stride) : new Uint8Array(stride);
    for (let i = 0; i < stride; i++) {
      const a = i >= channels ? out[i - channels] : 0;
      const b = prev[i];
      const c = i >= channels ? prev[i - channels] : 0;
      let predictor = 0;
      if (filter === 1) predictor = a;
      else if (filter === 2) predictor = b;
      else if (filter === 3) predictor = (a + b) >> 1;
      else if (filter === 4) {
        const p = a + b - c;
        const pa = Math.abs(p - a);
        const pb = Math.abs(p - b);
        const pc = Math.abs(p - c);
        predictor = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      } else if (filter !== 0) throw new Error(`decodePng: bad filter ${filter} on row ${y}`);
      out[i] = (line[i] + predictor) & 0xff;
    }
  }
  const rgba = new Uint8Array(width * height * 4);
  for (let p = 0; p < width * height; p++) {
    const s = p * channels;
    if (channels === 1 || channels === 2) {
      rgba[p * 4] = rgba[p * 4 + 1] = rgba[p * 4 + 2] = pixels[s];
      rgba[p * 4 + 3] = channels === 2 ? pixels[s + 1] : 255;
    } else {
      rgba[p * 4] = pixels[s];
      rgba[p * 4 + 1] = pixels[s + 1];
      rgba[p * 4 + 2] = pixels[s + 2];
      rgba[p * 4 + 3] = channels === 4 ? pixels[s + 3] : 255;
    }
  }
  return { width, height, rgba };
}

/** A binary PPM (P6, maxval 255), as pdftoppm writes. */
export function decodePpm(ppm: Buffer): Image {
  const header = /^P6\s+(\d+)\s+(\d+)\s+(\d+)\s/.exec(ppm.toString('latin1', 0, 64));
  if (!header || header[3] !== '255') throw new Error('not an 8-bit binary PPM');
  const width = Number(header[1]);
  const height = Number(header[2]);
  const data = ppm.subarray(header[0].length);
  const rgba = new Uint8Array(width * height * 4);
  for (let p = 0; p < width * height; p++) {
    rgba[p * 4] = data[p * 3];
    rgba[p * 4 + 1] = data[p * 3 + 1];
    rgba[p * 4 + 2] = data[p * 3 + 2];
    rgba[p * 4 + 3] = 255;
  }
  return { width, height, rgba };
}

/** Renders page 1 of a PDF with poppler's pdftoppm at `dpi`. */
export function renderPdf(pdf: Buffer, dpi: number): Image {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'motlab-figure-'));
  try {
    writeFileSync(path.join(dir, 'f.pdf'), pdf);
    execFileSync('pdftoppm', ['-r', String(dpi), '-singlefile', path.join(dir, 'f.pdf'), path.join(dir, 'page')]);
    return decodePpm(readFileSync(path.join(dir, 'page.ppm')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Composites an image over white (PDF renderers show a page on white). */
export function overWhite(image: Image): Image {
  const rgba = new Uint8Array(image.rgba.length);
  for (let k = 0; k < rgba.length; k += 4) {
    const a = image.rgba[k + 3] / 255;
    for (let c = 0; c < 3; c++) rgba[k + c] = Math.round(image.rgba[k + c] * a + 255 * (1 - a));
    rgba[k + 3] = 255;
  }
  return { ...image, rgba };
}

/** Mean absolute difference per RGB channel (0–255) over the common area of two images. */
export function meanAbsoluteDifference(a: Image, b: Image): number {
  const width = Math.min(a.width, b.width);
  const height = Math.min(a.height, b.height);
  let sum = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * a.width + x) * 4;
      const j = (y * b.width + x) * 4;
      for (let c = 0; c < 3; c++) sum += Math.abs(a.rgba[i + c] - b.rgba[j + c]);
    }
  }
  return sum / (width * height * 3);
}

export function pixel(image: Image, x: number, y: number): [number, number, number, number] {
  const i = (Math.round(y) * image.width + Math.round(x)) * 4;
  return [image.rgba[i], image.rgba[i + 1], image.rgba[i + 2], image.rgba[i + 3]];
}

/** Fraction of pixels in a box (in pixels) that are not near-white. */
export function inkFraction(image: Image, box: { x: number; y: number; width: number; height: number }): number {
  let ink = 0;
  let total = 0;
  for (let y = Math.max(0, Math.floor(box.y)); y < Math.min(image.height, Math.ceil(box.y + box.height)); y++) {
    for (let x = Math.max(0, Math.floor(box.x)); x < Math.min(image.width, Math.ceil(box.x + box.width)); x++) {
      const [r, g, b] = pixel(image, x, y);
      total++;
      if (r + g + b < 3 * 235) ink++;
    }
  }
  return total ? ink / total : 0;
}

/**
 * Both images averaged over blocks of `block` × `block` pixels (grey level), then the mean and
 * the largest absolute block difference. Averaging cancels what two rasterisers legitimately do
 * differently (anti-aliasing, hinting, thin-line widening), and keeps what would be a real
 * error: a mark missing, moved or recoloured changes the ink in its blocks.
 */
export function blockDifference(a: Image, b: Image, block: number): { mean: number; max: number; maxAt: [number, number] } {
  const width = Math.floor(Math.min(a.width, b.width) / block);
  const height = Math.floor(Math.min(a.height, b.height) / block);
  let sum = 0;
  let max = 0;
  let maxAt: [number, number] = [0, 0];
  const grey = (img: Image, bx: number, by: number) => {
    let s = 0;
    for (let y = by * block; y < (by + 1) * block; y++) {
      for (let x = bx * block; x < (bx + 1) * block; x++) {
        const i = (y * img.width + x) * 4;
        s += img.rgba[i] + img.rgba[i + 1] + img.rgba[i + 2];
      }
    }
    return s / (3 * block * block);
  };
  for (let by = 0; by < height; by++) {
    for (let bx = 0; bx < width; bx++) {
      const d = Math.abs(grey(a, bx, by) - grey(b, bx, by));
      sum += d;
      if (d > max) {
        max = d;
        maxAt = [bx * block, by * block];
      }
    }
  }
  return { mean: sum / (width * height), max, maxAt };
}
