/**
 * What flashAttention's tiles see: the causal mask and the block-sparse grid planned a tile at a
 * time, from block rectangles, never element by element (naive.ts writes the same masks by brute
 * force, and the tests hold the two against each other). A tile is rows [r0, r1) × keys [j0, j1).
 */
import { Tensor, dropoutHash24, dropoutThreshold, greaterEqual, where } from '@flashgrad/core';
import type { AttentionDims, BlockGrid } from './validate.js';

/**
 * A finite stand-in for −∞ in masked scores: exp(MASKED − m) is exactly 0 for any real row max m,
 * and unlike −∞ it never makes NaN (−∞ − (−∞)) nor relies on a device's infinity handling (WGSL
 * has no −∞ literal).
 */
export const MASKED = -1e30;

/** The backward's L of a row that sees no key: exp(MASKED − HUGE) is 0, so its P row recomputes as 0. */
export const HUGE = 1e30;

/** L as the caller sees it: −∞ on rows that see no key (HUGE, which the backward reads); a NaN stays NaN (less(lse, HUGE) made it −∞). */
export const callerLse = (lse: Tensor): Tensor => where(greaterEqual(lse, HUGE), -Infinity, lse);

export interface AttentionMask {
  dims: AttentionDims;
  causal: boolean;
  /** Query i sees key j iff j ≤ i + offset (causal only): offset = Nk − Nq, bottom-right aligned. */
  offset: number;
  grid: BlockGrid | null;
}

/** How much of a tile the mask leaves visible. */
export type Coverage = 'none' | 'some' | 'all';

/** A rectangle of one grid cell clipped to a tile, with the cell's value. */
interface Cell {
  i0: number;
  i1: number;
  c0: number;
  c1: number;
  open: boolean;
}

function cellsOf(mask: AttentionMask, r0: number, r1: number, j0: number, j1: number): Cell[] {
  const g = mask.grid;
  if (!g) return [{ i0: r0, i1: r1, c0: j0, c1: j1, open: true }];
  const cells: Cell[] = [];
  for (let a = Math.floor(r0 / g.rowsPerBlock); a * g.rowsPerBlock < r1; a++) {
    const i0 = Math.max(r0, a * g.rowsPerBlock);
    const i1 = Math.min(r1, (a + 1) * g.rowsPerBlock);
    for (let b = Math.floor(j0 / g.keysPerBlock); b * g.keysPerBlock < j1; b++) {
      const c0 = Math.max(j0, b * g.keysPerBlock);
      const c1 = Math.min(j1, (b + 1) * g.keysPerBlock);
      if (i0 < i1 && c0 < c1) cells.push({ i0, i1, c0, c1, open: g.cells[a * g.Mk + b] === 1 });
    }
  }
  return cells;
}

/** Coverage of one clipped cell: with causal, its top-right key decides 'all', its bottom-left 'none'. */
function cellCoverage(mask: AttentionMask, c: Cell): Coverage {
  if (!c.open) return 'none';
  if (!mask.causal) return 'all';
  if (c.c0 > c.i1 - 1 + mask.offset) return 'none';
  return c.c1 - 1 <= c.i0 + mask.offset ? 'all' : 'some';
}

export function tileCoverage(mask: AttentionMask, r0: number, r1: number, j0: number, j1: number): Coverage {
  const each = cellsOf(mask, r0, r1, j0, j1).map((c) => cellCoverage(mask, c));
  if (each.every((c) => c === 'all')) return 'all';
  return each.every((c) => c === 'none') ? 'none' : 'some';
}

/** 1 where a query of the tile may see a key of it, (r1 − r0, j1 − j0) on `device`. */
export function tileKeep(device: Tensor['device'], mask: AttentionMask, r0: number, r1: number, j0: number, j1: number): Tensor {
  if (!mask.grid && mask.causal) return causalKeep(device, mask, r0, r1, j0, j1);
  const cols = j1 - j0;
  const keep = new Float64Array((r1 - r0) * cols);
  for (const c of cellsOf(mask, r0, r1, j0, j1)) {
    if (cellCoverage(mask, c) === 'none') continue;
    for (let i = c.i0; i < c.i1; i++) {
      const end = mask.causal ? Math.min(c.c1, i + mask.offset + 1) : c.c1;
      if (end > c.c0) keep.fill(1, (i - r0) * cols + c.c0 - j0, (i - r0) * cols + end - j0);
    }
  }
  return new Tensor(device.upload(keep), [r1 - r0, cols], device);
}

/** The causal mask alone, on the device: a column of row limits i + offset ≥ a row of key numbers. */
function causalKeep(device: Tensor['device'], mask: AttentionMask, r0: number, r1: number, j0: number, j1: number): Tensor {
  const i = new Tensor(device.upload(Float64Array.from({ length: r1 - r0 }, (_, r) => r0 + r + mask.offset)), [r1 - r0, 1], device);
  const j = new Tensor(device.upload(Float64Array.from({ length: j1 - j0 }, (_, c) => j0 + c)), [1, j1 - j0], device);
  const keep = greaterEqual(i, j); // (rows, cols)
  i.dispose();
  j.dispose();
  return keep;
}

/** Rows [0, Nq) that see at least one key: 1 or 0 each, or null when every row does. */
export function visibleRows(mask: AttentionMask): Float64Array | null {
  const { Nq, Nk } = mask.dims;
  const rows = new Float64Array(Nq);
  for (let i = 0; i < Nq; i++) rows[i] = tileCoverage(mask, i, i + 1, 0, Nk) === 'none' ? 0 : 1;
  return rows.every((r) => r === 1) ? null : rows;
}

/** Dropout's 0 or 1/(1 − p) for the tile in every (batch, head): (B, H, r1 − r0, j1 − j0). */
export function tileDropout(device: Tensor['device'], dims: AttentionDims, p: number, seed: number,
  r0: number, r1: number, j0: number, j1: number): Tensor {
  const { B, H, Nq, Nk } = dims;
  const threshold = dropoutThreshold(p);
  const R = r1 - r0;
  const C = j1 - j0;
  const z = new Float64Array(B * H * R * C);
  for (let bh = 0; bh < B * H; bh++) {
    for (let r = 0; r < R; r++) {
      // the element's index in P [B, H, Nq, Nk]: the counter every device hashes
      const base = (bh * Nq + r0 + r) * Nk + j0;
      for (let c = 0; c < C; c++) z[(bh * R + r) * C + c] = dropoutHash24(seed, base + c) >= threshold ? 1 / (1 - p) : 0;
    }
  }
  return new Tensor(device.upload(z), [B, H, R, C], device);
}
