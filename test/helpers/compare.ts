/** Error measures shared by the device equivalence suites. */

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
