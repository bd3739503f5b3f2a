/**
 * Dropout from a seed: random.ts's dropoutHash24 written in gpu.js's kernel language. gpu.js
 * declares every local variable float32, which cannot hold 32-bit integers, so the hash is one
 * integer expression with no variables: each of its five steps reads its input twice, 32 copies
 * of `i ^ hi` in all, which the GPU compilers fold back. Multiplies by 0x45d9f3b are split in
 * 16-bit halves so that gpu.js's cpu mode (plain JavaScript numbers) wraps exactly like i32.
 */
import { dropoutThreshold } from '../../../random.js';
import { lit, type KernelSpec } from './spec.js';

const LO = 0x9f3b;
const HI = 0x045d; // 0x45d9f3b = HI·2¹⁶ + LO

const shiftXor = (x: string) => `(${x} ^ ((${x} >> 16) & 65535))`;
const mulHash = (x: string) => `(((${x} * ${LO}) + ((${x} * ${HI}) << 16)) | 0)`;

/** The 24-bit draw for element `index` of a call with seed halves `hi`, `lo` (integer expressions). */
export function hash24Expr(index: string, hi: string, lo: string): string {
  const x1 = `((${mulHash(shiftXor(`(${index} ^ ${hi})`))} + ${lo}) | 0)`;
  return `((${shiftXor(mulHash(shiftXor(x1)))} >> 8) & 16777215)`;
}

/**
 * y = x / (1 − p) where the draw is ≥ round(p·2²⁴), else 0. The seed's 24-bit halves arrive as
 * scalar arguments, which are float32 (exact below 2²⁴); `| 0` makes them integers, without which
 * gpu.js adds the low half in float32.
 */
export function dropoutSpec(n: number, p: number): KernelSpec {
  const draw = hash24Expr('this.thread.x', '(Math.floor(seedHi) | 0)', '(Math.floor(seedLo) | 0)');
  return {
    key: `dropout:${n}:${p}`,
    source: `function (x, seedHi, seedLo) { return ${draw} >= ${dropoutThreshold(p)} ? x[this.thread.x] * ${lit(1 / (1 - p))} : 0.0; }`,
    output: [n],
    outSize: n,
    work: n * 40,
  };
}
