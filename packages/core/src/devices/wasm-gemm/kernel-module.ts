/**
 * The GEMM's WebAssembly module, emitted from this file (no binary blob, no build step): the
 * GotoBLAS schedule with a register-blocked SIMD128 micro-kernel.
 *
 *   B is packed once per call, before any chunk (chunk-loop.ts: pack tasks the threads share),
 *   K block by K block, each block's NR-column panels side by side.
 *   chunk:  a band of rows of C: for pc in K step KC: pack A[band, pc..] (≤ MC × KC, panels of MR
 *           rows) and run the macro-kernel over it and B's K block pc (all of N).
 *   macro:  for each NR-wide B panel, for each MR-high A panel: the micro-kernel adds that
 *           MR × NR tile of A·B into C (edge tiles go through a zeroed scratch tile).
 *   micro:  MR × NR of C in MR · NR/4 v128 accumulators; per step of k, B's row of NR floats is
 *           NR/4 v128.load, A's MR floats each a v128.load32_splat.
 *
 * Packing is also where transposes and strides end: both pack routines read through (row, column)
 * strides in bytes, so the micro-kernel sees one layout for every matmul of a GPT step. Rows and
 * columns past the edge pack as zeros. All addresses are byte offsets into the shared memory.
 */
import {
  type Code, type WasmFunction, I32, V128, add, and, block, brIf, call, eq, f32, f32Add, f32Load, f32Store,
  f32x4Add, f32x4Mul, f32x4RelaxedMadd, get, i32, if_, loop, ltS, minS, mul, select, set, sub, v128Load,
  v128Load32Splat, v128Store, v128Zero, wasmModule,
} from './wasm-bytes.js';

/**
 * Block sizes, BLIS's order: a B micro-panel (KC × NR, 12 KiB at NR 12) stays in L1 while the A
 * block (MC × KC, 120 KiB) streams from L2 past it; B's K block streams from memory once per band
 * (each panel then serves MC/MR micro-tiles), so it needs no NC blocking. MC = 120 is a multiple
 * of every micro-tile height tried (2 to 6, 8). KC 384 and 512 measured the same as 256 (3×12
 * relaxed, 120×512×1024 task, best of 60, loaded machine, 2026-12-01).
 */
export const KC = 256;
export const MC = 120;

export interface KernelVariant {
  /** Rows of the micro-tile. */
  mr: number;
  /** Columns of the micro-tile, a multiple of 4 (MR · NR/4 v128 accumulators). */
  nr: number;
  /** f32x4.relaxed_madd instead of f32x4.mul + f32x4.add. */
  relaxed: boolean;
  /**
   * FLOP per cycle its micro-kernel measured (below): with the tile's padding of M and N, what a
   * call weighs to choose between the GEMM's tiles (gemm.ts, kernelFor).
   */
  flopPerCycle?: number;
}

/**
 * The tiles shipped, by measurement (micro-kernel over L1-resident panels, best of 150 interleaved
 * runs, FLOP per cycle of the clock measured in the same run (clock.ts), 2026-12-01, load 5):
 * relaxed 3×12 15.2, 4×8 14.0, 2×16 14.1, 6×8 9.8; plain 4×8 11.6, 3×12 9.3. TurboFan issues
 * every load of a k step before its multiply-adds, so a tile needs MR · NR/4 accumulators + NR/4
 * B vectors + MR splats ≤ 15 xmm registers (V8 keeps xmm15 as scratch): 3×12 is 9 + 3 + 3, 6×8
 * (12 + 2 + 6) spills; 4×8's 8 accumulators are just the 4-cycle FMA latency × 2 ports, with no slack.
 * Plain SIMD has no FMA: mul + add on 3 ports caps it at 12 FLOP/cycle, which 4×8 nearly reaches.
 */
export const PLAIN: KernelVariant = { mr: 4, nr: 8, relaxed: false, flopPerCycle: 11.6 };
export const RELAXED: KernelVariant = { mr: 3, nr: 12, relaxed: true, flopPerCycle: 15.2 };
/**
 * Relaxed SIMD's second tile: 4 × 8 wastes nothing where M and N are multiples of 4 and 8 but not
 * of 3 and 12 (attention's 64 × 64 products: 3 × 12 pads them to 66 × 72 and was 25% slower there).
 */
export const RELAXED_4X8: KernelVariant = { mr: 4, nr: 8, relaxed: true, flopPerCycle: 14.0 };

/** Function indices inside the module. */
const MICRO = 0;
const MACRO = 1;
const PACK_A = 2;
// 3: packB, called from JavaScript (chunk-loop.ts) by its export

const inc = (local: number, by: Code): Code => set(local, add(get(local), by));

/**
 * micro(pa, pb, c, ldc, kc, beta): C[0..MR, 0..NR] = beta·C + Apanel · Bpanel over kc ≥ 1 steps
 * (beta 0 or 1: the first K block of a product with no epilogue stores, so C needs no zeroing);
 * ldc in bytes.
 * The k loop is not unrolled: two steps a trip measured 20–25% slower (2 cores, 240×256×512).
 */
function micro({ mr, nr, relaxed }: KernelVariant): WasmFunction {
  const [pa, pb, c, ldc, kc, beta] = [0, 1, 2, 3, 4, 5];
  const nv = nr / 4;
  const acc = (r: number, q: number) => 6 + nv * r + q;
  const b = (q: number) => 6 + nv * mr + q;
  const av = 6 + nv * mr + nv;
  const quads = Array.from({ length: nv }, (_, q) => q);
  const madd = (x: Code, y: Code, z: Code) => (relaxed ? f32x4RelaxedMadd(x, y, z) : f32x4Add(z, f32x4Mul(x, y)));
  const rows = Array.from({ length: mr }, (_, r) => r);
  return {
    params: [I32, I32, I32, I32, I32, I32],
    // wasm zero-initialises locals: the accumulators start at 0
    locals: new Array(nv * mr + nv + 1).fill(V128),
    exportAs: 'micro',
    body: [
      loop(
        // B's row of k: two v128.load; each of A's MR elements splat across a v128
        quads.map((q) => set(b(q), v128Load(get(pb), 16 * q))),
        rows.map((r) => [
          set(av, v128Load32Splat(get(pa), 4 * r)),
          quads.map((q) => set(acc(r, q), madd(get(av), get(b(q)), get(acc(r, q))))),
        ]),
        inc(pa, i32(4 * mr)),
        inc(pb, i32(4 * nr)),
        set(kc, sub(get(kc), i32(1))),
        brIf(0, get(kc)),
      ),
      if_(get(beta), [rows.map((r) => [
        quads.map((q) => v128Store(get(c), f32x4Add(v128Load(get(c), 16 * q), get(acc(r, q))), 16 * q)),
        inc(c, get(ldc)),
      ])], [rows.map((r) => [
        quads.map((q) => v128Store(get(c), get(acc(r, q)), 16 * q)),
        inc(c, get(ldc)),
      ])]),
    ],
  };
}

/**
 * macro(pa, pb, c, ldc, mc, nc, kc, edge, beta): C[0..mc, 0..nc] = beta·C + packed A block ·
 * packed B block.
 * `edge` is an MR × NR scratch tile for the tiles that overhang the block's edges.
 */
function macro({ mr, nr }: KernelVariant): WasmFunction {
  const [pa, pb, pbStride, c, ldc, mc, nc, kc, edge, beta] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  const [jr, ir, paI, pbJ, cJ, cI, mrL, nrL, i, j, rowC, rowE, MRc, NRc] = Array.from({ length: 14 }, (_, k) => 10 + k);
  const cAt = add(get(rowC), mul(get(j), i32(4)));
  const addEdge = [
    set(i, i32(0)),
    set(rowC, get(cI)),
    set(rowE, get(edge)),
    loop(
      set(j, i32(0)),
      loop(
        f32Store(cAt, f32Add(select(f32Load(cAt), f32(0), get(beta)), f32Load(add(get(rowE), mul(get(j), i32(4)))))),
        inc(j, i32(1)),
        brIf(0, ltS(get(j), get(nrL))),
      ),
      inc(rowC, get(ldc)),
      inc(rowE, i32(4 * nr)),
      inc(i, i32(1)),
      brIf(0, ltS(get(i), get(mrL))),
    ),
  ];
  return {
    params: new Array(10).fill(I32),
    locals: new Array(14).fill(I32),
    exportAs: 'macro',
    body: [
      set(MRc, i32(mr)),
      set(NRc, i32(nr)),
      set(jr, i32(0)),
      set(pbJ, get(pb)),
      set(cJ, get(c)),
      loop(
        set(nrL, sub(get(nc), get(jr))),
        set(nrL, minS(nrL, NRc)),
        set(ir, i32(0)),
        set(paI, get(pa)),
        set(cI, get(cJ)),
        loop(
          set(mrL, sub(get(mc), get(ir))),
          set(mrL, minS(mrL, MRc)),
          if_(and(eq(get(mrL), i32(mr)), eq(get(nrL), i32(nr))),
            [call(MICRO, get(paI), get(pbJ), get(cI), get(ldc), get(kc), get(beta))],
            [
              Array.from({ length: (mr * nr) / 4 }, (_, q) => v128Store(get(edge), v128Zero(), 16 * q)),
              call(MICRO, get(paI), get(pbJ), get(edge), i32(4 * nr), get(kc), i32(1)),
              addEdge,
            ]),
          inc(paI, mul(get(kc), i32(4 * mr))),
          inc(cI, mul(get(ldc), i32(mr))),
          inc(ir, i32(mr)),
          brIf(0, ltS(get(ir), get(mc))),
        ),
        inc(pbJ, get(pbStride)),
        inc(cJ, i32(4 * nr)),
        inc(jr, i32(nr)),
        brIf(0, ltS(get(jr), get(nc))),
      ),
    ],
  };
}

/**
 * Packs `lanes`-wide panels of a strided operand: pack(src, lineStride, stepStride, lines, steps,
 * dst) reads element (line, step) at src + line·lineStride + step·stepStride and writes, panel by
 * panel, for each step the panel's `lanes` lines side by side; lines past `lines` read as 0 (the
 * address is clamped to the last line so the load stays in bounds). For A the lines are rows
 * (lanes = MR, steps along k); for B they are columns (lanes = NR). `fast` adds a v128 copy for
 * full panels whose lines are adjacent floats (lineStride = 4: B not transposed, Aᵀ with MR 4).
 */
function pack(lanes: number, fast: boolean): WasmFunction {
  const [src, lineStride, stepStride, lines, steps, dst] = [0, 1, 2, 3, 4, 5];
  const [p, k, off, last] = [6, 7, 8, 9];
  const ptr = (l: number) => 10 + l;
  const valid = (l: number) => 10 + lanes + l;
  const lane = Array.from({ length: lanes }, (_, l) => l);
  const line = (l: number) => add(get(p), i32(l));
  const general = [
    lane.map((l) => [
      set(ptr(l), add(get(src), mul(select(line(l), get(last), ltS(line(l), get(lines))), get(lineStride)))),
      set(valid(l), ltS(line(l), get(lines))),
    ]),
    set(k, i32(0)),
    set(off, i32(0)),
    loop(
      lane.map((l) => f32Store(get(dst), select(f32Load(add(get(ptr(l)), get(off))), f32(0), get(valid(l))), 4 * l)),
      inc(dst, i32(4 * lanes)),
      inc(off, get(stepStride)),
      inc(k, i32(1)),
      brIf(0, ltS(get(k), get(steps))),
    ),
  ];
  const vectors = [
    set(ptr(0), add(get(src), mul(get(p), i32(4)))),
    set(k, i32(0)),
    loop(
      Array.from({ length: lanes / 4 }, (_, q) => v128Store(get(dst), v128Load(get(ptr(0)), 16 * q), 16 * q)),
      inc(dst, i32(4 * lanes)),
      inc(ptr(0), get(stepStride)),
      inc(k, i32(1)),
      brIf(0, ltS(get(k), get(steps))),
    ),
  ];
  const full = and(eq(get(lineStride), i32(4)), ltS(add(get(p), i32(lanes - 1)), get(lines)));
  return {
    params: [I32, I32, I32, I32, I32, I32],
    locals: new Array(4 + 2 * lanes).fill(I32),
    body: [
      set(last, sub(get(lines), i32(1))),
      set(p, i32(0)),
      loop(
        fast ? if_(full, [vectors], general) : general,
        inc(p, i32(lanes)),
        brIf(0, ltS(get(p), get(lines))),
      ),
    ],
  };
}

/**
 * chunk(a, c, rsA, csA, ldc, N, K, rows, packA, packedB, ldb, edge, beta): C[0..rows, 0..N] = beta·C +
 * A[0..rows, 0..K] · B, with A at byte address a read through (row, column) strides in bytes and B
 * already packed whole at packedB: K block by K block (KC rows of B, the last one shorter), each
 * block its NR-column panels side by side (a panel kc · NR floats; ldb the bytes of one row of
 * packed B, N rounded up to whole panels), so the macro-kernel reads a
 * block as one stream the hardware prefetcher follows. packA and edge are this thread's scratch.
 * rows, N, K ≥ 1. Per K block: pack A's rows (MC at a time; a band of at most MC rows packs each
 * element once), then the macro-kernel sweeps all of N, each B panel used MC/MR times from L1.
 */
function chunk({ nr }: KernelVariant, { kc: KCb, mc: MCb }: Blocks): WasmFunction {
  const [a, c, rsA, csA, ldc, N, K, rows, packA, packedB, ldb, edge, beta] = Array.from({ length: 13 }, (_, i) => i);
  const [pc, ic, kc, mc, lim] = Array.from({ length: 5 }, (_, i) => 13 + i);
  const limited = (dst: number, total: Code, at: number, size: number) => [
    set(dst, sub(total, get(at))),
    set(lim, i32(size)),
    set(dst, minS(dst, lim)),
  ];
  return {
    params: new Array(13).fill(I32),
    locals: new Array(5).fill(I32),
    exportAs: 'chunk',
    body: [
      set(pc, i32(0)),
      loop(
        limited(kc, get(K), pc, KCb),
        set(ic, i32(0)),
        loop(
          limited(mc, get(rows), ic, MCb),
          call(PACK_A, add(get(a), add(mul(get(ic), get(rsA)), mul(get(pc), get(csA)))),
            get(rsA), get(csA), get(mc), get(kc), get(packA)),
          call(MACRO, get(packA), add(get(packedB), mul(get(pc), get(ldb))), mul(get(kc), i32(4 * nr)),
            add(get(c), mul(get(ic), get(ldc))), get(ldc), get(mc), get(N), get(kc), get(edge),
            select(i32(1), get(beta), get(pc))),
          inc(ic, i32(MCb)),
          brIf(0, ltS(get(ic), get(rows))),
        ),
        inc(pc, i32(KCb)),
        brIf(0, ltS(get(pc), get(K))),
      ),
    ],
  };
}

/** addRows(c, rows, n, v): each of `rows` rows of n floats at c gets v[0..n] added (the bias). */
function addRows(): WasmFunction {
  const [c, rows, n, v] = [0, 1, 2, 3];
  const [r, j] = [4, 5];
  return {
    params: [I32, I32, I32, I32],
    locals: [I32, I32],
    exportAs: 'addRows',
    body: block(
      brIf(0, eqOrLess(rows)),
      brIf(0, eqOrLess(n)),
      set(r, i32(0)),
      loop(
        set(j, i32(0)),
        loop(
          f32Store(add(get(c), mul(get(j), i32(4))),
            f32Add(f32Load(add(get(c), mul(get(j), i32(4)))), f32Load(add(get(v), mul(get(j), i32(4)))))),
          inc(j, i32(1)),
          brIf(0, ltS(get(j), get(n))),
        ),
        inc(c, mul(get(n), i32(4))),
        inc(r, i32(1)),
        brIf(0, ltS(get(r), get(rows))),
      ),
    ),
  };
}

/** True when local x ≤ 0 (nothing to do). */
const eqOrLess = (x: number): Code => ltS(get(x), i32(1));

/**
 * Page counts the module's memory import declares (64 KiB pages): addresses are i32 and its loops
 * compare them signed, so the memory stays under 2 GiB (the wasm arena's maximum).
 */
export const MAX_PAGES = 32767;

/** A chunk's cache blocks: K rows of B per block (KC), rows of A packed at a time (MC). */
export interface Blocks {
  kc: number;
  mc: number;
}

/**
 * The module's bytes for one micro-kernel variant (its memory import asks for ≥ 1 page); `blocks`
 * other than KC and MC are for benchmarks that compare block sizes (B must then be packed in
 * blocks of that kc).
 */
export function gemmModuleBytes(variant: KernelVariant, blocks: Blocks = { kc: KC, mc: MC }): Uint8Array<ArrayBuffer> {
  const { mr, nr } = variant;
  if (nr % 4 !== 0 || blocks.mc % mr !== 0) throw new Error(`wasm gemm: MR ${mr} must divide MC ${blocks.mc} and NR ${nr} be a multiple of 4`);
  return wasmModule([micro(variant), macro(variant), { ...pack(mr, mr % 4 === 0), exportAs: 'packA' }, { ...pack(nr, true), exportAs: 'packB' }, chunk(variant, blocks), addRows()],
    1, MAX_PAGES);
}

/** A module using one relaxed-SIMD opcode: whether this engine validates it (see relaxed.ts). */
export function relaxedProbeBytes(): Uint8Array<ArrayBuffer> {
  return wasmModule([{ params: [], locals: [V128], body: set(0, f32x4RelaxedMadd(get(0), get(0), get(0))) }], 1, 1);
}
