/**
 * Gradient checking against central finite differences in float64 on the reference device.
 *
 * The loss is L = Σ f(x)·w with random weights w, so every output element reaches the gradient
 * with a different coefficient (a plain sum would hide, e.g., a transposed gradient of a square
 * matrix). dL/dx_j is compared with (L(x + h·e_j) − L(x − h·e_j)) / 2h, h = EPS·max(1, |x_j|).
 *
 * Why EPS = 1e-6, and the tolerance: the central difference has truncation error h²/6·|L'''|
 * (≈ 2e-13·|L'''|) and rounding error ≈ u·S/h, where u = 1.1e-16 is float64's unit roundoff and
 * S = Σ|f(x)·w| bounds the terms summed into L (≈ 1.1e-10·S). A smaller h lets rounding
 * dominate, a larger one truncation. So an element passes when
 *   |analytic − numeric| ≤ RTOL·max(|analytic|, |numeric|) + ATOL·max(1, S),
 * RTOL = 1e-6 (the relative error asked of every op) and ATOL = 1e-8, ~100× the rounding estimate,
 * which only matters for gradients near 0, where a relative error means nothing. Measured over
 * the suite, the worst error stays under a tenth of this tolerance; a real gradient bug (a wrong
 * factor, a missing broadcast sum, a transposed operand) is an error of order 1.
 */
import { expect } from 'vitest';
import { memory, noGrad, tensor, tidy, type Tensor } from '@flashgrad/core';

export const EPS = 1e-6;
export const RTOL = 1e-6;
export const ATOL = 1e-8;

export interface Input {
  shape: number[];
  data: Float64Array;
  /** false: a constant (no gradient checked). Default true. */
  grad?: boolean;
}

/** mulberry32: the test's own generator, independent of core's. */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Uniform weights in ±[0.5, 1.5]: never near zero, so no output element drops out of L. */
export function weights(size: number, seed: number): Float64Array {
  const next = rng(seed);
  return Float64Array.from({ length: size }, () => (next() < 0.5 ? -1 : 1) * (0.5 + next()));
}

let worst = 0;
/** The largest error / tolerance ratio any gradCheck in this process has seen (≤ 1 passes). */
export const worstErrorRatio = (): number => worst;

export interface GradCheckResult {
  /** Largest |analytic − numeric| / tolerance seen (≤ 1 passes). */
  maxErrorRatio: number;
}

/**
 * Checks d(Σ f(inputs)·w)/d(input) for every input with grad ≠ false. `f` must be deterministic
 * (reseed inside it if it draws random numbers).
 */
export async function gradCheck(
  f: (...xs: Tensor[]) => Tensor, inputs: Input[], seed: number, { eps = EPS, rtol = RTOL, atol = ATOL } = {},
): Promise<GradCheckResult> {
  const xs = inputs.map((x) => tensor(x.data, { shape: x.shape, requiresGrad: x.grad !== false }));
  const out = f(...xs);
  const outShape = [...out.shape];
  const wValues = weights(out.size, seed);
  const w = tensor(wValues, { shape: outShape });
  const scale = (await out.data64()).reduce((acc, v, i) => acc + Math.abs(v * wValues[i]), 0);
  const weighted = out.mul(w);
  const loss = weighted.sum();
  // backward frees its intermediate gradients itself: live buffers grow by at most one per leaf
  const before = memory().buffers;
  loss.backward();
  const leaves = inputs.filter((x) => x.grad !== false).length;
  expect(memory().buffers - before, 'buffers left by backward beyond the leaves\' gradients').toBeLessThanOrEqual(leaves);
  [weighted, loss].forEach((t) => t.dispose());
  const analytic: (Float64Array | null)[] = [];
  for (const [i, x] of xs.entries()) {
    if (inputs[i].grad === false) {
      analytic.push(null);
      continue;
    }
    const g = x.grad;
    if (!g) throw new Error(`gradCheck: input ${i} of shape [${x.shape}] got no gradient`);
    expect(g.shape, `gradient shape of input ${i}`).toEqual(x.shape);
    analytic.push(await g.data64());
  }
  [...xs, out].forEach((t) => {
    t.grad = null;
    t.dispose();
  });

  const lossAt = async (values: Float64Array[]): Promise<number> => {
    const loss = noGrad(() => tidy(() => f(...values.map((v, i) => tensor(v, { shape: inputs[i].shape }))).mul(w).sum()));
    const [v] = await loss.data64();
    loss.dispose();
    return v;
  };

  let maxErrorRatio = 0;
  const values = inputs.map((x) => Float64Array.from(x.data));
  for (const [i, input] of inputs.entries()) {
    const a = analytic[i];
    if (!a) continue;
    for (let j = 0; j < input.data.length; j++) {
      const x0 = input.data[j];
      const h = eps * Math.max(1, Math.abs(x0));
      values[i][j] = x0 + h;
      const up = await lossAt(values);
      values[i][j] = x0 - h;
      const down = await lossAt(values);
      values[i][j] = x0;
      const numeric = (up - down) / (2 * h);
      const error = Math.abs(a[j] - numeric);
      const ratio = error / (rtol * Math.max(Math.abs(a[j]), Math.abs(numeric)) + atol * Math.max(1, scale));
      maxErrorRatio = Math.max(maxErrorRatio, ratio);
      worst = Math.max(worst, ratio);
      if (!(ratio <= 1)) {
        w.dispose();
        throw new Error(
          `gradient mismatch at input ${i} (shape [${input.shape}]) element ${j}: analytic ${a[j]}, ` +
          `finite difference ${numeric} (error ${error.toExponential(2)}, ${ratio.toFixed(1)}× the tolerance), output shape [${outShape}]`,
        );
      }
    }
  }
  w.dispose();
  return { maxErrorRatio };
}
