// Tile geometries timed beside the shipped one by bench-flash-kernels.js (BENCH_VARIANTS): which
// Br/Bc/lanes band each kernel wants at one head, where the plan's bands were measured only at
// N = 4096 (session 4). Each entry maps the shipped plan to another.
const fwd = (plan, br, lanes) => ({ ...plan, fwd: { ...plan.fwd, br, lanes, qt: Math.ceil(plan.dims.Nq / br) } });
const bwd = (plan, bc, lanes) => ({ ...plan, bwd: { ...plan.bwd, bc, lanes, kt: Math.ceil(plan.dims.Nk / bc) } });
export default {
  'fwd/dQ 32 rows 8 lanes, dK/dV 32 keys 8 lanes': (p) => bwd(fwd(p, 32, 8), 32, 8),
  'fwd/dQ 64 rows 4 lanes, dK/dV 64 keys 4 lanes': (p) => bwd(fwd(p, 64, 4), 64, 4),
};
