/**
 * A minimal PNG writer (8-bit RGBA, non-interlaced) for the raster layers figures embed, and the
 * pHYs chunk that tells image programs a PNG's resolution (so a 300 dpi export opens at its size
 * in inches). node:zlib does the deflate; CRC-32 is the table-driven PNG one.
 */
import { deflateSync } from 'node:zlib';

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  out.set(data, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

function physChunk(dpi: number): Buffer {
  const pixelsPerMetre = Math.round(dpi / 0.0254);
  const data = Buffer.alloc(9);
  data.writeUInt32BE(pixelsPerMetre, 0);
  data.writeUInt32BE(pixelsPerMetre, 4);
  data[8] = 1; // unit: metre
  return chunk('pHYs', data);
}

/**
 * Encodes straight (not premultiplied) RGBA pixels, row-major from the top. Each row takes the
 * PNG filter (None or Up) with the smaller sum of absolute bytes, the usual heuristic; Up turns
 * the repeated rows of upscaled heatmap cells into zeros.
 */
export function encodePng(rgba: Uint8Array, width: number, height: number): Buffer {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new RangeError(`PNG size must be positive integers, got ${width}×${height}`);
  }
  if (rgba.length !== width * height * 4) throw new RangeError(`PNG data has ${rgba.length} bytes, expected ${width * height * 4}`);
  const stride = width * 4;
  const raw = Buffer.alloc((stride + 1) * height);
  for (let y = 0; y < height; y++) {
    const row = rgba.subarray(y * stride, (y + 1) * stride);
    const out = raw.subarray(y * (stride + 1), (y + 1) * (stride + 1));
    let sumNone = 0;
    let sumUp = 0;
    if (y > 0) {
      const above = rgba.subarray((y - 1) * stride, y * stride);
      for (let i = 0; i < stride; i++) {
        sumNone += row[i] < 128 ? row[i] : 256 - row[i];
        const up = (row[i] - above[i]) & 0xff;
        sumUp += up < 128 ? up : 256 - up;
      }
    }
    if (y > 0 && sumUp < sumNone) {
      const above = rgba.subarray((y - 1) * stride, y * stride);
      out[0] = 2;
      for (let i = 0; i < stride; i++) out[i + 1] = (row[i] - above[i]) & 0xff;
    } else {
      out[0] = 0;
      out.set(row, 1);
    }
  }
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth
  header[9] = 6; // colour type RGBA
  return Buffer.concat([
    PNG_SIGNATURE,
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(raw, { level: 6 })),
    chunk('IEND', new Uint8Array(0)),
  ]);
}

/** The same PNG with its resolution recorded (a pHYs chunk after IHDR, replacing any present). */
export function withResolution(png: Buffer, dpi: number): Buffer {
  if (!png.subarray(0, 8).equals(PNG_SIGNATURE)) throw new RangeError('not a PNG');
  const parts: Buffer[] = [PNG_SIGNATURE];
  let offset = 8;
  while (offset < png.length) {
    const length = png.readUInt32BE(offset);
    const type = png.toString('latin1', offset + 4, offset + 8);
    const end = offset + 12 + length;
    if (type !== 'pHYs') parts.push(png.subarray(offset, end));
    if (type === 'IHDR') parts.push(physChunk(dpi));
    offset = end;
  }
  return Buffer.concat(parts);
}
