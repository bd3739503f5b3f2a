/**
 * Same-shape add, sub, mul, div as 4-lane WebAssembly SIMD loops, emitted from TypeScript. The
 * JS loops these replace (host-ops/binary.ts, sessions 4–5) ran at 3–4 ns a float here (a float32 load widened to float64,
 * the op, a rounding store: 1.0–1.4 ms for the GPT step's 295K-float residual adds); these read
 * and write 16 bytes at a time where the arena holds the operands. f32x4's +, −, ×, ÷ round once
 * to float32 exactly as the host loop's float64 op rounded by its store does (double rounding is
 * innocuous for these four on float32 operands), so the device's results do not depend on the path.
 */
import { type Code, I32, V128, add, f32x4Add, f32x4Mul, get, i32, set, v128Load, v128Store, wasmModule } from '../wasm-gemm/wasm-bytes.js';
import { F32, f32x4Div, f32x4Splat, f32x4Sub, forLoop } from './simd.js';

export type SimdBinaryOp = 'add' | 'sub' | 'mul' | 'div';

export const simdBinaryOps: ReadonlySet<string> = new Set<SimdBinaryOp>(['add', 'sub', 'mul', 'div']);

// params a, b, dst (byte addresses), bytes (whole groups of 16); local at
const A = 0;
const B = 1;
const DST = 2;
const BYTES = 3;
const AT = 4;

const ops: Record<SimdBinaryOp, (x: Code, y: Code) => Code> = { add: f32x4Add, sub: f32x4Sub, mul: f32x4Mul, div: f32x4Div };

/** for at < bytes, 16 at a time: dst[at] = f(a[at], b[at]) (b unread when f ignores it). */
function loopOver(f: (x: Code, y: Code) => Code): Code {
  return forLoop(AT, get(BYTES), i32(16), [
    v128Store(add(get(DST), get(AT)), f(v128Load(add(get(A), get(AT))), v128Load(add(get(B), get(AT))))),
  ]);
}

/**
 * One operand a float32 scalar (params a, s, dst, bytes): dst[at] = op(a[at], s), or op(s, a[at])
 * with `scalarFirst`. The scalar is the float32 the gpu.js kernels read it as (fround of the
 * host's number), so τ·q and friends give gpu.js's results.
 */
function scalarLoopOver(op: (x: Code, y: Code) => Code, scalarFirst: boolean): Code {
  const S = 1;
  const V = 5;
  return [
    set(V, f32x4Splat(get(S))),
    loopOver((x) => (scalarFirst ? op(get(V), x) : op(x, get(V)))),
  ];
}

/** Export names of the scalar forms: `${op}_scalar` (tensor op s) and `scalar_${op}` (s op tensor). */
export const scalarName = (op: SimdBinaryOp, scalarFirst: boolean): string => (scalarFirst ? `scalar_${op}` : `${op}_scalar`);

/**
 * The module: `add`, `sub`, `mul`, `div`, each `(a, b, dst, bytes)` over byte addresses of the
 * arena, and their scalar forms `(a, s, dst, bytes)` named by scalarName.
 */
export function binaryModuleBytes(maxPages: number): Uint8Array<ArrayBuffer> {
  const names = Object.keys(ops) as SimdBinaryOp[];
  return wasmModule([
    ...names.map((op) => ({ params: [I32, I32, I32, I32], locals: [I32], body: loopOver((x, y) => ops[op](x, y)), exportAs: op })),
    ...names.flatMap((op) => [false, true].map((first) => (
      { params: [I32, F32, I32, I32], locals: [I32, V128], body: scalarLoopOver(ops[op], first), exportAs: scalarName(op, first) }))),
  ], 1, maxPages);
}
