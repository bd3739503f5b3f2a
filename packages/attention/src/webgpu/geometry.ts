/**
 * The tile geometry of the workgroup FlashAttention kernels and the host-side plan they share:
 * sizes baked into the kernels' source, and the block-sparse tile table (one upload a call,
 * read by the forward and both backward passes).
 */
import { tileCoverage, type AttentionMask } from '../masks.js';
import type { AttentionDims, BlockGrid } from '../validate.js';

/** A finite −∞ for masked scores (WGSL has no −∞ literal); exp(MASKED − m) is 0 for any real m. */
export const MASKED = -1e30;
/** L of a row that sees no key: exp(MASKED − HUGE) is 0, so its P row recomputes as 0. */
export const HUGE = 1e30;

/** One kernel's tiles: Br query rows × Bc keys, over qt × kt tiles. */
export interface KernelGeometry {
  br: number;
  bc: number;
  d: number;
  /** Threads a query row (forward, dQ) or a key (dK, dV): 4 or 8; each owns 1/lanes of its scores and output columns. */
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
  /** The grid's cells as a cache-key fragment ('' without one): the table is baked per grid shape only. */
  gridKey: string;
  dropout: { p: number; seed: number } | null;
  /** Forward and dQ: a workgroup per Br query rows walking key tiles of Bc. */
  fwd: KernelGeometry;
  /** dK and dV: a workgroup per Bc keys walking query tiles of Br. */
  bwd: KernelGeometry;
  /**
   * Offsets into the uploaded sparse table: forward/dQ tile codes, dK/dV tile codes, the grid's
   * cells, then the order the workgroups take the tiles in (heaviest first): query tiles for
   * forward/dQ, key tiles for dK/dV.
   */
  fwdTableOffset: number;
  bwdTableOffset: number;
  cellsOffset: number;
  fwdOrderOffset: number;
  bwdOrderOffset: number;
}

/**
 * Workgroup memory stays under 32 KiB (llvmpipe's limit; the H200 offers 48) at every d ≤ 128:
 * dQ, the largest, stages K and V tiles of Bc rows of row4(d).stride vec4s and dS of Br × (Bc + 1);
 * dK/dV stage Q and dO tiles of Br rows and dSᵀ of Bc × (Br + 1); Bc (forward) and Br (dK/dV)
 * are 32 up to d = 64 and 16 past it.
 *
 * Tiles and lanes by how many 64-row tiles the call has (BH·⌈N/64⌉), measured on the H200
 * (BENCHMARKS.md, "FlashAttention, register-blocked"; d = 64, ms of forward / dQ / dK / dV):
 * fewer than 128 (one head up to N = 4096): Br = 32 with 8 lanes a row, twice the threads of 4
 * lanes, so the chip's 132 SMs get more warps (N = 4096: 0.52 / 0.62 / 1.05 / 0.50 against
 * 0.64 / 0.73 / 1.20 / 0.63); up to 256: Br = 32, 4 lanes (8 lanes lost 2× at B·H = 8,
 * N = 1024); from 256 on: 64-row tiles, 4 lanes (B·H = 1, N = 16384: forward 5.4 ms against 9.3).
 */
function geometry(dims: AttentionDims, rows: number, keys: number, br: number, bc: number, lanes: number): KernelGeometry {
  return { br, bc, d: dims.d, lanes, qt: Math.ceil(rows / br), kt: Math.ceil(keys / bc) };
}

export function workgroupPlan(mask: AttentionMask, scale: number, dropout: { p: number; seed: number } | null): WorkgroupPlan {
  const { dims, grid } = mask;
  const BH = dims.B * dims.H;
  const queryTiles = BH * Math.ceil(dims.Nq / 64);
  const keyTiles = BH * Math.ceil(dims.Nk / 64);
  // past d = 64 the staged tiles halve, so two of them and the scores stay under 32 KiB
  const narrow = dims.d > 64 ? 16 : 32;
  const fwd = geometry(dims, dims.Nq, dims.Nk, queryTiles >= 256 ? 64 : 32, narrow, queryTiles < 128 ? 8 : 4);
  const bwd = geometry(dims, dims.Nq, dims.Nk, narrow, keyTiles >= 256 ? 64 : 32, keyTiles < 128 ? 8 : 4);
  const fwdTableOffset = 0;
  const bwdTableOffset = grid ? fwd.qt * fwd.kt : 0;
  const cellsOffset = grid ? bwdTableOffset + bwd.qt * bwd.kt : 0;
  const fwdOrderOffset = grid ? cellsOffset + grid.cells.length : 0;
  const bwdOrderOffset = grid ? fwdOrderOffset + fwd.qt : 0;
  return {
    dims, scale, causal: mask.causal, offset: mask.offset, grid,
    gridKey: grid ? `${grid.Mq}x${grid.Mk}` : '',
    dropout, fwd, bwd, fwdTableOffset, bwdTableOffset, cellsOffset, fwdOrderOffset, bwdOrderOffset,
  };
}

/**
 * The tile a workgroup takes, as kernel source: the heaviest first, so that the last workgroups
 * the GPU starts are short ones instead of a few long ones running on an otherwise idle chip
 * (flash-attn reverses its query tiles for the same reason). The kernels dispatch (batch·head,
 * tile): x is the head, so every head's heaviest tile starts before any head's next one (the GPU
 * starts workgroups in order of their linear id, x fastest). Forward/dQ (`rows`): causal query
 * tiles see more keys the later they are, so they run last to first; dK/dV: causal key tiles see
 * more queries the earlier they are, first to last. Block-sparse: the order the table lists (by
 * open tiles, descending). Reads of `this.workgroup` and of the read-only table at an index built
 * from it alone are uniform, so barriers may follow.
 */
export function tileOfWorkgroup(plan: WorkgroupPlan, rows: boolean): string {
  if (plan.grid) return `Math.floor(sparse[${rows ? plan.fwdOrderOffset : plan.bwdOrderOffset} + this.workgroup.y])`;
  return rows && plan.causal ? `${plan.fwd.qt - 1} - this.workgroup.y` : 'this.workgroup.y';
}

/**
 * 0 hidden, 1 open, 2 partly open (element-wise causal or cell lookups needed), per tile of `g`.
 * Open cells over a tile's block rectangle are counted from a 2D prefix sum, so a table costs
 * O(tiles) on the host; only tiles on the causal diagonal go through masks.ts's exact planner.
 */
function tileCodes(mask: AttentionMask, g: KernelGeometry, table: Float32Array, at: number): void {
  const { Nq, Nk } = mask.dims;
  const grid = mask.grid!;
  const W = grid.Mk + 1;
  const sum = new Int32Array((grid.Mq + 1) * W); // open cells in [0, a) × [0, b)
  for (let a = 0; a < grid.Mq; a++) {
    for (let b = 0; b < grid.Mk; b++) {
      sum[(a + 1) * W + b + 1] = grid.cells[a * grid.Mk + b] + sum[a * W + b + 1] + sum[(a + 1) * W + b] - sum[a * W + b];
    }
  }
  // plain loops over numbers: this runs for every tile of both geometries at every call
  for (let t = 0; t < g.qt; t++) {
    const r0 = t * g.br;
    const r1 = Math.min(Nq, r0 + g.br);
    const a0 = Math.floor(r0 / grid.rowsPerBlock);
    const a1 = Math.floor((r1 - 1) / grid.rowsPerBlock) + 1;
    for (let u = 0; u < g.kt; u++) {
      const j0 = u * g.bc;
      const j1 = Math.min(Nk, j0 + g.bc);
      const b0 = Math.floor(j0 / grid.keysPerBlock);
      const b1 = Math.floor((j1 - 1) / grid.keysPerBlock) + 1;
      const cells = sum[a1 * W + b1] - sum[a0 * W + b1] - sum[a1 * W + b0] + sum[a0 * W + b0];
      const causalNone = mask.causal && j0 > r1 - 1 + mask.offset;
      const causalAll = !mask.causal || j1 - 1 <= r0 + mask.offset;
      let code: number;
      if (cells === 0 || causalNone) code = 0;
      else if (causalAll) code = cells === (a1 - a0) * (b1 - b0) ? 1 : 2;
      else code = tileCoverage(mask, r0, r1, j0, j1) === 'none' ? 0 : 2;
      table[at + t * g.kt + u] = code;
    }
  }
}

/**
 * Writes at `at` the tiles of one side (query tiles of `g` when `rows`, else key tiles) ordered by
 * how many tiles of the other side they see (codes ≠ 0), the most first, ties by index.
 */
function heaviestFirst(g: KernelGeometry, table: Float32Array, codesAt: number, rows: boolean, at: number): void {
  const count = rows ? g.qt : g.kt;
  const work = new Int32Array(count);
  for (let a = 0; a < g.qt; a++) {
    for (let b = 0; b < g.kt; b++) if (table[codesAt + a * g.kt + b] !== 0) work[rows ? a : b]++;
  }
  const order = Array.from({ length: count }, (_, t) => t).sort((x, y) => work[y] - work[x] || x - y);
  table.set(order, at);
}

/** The block-sparse table the kernels read (null without a grid): both geometries' codes, the cells, both orders. */
export function sparseTable(mask: AttentionMask, plan: WorkgroupPlan): Float32Array | null {
  if (!mask.grid) return null;
  const table = new Float32Array(plan.bwdOrderOffset + plan.bwd.kt);
  tileCodes(mask, plan.fwd, table, plan.fwdTableOffset);
  tileCodes(mask, plan.bwd, table, plan.bwdTableOffset);
  table.set(mask.grid.cells, plan.cellsOffset);
  heaviestFirst(plan.fwd, table, plan.fwdTableOffset, true, plan.fwdOrderOffset);
  heaviestFirst(plan.bwd, table, plan.bwdTableOffset, false, plan.bwdOrderOffset);
  return table;
}
