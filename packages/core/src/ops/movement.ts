/** Ops that move or view data: reshape, permute, slice, pad, expand, concat, split. */
import { Tensor } from '../tensor.js';
import { record } from '../autograd.js';
import { assertValidShape, broadcastShapes, fmt, normalizeAxis, sameShape, sizeOf, stridesOf } from '../shape.js';
import { deviceOf } from './common.js';
import { checkReshapeTarget, checkShape, checkTensor, show } from '../validate.js';
import { GradBlock, asTensor, defineOp } from './op.js';

const reshapeOp = defineOp('reshape', (dy, { inputs: [x] }) => [dy.reshape([...asTensor(x).shape])]);
const permuteOp = defineOp<{ perm: number[] }>('permute', (dy, { attrs: { perm } }) => [dy.permute(inversePermutation(perm))]);
const expandOp = defineOp('expand', (dy) => [dy]);
// a block, not a pad: autograd joins a split's blocks in one concatenation (ops/op.ts)
const sliceOp = defineOp<{ starts: number[] }>('slice', (dy, { attrs: { starts } }) => [new GradBlock(dy, starts)]);
const padOp = defineOp<{ starts: number[] }>('pad', (dy, { inputs: [x], attrs: { starts } }) => [
  dy.slice(starts, starts.map((s, i) => s + asTensor(x).shape[i])),
]);

// each part's gradient is its slice of dy
const concatOp = defineOp<{ axis: number; offsets: number[] }>('concat', (dy, { inputs, attrs: { axis, offsets }, needs }) =>
  inputs.map((x, i) => {
    if (!needs[i]) return null;
    const { shape } = asTensor(x);
    const starts = shape.map((_, k) => (k === axis ? offsets[i] : 0));
    return dy.slice(starts, starts.map((s, k) => s + shape[k]));
  }));

function inversePermutation(perm: number[]): number[] {
  const inv = new Array<number>(perm.length);
  perm.forEach((p, i) => (inv[p] = i));
  return inv;
}

/** Same data, new shape (one dim may be −1). Free: the result shares the buffer. */
export function reshape(x: Tensor, shape: number[]): Tensor {
  checkReshapeTarget('reshape', shape, x.size, x.shape);
  const inferred = shape.indexOf(-1);
  if (inferred !== shape.lastIndexOf(-1)) throw new Error(`reshape: only one dimension may be -1, got ${fmt(shape)}`);
  const known = sizeOf(shape.filter((d) => d !== -1));
  const resolved = inferred < 0 ? shape : shape.map((d) => (d === -1 ? (known === 0 ? 0 : x.size / known) : d));
  assertValidShape('reshape', resolved);
  if (sizeOf(resolved) !== x.size) {
    throw new Error(`reshape: cannot view tensor of shape ${fmt(x.shape)} (${x.size} elements) as ${fmt(shape)}`);
  }
  return record(reshapeOp, x.shareStorage(resolved), [x], {});
}

/** Reorders dims: out.shape[i] = x.shape[perm[i]]. */
export function permute(x: Tensor, perm: number[]): Tensor {
  const device = deviceOf('permute', x);
  if (!Array.isArray(perm)) throw new Error(`permute: perm must be an array of axes, got ${show(perm)}`);
  const axes = perm.map((p) => normalizeAxis('permute', p, x.ndim));
  if (axes.length !== x.ndim || new Set(axes).size !== axes.length) {
    throw new Error(`permute: [${perm}] is not a permutation of the ${x.ndim} dims of ${fmt(x.shape)}`);
  }
  const strides = stridesOf(x.shape);
  const shape = axes.map((a) => x.shape[a]);
  const buf = device.strided(x.buffer('permute'), shape, axes.map((a) => strides[a]), 0);
  return record(permuteOp, new Tensor(buf, shape, device), [x], { perm: axes });
}

export function transpose(x: Tensor, dim0 = -2, dim1 = -1): Tensor {
  const a = normalizeAxis('transpose', dim0, x.ndim);
  const b = normalizeAxis('transpose', dim1, x.ndim);
  const perm = x.shape.map((_, i) => (i === a ? b : i === b ? a : i));
  return permute(x, perm);
}

/**
 * x[starts[0]:ends[0], starts[1]:ends[1], ...]. Missing trailing axes are taken whole; negative
 * values count from the end, as in Python.
 */
export function slice(x: Tensor, starts: number[], ends?: number[]): Tensor {
  const device = deviceOf('slice', x);
  // slice(0, 2) would read starts[i] and ends[i] of numbers as undefined: the whole tensor, silently
  if (!Array.isArray(starts)) throw new Error(`slice: starts must be an array of indices, one per axis, got ${show(starts)}`);
  if (ends !== undefined && !Array.isArray(ends)) throw new Error(`slice: ends must be an array of indices, one per axis, got ${show(ends)}`);
  if (starts.length > x.ndim || (ends && ends.length !== starts.length)) {
    throw new Error(`slice: starts [${starts}] and ends [${ends ?? ''}] do not fit tensor of shape ${fmt(x.shape)}`);
  }
  const s = x.shape.map((d, i) => resolveIndex(starts[i] ?? 0, d));
  const e = x.shape.map((d, i) => resolveIndex(ends?.[i] ?? d, d));
  x.shape.forEach((d, i) => {
    if (s[i] < 0 || e[i] > d || s[i] > e[i]) {
      throw new Error(`slice: range ${starts[i]}:${ends?.[i] ?? d} is out of bounds for dim ${i} of shape ${fmt(x.shape)}`);
    }
  });
  const shape = e.map((end, i) => end - s[i]);
  const strides = stridesOf(x.shape);
  const offset = s.reduce((acc, start, i) => acc + start * strides[i], 0);
  const buf = device.strided(x.buffer('slice'), shape, strides, offset);
  return record(sliceOp, new Tensor(buf, shape, device), [x], { starts: s });
}

function resolveIndex(i: number, dim: number): number {
  if (!Number.isInteger(i)) throw new Error(`slice: index ${i} is not an integer`);
  return i < 0 ? i + dim : i;
}

/** x placed at `starts` inside zeros of `shape` (the adjoint of slice). */
export function pad(x: Tensor, shape: number[], starts: number[]): Tensor {
  const device = deviceOf('pad', x);
  checkShape('pad', shape); // [4.5, 4] would make a tensor of that shape
  checkShape('pad', starts, 'starts');
  if (shape.length !== x.ndim || starts.length !== x.ndim || x.shape.some((d, i) => starts[i] < 0 || starts[i] + d > shape[i])) {
    throw new Error(`pad: tensor of shape ${fmt(x.shape)} does not fit at [${starts}] inside ${fmt(shape)}`);
  }
  const buf = device.pad(x.buffer('pad'), x.shape, shape, starts);
  return record(padOp, new Tensor(buf, shape, device), [x], { starts });
}

/** Broadcasts x to `shape` (NumPy rules), materialised. */
export function expand(x: Tensor, shape: number[]): Tensor {
  const device = deviceOf('expand', x);
  checkShape('expand', shape); // broadcasting [1] to 2.5 would make a tensor of shape [2.5]
  const target = broadcastShapes('expand', x.shape, shape);
  if (!sameShape(target, shape)) throw new Error(`expand: cannot expand ${fmt(x.shape)} to ${fmt(shape)}`);
  const own = stridesOf(x.shape);
  const offset = shape.length - x.ndim;
  const strides = shape.map((_, i) => (i < offset || x.shape[i - offset] === 1 ? 0 : own[i - offset]));
  const buf = device.strided(x.buffer('expand'), shape, strides, 0);
  return record(expandOp, new Tensor(buf, shape, device), [x], {});
}

/** Joins tensors along `axis`; all other dims must agree. One kernel (Device.concat). */
export function concat(xs: Tensor[], axis = 0): Tensor {
  if (!Array.isArray(xs) || xs.length === 0) throw new Error(`concat: needs an array of at least one tensor, got ${show(xs)}`);
  xs.forEach((x, i) => checkTensor('concat', `tensors[${i}]`, x));
  const ax = normalizeAxis('concat', axis, xs[0].ndim);
  const first = xs[0].shape;
  for (const x of xs) {
    if (x.ndim !== first.length || x.shape.some((d, i) => i !== ax && d !== first[i])) {
      throw new Error(`concat: shapes ${xs.map((t) => fmt(t.shape)).join(', ')} differ outside axis ${ax}`);
    }
  }
  const device = deviceOf('concat', ...xs);
  const shape = [...first];
  shape[ax] = xs.reduce((n, x) => n + x.shape[ax], 0);
  const outer = sizeOf(first.slice(0, ax));
  const inner = sizeOf(first.slice(ax + 1));
  const buf = device.concat(xs.map((x) => x.buffer('concat')), outer, xs.map((x) => x.shape[ax]), inner);
  const offsets: number[] = [];
  xs.reduce((at, x) => (offsets.push(at), at + x.shape[ax]), 0);
  return record(concatOp, new Tensor(buf, shape, device), xs, { axis: ax, offsets });
}

/** Splits along `axis` into pieces of `sizes` (or equal pieces of that size). */
export function split(x: Tensor, sizes: number | number[], axis = 0): Tensor[] {
  const ax = normalizeAxis('split', axis, x.ndim);
  const dim = x.shape[ax];
  if (typeof sizes === 'number' && !(Number.isInteger(sizes) && sizes > 0)) throw new Error(`split: piece size ${sizes} must be a positive integer`);
  const list = typeof sizes === 'number' ? Array.from({ length: Math.ceil(dim / sizes) }, (_, i) => Math.min(sizes, dim - i * sizes)) : sizes;
  if (list.reduce((a, b) => a + b, 0) !== dim || list.some((s) => !Number.isInteger(s) || s < 0)) {
    throw new Error(`split: sizes [${list}] do not add up to dim ${ax} (${dim}) of shape ${fmt(x.shape)}`);
  }
  let start = 0;
  return list.map((size) => {
    const starts = x.shape.map((_, i) => (i === ax ? start : 0));
    const ends = x.shape.map((d, i) => (i === ax ? start + size : d));
    start += size;
    return slice(x, starts, ends);
  });
}
