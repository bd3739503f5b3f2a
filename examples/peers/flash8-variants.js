// Variants timed beside the shipped kernels by bench-flash-kernels.js (BENCH_VARIANTS) in session
// 7 (flash8): below 256 tiles of 64 (one head up to N = 8192), where 8–128 workgroups a kernel
// underfill the H200's 132 SMs, the forward's tiles (F…), dQ's own tiles and split (Q…), dK/dV's
// tiles and split (D…). Each maps the shipped plan to one that changes only what its name says;
// the bench times only the kernels a variant changes, and a split plan's sum kernel. A split past
// a kernel's tiles is clamped to them. "(34 KiB)": tiles only the H200's 48 KiB holds. (flash8's
// second run also tried the tile loops' bound made opaque to the shader compiler: slower or
// erratic, removed; BENCHMARKS.md.)
import { kernelGeometry, planWithTiles } from '../../packages/attention/dist/webgpu/geometry.js';

const tiles = (plan, br, bc, lanes) => kernelGeometry(plan.dims, br, bc, lanes);
const maskOf = (p) => ({ dims: p.dims, causal: p.causal, offset: p.offset, grid: p.grid });
const plan = (p, { fwd = p.fwd, dq = p.dq, bwd = p.bwd, dqSplit = p.dqSplit, dkvSplit = p.dkvSplit }) =>
  planWithTiles(maskOf(p), p.scale, p.dropout, { fwd, dq, bwd }, [Math.min(dqSplit, dq.kt), Math.min(dkvSplit, bwd.qt)]);
const F = (br, bc, lanes) => (p) => plan(p, { fwd: tiles(p, br, bc, lanes) });
const Q = (br, bc, lanes, dqSplit) => (p) => plan(p, { dq: tiles(p, br, bc, lanes), dqSplit });
const D = (br, bc, lanes, dkvSplit) => (p) => plan(p, { bwd: tiles(p, br, bc, lanes), dkvSplit });
const all = {
  'F0 fwd 32 × 32, 8 lanes': F(32, 32, 8),
  'F1 fwd 16 × 32, 8 lanes': F(16, 32, 8),
  'F2 fwd 64 × 32, 2 lanes': F(64, 32, 2),
  'Q0 dQ 32 × 32, 8 lanes, split 4': Q(32, 32, 8, 4),
  'Q1 dQ 128 × 32, 2 lanes, split 4 (34 KiB)': Q(128, 32, 2, 4),
  'Q2 dQ 128 × 32, 2 lanes, split 8 (34 KiB)': Q(128, 32, 2, 8),
  'Q3 dQ 128 × 32, 2 lanes, split 2 (34 KiB)': Q(128, 32, 2, 2),
  'D0 dK/dV 32 × 32, 8 lanes, split 4': D(32, 32, 8, 4),
  'D1 dK/dV 32 × 64, 4 lanes, split 4': D(32, 64, 4, 4),
  'D2 dK/dV 32 × 128, 2 lanes, split 2 (34 KiB)': D(32, 128, 2, 2),
  'D3 dK/dV 32 × 128, 2 lanes, split 4 (34 KiB)': D(32, 128, 2, 4),
  'D4 dK/dV 32 × 128, 2 lanes, split 8 (34 KiB)': D(32, 128, 2, 8),
  'D5 dK/dV 32 × 32, 4 lanes': D(32, 32, 4, 1),
  'D6 dK/dV 32 × 64, 4 lanes, split 2': D(32, 64, 4, 2),
};
// FLASH8_VARIANTS=F0,D4 picks entries by their tag; unset: all
const pick = process.env.FLASH8_VARIANTS?.split(',');
export default pick ? Object.fromEntries(Object.entries(all).filter(([name]) => pick.includes(name.split(' ')[0]))) : all;
