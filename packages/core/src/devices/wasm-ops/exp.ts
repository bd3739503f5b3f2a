/**
 * e^x on four f32 lanes, emitted into a function body (locals given by index). Shared by gelu's
 * kernels and the online softmax's.
 *
 * expCore: t clamped to [−87, 88] (e^88 < float32's max), n = nearest(t·log2 e), r = t − n·ln2 with
 * ln2 split in two so n·ln2_hi is exact, e^r by its Taylor series to r^7 (error < 6e-9 relative
 * for |r| ≤ ln2/2), 2^n as the float with exponent bits n + 127 (n in [−126, 127]: always normal),
 * both n and those bits from one add of a magic constant (session 6: no nearest, no float-to-int
 * conversion, which V8 expands to several instructions on x64; the same floats as before).
 *
 * expFull adds the ends gpu.js's webasm exp has (gpujs/kernels/math.ts), so the device's results do
 * not depend on the path: 0 below x = −87 (−∞ included), e^(x−1)·e above 88, whose float32 product
 * overflows to +∞ exactly where e^x does (x > 88.72), and NaN for NaN (min/max keep it).
 */
import { type Code, f32, f32x4Add, f32x4Mul, get, i32, set } from '../wasm-gemm/wasm-bytes.js';
import { f32x4Gt, f32x4Lt, f32x4Pmax, f32x4Pmin, f32x4Splat, f32x4Sub, i32x4Shl, v128And, v128AndNot, v128Bitselect } from './simd.js';

export const splat = (x: number): Code => f32x4Splat(f32(x));

/** Local indices (v128) the expansion uses. */
export interface ExpLocals {
  /** In: t (clamped in place by expCore). */
  t: number;
  n: number;
  r: number;
  /** Out: e^t. */
  e: number;
}

/**
 * 1.5·2^23 + 127: a float32 whose ulp is 1, so adding it rounds to an integer, and whose bits are
 * 0x4B40007F: the low 23 bits hold 127 + the added integer, bit 22 and up shift out under << 23.
 */
const MAGIC = 12582912 + 127;

/** e = e^t for t in [−87, 88] (clamped there first). */
export function expCore({ t, n, r, e }: ExpLocals): Code[] {
  const rv = get(r);
  // Horner in r: 1 + r(1 + r(1/2 + r(1/6 + r(1/24 + r(1/120 + r(1/720 + r/5040))))))
  let p: Code = splat(1 / 5040);
  for (const k of [1 / 720, 1 / 120, 1 / 24, 1 / 6, 1 / 2, 1, 1]) p = f32x4Add(f32x4Mul(p, rv), splat(k));
  return [
    // pmax/pmin (one instruction each, where min/max take several on x64) with t first keep a NaN t
    set(t, f32x4Pmin(f32x4Pmax(get(t), splat(-87)), splat(88))),
    // n + MAGIC rounds t·log2 e to the nearest integer (ties to even, as nearest does) and leaves
    // n + 127 in the float's low mantissa bits; shifted left by 23 they are 2^n's bits (MAGIC's own
    // bits shift out), so no float-to-int conversion is needed
    set(n, f32x4Add(f32x4Mul(get(t), splat(Math.LOG2E)), splat(MAGIC))),
    set(e, i32x4Shl(get(n), i32(23))),
    set(n, f32x4Sub(get(n), splat(MAGIC))),
    set(r, f32x4Sub(f32x4Sub(get(t), f32x4Mul(get(n), splat(0.693145751953125))), f32x4Mul(get(n), splat(1.4286068203094173e-6)))),
    set(e, f32x4Mul(p, get(e))),
  ];
}

/** e = e^x over the whole float range (x is read, not changed; `big` is one more v128 local). */
export function expFull(x: number, big: number, l: ExpLocals): Code[] {
  return [
    set(big, f32x4Gt(get(x), splat(88))),
    // t = x − 1 where x > 88: the mask's lanes and 1.0's bits are 1.0 or 0
    set(l.t, f32x4Sub(get(x), v128And(get(big), splat(1)))),
    ...expCore(l),
    set(l.e, f32x4Mul(get(l.e), v128Bitselect(splat(Math.E), splat(1), get(big)))),
    set(l.e, v128AndNot(get(l.e), f32x4Lt(get(x), splat(-87)))),
  ];
}
