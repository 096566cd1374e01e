/**
 * Bring-your-own activations: features dumped from any model (typically one far too large for
 * the lab, with a few lines of PyTorch hooks: docs/analysis-pca.md) as one safetensors file:
 *
 *   layers.{l}   F32, F16 or BF16, shape [N, d]: the features of layer l (any subset of layers,
 *                each with its own d)
 *   modality     I32 or U8, shape [N]: an index into the modality names
 *   position     optional, I32 [N]: the row's position in its sequence
 *   token        optional, I32 [N]: the row's token id
 *   __metadata__ optional "modalities": a JSON list of names as a string, default
 *                ["text","image","speech"]
 *
 * Other tensors are ignored (and listed). The safetensors layer is the lab's reader
 * (checkpoints/safetensors.ts, which converts F16/BF16 to float32); integer tensors are read
 * again here from their raw bytes so that ids beyond 2^24 stay exact. Every problem is a
 * MotlabError('invalid_dataset', "<file>: <problem>"); a missing file is 'not_found'.
 */
import { constants as bufferConstants } from 'node:buffer';
import { decodeSafetensors, type TensorOut } from '../../checkpoints/safetensors.ts';
import { readRegularFile } from '../../data/regular-file.ts';
import { MotlabError } from '../../common/errors.ts';

export const DEFAULT_ACTIVATION_MODALITIES: readonly string[] = ['text', 'image', 'speech'];

const FEATURE_DTYPES = ['F32', 'F16', 'BF16'];
const MODALITY_DTYPES = ['I32', 'U8'];
const LAYER_NAME = /^layers\.(0|[1-9][0-9]{0,8})$/;

export interface ActivationLayer {
  layer: number;
  /** The dtype stored in the file; `data` is float32. */
  dtype: string;
  d: number;
  /** Row-major [n, d]. */
  data: Float32Array;
}

export interface Activations {
  file: string;
  /** Rows (tokens). */
  n: number;
  /** In increasing layer order. */
  layers: ActivationLayer[];
  modalities: string[];
  /** Per row, an index into `modalities`. */
  modality: Int32Array;
  position: Int32Array | null;
  token: Int32Array | null;
  metadata: Record<string, string>;
  /** Tensors the format does not define, left unread. */
  ignoredTensors: string[];
}

export interface ReadActivationsOptions {
  /** Only these layers (each must be present); default all in the file. */
  layers?: readonly number[];
}

export async function readActivations(file: string, options: ReadActivationsOptions = {}): Promise<Activations> {
  let bytes: Buffer;
  try {
    // A regular file only (a FIFO or device would never end), up to the largest buffer.
    bytes = await readRegularFile(file, { maxBytes: bufferConstants.MAX_LENGTH, code: 'invalid_dataset', what: 'an activations file' });
  } catch (e) {
    if (e instanceof MotlabError) throw e;
    const reason = e && typeof e === 'object' && 'code' in e ? String(e.code) : String(e);
    throw new MotlabError('not_found', `Activations file ${file} is missing or unreadable (${reason})`);
  }
  return decodeActivations(bytes, file, options);
}

/** readActivations on bytes already in memory; `source` names them in errors. */
export function decodeActivations(bytes: Uint8Array, source: string, options: ReadActivationsOptions = {}): Activations {
  const fail = (problem: string): never => {
    throw new MotlabError('invalid_dataset', `${source}: ${problem}`);
  };
  let decoded: ReturnType<typeof decodeSafetensors>;
  try {
    decoded = decodeSafetensors(bytes, source);
  } catch (e) {
    // Same message (it names the file), under this file kind's error code.
    if (e instanceof MotlabError) throw new MotlabError('invalid_dataset', e.message, { cause: e });
    throw e;
  }
  const { tensors, metadata } = decoded;

  const modalities = parseModalities(metadata, fail);

  const layerTensors: { layer: number; name: string; tensor: TensorOut }[] = [];
  const ignoredTensors: string[] = [];
  for (const [name, tensor] of Object.entries(tensors)) {
    const match = LAYER_NAME.exec(name);
    if (match) layerTensors.push({ layer: Number(match[1]), name, tensor });
    else if (name.startsWith('layers.')) fail(`tensor "${name}" is not named layers.<index> (a non-negative integer, such as layers.0)`);
    else if (name !== 'modality' && name !== 'position' && name !== 'token') ignoredTensors.push(name);
  }
  if (layerTensors.length === 0)
    fail(
      `contains no layers.<index> tensors (tensors found: ${
        Object.keys(tensors)
          .map((t) => `"${t}"`)
          .join(', ') || 'none'
      })`,
    );
  layerTensors.sort((a, b) => a.layer - b.layer);

  const modalityTensor = tensors.modality;
  if (!modalityTensor) return fail('has no "modality" tensor (I32 or U8, shape [N]: each row\'s index into the modalities)');
  if (!MODALITY_DTYPES.includes(modalityTensor.dtype))
    fail(`tensor "modality" is ${modalityTensor.dtype}; it must be I32 or U8 (indices into the modalities)`);
  if (modalityTensor.shape.length !== 1) fail(`tensor "modality" has shape ${shapeText(modalityTensor.shape)}; it must be [N]`);
  const n = modalityTensor.shape[0];
  if (n === 0) fail('has no rows (tensor "modality" has shape [0])');
  const modality = integers(bytes, 'modality', modalityTensor);
  for (let i = 0; i < n; i++)
    if (modality[i] < 0 || modality[i] >= modalities.length)
      fail(
        `modality[${i}] = ${modality[i]} is out of range: the modalities are ${modalities.map((m, j) => `${j} ${m}`).join(', ')}` +
          (metadata.modalities === undefined ? ' (the default; list yours in __metadata__ "modalities")' : ''),
      );

  const optionalIndex = (name: 'position' | 'token'): Int32Array | null => {
    const tensor = tensors[name];
    if (!tensor) return null;
    if (tensor.dtype !== 'I32') fail(`tensor "${name}" is ${tensor.dtype}; it must be I32`);
    if (tensor.shape.length !== 1 || tensor.shape[0] !== n)
      fail(`tensor "${name}" has shape ${shapeText(tensor.shape)}; it must be [${n}], one per row of "modality"`);
    const values = integers(bytes, name, tensor);
    const negative = values.findIndex((v) => v < 0);
    if (negative >= 0) fail(`${name}[${negative}] = ${values[negative]} is negative`);
    return values;
  };
  const position = optionalIndex('position');
  const token = optionalIndex('token');

  let wanted = layerTensors;
  if (options.layers) {
    const present = new Set(layerTensors.map((l) => l.layer));
    const missing = options.layers.filter((l) => !present.has(l));
    if (missing.length > 0)
      fail(`has no ${missing.map((l) => `layers.${l}`).join(', ')} (layers present: ${layerTensors.map((l) => l.layer).join(', ')})`);
    const asked = new Set(options.layers);
    wanted = layerTensors.filter((l) => asked.has(l.layer));
  }
  const layers = wanted.map(({ layer, name, tensor }) => {
    if (!FEATURE_DTYPES.includes(tensor.dtype)) fail(`tensor "${name}" is ${tensor.dtype}; features must be F32, F16 or BF16`);
    if (tensor.shape.length !== 2) fail(`tensor "${name}" has shape ${shapeText(tensor.shape)}; it must be [N, d]`);
    const [rows, d] = tensor.shape;
    if (rows !== n) fail(`tensor "${name}" has ${rows} rows but "modality" has ${n}; every tensor needs one row per token`);
    if (d === 0) fail(`tensor "${name}" has shape ${shapeText(tensor.shape)}: no features`);
    const data = tensor.data;
    for (let i = 0; i < data.length; i++)
      if (!Number.isFinite(data[i]))
        fail(`tensor "${name}" row ${Math.floor(i / d)}, column ${i % d} is ${data[i]}; features must be finite`);
    return { layer, dtype: tensor.dtype, d, data };
  });

  return { file: source, n, layers, modalities, modality, position, token, metadata, ignoredTensors };
}

function parseModalities(metadata: Record<string, string>, fail: (problem: string) => never): string[] {
  const text = metadata.modalities;
  if (text === undefined) return [...DEFAULT_ACTIVATION_MODALITIES];
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return fail(
      `__metadata__ "modalities" is not valid JSON (${e instanceof Error ? e.message : String(e)}): ${JSON.stringify(text.slice(0, 80))}`,
    );
  }
  if (
    !Array.isArray(value) ||
    value.length === 0 ||
    !value.every((v) => typeof v === 'string' && v.length > 0) ||
    new Set(value).size !== value.length
  )
    return fail(
      `__metadata__ "modalities" must be a JSON list of distinct, non-empty names such as ["text","image","speech"], got ${text.slice(0, 80)}`,
    );
  return value as string[];
}

/** An integer tensor's exact values, from its raw little-endian bytes (already validated by the reader). */
function integers(bytes: Uint8Array, name: string, tensor: TensorOut): Int32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength))) as Record<
    string,
    { data_offsets: [number, number] }
  >;
  const begin = 8 + headerLength + header[name].data_offsets[0];
  const count = tensor.data.length;
  const out = new Int32Array(count);
  if (tensor.dtype === 'U8') for (let i = 0; i < count; i++) out[i] = view.getUint8(begin + i);
  else for (let i = 0; i < count; i++) out[i] = view.getInt32(begin + 4 * i, true);
  return out;
}

function shapeText(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}
