/** Error measures shared by the device equivalence suites. */

/** γₙ = n·u/(1 − n·u): Higham's bound on the relative error of n roundings of unit roundoff u. */
export const gamma = (n: number, u: number): number => (n * u) / (1 - n * u);

/**
 * How far a float32 sum of terms, n roundings deep in any order (a loop, chunks, a tree), may lie
 * from the float64 reference's sum of the same terms: γₙ of Σ|terms| in float32 plus the
 * reference's own γₙ in float64 (Higham). It holds whatever the sum cancels to, where a bound
 * relative to the result does not; a dropped or repeated term is an error of a term's size.
 */
export const float32SumBound = (n: number, magnitude: number): number => (gamma(n, 2 ** -24) + gamma(n, 2 ** -53)) * magnitude;

/**
 * ‖got − want‖ / max(‖want‖, scale) (absolute where both are 0); NaN anywhere, or a length
 * mismatch, gives NaN.
 */
export function relErr(got: ArrayLike<number>, want: ArrayLike<number>, scale = 0): number {
  if (got.length !== want.length) return NaN;
  let num = 0;
  let den = 0;
  for (let i = 0; i < want.length; i++) {
    num += (got[i] - want[i]) ** 2;
    den += want[i] ** 2;
  }
  if (Number.isNaN(den)) return NaN;
  den = Math.max(Math.sqrt(den), scale);
  return den === 0 ? Math.sqrt(num) : Math.sqrt(num) / den;
}

/**
 * The sizes of the terms layerNorm's gradients add, for x of `rows` × `cols` and upstream dy:
 * dx = rstd·(g − mean(g) − x̂·mean(g∘x̂)), g = dy∘w, cancels (entirely for cols ≤ 2), so its
 * float32 error is relative to ‖rstd·g‖; dweight = Σ_r dy∘x̂ and dbias = Σ_r dy sum over rows
 * with random signs, so theirs are relative to ‖Σ_r |dy∘x̂|‖ and ‖Σ_r |dy|‖, not to themselves.
 */
export function layerNormGradTerms(
  x: ArrayLike<number>, dy: ArrayLike<number>, w: ArrayLike<number> | null, rows: number, cols: number, eps: number,
): { dx: number; dweight: number; dbias: number } {
  let dx = 0;
  const dw = new Float64Array(cols);
  const db = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    let mean = 0;
    for (let c = 0; c < cols; c++) mean += x[r * cols + c] / cols;
    let variance = 0;
    for (let c = 0; c < cols; c++) variance += (x[r * cols + c] - mean) ** 2 / cols;
    const rstd = 1 / Math.sqrt(variance + eps);
    for (let c = 0; c < cols; c++) {
      const g = dy[r * cols + c];
      dx += (rstd * g * (w ? w[c] : 1)) ** 2;
      dw[c] += Math.abs(g * (x[r * cols + c] - mean) * rstd);
      db[c] += Math.abs(g);
    }
  }
  return { dx: Math.sqrt(dx), dweight: Math.hypot(...dw), dbias: Math.hypot(...db) };
}
