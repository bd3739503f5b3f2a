/**
 * One AdamW step on the host, moments packed as (m, v) pairs: m' = β1·m + (1 − β1)·g,
 * v' = β2·v + (1 − β2)·g², p' = p·(1 − lr·λ) − lr·(m'/c1)/(√(v'/c2) + ε), with c1, c2 the bias
 * corrections. One pass writes both outputs; gpu.js needs two kernels (one output buffer each),
 * both reading p, g and the moments. Arithmetic in float64, stored as float32.
 */
import type { AdamWHyper } from '../device.js';

/**
 * The step's constants, computed on the host in float64 by every device's AdamW (this loop, the
 * wasm SIMD module, the gpu.js kernels' arguments): the decay 1 − lr·λ, the bias corrections
 * c1 = 1 − β1^t and c2 = 1 − β2^t, and 1 − β1, 1 − β2.
 */
export function adamwConstants(h: AdamWHyper): { decay: number; c1: number; c2: number; rest1: number; rest2: number } {
  return { decay: 1 - h.lr * h.weightDecay, c1: 1 - h.beta1 ** h.step, c2: 1 - h.beta2 ** h.step, rest1: 1 - h.beta1, rest2: 1 - h.beta2 };
}

export function adamwHost(
  p: Float32Array, g: Float32Array, mv: Float32Array, h: AdamWHyper,
  outP: Float32Array = new Float32Array(p.length), outMV: Float32Array = new Float32Array(2 * p.length),
  /** The clip's factor the gradient is scaled by (1: not clipped). */
  gradScale = 1,
): { param: Float32Array; moments: Float32Array } {
  const n = p.length;
  if (g.length !== n || mv.length !== 2 * n || outP.length !== n || outMV.length !== 2 * n) {
    throw new Error(`wasm adamw: param of ${n}, grad of ${g.length}, moments of ${mv.length} (want ${2 * n}), outputs of ${outP.length} and ${outMV.length}`);
  }
  const { beta1, beta2, lr, eps } = h;
  // 1 − β from the host in float64, as the gpu.js kernels get it (see kernels/fused.ts)
  const { decay, c1, c2, rest1, rest2 } = adamwConstants(h);
  for (let i = 0; i < n; i++) {
    // as the scaling kernel it replaces: the product rounded to float32
    const gi = gradScale === 1 ? g[i] : Math.fround(g[i] * gradScale);
    const m = beta1 * mv[2 * i] + rest1 * gi;
    const v = beta2 * mv[2 * i + 1] + rest2 * gi * gi;
    outMV[2 * i] = m;
    outMV[2 * i + 1] = v;
    outP[i] = p[i] * decay - lr * (m / c1 / (Math.sqrt(v / c2) + eps));
  }
  return { param: outP, moments: outMV };
}
