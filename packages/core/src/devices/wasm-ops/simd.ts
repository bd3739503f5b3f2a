/**
 * The SIMD128 opcodes the elementwise kernels need beyond the GEMM's writer (wasm-gemm/wasm-bytes.ts,
 * whose helpers these build on): float comparisons and selects, rounding, the integer lane ops
 * that build 2^n from its exponent bits. Encodings: the WebAssembly SIMD proposal's opcode table.
 */
import { type Code, uleb } from '../wasm-gemm/wasm-bytes.js';

const simd = (op: number) => [0xfd, ...uleb(op)];
const un = (op: number) => (a: Code): Code => [a, simd(op)];
const bin = (op: number) => (a: Code, b: Code): Code => [a, b, simd(op)];

export const br = (depth: number): Code => [0x0c, ...uleb(depth)];
export const i32Eqz = (a: Code): Code => [a, 0x45];

export const f32x4Splat = (x: Code): Code => [x, simd(0x13)];
export const f32x4Lt = bin(0x43);
/** Lanes of a where mask's bits are set, else b's. */
export const v128Bitselect = (a: Code, b: Code, mask: Code): Code => [a, b, mask, simd(0x52)];
export const f32x4Nearest = un(0x6a);
export const i32x4Shl = (a: Code, bits: Code): Code => [a, bits, simd(0xab)];
export const i32x4Add = bin(0xae);
export const i32x4Splat = (x: Code): Code => [x, simd(0x11)];
export const f32x4Sub = bin(0xe5);
export const f32x4Div = bin(0xe7);
export const f32x4Min = bin(0xe8);
export const f32x4Max = bin(0xe9);
export const i32x4TruncSatF32x4S = un(0xf8);
