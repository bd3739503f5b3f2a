/**
 * The block-sparse tile table the kernels read (planned once per plan and grid, uploaded once per
 * device: index.ts): a code per tile of each kernel's geometry, so that a hidden tile costs its
 * workgroup one read, the grid's cells for the partly open tiles' element lookups, and each
 * kernel's tiles heaviest first, the order its workgroups take them in (source.ts).
 */
import { tileCoverage, type AttentionMask } from '../masks.js';
import type { BlockGrid } from '../validate.js';
import type { KernelGeometry, WorkgroupPlan } from './geometry.js';

/** Open cells of `grid` in [0, a) × [0, b) at a·(Mk + 1) + b: a tile's count is four reads of it. */
function openCellSums(grid: BlockGrid): Int32Array {
  const W = grid.Mk + 1;
  const sum = new Int32Array((grid.Mq + 1) * W);
  for (let a = 0; a < grid.Mq; a++) {
    for (let b = 0; b < grid.Mk; b++) {
      sum[(a + 1) * W + b + 1] = grid.cells[a * grid.Mk + b] + sum[a * W + b + 1] + sum[(a + 1) * W + b] - sum[a * W + b];
    }
  }
  return sum;
}

/**
 * 0 hidden, 1 open, 2 partly open (element-wise causal or cell lookups needed), per tile of `g`.
 * Open cells over a tile's block rectangle are counted from the grid's prefix sums (openCellSums),
 * so a table costs O(tiles) on the host; only tiles on the causal diagonal go through masks.ts's
 * exact planner.
 */
function tileCodes(mask: AttentionMask, sum: Int32Array, g: KernelGeometry, table: Float32Array, at: number): void {
  const { Nq, Nk } = mask.dims;
  const grid = mask.grid!;
  const W = grid.Mk + 1;
  // plain loops over numbers: this runs for every tile of the three geometries (once per plan and
  // grid: index.ts keeps the table)
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

/**
 * The block-sparse table the kernels read (null without a grid), laid out as the plan's offsets
 * say: the tile codes of the forward's, dQ's and dK/dV's geometries, the grid's cells, then the
 * order each kernel's workgroups take its tiles in.
 */
export function sparseTable(mask: AttentionMask, plan: WorkgroupPlan): Float32Array | null {
  if (!mask.grid) return null;
  const table = new Float32Array(plan.bwdOrderOffset + plan.bwd.kt);
  const sum = openCellSums(mask.grid);
  for (const kernel of ['fwd', 'dq', 'bwd'] as const) tileCodes(mask, sum, plan[kernel], table, plan[`${kernel}TableOffset`]);
  table.set(mask.grid.cells, plan.cellsOffset);
  for (const kernel of ['fwd', 'dq', 'bwd'] as const) {
    heaviestFirst(plan[kernel], table, plan[`${kernel}TableOffset`], kernel !== 'bwd', plan[`${kernel}OrderOffset`]);
  }
  return table;
}
