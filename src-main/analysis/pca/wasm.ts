/**
 * The instructions of the hand-assembled float64 SIMD kernels of this folder (cross-product.ts,
 * logistic-kernels.ts), on top of the engine's assembler (engine/simd/assembler.ts), and their compilation.
 */
import { MotlabError } from '../../common/errors.ts';
import { I32, str, uleb, V128, vec } from '../../engine/simd/assembler.ts';

// The module-level encodings are the engine's kernel assembler's; the instructions below are the
// float64 ones the probe needs (the engine's kernels are float32).
export { I32, str, uleb, V128, vec };

export const section = (id: number, body: number[]) => [id, ...uleb(body.length), ...body];

export const get = (i: number) => [0x20, ...uleb(i)];
export const set = (i: number) => [0x21, ...uleb(i)];
export const i32Const = (v: number) => [0x41, ...uleb(v)]; // small non-negative constants only
export const i32Add = [0x6a];
export const i32Mul = [0x6c];
export const i32Shl = [0x74];
export const i32ShrU = [0x76];
export const i32GeU = [0x4f];
export const block = [0x02, 0x40];
export const loop = [0x03, 0x40];
export const end = [0x0b];
export const br = (depth: number) => [0x0c, ...uleb(depth)];
export const brIf = (depth: number) => [0x0d, ...uleb(depth)];
export const simd = (code: number, ...imm: number[]) => [0xfd, ...uleb(code), ...imm];
export const v128Load = (offset: number) => simd(0x00, 3, ...uleb(offset));
export const v128Store = (offset: number) => simd(0x0b, 3, ...uleb(offset));
export const load64Splat = (offset: number) => simd(0x0a, 3, ...uleb(offset));
export const v128Zero = simd(0x0c, ...new Array<number>(16).fill(0));
export const f64x2Add = simd(0xf0);
export const f64x2Mul = simd(0xf2);

/** while (!(x >= bound)) { body } */
export const whileBelow = (x: number[], bound: number[], body: number[]) => [
  ...block,
  ...loop,
  ...x,
  ...bound,
  ...i32GeU,
  ...brIf(1),
  ...body,
  ...br(0),
  ...end,
  ...end,
];

export const i32Sub = [0x6b];
export const i32LtU = [0x49];
export const f64x2Splat = simd(0x14);
/** The two f64 lanes [a₀, b₀] (which = 0) or [a₁, b₁] (which = 1) of the vectors a, b on the stack. */
export const f64x2Interleave = (which: 0 | 1) =>
  simd(0x0d, ...Array.from({ length: 16 }, (_, i) => (i < 8 ? 8 * which + i : 16 + 8 * which + (i - 8))));

/** The parts of the WebAssembly JS API used here (the project's TypeScript lib has no DOM types). */
export interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Memory: new (descriptor: { initial: number }) => { buffer: ArrayBuffer; grow(pages: number): number };
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, (...args: number[]) => void> };
}

/** Node ≥ 20 and Electron always have WebAssembly SIMD; say so plainly if a runtime does not. */
export function compileSimd(bytes: Uint8Array, what: string): { api: WasmApi; module: object } {
  const api = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;
  if (!api || !api.validate(bytes))
    throw new MotlabError('engine_unavailable', `${what} needs WebAssembly with SIMD, which this JavaScript runtime lacks`);
  return { api, module: new api.Module(bytes) };
}
