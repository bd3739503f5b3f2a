/**
 * Transcendentals in gpu.js source, per backend. webasm has no exp/tanh opcode: gpu.js imports
 * them from JavaScript and calls out once per lane, which measured ~27 ns extra per element
 * (exp over 1M floats: 34.7 ms against 6.6 ms for an add). In wasm we therefore compute exp in
 * the kernel itself: Cody–Waite range reduction x = n·ln2 + r, |r| ≤ ln2/2, a degree-7 Taylor
 * polynomial for e^r (truncation < 1e-8 relative), and 2^n from a 254-entry constant table —
 * about 1–2 ulp, all in f32x4 SIMD. Other backends keep Math.exp (native in WGSL and JS).
 */
import type { GpujsMode } from '../runtime.js';

/** 2^(i − 126) for i in 0..253: the table `pow2` the fast exp indexes. */
export const POW2_TABLE = Float32Array.from({ length: 254 }, (_, i) => 2 ** (i - 126));

export const usesFastExp = (mode: GpujsMode): boolean => mode === 'wasm';

/** Constants a kernel using expStatements needs in its settings. */
export function expConstants(mode: GpujsMode): Record<string, Float32Array> | undefined {
  return usesFastExp(mode) ? { pow2: POW2_TABLE } : undefined;
}

/**
 * Statements declaring `out` = e^(x). `x` must be a simple expression (it is read several times);
 * `tag` keeps temporaries unique when several expansions share a scope.
 */
export function expStatements(mode: GpujsMode, out: string, x: string, tag: string): string {
  if (!usesFastExp(mode)) return `const ${out} = Math.exp(${x}); `;
  const v = `ex${tag}`;
  const n = `en${tag}`;
  const r = `er${tag}`;
  const hi = `eh${tag}`;
  // clamp into the table's range (an index outside it would read outside wasm memory): below −87
  // e^x is nearly under float32's normal range (we give 0). Above 88 we take e^(x−1)·e, whose
  // float32 product overflows to Infinity exactly where e^x does (x > 88.72, +Infinity included)
  return `const ${hi} = ${x} > 88.0 ? 1.0 : 0.0; ` +
    `const ${v} = Math.min(Math.max(${x} - ${hi}, -87.0), 88.0); ` +
    `const ${n} = Math.floor(${v} * 1.4426950408889634 + 0.5); ` +
    // ln2 split in two so n·ln2_hi is exact in float32: r keeps full precision
    `const ${r} = ${v} - ${n} * 0.693145751953125 - ${n} * 0.0000014286067653302226; ` +
    `const ${out} = ${x} < -87.0 ? 0.0 : (1.0 + ${r} * (1.0 + ${r} * (0.5 + ${r} * (0.16666666666666666 + ${r} * (0.041666666666666664 + ` +
    `${r} * (0.008333333333333333 + ${r} * (0.001388888888888889 + ${r} * 0.0001984126984126984))))))) * this.constants.pow2[${n} + 126.0] ` +
    `* (${hi} > 0.0 ? 2.718281828459045 : 1.0); `;
}

/**
 * Statements declaring `out` = tanh(x). With the fast exp: tanh = sign(x)·(1 − e^(−2|x|))/(1 + e^(−2|x|)),
 * and a Taylor polynomial below |x| = 0.3 where that difference cancels. Elsewhere Math.tanh
 * within ±15 and ±1 beyond: WGSL's tanh overflows to NaN for large |x| on some drivers, and
 * tanh(±9.1) already rounds to ±1 in float32.
 */
export function tanhStatements(mode: GpujsMode, out: string, x: string, tag: string): string {
  // NaN fails every comparison and falls through to itself: llvmpipe's tanh(NaN) is −1
  if (!usesFastExp(mode)) return `const ${out} = Math.abs(${x}) <= 15.0 ? Math.tanh(${x}) : (${x} > 0.0 ? 1.0 : (${x} < 0.0 ? -1.0 : ${x})); `;
  const a = `ta${tag}`;
  const e = `te${tag}`;
  const q = `tq${tag}`;
  const big = `tb${tag}`;
  // near 0, 1 − e^(−2|x|) cancels: below |x| = 0.3 the odd Taylor series to x^11 is exact to ~1e-9
  return `const ${a} = Math.abs(${x}) * -2.0; ${expStatements(mode, e, a, `${tag}t`)}` +
    `const ${big} = (1.0 - ${e}) / (1.0 + ${e}); const ${q} = ${x} * ${x}; ` +
    `const ${out} = ${a} > -0.6 ? ${x} * (1.0 + ${q} * (-0.3333333333333333 + ${q} * (0.13333333333333333 + ${q} * (-0.05396825396825397 + ` +
    `${q} * (0.021869488536155203 + ${q} * -0.008863235529902197))))) : (${x} < 0.0 ? -${big} : ${big}); `;
}
