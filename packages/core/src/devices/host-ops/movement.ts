/**
 * Strided reads and pads on the host: loops over the output with an odometer of indices, the
 * innermost axis a plain loop. gpu.js's webasm kernels for these split every output index by
 * integer division per lane and copy their input into their own memory and the output out; these
 * read and write the Float32Arrays in place (a head split of 98K floats: 3–4 ms in gpu.js, ~0.3 ms here).
 */
import type { Shape } from '../device.js';

const size = (shape: Shape): number => shape.reduce((a, d) => a * d, 1);

/**
 * Where the input and the output of a copy lie inside one shared memory (the wasm device's
 * arena): a view of the whole memory and each array's first float in it. Given, contiguous rows
 * of at least ROW_MEMMOVE floats are moved by `copyWithin` on that view, one native memmove a row,
 * instead of a JS loop over their floats: a head split of 98K floats in rows of 32 took 0.65 ms as
 * a loop, 0.17 with a memmove a row (BENCHMARKS.md, "The wasm GPT step, session 6").
 */
export interface SharedPlacement {
  memory: Float32Array;
  x: number;
  out: number;
}

/** Rows shorter than this are copied by the loop: a memmove's call costs about what 8 floats of the loop do. */
export const ROW_MEMMOVE = 8;

/**
 * Calls `row(base, i)` for each row of `shape`'s innermost axis, in order: i the row's first flat
 * index in `shape`, base its start in a buffer walked with `strides` from `start` (an odometer over
 * the outer axes, last fastest; no division per element).
 */
function forEachRow(shape: Shape, strides: readonly number[], start: number, row: (base: number, i: number) => void): void {
  const r = shape.length;
  const inner = shape[r - 1];
  const n = size(shape);
  const idx = new Array<number>(r).fill(0);
  let base = start;
  for (let i = 0; i < n; i += inner) {
    row(base, i);
    for (let k = r - 2; k >= 0; k--) {
      base += strides[k];
      if (++idx[k] < shape[k]) break;
      base -= strides[k] * shape[k];
      idx[k] = 0;
    }
  }
}

/**
 * Throws unless a view of outShape with `strides` at `offset` reads inside a buffer of `length`
 * floats and the output holds outShape's elements: a bad view fails rather than reading
 * undefined (NaN) or another tensor's memory.
 */
export function checkStridedView(length: number, outShape: Shape, strides: readonly number[], offset: number, outLength: number): void {
  const r = outShape.length;
  if (strides.length !== r) throw new Error(`wasm strided: ${strides.length} strides for rank ${r}`);
  const n = size(outShape);
  if (outLength !== n) throw new Error(`wasm strided: output of ${outLength} elements for shape [${outShape}]`);
  if (n === 0) return;
  // the lowest and highest index read
  let lo = offset;
  let hi = offset;
  for (let k = 0; k < r; k++) {
    const span = (outShape[k] - 1) * strides[k];
    if (span < 0) lo += span;
    else hi += span;
  }
  if (lo < 0 || hi >= length) {
    throw new Error(`wasm strided: view [${outShape}] with strides [${strides}] at offset ${offset} reads index ${lo < 0 ? lo : hi} of a buffer of ${length}`);
  }
}

/**
 * out[i] = x[offset + Σ i_k · strides[k]] over outShape; every index must fall inside x. `out`
 * (of outShape's size, any contents) receives the result.
 */
export function stridedHost(
  x: Float32Array, outShape: Shape, strides: readonly number[], offset: number, out: Float32Array = new Float32Array(size(outShape)),
  shared: SharedPlacement | null = null,
): Float32Array {
  const r = outShape.length;
  const n = size(outShape);
  checkStridedView(x.length, outShape, strides, offset, out.length);
  if (n === 0) return out;
  if (r === 0) {
    out[0] = x[offset];
    return out;
  }
  const inner = outShape[r - 1];
  const step = strides[r - 1];
  if (step === 1 && shared && inner >= ROW_MEMMOVE) {
    const { memory, x: xAt, out: outAt } = shared;
    forEachRow(outShape, strides, offset + xAt, (at, o) => memory.copyWithin(outAt + o, at, at + inner));
    return out;
  }
  forEachRow(outShape, strides, offset, (base, o) => {
    if (step === 1) for (let j = 0; j < inner; j++) out[o + j] = x[base + j];
    else for (let j = 0, p = base; j < inner; j++, p += step) out[o + j] = x[p];
  });
  return out;
}

/**
 * Where pad puts x of `shape` inside `outShape` at `starts`: the output's strides and the flat
 * index of x's first float in it; throws for ranks that differ or a placement that overflows.
 */
export function padPlacement(shape: Shape, outShape: Shape, starts: readonly number[]): { outStrides: number[]; base: number } {
  const r = shape.length;
  if (outShape.length !== r || starts.length !== r) throw new Error(`wasm pad: ranks differ: [${shape}] into [${outShape}] at [${starts}]`);
  for (let k = 0; k < r; k++) {
    if (!(starts[k] >= 0 && starts[k] + shape[k] <= outShape[k])) throw new Error(`wasm pad: [${shape}] at [${starts}] overflows [${outShape}]`);
  }
  const outStrides = new Array<number>(r);
  let s = 1;
  for (let k = r - 1; k >= 0; k--) {
    outStrides[k] = s;
    s *= outShape[k];
  }
  let base = 0;
  for (let k = 0; k < r; k++) base += starts[k] * outStrides[k];
  return { outStrides, base };
}

/** x of `shape` placed at `starts` inside zeros of `outShape`, written to `out` (cleared first). */
export function padHost(
  x: Float32Array, shape: Shape, outShape: Shape, starts: readonly number[], out: Float32Array = new Float32Array(size(outShape)),
  shared: SharedPlacement | null = null,
): Float32Array {
  const r = shape.length;
  const { outStrides, base } = padPlacement(shape, outShape, starts);
  if (x.length !== size(shape)) throw new Error(`wasm pad: input of shape [${shape}] has ${x.length} elements`);
  if (out.length !== size(outShape)) throw new Error(`wasm pad: output of ${out.length} elements for shape [${outShape}]`);
  out.fill(0);
  if (x.length === 0) return out;
  if (r === 0) {
    out[0] = x[0];
    return out;
  }
  // where each input row of the innermost axis lands in the output
  const inner = shape[r - 1];
  if (shared && inner >= ROW_MEMMOVE) {
    const { memory, x: xAt, out: outAt } = shared;
    forEachRow(shape, outStrides, base + outAt, (at, i) => memory.copyWithin(at, xAt + i, xAt + i + inner));
    return out;
  }
  forEachRow(shape, outStrides, base, (at, i) => {
    for (let j = 0; j < inner; j++) out[at + j] = x[i + j];
  });
  return out;
}

/**
 * parts, each [outer, lens[p], inner], joined along their middle axis into out [outer, Σ lens,
 * inner]: a `set` (a native copy) per part and outer index, where gpu.js's webasm kernel would
 * copy every part into its own memory and split each output index by integer division. Float32
 * on the wasm device, float64 on the reference device.
 */
export function concatHost<T extends Float32Array | Float64Array>(parts: readonly T[], outer: number, lens: readonly number[], inner: number, out: T): T {
  const row = lens.reduce((a, b) => a + b, 0) * inner;
  if (out.length !== outer * row) throw new Error(`wasm concat: output of ${out.length} elements for [${outer}, ${row / inner}, ${inner}]`);
  let at = 0;
  parts.forEach((x, p) => {
    const run = lens[p] * inner;
    for (let o = 0; o < outer; o++) out.set(x.subarray(o * run, (o + 1) * run), o * row + at);
    at += run;
  });
  return out;
}
