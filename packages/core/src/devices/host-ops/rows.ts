/**
 * The per-row ops of blocked softmax that have no exp per element (FlashAttention's finishing
 * and backward steps) on the host: plain loops over [rows, cols] with the row's value read once.
 * gpu.js's kernels for these split every index by division per lane and copy their inputs in and
 * the output out. Row sums accumulate in float64 (as the reference device does).
 */

function check(op: string, rows: number, cols: number, sizes: [string, number, number][]): void {
  for (const [what, got, want] of sizes) {
    if (got !== want) throw new Error(`wasm ${op}: ${what} of ${got} floats for [${rows}, ${cols}] (want ${want})`);
  }
}

/** o / l per row, l the second of each row's (m, l) stats [rows, 2]. */
export function onlineNormalizeHost(o: Float32Array, stats: Float32Array, rows: number, cols: number, out: Float32Array): Float32Array {
  check('onlineNormalize', rows, cols, [['o', o.length, rows * cols], ['stats', stats.length, 2 * rows], ['output', out.length, rows * cols]]);
  for (let r = 0, i = 0; r < rows; r++) {
    const l = stats[2 * r + 1];
    for (let end = i + cols; i < end; i++) out[i] = o[i] / l;
  }
  return out;
}

/** m + log l per row of (m, l) stats [rows, 2]. */
export function onlineLogsumexpHost(stats: Float32Array, rows: number, out: Float32Array): Float32Array {
  check('onlineLogsumexp', rows, 2, [['stats', stats.length, 2 * rows], ['output', out.length, rows]]);
  for (let r = 0; r < rows; r++) out[r] = stats[2 * r] + Math.log(stats[2 * r + 1]);
  return out;
}

/** o·e^(m − m′) + pv, m from `prev` and m′ from `next` ((m, l) stats [rows, 2]); one exp per row. */
export function onlineRescaleHost(
  o: Float32Array, pv: Float32Array, prev: Float32Array, next: Float32Array, rows: number, cols: number, out: Float32Array,
): Float32Array {
  check('onlineRescale', rows, cols, [['o', o.length, rows * cols], ['pv', pv.length, rows * cols], ['prev', prev.length, 2 * rows],
    ['next', next.length, 2 * rows], ['output', out.length, rows * cols]]);
  for (let r = 0, i = 0; r < rows; r++) {
    const alpha = Math.exp(prev[2 * r] - next[2 * r]);
    for (let end = i + cols; i < end; i++) out[i] = o[i] * alpha + pv[i];
  }
  return out;
}

/** y ∘ (dy − c[row]) for y, dy [rows, cols], c [rows]. */
export function rowShiftedProductHost(y: Float32Array, dy: Float32Array, c: Float32Array, rows: number, cols: number, out: Float32Array): Float32Array {
  check('rowShiftedProduct', rows, cols, [['y', y.length, rows * cols], ['dy', dy.length, rows * cols], ['c', c.length, rows], ['output', out.length, rows * cols]]);
  for (let r = 0, i = 0; r < rows; r++) {
    const cr = c[r];
    for (let end = i + cols; i < end; i++) out[i] = y[i] * (dy[i] - cr);
  }
  return out;
}

/** Σ_c a ∘ b per row of a, b [rows, cols], in float64. */
export function rowDotHost(a: Float32Array, b: Float32Array, rows: number, cols: number, out: Float32Array): Float32Array {
  check('rowDot', rows, cols, [['a', a.length, rows * cols], ['b', b.length, rows * cols], ['output', out.length, rows]]);
  for (let r = 0, i = 0; r < rows; r++) {
    let s = 0;
    for (let end = i + cols; i < end; i++) s += a[i] * b[i];
    out[r] = s;
  }
  return out;
}
