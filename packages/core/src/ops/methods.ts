/**
 * The chained Tensor methods: `x.op(...args)` is `op(x, ...args)` for every function listed here,
 * attached to Tensor's prototype (as tfjs's chained ops), so that tensor.ts imports no op and the
 * methods' types are the functions' own.
 */
import { Tensor } from '../tensor.js';
import { backward } from '../autograd.js';
import { add, div, maskedFill, mul, pow, sub, unaryFunctions } from './elementwise.js';
import { logsumexp, max, mean, sum } from './reduce.js';
import { matmul } from './matmul.js';
import { expand, permute, reshape, slice, split, transpose } from './movement.js';
import { logSoftmax, softmax } from './nn.js';

const methods = {
  backward,
  add, sub, mul, div, pow, ...unaryFunctions,
  sum, mean, max, logsumexp,
  matmul, reshape, transpose, permute, slice, expand, split, maskedFill,
  softmax, logSoftmax,
};

/** `(x: Tensor, ...rest) => R` as the method `(...rest) => R`. */
type Chained<F> = F extends (x: Tensor, ...rest: infer A) => infer R ? (...rest: A) => R : never;
type TensorMethods = { [K in keyof typeof methods]: Chained<(typeof methods)[K]> };

declare module '../tensor.js' {
  // eslint-style merging of the class with its chained methods
  interface Tensor extends TensorMethods {}
}

for (const [name, fn] of Object.entries(methods)) {
  Object.defineProperty(Tensor.prototype, name, {
    value(this: Tensor, ...args: unknown[]) {
      return Reflect.apply(fn, undefined, [this, ...args]);
    },
    writable: true,
    configurable: true,
  });
}
