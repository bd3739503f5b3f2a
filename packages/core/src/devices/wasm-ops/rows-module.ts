/**
 * Two of flash attention's per-row ops as WebAssembly SIMD, emitted from TypeScript, computing
 * exactly what host-ops/rows.ts's loops compute (the same floats):
 *   - rowShiftedProduct, y ∘ (dy − c[row]): float64 lanes, two floats at a time (cols even),
 *     rounded once into float32 as the loop's store rounds;
 *   - onlineNormalize, o / l[row]: f32x4 division, four floats at a time (cols a multiple of 4):
 *     float32 ÷ rounds as the loop's float64 ÷ rounded by its store does.
 * The loops took 0.9 and 0.4 ms a call in the GPT step's backward ([3072, 64]).
 */
import { I32, V128, add, f32Load, get, i32, mul, set, v128Load, v128Store, wasmModule } from '../wasm-gemm/wasm-bytes.js';
import { f32x4Div, f32x4Splat, f64PromoteF32, f64x2LoadF32Pair, f64x2Mul, f64x2Splat, f64x2StoreF32Pair, f64x2Sub, forLoop, whileBelow } from './simd.js';

/** rowShiftedProduct(y, dy, c, dst, rows, cols). */
function rowShiftedProduct() {
  const [Y, DY, C, DST, ROWS, COLS] = [0, 1, 2, 3, 4, 5];
  const [ROW, AT, ROWB, END, SHIFT] = [6, 7, 8, 9, 10];
  return {
    params: [I32, I32, I32, I32, I32, I32],
    locals: [I32, I32, I32, I32, V128],
    body: [
      set(ROWB, mul(get(COLS), i32(4))),
      // AT walks the flat byte offset; END is the row's end
      set(AT, i32(0)),
      forLoop(ROW, get(ROWS), i32(1), [
        set(SHIFT, f64x2Splat(f64PromoteF32(f32Load(add(get(C), mul(get(ROW), i32(4))))))),
        set(END, add(get(AT), get(ROWB))),
        whileBelow(AT, get(END), i32(8), [
          f64x2StoreF32Pair(add(get(DST), get(AT)), f64x2Mul(f64x2LoadF32Pair(add(get(Y), get(AT))), f64x2Sub(f64x2LoadF32Pair(add(get(DY), get(AT))), get(SHIFT)))),
        ]),
      ]),
    ],
  };
}

/** onlineNormalize(o, stats, dst, rows, cols): stats [rows, 2] of (m, l). */
function onlineNormalize() {
  const [O, ST, DST, ROWS, COLS] = [0, 1, 2, 3, 4];
  const [ROW, AT, ROWB, END, L] = [5, 6, 7, 8, 9];
  return {
    params: [I32, I32, I32, I32, I32],
    locals: [I32, I32, I32, I32, V128],
    body: [
      set(ROWB, mul(get(COLS), i32(4))),
      set(AT, i32(0)),
      forLoop(ROW, get(ROWS), i32(1), [
        set(L, f32x4Splat(f32Load(add(get(ST), mul(get(ROW), i32(8))), 4))),
        set(END, add(get(AT), get(ROWB))),
        whileBelow(AT, get(END), i32(16), [v128Store(add(get(DST), get(AT)), f32x4Div(v128Load(add(get(O), get(AT))), get(L)))]),
      ]),
    ],
  };
}

/** The module: `rowShiftedProduct` and `onlineNormalize` as above, over byte addresses of the arena. */
export function rowsModuleBytes(maxPages: number): Uint8Array<ArrayBuffer> {
  return wasmModule([{ ...rowShiftedProduct(), exportAs: 'rowShiftedProduct' }, { ...onlineNormalize(), exportAs: 'onlineNormalize' }], 1, maxPages);
}
