/** Elementwise ops: unary, binary with NumPy broadcasting, and where/maskedFill. */
import type { BinaryOp, UnaryOp } from '../devices/device.js';
import { Tensor } from '../tensor.js';
import { record } from '../autograd.js';
import { broadcastShapes } from '../shape.js';
import { deviceOf, kernelOperand, shapeOf, type TensorOrScalar } from './common.js';

type DifferentiableUnary = 'neg' | 'exp' | 'log' | 'sqrt' | 'tanh' | 'sigmoid' | 'relu' | 'gelu' | 'abs';

function unary(op: DifferentiableUnary, x: Tensor): Tensor {
  return record(op, unaryKernel(op, x), [x], {});
}

/** A unary kernel with no gradient (derivatives used inside gradient rules). */
export function unaryKernel(op: UnaryOp, x: Tensor): Tensor {
  const device = deviceOf(op, x);
  return new Tensor(device.unary(op, x.buffer(op)), x.shape, device);
}

export const neg = (x: Tensor): Tensor => unary('neg', x);
export const exp = (x: Tensor): Tensor => unary('exp', x);
export const log = (x: Tensor): Tensor => unary('log', x);
export const sqrt = (x: Tensor): Tensor => unary('sqrt', x);
export const tanh = (x: Tensor): Tensor => unary('tanh', x);
export const sigmoid = (x: Tensor): Tensor => unary('sigmoid', x);
export const relu = (x: Tensor): Tensor => unary('relu', x);
/** GELU, tanh approximation (as GPT-2). */
export const gelu = (x: Tensor): Tensor => unary('gelu', x);
export const abs = (x: Tensor): Tensor => unary('abs', x);

function binaryKernel(op: BinaryOp, a: TensorOrScalar, b: TensorOrScalar): Tensor {
  const device = deviceOf(op, a, b);
  if (!(a instanceof Tensor) && !(b instanceof Tensor)) {
    throw new Error(`${op}: at least one argument must be a Tensor`);
  }
  const outShape = broadcastShapes(op, shapeOf(a), shapeOf(b));
  return new Tensor(device.binary(op, kernelOperand(op, a), kernelOperand(op, b), outShape), outShape, device);
}

type DifferentiableBinary = 'add' | 'sub' | 'mul' | 'div' | 'pow';

function binary(op: DifferentiableBinary, a: TensorOrScalar, b: TensorOrScalar): Tensor {
  return record(op, binaryKernel(op, a, b), [a, b], {});
}

export const add = (a: TensorOrScalar, b: TensorOrScalar): Tensor => binary('add', a, b);
export const sub = (a: TensorOrScalar, b: TensorOrScalar): Tensor => binary('sub', a, b);
export const mul = (a: TensorOrScalar, b: TensorOrScalar): Tensor => binary('mul', a, b);
export const div = (a: TensorOrScalar, b: TensorOrScalar): Tensor => binary('div', a, b);
export const pow = (a: TensorOrScalar, b: TensorOrScalar): Tensor => binary('pow', a, b);

/** Comparisons give 1 or 0 and carry no gradient. */
export const equal = (a: TensorOrScalar, b: TensorOrScalar): Tensor => binaryKernel('eq', a, b);
export const greater = (a: TensorOrScalar, b: TensorOrScalar): Tensor => binaryKernel('gt', a, b);
export const greaterEqual = (a: TensorOrScalar, b: TensorOrScalar): Tensor => binaryKernel('ge', a, b);
export const less = (a: TensorOrScalar, b: TensorOrScalar): Tensor => binaryKernel('lt', a, b);
export const maximum = (a: TensorOrScalar, b: TensorOrScalar): Tensor => binaryKernel('max', a, b);
export const minimum = (a: TensorOrScalar, b: TensorOrScalar): Tensor => binaryKernel('min', a, b);

/** cond ≠ 0 ? a : b, all three broadcast together. The condition takes no gradient. */
export function where(cond: TensorOrScalar, a: TensorOrScalar, b: TensorOrScalar): Tensor {
  const device = deviceOf('where', cond, a, b);
  const outShape = broadcastShapes('where', shapeOf(cond), shapeOf(a), shapeOf(b));
  const out = new Tensor(
    device.where(kernelOperand('where', cond), kernelOperand('where', a), kernelOperand('where', b), outShape),
    outShape, device,
  );
  return record('where', out, [cond, a, b], {});
}

/** x with `value` wherever mask ≠ 0 (mask broadcasts to x). */
export function maskedFill(x: Tensor, mask: Tensor, value: number): Tensor {
  return where(mask, value, x);
}
