/**
 * Layer norm forward and backward over the rows of x [rows, cols] as WebAssembly SIMD, emitted
 * from TypeScript, for an even number of columns (the device keeps host-ops/layer-norm.ts's loops
 * for odd rows). They compute what those loops compute, in float64 as the reference device does:
 * two floats at a time (v128.load64_zero, widened by f64x2.promote_low_f32x4), two float64 lanes
 * of every sum added at the row's end, each result rounded once into float32 (demote, then a
 * 64-bit lane store). Only the order of the float64 sums differs (two interleaved partials
 * instead of one): ~1e-16 relative, far below the float32 rounding of the result. The JS loops
 * ran at 10–20 ns a float here (a chain of dependent float64 adds and bounds checks: 1.0–1.3 ms
 * forward and 1.6–2.5 ms backward for the GPT step's [768, 128]).
 *
 * Forward: y = (x − mean)·rstd·w + b. Backward: with x̂ = (x − mean)·rstd and g = dy ∘ w,
 * dx = rstd·(g − mean(g) − x̂·mean(g ∘ x̂)), dweight += dy ∘ x̂ into a float64 row of the caller's
 * (zeroed by it) that the caller rounds into float32 once all rows are in. Variants per affine
 * operand and per wanted output are emitted as separate functions, so no loop tests a flag.
 */
import {
  type Code, I32, V128, add, get, i32, mul, set, v128Load, v128Store, v128Zero, wasmModule,
} from '../wasm-gemm/wasm-bytes.js';
import { F64, f64Add, f64Const, f64Div, f64Sqrt, f64x2Add, f64x2LaneSum, f64x2LoadF32Pair, f64x2Mul, f64x2Splat, f64x2StoreF32Pair, f64x2Sub, forLoop } from './simd.js';

const f64FromI32 = (a: Code): Code => [a, 0xb7];

// locals shared by both directions, after each function's parameters: their indices from `first`
function locals(first: number) {
  const [ROW, OFF, RB, RBYTES] = [first, first + 1, first + 2, first + 3];
  const [MEAN, RSTD, N] = [first + 4, first + 5, first + 6];
  const [ACC, ACC2, V, MV, RV, XH, G] = [first + 7, first + 8, first + 9, first + 10, first + 11, first + 12, first + 13];
  const types = [I32, I32, I32, I32, F64, F64, F64, V128, V128, V128, V128, V128, V128, V128];
  return { ROW, OFF, RB, RBYTES, MEAN, RSTD, N, ACC, ACC2, V, MV, RV, XH, G, types };
}
type Locals = ReturnType<typeof locals>;

/** Each row's mean and rstd into MV and RV (splat), from the floats of row RB at byte address x. */
function moments(L: Locals, x: number, eps: number): Code[] {
  const at = add(add(get(x), get(L.RB)), get(L.OFF));
  return [
    set(L.ACC, v128Zero()),
    forLoop(L.OFF, get(L.RBYTES), i32(8), [set(L.ACC, f64x2Add(get(L.ACC), f64x2LoadF32Pair(at)))]),
    set(L.MEAN, f64Div(f64x2LaneSum(get(L.ACC)), get(L.N))),
    set(L.MV, f64x2Splat(get(L.MEAN))),
    set(L.ACC, v128Zero()),
    forLoop(L.OFF, get(L.RBYTES), i32(8), [set(L.V, f64x2Sub(f64x2LoadF32Pair(at), get(L.MV))), set(L.ACC, f64x2Add(get(L.ACC), f64x2Mul(get(L.V), get(L.V))))]),
    set(L.RSTD, f64Div(f64Const(1), f64Sqrt(f64Add(f64Div(f64x2LaneSum(get(L.ACC)), get(L.N)), get(eps))))),
    set(L.RV, f64x2Splat(get(L.RSTD))),
  ];
}

/** Rows walked with RB = row·cols·4 bytes; `body` runs once per row. */
function rows(L: Locals, rowsParam: number, colsParam: number, body: Code[]): Code[] {
  return [
    set(L.RBYTES, mul(get(colsParam), i32(4))),
    set(L.N, f64FromI32(get(colsParam))),
    forLoop(L.ROW, get(rowsParam), i32(1), [set(L.RB, mul(get(L.ROW), get(L.RBYTES))), ...body]),
  ];
}

/** forward(x, w, b, out, rows, cols, eps): y = (x − mean)·rstd [·w] [+ b]. */
function forward(hasW: boolean, hasB: boolean) {
  const [X, W, B, OUT, ROWS, COLS, EPS] = [0, 1, 2, 3, 4, 5, 6];
  const L = locals(7);
  const rowAt = (base: number) => add(add(get(base), get(L.RB)), get(L.OFF));
  let y: Code = f64x2Mul(f64x2Sub(f64x2LoadF32Pair(rowAt(X)), get(L.MV)), get(L.RV));
  if (hasW) y = f64x2Mul(y, f64x2LoadF32Pair(add(get(W), get(L.OFF))));
  if (hasB) y = f64x2Add(y, f64x2LoadF32Pair(add(get(B), get(L.OFF))));
  return {
    params: [I32, I32, I32, I32, I32, I32, F64],
    locals: L.types,
    body: rows(L, ROWS, COLS, [...moments(L, X, EPS), forLoop(L.OFF, get(L.RBYTES), i32(8), [f64x2StoreF32Pair(rowAt(OUT), y)])]),
  };
}

/** backward(dy, x, w, dx, dw, rows, cols, eps): dx and/or dw (float64, accumulated) as wanted. */
function backward(hasW: boolean, wantDx: boolean, wantDw: boolean) {
  const [DY, X, W, DX, DW, ROWS, COLS, EPS] = [0, 1, 2, 3, 4, 5, 6, 7];
  const L = locals(8);
  const rowAt = (base: number) => add(add(get(base), get(L.RB)), get(L.OFF));
  const dwAt = add(get(DW), mul(get(L.OFF), i32(2)));
  const xhatAndG: Code[] = [
    set(L.XH, f64x2Mul(f64x2Sub(f64x2LoadF32Pair(rowAt(X)), get(L.MV)), get(L.RV))),
    set(L.V, f64x2LoadF32Pair(rowAt(DY))),
    set(L.G, hasW ? f64x2Mul(get(L.V), f64x2LoadF32Pair(add(get(W), get(L.OFF)))) : get(L.V)),
  ];
  const sums: Code[] = [
    set(L.ACC, v128Zero()),
    set(L.ACC2, v128Zero()),
    forLoop(L.OFF, get(L.RBYTES), i32(8), [
      ...xhatAndG,
      set(L.ACC, f64x2Add(get(L.ACC), get(L.G))),
      set(L.ACC2, f64x2Add(get(L.ACC2), f64x2Mul(get(L.G), get(L.XH)))),
      ...(wantDw ? [v128Store(dwAt, f64x2Add(v128Load(dwAt), f64x2Mul(get(L.V), get(L.XH))))] : []),
    ]),
  ];
  // MEAN and RSTD's f64 locals are free once MV and RV hold them: mean(g), mean(g ∘ x̂) as splats in ACC, ACC2
  const dx: Code[] = wantDx ? [
    set(L.ACC, f64x2Splat(f64Div(f64x2LaneSum(get(L.ACC)), get(L.N)))),
    set(L.ACC2, f64x2Splat(f64Div(f64x2LaneSum(get(L.ACC2)), get(L.N)))),
    forLoop(L.OFF, get(L.RBYTES), i32(8), [
      ...xhatAndG,
      f64x2StoreF32Pair(rowAt(DX), f64x2Mul(get(L.RV), f64x2Sub(f64x2Sub(get(L.G), get(L.ACC)), f64x2Mul(get(L.XH), get(L.ACC2))))),
    ]),
  ] : [];
  return {
    params: [I32, I32, I32, I32, I32, I32, I32, F64],
    locals: L.types,
    body: rows(L, ROWS, COLS, [...moments(L, X, EPS), ...sums, ...dx]),
  };
}

const flag = (b: boolean): string => (b ? '1' : '0');
/** Export names: `ln${w}${b}` forward, `lnb${w}${dx}${dw}` backward. */
export const forwardName = (hasW: boolean, hasB: boolean): string => `ln${flag(hasW)}${flag(hasB)}`;
export const backwardName = (hasW: boolean, wantDx: boolean, wantDw: boolean): string => `lnb${flag(hasW)}${flag(wantDx)}${flag(wantDw)}`;

/** The module: every forward and backward variant, over byte addresses in the imported memory. */
export function layerNormModuleBytes(maxPages: number): Uint8Array<ArrayBuffer> {
  const fns = [];
  for (const w of [false, true]) {
    for (const b of [false, true]) fns.push({ ...forward(w, b), exportAs: forwardName(w, b) });
    for (const [dx, dw] of [[true, false], [false, true], [true, true]]) fns.push({ ...backward(w, dx, dw), exportAs: backwardName(w, dx, dw) });
  }
  return wasmModule(fns, 1, maxPages);
}
