/**
 * Reader for the gzipped IDX files of Fashion-MNIST as Debian's `dataset-fashion-mnist`
 * installs them (/usr/share/datasets/fashion-mnist). IDX: big-endian magic (0x0803 images,
 * 0x0801 labels), then the dimension sizes, then unsigned bytes.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { MotlabError } from '../../common/errors.ts';

export const DEFAULT_SOURCE_DIR = '/usr/share/datasets/fashion-mnist';

export const CLASS_NAMES = ['t-shirt', 'trousers', 'pullover', 'dress', 'coat', 'sandal', 'shirt', 'sneaker', 'bag', 'ankle boot'] as const;

export interface FashionSet {
  /** n × 784 pixels, row-major, 0..255. */
  pixels: Uint8Array;
  labels: Uint8Array;
  count: number;
}

export type SourceSet = 'train' | 't10k';

function readIdx(path: string, magic: number): { dims: number[]; data: Uint8Array } {
  if (!existsSync(path))
    throw new MotlabError(
      'not_found',
      `Fashion-MNIST file ${path} is missing. Install it with \`sudo apt-get install dataset-fashion-mnist\` ` +
        'or pass --source DIR pointing at a folder with the four *-ubyte.gz files.',
    );
  const raw = gunzipSync(readFileSync(path));
  const got = raw.readUInt32BE(0);
  if (got !== magic) throw new MotlabError('invalid_dataset', `${path}: IDX magic 0x${got.toString(16)}, expected 0x${magic.toString(16)}`);
  const ndim = magic & 0xff;
  const dims: number[] = [];
  for (let i = 0; i < ndim; i++) dims.push(raw.readUInt32BE(4 + 4 * i));
  const start = 4 + 4 * ndim;
  const count = dims.reduce((a, b) => a * b, 1);
  if (raw.length < start + count) throw new MotlabError('invalid_dataset', `${path}: truncated (${raw.length - start} of ${count} bytes)`);
  return { dims, data: new Uint8Array(raw.buffer, raw.byteOffset + start, count) };
}

export function loadFashionSet(sourceDir: string, set: SourceSet): FashionSet {
  const images = readIdx(join(sourceDir, `${set}-images-idx3-ubyte.gz`), 0x00000803);
  const labels = readIdx(join(sourceDir, `${set}-labels-idx1-ubyte.gz`), 0x00000801);
  if (images.dims[1] !== 28 || images.dims[2] !== 28 || images.dims[0] !== labels.dims[0])
    throw new MotlabError(
      'invalid_dataset',
      `${sourceDir}: ${set} images ${images.dims.join('×')} do not match ${labels.dims[0]} labels of 28×28`,
    );
  return { pixels: images.data, labels: labels.data, count: images.dims[0] };
}

export const imagePixels = (set: FashionSet, index: number): Uint8Array => set.pixels.subarray(index * 784, (index + 1) * 784);
