// Variants timed beside the shipped kernels by bench-flash-kernels.js (BENCH_VARIANTS) in session
// 7 (flash8): split-KV for the backward at one head, where 32–128 workgroups a kernel underfill
// the H200's 132 SMs. Each maps the shipped plan to one with other forward/dQ tiles and dQ split
// (F…), or other dK/dV tiles and split (D…); the bench times only the kernels a variant changes,
// and a split plan's sum kernel. A split past a kernel's tiles is clamped to them.
// "(34 KiB)": tiles only the H200's 48 KiB of workgroup memory holds (llvmpipe offers 32).
import { planWithTiles } from '../../packages/attention/dist/webgpu/geometry.js';

const tiles = (plan, br, bc, lanes) => ({ br, bc, lanes, d: plan.dims.d, qt: Math.ceil(plan.dims.Nq / br), kt: Math.ceil(plan.dims.Nk / bc) });
const maskOf = (plan) => ({ dims: plan.dims, causal: plan.causal, offset: plan.offset, grid: plan.grid });
const fwd = (br, bc, lanes, split) => (p) => {
  const f = tiles(p, br, bc, lanes);
  return planWithTiles(maskOf(p), p.scale, p.dropout, f, p.bwd, [Math.min(split, f.kt), 1]);
};
const bwd = (br, bc, lanes, split) => (p) => {
  const b = tiles(p, br, bc, lanes);
  return planWithTiles(maskOf(p), p.scale, p.dropout, p.fwd, b, [1, Math.min(split, b.qt)]);
};
const all = {
  'F0 fwd/dQ 32 × 32, 8 lanes, dQ split 2': fwd(32, 32, 8, 2),
  'F1 fwd/dQ 32 × 32, 8 lanes, dQ split 4': fwd(32, 32, 8, 4),
  'F2 fwd/dQ 64 × 32, 2 lanes, dQ split 2': fwd(64, 32, 2, 2),
  'F3 fwd/dQ 64 × 32, 2 lanes, dQ split 4': fwd(64, 32, 2, 4),
  'F4 fwd/dQ 128 × 32, 2 lanes, dQ split 2 (34 KiB)': fwd(128, 32, 2, 2),
  'F5 fwd/dQ 128 × 32, 2 lanes, dQ split 4 (34 KiB)': fwd(128, 32, 2, 4),
  'F6 fwd/dQ 128 × 32, 2 lanes, dQ split 8 (34 KiB)': fwd(128, 32, 2, 8),
  'F7 fwd/dQ 16 × 32, 8 lanes': fwd(16, 32, 8, 1),
  'F8 fwd/dQ 16 × 32, 8 lanes, dQ split 2': fwd(16, 32, 8, 2),
  'D0 dK/dV 32 × 32, 8 lanes, split 2': bwd(32, 32, 8, 2),
  'D1 dK/dV 32 × 32, 8 lanes, split 4': bwd(32, 32, 8, 4),
  'D2 dK/dV 32 × 32, 4 lanes, split 2': bwd(32, 32, 4, 2),
  'D3 dK/dV 32 × 32, 4 lanes, split 4': bwd(32, 32, 4, 4),
  'D4 dK/dV 32 × 128, 2 lanes, split 2 (34 KiB)': bwd(32, 128, 2, 2),
  'D5 dK/dV 32 × 128, 2 lanes, split 4 (34 KiB)': bwd(32, 128, 2, 4),
  'D6 dK/dV 32 × 128, 2 lanes, split 8 (34 KiB)': bwd(32, 128, 2, 8),
  'D7 dK/dV 32 × 64, 4 lanes, split 2': bwd(32, 64, 4, 2),
  'D8 dK/dV 32 × 64, 4 lanes, split 4': bwd(32, 64, 4, 4),
};
// FLASH8_VARIANTS=F0,D4 picks entries by their tag; unset: all
const pick = process.env.FLASH8_VARIANTS?.split(',');
export default pick ? Object.fromEntries(Object.entries(all).filter(([name]) => pick.includes(name.split(' ')[0]))) : all;
