/**
 * The SIMD128 opcodes the elementwise kernels need beyond the GEMM's writer (wasm-gemm/wasm-bytes.ts,
 * whose helpers these build on): float comparisons and selects, pmin/pmax, the integer lane ops
 * that build 2^n from its exponent bits. Encodings: the WebAssembly SIMD proposal's opcode table.
 */
import { type Code, add, block, brIf, f32Load, f32Store, get, i32, loop, ltS, set, uleb } from '../wasm-gemm/wasm-bytes.js';

const simd = (op: number) => [0xfd, ...uleb(op)];
const bin = (op: number) => (a: Code, b: Code): Code => [a, b, simd(op)];

const br = (depth: number): Code => [0x0c, ...uleb(depth)];
const i32Eqz = (a: Code): Code => [a, 0x45];

/** while (i < limit) { body; i += step }: a loop in a block, left by br_if 1. */
export const whileBelow = (i: number, limit: Code, step: Code, body: Code[]): Code =>
  block(loop(brIf(1, i32Eqz(ltS(get(i), limit))), ...body, set(i, add(get(i), step)), br(0)));

/** for (i = 0; i < limit; i += step) body. */
export const forLoop = (i: number, limit: Code, step: Code, body: Code[]): Code => [set(i, i32(0)), whileBelow(i, limit, step, body)];

// float64x2: the lanes the float64 kernels (AdamW, sums, layer norm, rows) keep a pair of floats in
/** Two float32 at addr, widened into one float64x2 (a 64-bit load zero-extended, then promoted). */
export const f64x2LoadF32Pair = (addr: Code): Code => [addr, simd(0x5d), 3, 0, simd(0x5f)];
/** A float64x2 stored as two float32 at addr (demoted, then its low 64 bits stored). */
export const f64x2StoreF32Pair = (addr: Code, v: Code): Code => [addr, v, simd(0x5e), simd(0x5b), 3, 0, 0];
export const f64x2Add = bin(0xf0);
export const f64x2Sub = bin(0xf1);
export const f64x2Mul = bin(0xf2);
export const f64x2Splat = (x: Code): Code => [x, simd(0x14)];
/** The sum of a float64x2's two lanes, as a float64. */
export const f64x2LaneSum = (v: Code): Code => [v, simd(0x21), 0, v, simd(0x21), 1, 0xa0];

// scalars for the row ends (a row's max and sum across lanes)
export const F32 = 0x7d;
export const F64 = 0x7c;
export const f32Max = (a: Code, b: Code): Code => [a, b, 0x97];
export const f32Sub = (a: Code, b: Code): Code => [a, b, 0x93];
export const f32Mul = (a: Code, b: Code): Code => [a, b, 0x94];
export const f64Zero = (): Code => [0x44, new Array(8).fill(0)];
export const f64Add = (a: Code, b: Code): Code => [a, b, 0xa0];
export const f64Sub = (a: Code, b: Code): Code => [a, b, 0xa1];
export const f64Mul = (a: Code, b: Code): Code => [a, b, 0xa2];
export const f64Div = (a: Code, b: Code): Code => [a, b, 0xa3];
export const f64Sqrt = (a: Code): Code => [a, 0x9f];
export const f64Const = (x: number): Code => [0x44, ...new Uint8Array(new Float64Array([x]).buffer)];
/** The float32 at addr, as a float64. */
export const f64LoadF32 = (addr: Code): Code => [f32Load(addr), 0xbb];
/** A float64 rounded to float32 and stored at addr. */
export const f32StoreF64 = (addr: Code, v: Code): Code => f32Store(addr, f32DemoteF64(v));
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
