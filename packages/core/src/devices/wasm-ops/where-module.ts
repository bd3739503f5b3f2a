/**
 * where(cond, a, b) as 4-lane WebAssembly SIMD for the form attention's masks take: one of a, b a
 * tensor of the output's shape, the other a number, and cond a block of `inner` floats repeated
 * over the output's leading axes (the causal keep [R, Bc] over the scores [B, H, R, Bc]). gpu.js's
 * webasm kernel for it split each output index by division per lane and copied its operands in:
 * 1.3 ms a call for the GPT step's 196,608 scores. Here a row is `inner` floats (a multiple of 4),
 * cond read from its start for each row; a lane takes a's value where cond ≠ 0 (NaN included, as
 * the reference device tests it), else b's; the number is the float32 gpu.js's kernels read.
 */
import {
  type Code, I32, V128, add, get, i32, set, uleb, v128Load, v128Store, v128Zero, wasmModule,
} from '../wasm-gemm/wasm-bytes.js';
import { F32, f32x4Splat, forLoop, v128Bitselect } from './simd.js';

const f32x4Eq = (a: Code, b: Code): Code => [a, b, 0xfd, ...uleb(0x41)];

/** (cond, t, s, dst, bytes, innerBytes), ROW and AT byte offsets: dst = where(cond, t, s), or where(cond, s, t) with `numberIsA`. */
function whereFunction(numberIsA: boolean) {
  const [COND, T, S, DST, BYTES, INNER] = [0, 1, 2, 3, 4, 5];
  const [ROW, AT, SV, ZERO, IS0] = [6, 7, 8, 9, 10];
  const tensor = v128Load(add(get(T), add(get(ROW), get(AT))));
  return {
    params: [I32, I32, F32, I32, I32, I32],
    locals: [I32, I32, V128, V128, V128],
    body: [
      set(SV, f32x4Splat(get(S))),
      set(ZERO, v128Zero()),
      forLoop(ROW, get(BYTES), get(INNER), [
        forLoop(AT, get(INNER), i32(16), [
          set(IS0, f32x4Eq(v128Load(add(get(COND), get(AT))), get(ZERO))),
          // cond = 0 picks b
          v128Store(add(get(DST), add(get(ROW), get(AT))), numberIsA ? v128Bitselect(tensor, get(SV), get(IS0)) : v128Bitselect(get(SV), tensor, get(IS0))),
        ]),
      ]),
    ],
  };
}

/** The module: `whereNumberB` (a the tensor) and `whereNumberA` (b the tensor). */
export function whereModuleBytes(maxPages: number): Uint8Array<ArrayBuffer> {
  return wasmModule([
    { ...whereFunction(false), exportAs: 'whereNumberB' },
    { ...whereFunction(true), exportAs: 'whereNumberA' },
  ], 1, maxPages);
}
