// Variants timed beside the shipped kernels by bench-flash-kernels.js (BENCH_VARIANTS) in session 6
// (flash6): the forward/dQ tile band of Round 5, other key-tile lengths and lanes for the 128-row
// band, and dK/dV with 2 lanes a key. "(34 KiB)" marks tiles that only the H200's 48 KiB of
// workgroup memory holds (llvmpipe offers 32). Each entry maps the shipped plan to another; a kernel
// whose tiles do not fit reports an error (its sum is then partial).
const fwd = (plan, br, bc, lanes) => ({ ...plan, fwd: { ...plan.fwd, br, bc, lanes, qt: Math.ceil(plan.dims.Nq / br), kt: Math.ceil(plan.dims.Nk / bc) } });
const bwd = (plan, br, bc, lanes) => ({ ...plan, bwd: { ...plan.bwd, br, bc, lanes, qt: Math.ceil(plan.dims.Nq / br), kt: Math.ceil(plan.dims.Nk / bc) } });
const all = {
  'fwd/dQ 64 rows × 32 keys, 4 lanes (Round 5)': (p) => fwd(p, 64, 32, 4),
  'fwd/dQ 128 rows × 24 keys, 2 lanes': (p) => fwd(p, 128, 24, 2),
  'fwd/dQ 128 × 32, 2 lanes (34 KiB)': (p) => fwd(p, 128, 32, 2),
  'fwd/dQ 128 × 16, 2 lanes': (p) => fwd(p, 128, 16, 2),
  'fwd/dQ 128 × 24, 1 lane': (p) => fwd(p, 128, 24, 1),
  'dK/dV 32 rows × 64 keys, 2 lanes': (p) => bwd(p, 32, 64, 2),
  'dK/dV 32 × 128, 2 lanes (34 KiB)': (p) => bwd(p, 32, 128, 2),
};
// FLASH6_VARIANTS=a,b picks entries by position (0-based); unset: all
const pick = process.env.FLASH6_VARIANTS?.split(',').map(Number);
export default pick ? Object.fromEntries(Object.entries(all).filter((_, i) => pick.includes(i))) : all;
