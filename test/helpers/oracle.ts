/**
 * An independent oracle over ndarray for broadcasting and reductions: written with ndarray views
 * (zero strides for broadcast dims, `pick` for the sub-array a reduction covers) and plain index
 * loops, sharing no code with flashgrad.
 */
import ndarray, { type NdArray } from 'ndarray';

export type Nd = NdArray<Float64Array>;

export function nd(data: ArrayLike<number>, shape: readonly number[]): Nd {
  return ndarray(Float64Array.from(data), [...shape]);
}

/** NumPy's rule, dim by dim from the right; null where the shapes do not broadcast. */
export function broadcastShape(a: readonly number[], b: readonly number[]): number[] | null {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) return null;
    out.push(da === 1 ? db : da);
  }
  return out;
}

/** A read-only view of x as if broadcast to `shape`: missing and size-1 dims get stride 0. */
export function broadcastView(x: Nd, shape: readonly number[]): Nd {
  const offset = shape.length - x.shape.length;
  const stride = shape.map((_, i) => (i < offset || x.shape[i - offset] === 1 ? 0 : x.stride[i - offset]));
  return ndarray(x.data, [...shape], stride, x.offset);
}

/** Calls fn with every multi-index of `shape`, in row-major order. */
export function forEachIndex(shape: readonly number[], fn: (index: number[]) => void): void {
  const index: number[] = [];
  const walk = (d: number): void => {
    if (d === shape.length) {
      fn([...index]);
      return;
    }
    for (let i = 0; i < shape[d]; i++) {
      index[d] = i;
      walk(d + 1);
    }
  };
  walk(0);
}

/** The row-major values of an ndarray (any strides). */
export function values(x: Nd): number[] {
  const out: number[] = [];
  forEachIndex(x.shape, (index) => out.push(x.get(...index)));
  return out;
}

export function binary(a: Nd, b: Nd, f: (x: number, y: number) => number): Nd {
  const shape = broadcastShape(a.shape, b.shape);
  if (!shape) throw new Error(`oracle: [${a.shape}] and [${b.shape}] do not broadcast`);
  const [va, vb] = [broadcastView(a, shape), broadcastView(b, shape)];
  const out = nd(new Float64Array(shape.reduce((n, d) => n * d, 1)), shape);
  forEachIndex(shape, (index) => out.set(...index, f(va.get(...index), vb.get(...index))));
  return out;
}

export function ternary(c: Nd, a: Nd, b: Nd, f: (x: number, y: number, z: number) => number): Nd {
  const shape = broadcastShape(broadcastShape(c.shape, a.shape) ?? [NaN], b.shape);
  if (!shape || shape.some(Number.isNaN)) throw new Error('oracle: shapes do not broadcast');
  const [vc, va, vb] = [broadcastView(c, shape), broadcastView(a, shape), broadcastView(b, shape)];
  const out = nd(new Float64Array(shape.reduce((n, d) => n * d, 1)), shape);
  forEachIndex(shape, (index) => out.set(...index, f(vc.get(...index), va.get(...index), vb.get(...index))));
  return out;
}

/**
 * Reduces `axes` (sorted, non-negative) of x: for each index of the kept dims, `pick` gives the
 * sub-array over the reduced dims, folded with `step` from `init`. keepDims leaves size-1 dims.
 */
export function reduce(x: Nd, axes: readonly number[], keepDims: boolean, init: number, step: (acc: number, v: number) => number): Nd {
  const keptDims = x.shape.map((_, i) => i).filter((i) => !axes.includes(i));
  const keptShape = keptDims.map((i) => x.shape[i]);
  const outShape = keepDims ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d)) : keptShape;
  const out = nd(new Float64Array(keptShape.reduce((n, d) => n * d, 1)), keptShape);
  forEachIndex(keptShape, (kept) => {
    const pickArgs = x.shape.map((_, i) => (axes.includes(i) ? null : kept[keptDims.indexOf(i)]));
    // an empty pick (every axis reduced) is x itself: ndarray's pick() with no arguments
    const sub = pickArgs.length ? (x.pick(...(pickArgs as number[])) as Nd) : x;
    let acc = init;
    forEachIndex(sub.shape, (index) => (acc = step(acc, sub.get(...index))));
    out.set(...kept, acc);
  });
  return nd(out.data, outShape);
}

export const sum = (x: Nd, axes: readonly number[], keepDims: boolean): Nd => reduce(x, axes, keepDims, 0, (a, v) => a + v);
export const max = (x: Nd, axes: readonly number[], keepDims: boolean): Nd => reduce(x, axes, keepDims, -Infinity, (a, v) => (v > a ? v : a));
export function mean(x: Nd, axes: readonly number[], keepDims: boolean): Nd {
  const count = axes.reduce((n, a) => n * x.shape[a], 1);
  const s = sum(x, axes, keepDims);
  return nd(s.data.map((v) => v / count), s.shape);
}
