// Variants timed beside the shipped kernels by bench-flash-kernels.js (BENCH_VARIANTS) in session
// 6's second pass (flash7): the one-head tile bands against the wide 2-lane tiles at N = 1024 to
// 8192, and block-sparse geometries no wider than the grid's 64-row / 64-key blocks. Each maps the
// shipped plan to one with other forward/dQ tiles (F…) or dK/dV tiles (D…), the sparse table's
// layout rebuilt for them (planWithTiles); the bench times only the kernels a variant changes.
// "(34 KiB)": tiles only the H200's 48 KiB of workgroup memory holds (llvmpipe offers 32).
import { kernelGeometry, planWithTiles } from '../../packages/attention/dist/webgpu/geometry.js';

const tiles = (plan, br, bc, lanes) => kernelGeometry(plan.dims, br, bc, lanes);
const maskOf = (plan) => ({ dims: plan.dims, causal: plan.causal, offset: plan.offset, grid: plan.grid });
const fwd = (br, bc, lanes) => (p) => planWithTiles(maskOf(p), p.scale, p.dropout, { fwd: tiles(p, br, bc, lanes), bwd: p.bwd });
const bwd = (br, bc, lanes) => (p) => planWithTiles(maskOf(p), p.scale, p.dropout, { fwd: p.fwd, bwd: tiles(p, br, bc, lanes) });
const all = {
  'F0 fwd/dQ 32 × 32, 8 lanes (band below 128 tiles)': fwd(32, 32, 8),
  'F1 fwd/dQ 32 × 32, 4 lanes (band to 256 tiles)': fwd(32, 32, 4),
  'F2 fwd/dQ 64 × 32, 4 lanes (Round 5, sparse fallback)': fwd(64, 32, 4),
  'F3 fwd/dQ 64 × 32, 2 lanes': fwd(64, 32, 2),
  'F4 fwd/dQ 128 × 32, 2 lanes (wide, 34 KiB)': fwd(128, 32, 2),
  'F5 fwd/dQ 32 × 32, 2 lanes': fwd(32, 32, 2),
  'F6 fwd/dQ 64 × 16, 2 lanes': fwd(64, 16, 2),
  'D0 dK/dV 32 × 32, 8 lanes (band below 128 tiles)': bwd(32, 32, 8),
  'D1 dK/dV 32 × 32, 4 lanes (band to 256 tiles)': bwd(32, 32, 4),
  'D2 dK/dV 32 × 64, 4 lanes (Round 5, sparse fallback)': bwd(32, 64, 4),
  'D3 dK/dV 32 × 64, 2 lanes': bwd(32, 64, 2),
  'D4 dK/dV 32 × 128, 2 lanes (wide, 34 KiB)': bwd(32, 128, 2),
  'D5 dK/dV 32 × 32, 2 lanes': bwd(32, 32, 2),
  'D6 dK/dV 16 × 64, 2 lanes': bwd(16, 64, 2),
};
// FLASH7_VARIANTS=F0,D4 picks entries by their tag; unset: all
const pick = process.env.FLASH7_VARIANTS?.split(',');
export default pick ? Object.fromEntries(Object.entries(all).filter(([name]) => pick.includes(name.split(' ')[0]))) : all;
