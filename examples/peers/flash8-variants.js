// Variants timed beside the shipped kernels by bench-flash-kernels.js (BENCH_VARIANTS) in session
// 7 (flash8): at one head, where 8–128 workgroups a kernel underfill the H200's 132 SMs, the
// forward's tiles (F…), dQ's own tiles and split (Q…), dK/dV's tiles and split (D…), each with
// the tile loops' bound opaque to the shader compiler or not ("opaque": geometry.ts loopBound).
// Each maps the shipped plan to one that changes only what its name says; the bench times only
// the kernels a variant changes, and a split plan's sum kernel. A split past a kernel's tiles is
// clamped to them. "(34 KiB)": tiles only the H200's 48 KiB of workgroup memory holds.
import { planWithTiles } from '../../packages/attention/dist/webgpu/geometry.js';

const tiles = (plan, br, bc, lanes) => ({ br, bc, lanes, d: plan.dims.d, qt: Math.ceil(plan.dims.Nq / br), kt: Math.ceil(plan.dims.Nk / bc) });
const maskOf = (p) => ({ dims: p.dims, causal: p.causal, offset: p.offset, grid: p.grid });
const plan = (p, { fwd = p.fwd, dq = p.dq, bwd = p.bwd, dqSplit = p.dqSplit, dkvSplit = p.dkvSplit, opaque = p.opaqueLoops }) =>
  planWithTiles(maskOf(p), p.scale, p.dropout, fwd, bwd, [Math.min(dqSplit, dq.kt), Math.min(dkvSplit, bwd.qt)], dq, opaque);
const F = (br, bc, lanes, opaque) => (p) => plan(p, { fwd: tiles(p, br, bc, lanes), opaque });
const Q = (br, bc, lanes, dqSplit, opaque) => (p) => plan(p, { dq: tiles(p, br, bc, lanes), dqSplit, opaque });
const D = (br, bc, lanes, dkvSplit, opaque) => (p) => plan(p, { bwd: tiles(p, br, bc, lanes), dkvSplit, opaque });
const all = {
  'F0 fwd 32 × 32, 8 lanes, opaque': F(32, 32, 8, true),
  'F1 fwd 16 × 32, 8 lanes': F(16, 32, 8, false),
  'F2 fwd 64 × 32, 2 lanes, opaque': F(64, 32, 2, true),
  'F3 fwd 128 × 32, 2 lanes, opaque (34 KiB)': F(128, 32, 2, true),
  'Q0 dQ 32 × 32, 8 lanes, split 4': Q(32, 32, 8, 4, false),
  'Q1 dQ 128 × 32, 2 lanes, split 4 (34 KiB)': Q(128, 32, 2, 4, false),
  'Q2 dQ 128 × 32, 2 lanes, split 4, opaque (34 KiB)': Q(128, 32, 2, 4, true),
  'Q3 dQ 128 × 32, 2 lanes, split 8, opaque (34 KiB)': Q(128, 32, 2, 8, true),
  'Q4 dQ 64 × 32, 2 lanes, split 4, opaque': Q(64, 32, 2, 4, true),
  'D0 dK/dV 32 × 32, 8 lanes, opaque': D(32, 32, 8, 1, true),
  'D1 dK/dV 32 × 64, 4 lanes, split 4': D(32, 64, 4, 4, false),
  'D2 dK/dV 32 × 64, 4 lanes, split 4, opaque': D(32, 64, 4, 4, true),
  'D3 dK/dV 32 × 128, 2 lanes, opaque (34 KiB)': D(32, 128, 2, 1, true),
  'D4 dK/dV 32 × 128, 2 lanes, split 2, opaque (34 KiB)': D(32, 128, 2, 2, true),
  'D5 dK/dV 32 × 128, 2 lanes, split 4, opaque (34 KiB)': D(32, 128, 2, 4, true),
  'D6 dK/dV 32 × 128, 2 lanes, split 8, opaque (34 KiB)': D(32, 128, 2, 8, true),
  'D7 dK/dV 32 × 128, 2 lanes, split 4 (34 KiB)': D(32, 128, 2, 4, false),
};
// FLASH8_VARIANTS=F0,D4 picks entries by their tag; unset: all
const pick = process.env.FLASH8_VARIANTS?.split(',');
export default pick ? Object.fromEntries(Object.entries(all).filter(([name]) => pick.includes(name.split(' ')[0]))) : all;
