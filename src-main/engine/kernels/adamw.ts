/**
 * MotlabAdamW: one parameter's whole AdamW update (grad scale, moments, decay, step) in one pass,
 * replacing ~15 tfjs kernel calls per parameter per step (each a pass over memory plus JS
 * dispatch). Per element, in float32 and in this order (the AdamW of training/optimizer.ts):
 *   gs = g·scale; m' = m·b1 + gs·c1; v' = v·b2 + (gs·gs)·c2;
 *   p' = p·decay − ((m'/bc1) / (sqrt(v'/bc2) + eps))·lr
 */
import * as tf from '@tensorflow/tfjs-core';
import { F32, I32, locals, loop, op, SCALAR, v, V128, VEC, type Lanes } from '../simd/assembler.ts';
import { simdModule } from '../simd/module.ts';
import { heapF32, heapOf, offsetOf, type CpuBackend, type KernelArgs, type WasmBackend } from '../tfjs-fixes/backend-memory.ts';
import { float32Inputs, registered, type FusedKernel } from './shared.ts';

export const ADAMW_KERNEL = 'MotlabAdamW';

/**
 * Attributes of one AdamW update; every number is used as a float32, exactly as the tf ops
 * `g·scale`, `m·beta1 + g·(1−beta1)`, `v·beta2 + g²·(1−beta2)`, `p·decay − (m/bc1 / (sqrt(v/bc2) + eps))·lr`.
 */
export interface AdamWAttrs {
  scale: number;
  beta1: number;
  beta2: number;
  eps: number;
  bc1: number;
  bc2: number;
  decay: number;
  lr: number;
}

/** One fused AdamW update → [p', m', v'], or null where the kernel is not registered (then use tf ops). */
export function fusedAdamW(p: tf.Tensor, g: tf.Tensor, m: tf.Tensor, v: tf.Tensor, attrs: AdamWAttrs): tf.Tensor[] | null {
  if (!registered(ADAMW_KERNEL)) return null;
  return tf.engine().runKernel(ADAMW_KERNEL, { p, g, m, v }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
}

/** The AdamW update in plain JS, rounding to float32 after every operation as the tf ops do. */
function adamwInto(
  p: Float32Array,
  g: Float32Array,
  m: Float32Array,
  v: Float32Array,
  pOut: Float32Array,
  mOut: Float32Array,
  vOut: Float32Array,
  a: AdamWAttrs,
): void {
  const f = Math.fround;
  const [scale, b1, c1, b2, c2, bc1, bc2, eps, decay, lr] = [
    a.scale,
    a.beta1,
    1 - a.beta1,
    a.beta2,
    1 - a.beta2,
    a.bc1,
    a.bc2,
    a.eps,
    a.decay,
    a.lr,
  ].map(f);
  for (let i = 0; i < p.length; i++) {
    const gs = f(g[i] * scale);
    const m2 = f(f(m[i] * b1) + f(gs * c1));
    const v2 = f(f(v[i] * b2) + f(f(gs * gs) * c2));
    mOut[i] = m2;
    vOut[i] = v2;
    pOut[i] = f(f(p[i] * decay) - f(f(f(m2 / bc1) / f(f(Math.sqrt(f(v2 / bc2))) + eps)) * lr));
  }
}

// --- wasm: adamw(p, g, m, v, pOut, mOut, vOut, n, scale, b1, c1, b2, c2, bc1, bc2, eps, decay, lr) ---

const ADAM_PTRS = 7; // p g m v pOut mOut vOut
const ADAM_N = 7;
const ADAM_F = ['scale', 'b1', 'c1', 'b2', 'c2', 'bc1', 'bc2', 'eps', 'decay', 'lr'] as const;

function adamBody(): number[] {
  const nParams = ADAM_PTRS + 1 + ADAM_F.length;
  const [P, G, M, Vv, PO, MO, VO] = [0, 1, 2, 3, 4, 5, 6];
  const fParam = (name: (typeof ADAM_F)[number]) => ADAM_PTRS + 1 + ADAM_F.indexOf(name);
  // Locals after the params: i, endVec, endAll (i32); splats (v128, one per float param);
  // gs, m', v' for each lane width (v128 and f32).
  const i = nParams;
  const endVec = i + 1;
  const endAll = i + 2;
  const splat = (name: (typeof ADAM_F)[number]) => endAll + 1 + ADAM_F.indexOf(name);
  const vTmp = endAll + 1 + ADAM_F.length; // gs, m', v' as v128
  const fTmp = vTmp + 3; // gs, m', v' as f32

  const element = (lanes: Lanes, tmp: number, constant: (name: (typeof ADAM_F)[number]) => number[]) => {
    const at = (ptr: number) => [...op.get(ptr), ...op.get(i), ...op.i32Add];
    const [gs, m2, v2] = [tmp, tmp + 1, tmp + 2];
    return [
      ...at(G),
      ...lanes.load,
      ...constant('scale'),
      ...lanes.mul,
      ...op.set(gs),
      // m' = m·b1 + gs·c1 → mOut
      ...at(M),
      ...lanes.load,
      ...constant('b1'),
      ...lanes.mul,
      ...op.get(gs),
      ...constant('c1'),
      ...lanes.mul,
      ...lanes.add,
      ...op.set(m2),
      ...at(MO),
      ...op.get(m2),
      ...lanes.store,
      // v' = v·b2 + (gs·gs)·c2 → vOut
      ...at(Vv),
      ...lanes.load,
      ...constant('b2'),
      ...lanes.mul,
      ...op.get(gs),
      ...op.get(gs),
      ...lanes.mul,
      ...constant('c2'),
      ...lanes.mul,
      ...lanes.add,
      ...op.set(v2),
      ...at(VO),
      ...op.get(v2),
      ...lanes.store,
      // p' = p·decay − ((m'/bc1) / (sqrt(v'/bc2) + eps))·lr → pOut
      ...at(PO),
      ...at(P),
      ...lanes.load,
      ...constant('decay'),
      ...lanes.mul,
      ...op.get(m2),
      ...constant('bc1'),
      ...lanes.div,
      ...op.get(v2),
      ...constant('bc2'),
      ...lanes.div,
      ...lanes.sqrt,
      ...constant('eps'),
      ...lanes.add,
      ...lanes.div,
      ...constant('lr'),
      ...lanes.mul,
      ...lanes.sub,
      ...lanes.store,
    ];
  };

  const code = [
    // endAll = n·4; endVec = (n & ~3)·4; i = 0 (locals start at zero)
    ...op.get(ADAM_N),
    ...op.i32(2),
    ...op.i32Shl,
    ...op.set(endAll),
    ...op.get(ADAM_N),
    ...op.i32(-4),
    ...op.i32And,
    ...op.i32(2),
    ...op.i32Shl,
    ...op.set(endVec),
    ...ADAM_F.flatMap((name) => [...op.get(fParam(name)), ...v.splat, ...op.set(splat(name))]),
    ...loop(
      i,
      endVec,
      VEC,
      element(VEC, vTmp, (name) => op.get(splat(name))),
    ),
    ...loop(
      i,
      endAll,
      SCALAR,
      element(SCALAR, fTmp, (name) => op.get(fParam(name))),
    ),
    ...op.end,
  ];
  return [...locals([3, I32], [ADAM_F.length + 3, V128], [3, F32]), ...code];
}

const adamwSimd = simdModule<{
  adamw(
    p: number,
    g: number,
    m: number,
    v: number,
    pOut: number,
    mOut: number,
    vOut: number,
    n: number,
    scale: number,
    b1: number,
    c1: number,
    b2: number,
    c2: number,
    bc1: number,
    bc2: number,
    eps: number,
    decay: number,
    lr: number,
  ): void;
}>({
  adamw: { params: [...Array<'i32'>(ADAM_PTRS + 1).fill('i32'), ...ADAM_F.map(() => 'f32' as const)], body: adamBody },
});

// --- backends -----------------------------------------------------------------------------------

function adamwWasm(args: KernelArgs): tf.TensorInfo[] {
  const backend = args.backend as WasmBackend;
  const [p, g, m, v] = float32Inputs(args, ['p', 'g', 'm', 'v'], ADAMW_KERNEL);
  const a = args.attrs as unknown as AdamWAttrs;
  const outs = [0, 1, 2].map(() => backend.makeOutput(p.shape, 'float32'));
  const n = tf.util.sizeFromShape(p.shape);
  const simd = adamwSimd.on(heapOf(backend));
  if (simd) {
    const at = (t: tf.TensorInfo) => offsetOf(backend, t);
    simd.adamw(
      at(p),
      at(g),
      at(m),
      at(v),
      at(outs[0]),
      at(outs[1]),
      at(outs[2]),
      n,
      a.scale,
      a.beta1,
      1 - a.beta1,
      a.beta2,
      1 - a.beta2,
      a.bc1,
      a.bc2,
      a.eps,
      a.decay,
      a.lr,
    );
  } else {
    const view = (t: tf.TensorInfo) => heapF32(backend, t);
    adamwInto(view(p), view(g), view(m), view(v), view(outs[0]), view(outs[1]), view(outs[2]), a);
  }
  return outs;
}

function adamwCpu(args: KernelArgs): tf.TensorInfo[] {
  const backend = args.backend as CpuBackend;
  const [p, g, m, v] = float32Inputs(args, ['p', 'g', 'm', 'v'], ADAMW_KERNEL).map((t) => backend.readSync(t.dataId) as Float32Array);
  const outs = [0, 1, 2].map(() => new Float32Array(p.length));
  adamwInto(p, g, m, v, outs[0], outs[1], outs[2], args.attrs as unknown as AdamWAttrs);
  const shape = (args.inputs.p as tf.TensorInfo).shape;
  return outs.map((o) => backend.makeTensorInfo(shape, 'float32', o));
}

export const adamwKernels: FusedKernel[] = [{ name: ADAMW_KERNEL, wasm: adamwWasm, cpu: adamwCpu }];
