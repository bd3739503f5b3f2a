/** Reductions over any axes, with keepDims. */
import { Tensor, tidy } from '../tensor.js';
import { record } from '../autograd.js';
import { normalizeAxes, reducedShape } from '../shape.js';
import { deviceOf } from './common.js';
import { asTensor, defineOp } from './op.js';
import { reshape } from './movement.js';
import { checkBoolean } from '../validate.js';
import { abs, add, equal, exp, less, log, sub, where } from './elementwise.js';

const reduceOps = {
  sum: defineOp('sum', (dy, { inputs: [x] }) => [dy.expand([...asTensor(x).shape])]),
  // the gradient goes to every position holding the max, shared equally between ties
  max: defineOp('max', (dy, { inputs: [x], out }) => [
    tidy(() => {
      const input = asTensor(x);
      const hits = equal(input, out);
      const axes = input.shape.flatMap((d, i) => (out.shape[i] !== d ? [i] : []));
      return hits.mul(dy.div(hits.sum(axes, true)));
    }),
  ]),
};

function reduce(op: 'sum' | 'max', x: Tensor, axes: number | number[] | undefined, keepDims: boolean): Tensor {
  const device = deviceOf(op, x);
  checkBoolean(op, 'keepDims', keepDims); // 'no' is truthy: it kept the dims
  const list = normalizeAxes(op, axes, x.ndim);
  if (op === 'max' && list.some((a) => x.shape[a] === 0)) {
    throw new Error(`max: cannot reduce over an empty axis of shape [${x.shape}]`);
  }
  const kept = reducedShape(x.shape, list, true);
  const out = record(reduceOps[op], new Tensor(device.reduce(op, x.buffer(op), x.shape, list), kept, device), [x], {});
  return keepDims ? out : reshape(out, reducedShape(x.shape, list, false));
}

export const sum = (x: Tensor, axes?: number | number[], keepDims = false): Tensor => reduce('sum', x, axes, keepDims);
export const max = (x: Tensor, axes?: number | number[], keepDims = false): Tensor => reduce('max', x, axes, keepDims);

export function mean(x: Tensor, axes?: number | number[], keepDims = false): Tensor {
  checkBoolean('mean', 'keepDims', keepDims);
  const list = normalizeAxes('mean', axes, x.ndim);
  const count = list.reduce((n, a) => n * x.shape[a], 1);
  return sum(x, list, keepDims).div(count);
}

/** log Σ exp, shifted by the (detached) max so that it never overflows. */
export function logsumexp(x: Tensor, axes?: number | number[], keepDims = false): Tensor {
  checkBoolean('logsumexp', 'keepDims', keepDims);
  const list = normalizeAxes('logsumexp', axes, x.ndim);
  const m = max(x.detach(), list, true);
  // rows that are all −∞ (fully masked), or hold +∞, shift by 0 and give ∓∞, not NaN (∞ − ∞)
  const shift = where(less(abs(m), Infinity), m, 0);
  const out = add(log(sum(exp(sub(x, shift)), list, true)), shift);
  return keepDims ? out : reshape(out, reducedShape(x.shape, list, false));
}
