/**
 * The SIMD128 opcodes the elementwise kernels need beyond the GEMM's writer (wasm-gemm/wasm-bytes.ts,
 * whose helpers these build on): float comparisons and selects, pmin/pmax, the integer lane ops
 * that build 2^n from its exponent bits. Encodings: the WebAssembly SIMD proposal's opcode table.
 */
import { type Code, uleb } from '../wasm-gemm/wasm-bytes.js';

const simd = (op: number) => [0xfd, ...uleb(op)];
const bin = (op: number) => (a: Code, b: Code): Code => [a, b, simd(op)];

export const br = (depth: number): Code => [0x0c, ...uleb(depth)];
export const i32Eqz = (a: Code): Code => [a, 0x45];

// scalars for the row ends (a row's max and sum across lanes)
export const F32 = 0x7d;
export const F64 = 0x7c;
export const f32Max = (a: Code, b: Code): Code => [a, b, 0x97];
export const f32Sub = (a: Code, b: Code): Code => [a, b, 0x93];
export const f32Mul = (a: Code, b: Code): Code => [a, b, 0x94];
export const f64Zero = (): Code => [0x44, new Array(8).fill(0)];
export const f64Add = (a: Code, b: Code): Code => [a, b, 0xa0];
export const f64PromoteF32 = (a: Code): Code => [a, 0xbb];
export const f32DemoteF64 = (a: Code): Code => [a, 0xb6];

/** A v128 constant of four i32 lanes. */
export const i32x4Const = (lanes: [number, number, number, number]): Code =>
  [simd(0x0c), [...new Uint8Array(Int32Array.from(lanes).buffer)]];
export const f32x4ExtractLane = (v: Code, lane: number): Code => [v, simd(0x1f), lane];
export const i32x4LtS = bin(0x39);
export const f32x4Gt = bin(0x44);
export const v128And = bin(0x4e);
/** a & ~b. */
export const v128AndNot = bin(0x4f);

export const f32x4Splat = (x: Code): Code => [x, simd(0x13)];
export const f32x4Lt = bin(0x43);
/** Lanes of a where mask's bits are set, else b's. */
export const v128Bitselect = (a: Code, b: Code, mask: Code): Code => [a, b, mask, simd(0x52)];
export const i32x4Shl = (a: Code, bits: Code): Code => [a, bits, simd(0xab)];
export const i32x4Add = bin(0xae);
export const i32x4Splat = (x: Code): Code => [x, simd(0x11)];
export const f32x4Sub = bin(0xe5);
export const f32x4Div = bin(0xe7);
export const f32x4Max = bin(0xe9);
/** b < a ? b : a (one minps on x64; min's NaN and −0 rules take several instructions). */
export const f32x4Pmin = bin(0xea);
/** a < b ? b : a. */
export const f32x4Pmax = bin(0xeb);
