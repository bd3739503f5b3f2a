/**
 * Sums over one run of axes as WebAssembly SIMD, emitted from TypeScript: x viewed as
 * [outer, R, inner] (memory order) summed over R, in float64 as the reference device sums, each
 * result rounded once into float32. Two forms:
 *   - `columns` (inner even): each pair of columns summed down the R rows in a float64x2 lane
 *     pair (bias gradients and layer norm's dbias: [768, 128] → [128] in the GPT step);
 *   - `rows` (inner 1): each run of R contiguous floats summed two at a time, the odd last float
 *     added alone; `rowsSquared` sums x² instead (the gradient clip's global norm: no x² tensor).
 * gpu.js's webasm reduce kernels cost 0.3–1.4 ms a call in the GPT step (27 calls, 13.5 CPU ms).
 */
import {
  add, and, type Code, get, i32, I32, mul, set, sub, V128, v128Zero, wasmModule,
} from '../wasm-gemm/wasm-bytes.js';
import { f32StoreF64, F64, f64Add, f64LoadF32, f64Mul, f64x2Add, f64x2LaneSum, f64x2LoadF32Pair, f64x2Mul, f64x2StoreF32Pair, forLoop } from './simd.js';

/** columns(src, dst, outer, R, inner): dst[o, c] = Σ_r src[o, r, c], byte offsets walked. */
function columns() {
  const [SRC, DST, OUTER, R, INNER] = [0, 1, 2, 3, 4];
  const [O, C, ROW, ROWB, BLOCKB, BASE] = [5, 6, 7, 8, 9, 10];
  const ACC = 11;
  return {
    params: [I32, I32, I32, I32, I32],
    locals: [I32, I32, I32, I32, I32, I32, V128],
    body: [
      set(ROWB, mul(get(INNER), i32(4))),
      set(BLOCKB, mul(get(ROWB), get(R))),
      forLoop(O, get(OUTER), i32(1), [
        set(BASE, add(get(SRC), mul(get(O), get(BLOCKB)))),
        forLoop(C, get(ROWB), i32(8), [
          set(ACC, v128Zero()),
          forLoop(ROW, get(BLOCKB), get(ROWB), [set(ACC, f64x2Add(get(ACC), f64x2LoadF32Pair(add(add(get(BASE), get(ROW)), get(C)))))]),
          f64x2StoreF32Pair(add(add(get(DST), mul(get(O), get(ROWB))), get(C)), get(ACC)),
        ]),
      ]),
    ],
  };
}

/** rows(src, dst, outer, R): dst[o] = Σ_r src[o, r] (of x² with `squared`). */
function rows(squared: boolean) {
  const [SRC, DST, OUTER, R] = [0, 1, 2, 3];
  const [O, AT, BASE, PAIRB] = [4, 5, 6, 7];
  const [ACC, V] = [8, 9];
  const [TOTAL, LAST] = [10, 11];
  const sq = (v: Code): Code => (squared ? f64x2Mul(v, v) : v);
  return {
    params: [I32, I32, I32, I32],
    locals: [I32, I32, I32, I32, V128, V128, F64, F64],
    body: [
      // bytes of the row's whole pairs
      set(PAIRB, mul(and(get(R), i32(-2)), i32(4))),
      forLoop(O, get(OUTER), i32(1), [
        set(BASE, add(get(SRC), mul(mul(get(O), get(R)), i32(4)))),
        set(ACC, v128Zero()),
        forLoop(AT, get(PAIRB), i32(8), [set(V, f64x2LoadF32Pair(add(get(BASE), get(AT)))), set(ACC, f64x2Add(get(ACC), sq(get(V))))]),
        set(TOTAL, f64x2LaneSum(get(ACC))),
        // an odd R's last float
        [sub(get(R), and(get(R), i32(-2))), 0x04, 0x40,
          set(LAST, f64LoadF32(add(get(BASE), get(PAIRB)))),
          set(TOTAL, f64Add(get(TOTAL), squared ? f64Mul(get(LAST), get(LAST)) : get(LAST))),
          0x0b],
        f32StoreF64(add(get(DST), mul(get(O), i32(4))), get(TOTAL)),
      ]),
    ],
  };
}

/** The module: `columns`, `rows` and `rowsSquared` as above, over byte addresses of the arena. */
export function sumModuleBytes(maxPages: number): Uint8Array<ArrayBuffer> {
  return wasmModule([
    { ...columns(), exportAs: 'columns' },
    { ...rows(false), exportAs: 'rows' },
    { ...rows(true), exportAs: 'rowsSquared' },
  ], 1, maxPages);
}
