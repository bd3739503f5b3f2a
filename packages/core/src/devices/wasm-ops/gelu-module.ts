/**
 * GELU (tanh form) and its derivative as 4-lane WebAssembly SIMD loops, emitted from TypeScript.
 * gpu.js's webasm kernels for these build 2^n by a per-lane table gather and cost ~15 ns a float
 * here (6 ms for 393K floats); these form 2^n from exponent bits: 1.9 ms for gelu of 393K floats,
 * the copies in and out included (BENCHMARKS.md, "The wasm GPT step, session 4").
 *
 * Both use gelu(x) = x·σ(2u) = x / (1 + e^t) with u = √(2/π)(x + 0.044715x³) and t = −2u (the
 * identity 0.5(1 + tanh u) = σ(2u)), and gelu′(x) = s + 2x·s·(1 − s)·u′ with s = σ(2u),
 * 1 − s = e^t·s (no cancellation near s = 1), u′ = √(2/π)(1 + 3·0.044715x²): the formulas of
 * gpu.js's kernels (gpujs/kernels/elementwise.ts), so the device's results do not depend on the path.
 *
 * e^t: exp.ts's expCore (t clamped to [−87, 88]; gelu needs no more of its range).
 * Below x = −11 gelu is −0 (its true value is under float32's smallest subnormal), as in gpu.js.
 */
import {
  type Code, V128, I32, add, f32x4Add, f32x4Mul, get, i32, mul, set, v128Load, v128Store, wasmModule,
} from '../wasm-gemm/wasm-bytes.js';
import { expCore, splat as c } from './exp.js';
import { f32x4Div, f32x4Lt, forLoop, v128Bitselect } from './simd.js';

const K = Math.sqrt(2 / Math.PI);

// locals: params src, dst, n4 (i32), then i (i32), then v128s
const SRC = 0;
const DST = 1;
const N4 = 2;
const I = 3;
const X = 4;
const T = 5;
const N = 6;
const R = 7;
const E = 8;
const S = 9;

/** E = e^T, lane by lane (T is clamped in place). */
const expInto = (): Code[] => expCore({ t: T, n: N, r: R, e: E });

/** for i < n4: x = src[i]; dst[i] = body(x), 16 bytes at a time. */
function loopOver(body: Code[]): Code {
  const at = (base: number) => add(get(base), mul(get(I), i32(16)));
  return forLoop(I, get(N4), i32(1), [
    set(X, v128Load(at(SRC))),
    // t = −2u = −2K·x·(1 + 0.044715x²)
    set(T, f32x4Mul(f32x4Mul(get(X), c(-2 * K)), f32x4Add(c(1), f32x4Mul(f32x4Mul(get(X), get(X)), c(0.044715))))),
    expInto(),
    ...body,
  ]);
}

const geluBody: Code[] = [
  // x / (1 + e^t), −0 below −11
  v128Store(add(get(DST), mul(get(I), i32(16))),
    v128Bitselect(c(-0), f32x4Div(get(X), f32x4Add(c(1), get(E))), f32x4Lt(get(X), c(-11)))),
];

const geluDerivBody: Code[] = [
  set(S, f32x4Div(c(1), f32x4Add(c(1), get(E)))),
  // s + 2x·s·(e·s)·K·(1 + 3·0.044715x²)
  v128Store(add(get(DST), mul(get(I), i32(16))), f32x4Add(get(S), f32x4Mul(
    f32x4Mul(f32x4Mul(f32x4Mul(get(X), c(2 * K)), get(S)), f32x4Mul(get(E), get(S))),
    f32x4Add(c(1), f32x4Mul(f32x4Mul(get(X), get(X)), c(3 * 0.044715))),
  ))),
];

const locals = [I32, V128, V128, V128, V128, V128, V128];

/** The module: `gelu(src, dst, n4)` and `geluDeriv(src, dst, n4)` over n4 groups of 4 floats at byte addresses src, dst. */
export function geluModuleBytes(maxPages: number): Uint8Array<ArrayBuffer> {
  return wasmModule([
    { params: [I32, I32, I32], locals, body: loopOver(geluBody), exportAs: 'gelu' },
    { params: [I32, I32, I32], locals, body: loopOver(geluDerivBody), exportAs: 'geluDeriv' },
  ], 1, maxPages);
}
