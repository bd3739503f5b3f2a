/**
 * Sums and maxima over axes on the host. The reduced axes are taken one contiguous run at a
 * time as x viewed [outer, R, inner], walked in memory order (a row of `inner` accumulators
 * gets each of the R rows in turn: the column sums of bias gradients read contiguous rows).
 * Sums accumulate in float64, as the reference device does; gpu.js's kernel for a column sum
 * of [768, 128] ran one thread per column striding 128 floats, ~0.2–1 ms a call in the GPT step.
 */
import type { ReduceOp, Shape } from '../device.js';

/** One run: x [outer, R, inner] → out [outer, inner]. */
function reduceRun(op: ReduceOp, x: Float32Array, outer: number, R: number, inner: number, out: Float32Array): void {
  const acc = new Float64Array(inner);
  for (let o = 0; o < outer; o++) {
    const base = o * R * inner;
    acc.fill(op === 'sum' ? 0 : -Infinity);
    for (let r = 0; r < R; r++) {
      const row = base + r * inner;
      if (op === 'sum') for (let i = 0; i < inner; i++) acc[i] += x[row + i];
      else for (let i = 0; i < inner; i++) acc[i] = Math.max(acc[i], x[row + i]);
    }
    out.set(acc, o * inner);
  }
}

/**
 * Reduces `axes` of x [shape]; the result has shape with those axes set to 1. `alloc(n)` gives
 * the result's array (and any intermediate one, for reduced axes that are not adjacent).
 */
export function reduceHost(op: ReduceOp, x: Float32Array, shape: Shape, axes: readonly number[], alloc: (n: number) => Float32Array): Float32Array {
  const size = (s: readonly number[]) => s.reduce((a, d) => a * d, 1);
  if (x.length !== size(shape)) throw new Error(`wasm reduce ${op}: input of ${x.length} floats for shape [${shape}]`);
  for (const a of axes) {
    if (!Number.isInteger(a) || a < 0 || a >= shape.length) throw new Error(`wasm reduce ${op}: axis ${a} of shape [${shape}]`);
  }
  const dims = [...shape];
  let cur = x;
  // the last run first, so the axes before it keep their positions
  for (let k = dims.length - 1; k >= 0;) {
    if (!axes.includes(k) || dims[k] === 1) {
      k--;
      continue;
    }
    let start = k;
    while (start > 0 && axes.includes(start - 1)) start--;
    const R = size(dims.slice(start, k + 1));
    const outer = size(dims.slice(0, start));
    const inner = size(dims.slice(k + 1));
    const next = alloc(outer * inner);
    reduceRun(op, cur, outer, R, inner, next);
    cur = next;
    for (let j = start; j <= k; j++) dims[j] = 1;
    k = start - 1;
  }
  // nothing to reduce (only size-1 axes): a copy, as every op returns a new buffer
  if (cur === x) {
    cur = alloc(x.length);
    cur.set(x);
  }
  return cur;
}
