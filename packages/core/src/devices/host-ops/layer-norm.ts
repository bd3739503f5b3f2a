/**
 * Layer norm forward and backward over the rows of x [rows, cols] on the host, accumulating in
 * float64 (as the reference device does). gpu.js runs these as 2 + 3 kernels on wasm, each
 * copying x and dy into its own memory and splitting every index by division per lane.
 */

/** Mean and 1/√(var + eps) of row r (biased variance, two passes). */
function moments(x: Float32Array, base: number, cols: number, eps: number): [number, number] {
  let s = 0;
  for (let c = 0; c < cols; c++) s += x[base + c];
  const mean = s / cols;
  let q = 0;
  for (let c = 0; c < cols; c++) {
    const d = x[base + c] - mean;
    q += d * d;
  }
  return [mean, 1 / Math.sqrt(q / cols + eps)];
}

/** y = (x − mean)·rstd·weight + bias per row into `out` [rows·cols]; weight and bias [cols] or null. */
export function layerNormHost(
  x: Float32Array, weight: Float32Array | null, bias: Float32Array | null, rows: number, cols: number, eps: number,
  out: Float32Array = new Float32Array(rows * cols),
): Float32Array {
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    const [mean, rstd] = moments(x, base, cols, eps);
    for (let c = 0; c < cols; c++) {
      let y = (x[base + c] - mean) * rstd;
      if (weight) y *= weight[c];
      if (bias) y += bias[c];
      out[base + c] = y;
    }
  }
  return out;
}

/**
 * dx = rstd · (g − mean(g) − x̂ · mean(g ∘ x̂)) with g = dy ∘ weight, and dweight = Σ_rows dy ∘ x̂
 * (each only when asked; null otherwise), dx into `alloc(rows·cols)`. dbias is a plain column sum
 * the caller takes elsewhere.
 */
export function layerNormBackwardHost(
  dy: Float32Array, x: Float32Array, weight: Float32Array | null, rows: number, cols: number, eps: number,
  want: { dx: boolean; dweight: boolean }, alloc: (n: number) => Float32Array = (n) => new Float32Array(n),
): { dx: Float32Array | null; dweight: Float32Array | null } {
  const dx = want.dx ? alloc(rows * cols) : null;
  const dw = want.dweight ? new Float64Array(cols) : null;
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    const [mean, rstd] = moments(x, base, cols, eps);
    let sg = 0;
    let sgx = 0;
    for (let c = 0; c < cols; c++) {
      const xhat = (x[base + c] - mean) * rstd;
      const d = dy[base + c];
      const g = weight ? d * weight[c] : d;
      sg += g;
      sgx += g * xhat;
      if (dw) dw[c] += d * xhat;
    }
    if (!dx) continue;
    const mg = sg / cols;
    const mgx = sgx / cols;
    for (let c = 0; c < cols; c++) {
      const xhat = (x[base + c] - mean) * rstd;
      const g = weight ? dy[base + c] * weight[c] : dy[base + c];
      dx[base + c] = rstd * (g - mg - xhat * mgx);
    }
  }
  return { dx, dweight: dw ? Float32Array.from(dw) : null };
}
