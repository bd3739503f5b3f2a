/**
 * The exp-heavy ops of the online softmax (FlashAttention's forward and backward on the CPU
 * devices) as 4-lane WebAssembly SIMD, emitted from TypeScript: expShift, e^(x − shift[r·stride])
 * over the rows of x [rows, cols], and the block stats (m′, l′) = (max(m, max_j s),
 * l·e^(m − m′) + Σ_j e^(s − m′)). gpu.js's webasm kernels for these gather 2^n from a table lane
 * by lane and split every index by division: ~3 ms for one expShift of 196,608 floats in the GPT
 * step (BENCHMARKS.md, "The wasm GPT step, session 5").
 *
 * Rows are walked inside wasm, ⌈cols/4⌉ groups of 4 floats a row, at byte addresses (unaligned
 * loads are fine in wasm). A row's last group reads past its end: expShift writes those lanes
 * into the next row's first floats, which that row then overwrites (rows go in order; the caller
 * leaves 16 bytes after each region), and the stats mask them by lane index (−∞ for the max,
 * 0 for the sum). Sums: 4 float32 lane sums flushed into a float64 total every 256 groups
 * (≤ 256 terms a float32 partial, as gpu.js's blocked sums), so long rows keep their precision.
 */
import {
  type Code, I32, V128, add, and, eq, f32Load, f32Store, f32x4Add, get, i32, if_, mul, set, v128Load,
  v128Store, v128Zero, wasmModule,
} from '../wasm-gemm/wasm-bytes.js';
import { type ExpLocals, expFull, splat } from './exp.js';
import { F32, f32DemoteF64, f32Max, f32Mul, f32Sub, f32x4ExtractLane, f32x4Max, f32x4Splat, f32x4Sub, F64, f64Add, f64PromoteF32, f64Zero, forLoop, i32x4Add, i32x4Const, i32x4LtS, i32x4Splat, v128And, v128Bitselect } from './simd.js';


const lanes = (v: number): Code[] => [0, 1, 2, 3].map((k) => f32x4ExtractLane(get(v), k));

/** expShift(src, sh, dst, rows, cols, groups, stride): dst[r, c] = e^(src[r, c] − sh[r·stride]). */
function expShiftFunction(): { params: number[]; locals: number[]; body: Code } {
  const [SRC, SH, DST, ROWS, COLS, GROUPS, STRIDE] = [0, 1, 2, 3, 4, 5, 6];
  const [ROW, G, IN, OUT] = [7, 8, 9, 10];
  const [X, BIG, SHIFT] = [11, 12, 13];
  const exp: ExpLocals = { t: 14, n: 15, r: 16, e: 17 };
  const rowBytes = mul(mul(get(ROW), get(COLS)), i32(4));
  return {
    params: [I32, I32, I32, I32, I32, I32, I32],
    locals: [I32, I32, I32, I32, V128, V128, V128, V128, V128, V128, V128],
    body: forLoop(ROW, get(ROWS), i32(1), [
      set(IN, add(get(SRC), rowBytes)),
      set(OUT, add(get(DST), rowBytes)),
      set(SHIFT, f32x4Splat(f32Load(add(get(SH), mul(mul(get(ROW), get(STRIDE)), i32(4)))))),
      forLoop(G, get(GROUPS), i32(1), [
        set(X, f32x4Sub(v128Load(get(IN)), get(SHIFT))),
        ...expFull(X, BIG, exp),
        v128Store(get(OUT), get(exp.e)),
        set(IN, add(get(IN), i32(16))),
        set(OUT, add(get(OUT), i32(16))),
      ]),
    ]),
  };
}

/**
 * stats(src, prev, dst, rows, cols, groups, hasPrev): dst[r] = (m′, l′) of row r of src; with
 * hasPrev ≠ 0 the running (m, l) = prev[r] is carried in, else m = −∞ and l = 0.
 */
function statsFunction(): { params: number[]; locals: number[]; body: Code } {
  const [SRC, PREV, DST, ROWS, COLS, GROUPS, HAS_PREV] = [0, 1, 2, 3, 4, 5, 6];
  const [ROW, G, AT] = [7, 8, 9];
  const [X, BIG, MAX, ACC, IDX, COLS4] = [10, 11, 12, 13, 14, 15];
  const exp: ExpLocals = { t: 16, n: 17, r: 18, e: 19 };
  const [M, TOTAL] = [20, 21];
  const rowStart = add(get(SRC), mul(mul(get(ROW), get(COLS)), i32(4)));
  const prevAt = add(get(PREV), mul(get(ROW), i32(8)));
  const dstAt = add(get(DST), mul(get(ROW), i32(8)));
  const valid = i32x4LtS(get(IDX), get(COLS4));
  const next = [set(IDX, i32x4Add(get(IDX), i32x4Splat(i32(4)))), set(AT, add(get(AT), i32(16)))];
  const flush = [
    set(TOTAL, lanes(ACC).reduce<Code>((t, l) => f64Add(t, f64PromoteF32(l)), get(TOTAL))),
    set(ACC, v128Zero()),
  ];
  const [l0, l1, l2, l3] = lanes(MAX);
  return {
    params: [I32, I32, I32, I32, I32, I32, I32],
    locals: [I32, I32, I32, V128, V128, V128, V128, V128, V128, V128, V128, V128, V128, F32, F64],
    body: [
      set(COLS4, i32x4Splat(get(COLS))),
      forLoop(ROW, get(ROWS), i32(1), [
        // the row max (m′ = max(m, max_j s))
        set(AT, rowStart),
        set(IDX, i32x4Const([0, 1, 2, 3])),
        set(MAX, splat(-Infinity)),
        forLoop(G, get(GROUPS), i32(1), [set(MAX, f32x4Max(get(MAX), v128Bitselect(v128Load(get(AT)), splat(-Infinity), valid))), ...next]),
        set(M, f32Max(f32Max(l0, l1), f32Max(l2, l3))),
        if_(get(HAS_PREV), [set(M, f32Max(f32Load(prevAt), get(M)))]),
        // Σ_j e^(s − m′)
        set(AT, rowStart),
        set(IDX, i32x4Const([0, 1, 2, 3])),
        set(MAX, f32x4Splat(get(M))),
        set(ACC, v128Zero()),
        set(TOTAL, f64Zero()),
        forLoop(G, get(GROUPS), i32(1), [
          set(X, f32x4Sub(v128Load(get(AT)), get(MAX))),
          ...expFull(X, BIG, exp),
          set(ACC, f32x4Add(get(ACC), v128And(get(exp.e), valid))),
          if_(eq(and(get(G), i32(255)), i32(255)), flush),
          ...next,
        ]),
        ...flush,
        // + l·e^(m − m′)
        if_(get(HAS_PREV), [
          set(X, f32x4Splat(f32Sub(f32Load(prevAt), get(M)))),
          ...expFull(X, BIG, exp),
          set(TOTAL, f64Add(get(TOTAL), f64PromoteF32(f32Mul(f32Load(prevAt, 4), f32x4ExtractLane(get(exp.e), 0))))),
        ]),
        f32Store(dstAt, get(M)),
        f32Store(dstAt, f32DemoteF64(get(TOTAL)), 4),
      ]),
    ],
  };
}

/** The module: `expShift` and `stats` as above, over byte addresses in the imported memory. */
export function onlineSoftmaxModuleBytes(maxPages: number): Uint8Array<ArrayBuffer> {
  return wasmModule([
    { ...expShiftFunction(), exportAs: 'expShift' },
    { ...statsFunction(), exportAs: 'stats' },
  ], 1, maxPages);
}
