/** Integer indexing: row gathers (embedding lookup), their adjoint, and one-hot encoding. */
import { Tensor } from '../tensor.js';
import { record } from '../autograd.js';
import { fmt } from '../shape.js';
import { deviceOf } from './common.js';
import { checkIds, checkIndices } from '../validate.js';
import { defineOp } from './op.js';

const gatherRowsOp = defineOp<{ indices: Int32Array; rows: number }>('gatherRows', (dy, { attrs: { indices, rows } }) => [
  scatterAddRows(dy, indices, rows),
]);

/**
 * Integer indices live on the host (they come from data loaders and samplers), so they can be
 * range-checked before any kernel runs. A nested array, or flat values with a shape.
 */
export interface Indices {
  readonly data: Int32Array;
  readonly shape: readonly number[];
}

export type IndicesLike = Indices | Int32Array | number[] | number[][];

export function indices(data: ArrayLike<number>, shape: readonly number[] = [data.length]): Indices {
  // checked before the Int32Array, which would silently truncate 1.5 and wrap 2^32 + 1
  return { data: checkIds('indices', 'index', data, 2 ** 31), shape };
}

/** Validates integers in [0, bound) (validate.ts) and returns flat indices with their shape. */
export function toIndices(op: string, x: IndicesLike, bound: number, what = 'index'): Indices {
  return checkIndices(op, x, bound, what);
}

/** Rows of `table` [rows, cols] at `idx`: shape [...idx.shape, cols]. The embedding lookup. */
export function gather(table: Tensor, idx: IndicesLike): Tensor {
  const device = deviceOf('gather', table);
  if (table.ndim !== 2) throw new Error(`gather: table must be 2-D [rows, cols], got ${fmt(table.shape)}`);
  const [rows, cols] = table.shape;
  const ix = toIndices('gather', idx, rows);
  const out = new Tensor(device.gatherRows(table.buffer('gather'), cols, ix.data), [ix.data.length, cols], device);
  record(gatherRowsOp, out, [table], { indices: ix.data, rows });
  return out.reshape([...ix.shape, cols]);
}

/** Sums rows of src [..., cols] into a [rows, cols] table at `indices` (no gradient). */
export function scatterAddRows(src: Tensor, idx: Int32Array, rows: number): Tensor {
  const device = deviceOf('scatterAddRows', src);
  const cols = src.shape[src.ndim - 1];
  return new Tensor(device.scatterAddRows(src.buffer('scatterAddRows'), cols, idx, rows), [rows, cols], device);
}

/** [...idx.shape, depth] of zeros with a 1 at each index (no gradient). */
export function oneHot(idx: IndicesLike, depth: number): Tensor {
  const ix = toIndices('oneHot', idx, depth);
  const device = deviceOf('oneHot');
  return new Tensor(device.oneHot(ix.data, depth), [...ix.shape, depth], device);
}
