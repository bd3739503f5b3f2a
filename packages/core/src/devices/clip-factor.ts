/**
 * Gradient clipping's factor, shared by clipGradNorm (optim/clip.ts) and the devices that apply
 * it inside the optimizer's update (FusedKernels.adamwPackedClipped): every gradient is scaled by
 * min(1, maxNorm / (‖g‖ + CLIP_EPS)), ‖g‖ the norm over all clipped gradients together.
 */
export const CLIP_EPS = 1e-6;

/** The factor from Σ g² with the float32 roundings of clipGradNorm's kernels (√, + ε, ^−1, · maxNorm, min 1), for host loops. */
export function clipFactorHost(sumOfSquares: number, maxNorm: number): number {
  const f = Math.fround;
  const norm = f(Math.sqrt(sumOfSquares));
  const inverse = f(f(norm + f(CLIP_EPS)) ** -1);
  return Math.min(f(inverse * f(maxNorm)), 1);
}
