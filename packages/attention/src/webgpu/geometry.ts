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

/** One kernel's tiles: Br query rows × Bc keys, over qt × kt tiles; K/V/Q rows staged with stride dp. */
export interface KernelGeometry {
  br: number;
  bc: number;
  d: number;
  /** Row stride of staged tiles: d + 1, so the 4 lanes of a row group read different banks. */
  dp: number;
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
  /** Offsets into the uploaded sparse table: forward/dQ tile codes, dK/dV tile codes, the grid's cells. */
  fwdTableOffset: number;
  bwdTableOffset: number;
  cellsOffset: number;
}

/**
 * Workgroup memory stays under 32 KiB (llvmpipe's limit; the H200 offers 48) at every d ≤ 128:
 * dQ, the largest, stages K and V tiles of Bc × (d + 1) and dS of Br × (Bc + 1); dK/dV stage Q
 * and dO tiles of Br × (d + 1) and dSᵀ of Bc × (Br + 1); Bc (forward) and Br (dK/dV) are 32 up
 * to d = 64 and 16 past it. Br = 32 when 64-row tiles would leave fewer than ~2 workgroups per SM of
 * an H200 (132 SMs), so one head at moderate N still fills the chip.
 */
function geometry(dims: AttentionDims, rows: number, keys: number, br: number, bc: number): KernelGeometry {
  return { br, bc, d: dims.d, dp: dims.d + 1, qt: Math.ceil(rows / br), kt: Math.ceil(keys / bc) };
}

export function workgroupPlan(mask: AttentionMask, scale: number, dropout: { p: number; seed: number } | null): WorkgroupPlan {
  const { dims, grid } = mask;
  const BH = dims.B * dims.H;
  const br = BH * Math.ceil(dims.Nq / 64) >= 264 ? 64 : 32;
  // past d = 64 the staged tiles halve, so two of them and the scores stay under 32 KiB
  const narrow = dims.d > 64 ? 16 : 32;
  const fwd = geometry(dims, dims.Nq, dims.Nk, br, narrow);
  const bwd = geometry(dims, dims.Nq, dims.Nk, narrow, BH * Math.ceil(dims.Nk / 64) >= 264 ? 64 : 32);
  const fwdTableOffset = 0;
  const bwdTableOffset = grid ? fwd.qt * fwd.kt : 0;
  const cellsOffset = grid ? bwdTableOffset + bwd.qt * bwd.kt : 0;
  return {
    dims, scale, causal: mask.causal, offset: mask.offset, grid,
    gridKey: grid ? `${grid.Mq}x${grid.Mk}` : '',
    dropout, fwd, bwd, fwdTableOffset, bwdTableOffset, cellsOffset,
  };
}

/** 0 hidden, 1 open, 2 partly open (element-wise causal or cell lookups needed), per tile of `g`. */
function tileCodes(mask: AttentionMask, g: KernelGeometry): number[] {
  const { Nq, Nk } = mask.dims;
  const codes: number[] = [];
  for (let a = 0; a < g.qt; a++) {
    for (let b = 0; b < g.kt; b++) {
      const coverage = tileCoverage(mask, a * g.br, Math.min(Nq, (a + 1) * g.br), b * g.bc, Math.min(Nk, (b + 1) * g.bc));
      codes.push(coverage === 'none' ? 0 : coverage === 'all' ? 1 : 2);
    }
  }
  return codes;
}

/** The block-sparse table the kernels read (null without a grid): both geometries' codes, then the cells. */
export function sparseTable(mask: AttentionMask, plan: WorkgroupPlan): Float32Array | null {
  if (!mask.grid) return null;
  return Float32Array.from([...tileCodes(mask, plan.fwd), ...tileCodes(mask, plan.bwd), ...mask.grid.cells]);
}
