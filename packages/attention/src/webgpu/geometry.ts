/**
 * The tile geometry of the workgroup FlashAttention kernels and the host-side plan they share: the
 * tiles, lanes and splits baked into the kernels' source, the workgroup arrays each declares, and
 * where each part of the block-sparse tile table (sparse-table.ts) starts.
 */
import type { AttentionMask } from '../masks.js';
import type { AttentionDims, BlockGrid } from '../validate.js';

/** The most workgroups a tile splits into (the reduce kernel's sum is unrolled over them). */
const MAX_SPLIT = 8;

/** One kernel's tiles: Br query rows × Bc keys, over qt × kt tiles. */
export interface KernelGeometry {
  br: number;
  bc: number;
  d: number;
  /** Threads a query row (forward, dQ) or a key (dK, dV): 2, 4 or 8; each owns 1/lanes of its scores and output columns. */
  lanes: number;
  qt: number;
  kt: number;
}

export interface WorkgroupPlan {
  dims: AttentionDims;
  scale: number;
  causal: boolean;
  offset: number;
  grid: BlockGrid | null;
  /** The grid's shape as a cache-key fragment ('' without one): kernels are built per grid shape, its cells are read from the table. */
  gridKey: string;
  dropout: { p: number; seed: number } | null;
  /** Forward: a workgroup per Br query rows walking key tiles of Bc. */
  fwd: KernelGeometry;
  /** dQ: the same walk, with tiles of its own (its own section of a block-sparse grid's table). */
  dq: KernelGeometry;
  /** dK and dV: a workgroup per Bc keys walking query tiles of Br. */
  bwd: KernelGeometry;
  /**
   * Split-KV (flash-attn's num_splits, here for the backward): workgroups per query tile of dQ,
   * each walking its share of the tile's key tiles and writing a partial dQ, and workgroups per
   * key tile of dK/dV over its query tiles likewise; a third kernel sums the partials (reduce.ts).
   * 1: no split. It gives a grid that underfills the chip (one head) more workgroups.
   */
  dqSplit: number;
  /** dK/dV's split, as dQ's above. */
  dkvSplit: number;
  /**
   * Offsets into the uploaded sparse table: forward, dQ and dK/dV tile codes, the grid's cells,
   * then the order the workgroups take the tiles in (heaviest first): query tiles for the forward
   * and dQ, key tiles for dK/dV.
   */
  fwdTableOffset: number;
  dqTableOffset: number;
  bwdTableOffset: number;
  cellsOffset: number;
  fwdOrderOffset: number;
  dqOrderOffset: number;
  bwdOrderOffset: number;
}

/**
 * Row layout of a staged tile (vec4 workgroup arrays): a row of d floats is d4 = ⌈d/4⌉ vec4s, read
 * by a lane as a whole (one 16-byte load serves 4 multiply-adds). Rows are padded with zero vec4s
 * to `quads`, a multiple of the lanes a row (2, 4 or 8), so that lane c can own output vec4s c,
 * c + lanes, … without a guard, and the row stride is quads + 1: the lanes of a group reading
 * different rows start in different banks.
 */
export interface Row4 {
  d4: number;
  quads: number;
  stride: number;
}

export const row4 = (d: number, lanes: number): Row4 => {
  const d4 = Math.ceil(d / 4);
  const quads = lanes * Math.ceil(d4 / lanes);
  return { d4, quads, stride: quads + 1 };
};

type Arrays = Record<string, number | { type: 'vec4'; length: number }>;

/** A staged tile of `rows` rows of d floats, in vec4 rows of row4's stride. */
const staged = (rows: number, g: KernelGeometry) => ({ type: 'vec4' as const, length: rows * row4(g.d, g.lanes).stride });

/** The workgroup arrays of the forward: a K/V tile, P̃ of Br × (Bc + 1), the lanes' max and sum. */
export const forwardArrays = (g: KernelGeometry): Arrays =>
  ({ kv: staged(g.bc, g), pt: g.br * (g.bc + 1), red: g.br * g.lanes, red2: g.br * g.lanes });

/** dQ's: K and V tiles and dS of Br × (Bc + 1). */
export const dqArrays = (g: KernelGeometry): Arrays => ({ kk: staged(g.bc, g), vv: staged(g.bc, g), ds: g.br * (g.bc + 1) });

/** dK/dV's: Q and dO tiles, Pᵀ/dSᵀ of Bc × (Br + 1), the tile's L and Δ. */
export const dkvArrays = (g: KernelGeometry): Arrays =>
  ({ qs: staged(g.br, g), gs: staged(g.br, g), st: g.bc * (g.br + 1), lr: g.br, dl: g.br });

export const arrayBytes = (arrays: Arrays): number =>
  Object.values(arrays).reduce<number>((sum, a) => sum + (typeof a === 'number' ? 4 * a : 16 * a.length), 0);

/** What every device with workgroup kernels offers (llvmpipe's limit; WebGPU's default is 16 KiB, but Dawn's adapters here give 32 or more). */
const BASE_WORKGROUP_BYTES = 32 * 1024;

/** Tiles of Br query rows × Bc keys with `lanes` threads a row (or key), over a call's queries and keys. */
export function kernelGeometry(dims: AttentionDims, br: number, bc: number, lanes: number): KernelGeometry {
  return { br, bc, d: dims.d, lanes, qt: Math.ceil(dims.Nq / br), kt: Math.ceil(dims.Nk / bc) };
}

/**
 * Tiles, lanes and splits by how many 64-row tiles the call has (BH·⌈N/64⌉), measured on the H200,
 * d = 64 (BENCHMARKS.md, "FlashAttention, session 6", "… second pass" and "session 7 (flash8)"):
 * - below 256 tiles (one head up to N = 8192), at d ≤ 64 without a grid, workgroups of one tile
 *   underfill the 132 SMs, so dQ takes tiles of its own and the backward splits (split-KV): the
 *   forward 16 rows × 32 keys with 8 lanes below 64 tiles, 32 × 32 with 8 lanes up to 255; dQ
 *   32 × 32 with 8 lanes below 32, the wide 128 × 32 with 2 lanes from 32; dK/dV 32 × 64 with 4
 *   lanes below 16, 32 × 32 with 8 below 64, the wide 32 × 128 with 2 lanes up to 255 (causal from
 *   128, below that 32 × 64 with 4). One head N = 8192, kernel ms, forward | dQ | dK/dV: 1.57 |
 *   1.25 | 1.78, against 1.67 | 1.80 | 2.91 unsplit on session 6's tiles.
 * - from 256 on: wide tiles with 2 lanes a row (or key), 128 × 32 forward/dQ and 32 × 128 dK/dV:
 *   each thread computes twice the scores and output columns of 4 lanes per workgroup-memory read
 *   and per barrier, and a staged tile serves twice the rows (or keys) (N = 16384: 8.92 | 6.99
 *   against 13.7 | 10.7 with 64 × 32 / 32 × 64 and 4 lanes). They take 34 KiB of workgroup memory:
 *   where the device has less (llvmpipe: 32), forward/dQ take 24 keys and dK/dV 32 × 64, 4 lanes.
 * Under a block-sparse grid a tile is skipped only where all its blocks are hidden (128 rows over
 * 64-row blocks skip a quarter of the tiles where half the blocks are hidden, not half), so from
 * 256 tiles on, blocks 64 to 127 long take tiles no longer than the block with 2 lanes: forward 64
 * rows × 32 keys, dQ 64 × 16, dK/dV 16 rows × 64 keys (B·H = 8, N = 4096, half the blocks hidden:
 * 1.23 | 1.49 | 2.07). Below 256 tiles a grid keeps 32-row tiles with 8 or 4 lanes, unsplit (its
 * workgroups take their tiles from the table's order). Causal under a grid, finer grids, and d
 * past 64 (q and dO of a row already fill 2·d registers a thread) keep 64-row / 64-key tiles with
 * 4 lanes. Bc (forward) and Br (dK/dV) are 16 past d = 64, so that every geometry here fits 32 KiB
 * at every d ≤ 128.
 */
export function workgroupPlan(mask: AttentionMask, scale: number, dropout: { p: number; seed: number } | null,
  workgroupBytes = BASE_WORKGROUP_BYTES): WorkgroupPlan {
  const { dims, grid } = mask;
  const BH = dims.B * dims.H;
  const queryTiles = BH * Math.ceil(dims.Nq / 64);
  const keyTiles = BH * Math.ceil(dims.Nk / 64);
  const narrow = dims.d > 64 ? 16 : 32;
  const twoLanes = dims.d <= 64;
  const at = (br: number, bc: number, lanes: number) => kernelGeometry(dims, br, bc, lanes);
  const fits = (g: KernelGeometry, ...layouts: ((g: KernelGeometry) => Arrays)[]) => layouts.every((a) => arrayBytes(a(g)) <= workgroupBytes);
  const rowsPerBlock = grid?.rowsPerBlock ?? Infinity;
  const keysPerBlock = grid?.keysPerBlock ?? Infinity;
  const blockTiles = grid !== null && twoLanes && !mask.causal; // the grid's 64-long 2-lane tiles
  const splittable = twoLanes && !grid; // below 256 tiles: dQ takes tiles of its own and the backward splits (d ≤ 64, no grid)
  // the wide 2-lane tiles, where the device's workgroup memory holds them (else undefined)
  const fwdWide = [32, 24].map((bc) => at(128, bc, 2)).find((g) => fits(g, forwardArrays, dqArrays));
  const bwdWide = [at(narrow, 128, 2)].find((g) => fits(g, dkvArrays));
  const wideRows = twoLanes && rowsPerBlock >= 128 && fwdWide !== undefined;
  const blockRows = queryTiles >= 256 && !wideRows && blockTiles && rowsPerBlock >= 64; // tiles within a block's 64 rows
  const fwd = queryTiles < 64 && splittable ? at(16, 32, 8)
    : queryTiles < 256 && (splittable || queryTiles < 128) ? at(32, narrow, 8)
      : queryTiles < 256 ? at(32, narrow, 4)
        : wideRows ? fwdWide!
          : blockRows ? at(64, 32, 2) : at(64, narrow, 4);
  // the wide dK/dV walking few query tiles a workgroup ran 2–8× slower in some processes and not
  // in others (one head N = 2048, and 4096 causal: 0.30–0.50 ms in one, 2.5 ms of kernels and 3.67
  // end to end in another; flash8), so below 256 tiles it is taken only where its splits are long
  const wideKeys = bwdWide !== undefined && (mask.causal ? keyTiles >= 128 : keyTiles >= 64);
  const bwd = keyTiles < 256 && splittable
    ? (keyTiles < 16 ? at(32, 64, 4) : keyTiles < 64 ? at(32, 32, 8) : wideKeys ? bwdWide! : at(32, 64, 4))
    : keyTiles < 128 ? at(narrow, 32, 8)
      : keyTiles < 256 ? at(narrow, 32, 4)
        : twoLanes && keysPerBlock >= 128 && bwdWide ? bwdWide
          : blockTiles && keysPerBlock >= 64 ? at(16, 64, 2) : at(narrow, 64, 4);
  if (!splittable) return planWithTiles(mask, scale, dropout, { fwd, dq: blockRows ? at(64, 16, 2) : fwd, bwd });
  const dq = queryTiles >= 256 ? fwd : queryTiles >= 32 && fwdWide ? fwdWide : at(32, 32, 8);
  const splits: [number, number] = [
    splitOf(queryTiles, BH * dq.qt, dq.kt, dq.lanes, mask.causal), splitOf(keyTiles, BH * bwd.kt, bwd.qt, bwd.lanes, mask.causal),
  ];
  return planWithTiles(mask, scale, dropout, { fwd, dq, bwd }, splits);
}

/** Workgroups a split backward kernel aims at: the H200's 132 SMs about twice over (flash8's variants). */
const FILL_WORKGROUPS = 256;

/**
 * Parts a backward tile splits into, for a kernel of `workgroups` workgroups walking `tiles` tiles
 * each, in a call of `tileCount` tiles of 64. Below 256: 4- and 8-lane tiles to about
 * FILL_WORKGROUPS in all (4 parts at most); the wide 2-lane ones (8 at most) to half that where not
 * causal (one head N = 4096 split 4 and 8192 split 2 measured 1–6 % faster than twice as many) and
 * to all of it where causal, whose tiles differ in length so the longest part sets the kernel's
 * time (8192 causal dK/dV: split 4 0.94 ms, split 2 1.81). From 256 tiles on, causal only: in two
 * where the workgroups are fewer than FILL_WORKGROUPS (one head N = 16384: 16.5 → 10.9 ms).
 */
function splitOf(tileCount: number, workgroups: number, tiles: number, lanes: number, causal: boolean): number {
  const aim = (target: number, most: number) => Math.min(most, Math.max(1, Math.floor(target / workgroups)));
  const parts = tileCount >= 256 ? (causal && workgroups < FILL_WORKGROUPS ? 2 : 1)
    : lanes === 2 ? aim(causal ? FILL_WORKGROUPS : FILL_WORKGROUPS / 2, MAX_SPLIT)
      : aim(FILL_WORKGROUPS, 4);
  return Math.min(tiles, parts);
}

/**
 * A plan with the given tiles (dQ the forward's unless given) and splits (dQ's, dK/dV's; none
 * unless given): the sparse table's layout follows from the tile counts. A block-sparse grid takes
 * no split (its workgroups read their tile from the table's order, one workgroup a tile).
 */
export function planWithTiles(mask: AttentionMask, scale: number, dropout: { p: number; seed: number } | null,
  { fwd, dq = fwd, bwd }: { fwd: KernelGeometry; dq?: KernelGeometry; bwd: KernelGeometry },
  [dqSplit, dkvSplit]: [number, number] = [1, 1]): WorkgroupPlan {
  const { grid } = mask;
  for (const [name, split, tiles] of [['dQ', dqSplit, dq.kt], ['dK/dV', dkvSplit, bwd.qt]] as const) {
    if (!Number.isInteger(split) || split < 1 || split > MAX_SPLIT || split > tiles) {
      throw new Error(`flashAttention plan: ${name} split ${split} must be an integer from 1 to min(${MAX_SPLIT}, its ${tiles} tiles)`);
    }
    if (grid && split > 1) throw new Error(`flashAttention plan: ${name} split ${split} under a block-sparse grid (grids take no split)`);
  }
  const fwdTableOffset = 0;
  const dqTableOffset = grid ? fwd.qt * fwd.kt : 0;
  const bwdTableOffset = grid ? dqTableOffset + dq.qt * dq.kt : 0;
  const cellsOffset = grid ? bwdTableOffset + bwd.qt * bwd.kt : 0;
  const fwdOrderOffset = grid ? cellsOffset + grid.cells.length : 0;
  const dqOrderOffset = grid ? fwdOrderOffset + fwd.qt : 0;
  const bwdOrderOffset = grid ? dqOrderOffset + dq.qt : 0;
  return {
    dims: mask.dims, scale, causal: mask.causal, offset: mask.offset, grid,
    gridKey: grid ? `${grid.Mq}x${grid.Mk}` : '',
    dropout, fwd, dq, bwd, dqSplit, dkvSplit, fwdTableOffset, dqTableOffset, bwdTableOffset, cellsOffset, fwdOrderOffset, dqOrderOffset, bwdOrderOffset,
  };
}

/**
 * The table offsets a kernel's source reads under a grid (its tile codes, the cells, its order),
 * as a spec-key suffix ('' without a grid): they depend on the other kernels' tiles too, so two
 * plans of one grid shape and one kernel's tiles may bake different ones, and a device compiles a
 * spec once per key.
 */
export const tableKey = (plan: WorkgroupPlan, kernel: Kernel): string =>
  (plan.grid ? `:${plan[`${kernel}TableOffset`]}/${plan.cellsOffset}/${plan[`${kernel}OrderOffset`]}` : '');

/** The three kernels by their geometry's name in the plan: the forward, dQ, and dK/dV ('bwd'). */
export type Kernel = 'fwd' | 'dq' | 'bwd';
