/** Elementwise ops: unary, binary with NumPy broadcasting, and where/maskedFill. */
import type { BinaryOp, DerivOp, UnaryOp } from '../devices/device.js';
import { Tensor, tidy } from '../tensor.js';
import { record } from '../autograd.js';
import { broadcastShapes } from '../shape.js';
import { deviceOf, fusion, kernelOperand, shapeOf, type TensorOrScalar } from './common.js';
import { asTensor, defineOp } from './op.js';

/**
 * The differentiable unary ops. A new one is a name here, its gradient below and its kernel on
 * each device (reference.ts, gpujs/kernels/elementwise.ts, which the compiler holds to this list):
 * its function, its Tensor method and the device's UnaryOp follow from the name.
 */
export const unaryNames = ['neg', 'exp', 'log', 'sqrt', 'tanh', 'sigmoid', 'relu', 'gelu', 'abs', 'silu'] as const;
export type UnaryName = (typeof unaryNames)[number];

/** Each unary op's gradient from dy, its input x and its output y. */
const unaryGrads: { readonly [K in UnaryName]: (dy: Tensor, x: Tensor, y: Tensor) => Tensor } = {
  neg: (dy) => dy.neg(),
  exp: (dy, _x, y) => dy.mul(y),
  log: (dy, x) => dy.div(x),
  sqrt: (dy, _x, y) => dy.div(y).mul(0.5),
  tanh: (dy, _x, y) => dy.mul(sub(1, y.mul(y))),
  sigmoid: (dy, _x, y) => dy.mul(y).mul(sub(1, y)),
  relu: (dy, x) => derivProduct('reluDeriv', x, dy),
  gelu: (dy, x) => derivProduct('geluDeriv', x, dy),
  abs: (dy, x) => derivProduct('sign', x, dy),
  // silu = x·σ(x): d/dx = σ(x)·(1 + x·(1 − σ(x)))
  silu: (dy, x) => {
    const s = unaryKernel('sigmoid', x);
    return dy.mul(s.mul(x.mul(sub(1, s)).add(1)));
  },
};

const unaryDefs = new Map(unaryNames.map((name) => [
  name,
  // tidy: a rule that chains ops frees its temporaries
  defineOp(name, (dy, { inputs: [x], out }) => [tidy(() => unaryGrads[name](dy, asTensor(x), out))]),
]));

function unary(op: UnaryName, x: Tensor): Tensor {
  // every name has its definition: the map is built from the table's keys
  return record(unaryDefs.get(op)!, unaryKernel(op, x), [x], {});
}

/** dy · op(x): one kernel where the device fuses it (with fusion on), else the derivative's kernel and a multiply. */
function derivProduct(op: DerivOp, x: Tensor, dy: Tensor): Tensor {
  const device = deviceOf(op, x, dy);
  if (fusion.enabled && device.derivProduct && dy.size === x.size) return new Tensor(device.derivProduct(op, x.buffer(op), dy.buffer(op)), dy.shape, device);
  return dy.mul(unaryKernel(op, x));
}

/** A unary kernel with no gradient (derivatives used inside gradient rules). */
export function unaryKernel(op: UnaryOp, x: Tensor): Tensor {
  const device = deviceOf(op, x);
  return new Tensor(device.unary(op, x.buffer(op)), x.shape, device);
}

/** One function per unary op: `neg(x)`, …; the Tensor methods `x.neg()`, … are these. */
export const unaryFunctions: { readonly [K in UnaryName]: (x: Tensor) => Tensor } = {
  neg: (x) => unary('neg', x),
  exp: (x) => unary('exp', x),
  log: (x) => unary('log', x),
  sqrt: (x) => unary('sqrt', x),
  tanh: (x) => unary('tanh', x),
  sigmoid: (x) => unary('sigmoid', x),
  relu: (x) => unary('relu', x),
  /** GELU, tanh approximation (as GPT-2). */
  gelu: (x) => unary('gelu', x),
  abs: (x) => unary('abs', x),
  /** x·σ(x) (SiLU, swish: GPT-NeoX's and LLaMA's MLPs). */
  silu: (x) => unary('silu', x),
};
export const { neg, exp, log, sqrt, tanh, sigmoid, relu, gelu, abs, silu } = unaryFunctions;

function binaryKernel(op: BinaryOp, a: TensorOrScalar, b: TensorOrScalar): Tensor {
  const device = deviceOf(op, a, b);
  if (!(a instanceof Tensor) && !(b instanceof Tensor)) {
    throw new Error(`${op}: at least one argument must be a Tensor`);
  }
  const outShape = broadcastShapes(op, shapeOf(a), shapeOf(b));
  return new Tensor(device.binary(op, kernelOperand(op, a), kernelOperand(op, b), outShape), outShape, device);
}

const addOp = defineOp('add', (dy) => [dy, dy]);
const subOp = defineOp('sub', (dy, { needs }) => [dy, needs[1] ? dy.neg() : null]);
const mulOp = defineOp('mul', (dy, { inputs: [a, b], needs }) => [needs[0] ? dy.mul(b) : null, needs[1] ? dy.mul(a) : null]);
// d(a/b) = dy/b, −dy·a/b²
const divOp = defineOp('div', (dy, { inputs: [, b], out, needs }) => [
  needs[0] ? dy.div(b) : null,
  needs[1] ? tidy(() => dy.mul(out).div(b).neg()) : null,
]);
// d(aᵇ) = dy·b·aᵇ⁻¹, dy·aᵇ·ln a
const powOp = defineOp('pow', (dy, { inputs: [a, b], out, needs }) => [
  needs[0] ? tidy(() => dy.mul(b).mul(pow(a, typeof b === 'number' ? b - 1 : b.sub(1)))) : null,
  needs[1] ? tidy(() => dy.mul(out).mul(typeof a === 'number' ? Math.log(a) : log(a))) : null,
]);

export const add = (a: TensorOrScalar, b: TensorOrScalar): Tensor => record(addOp, binaryKernel('add', a, b), [a, b], {});
export const sub = (a: TensorOrScalar, b: TensorOrScalar): Tensor => record(subOp, binaryKernel('sub', a, b), [a, b], {});
export const mul = (a: TensorOrScalar, b: TensorOrScalar): Tensor => record(mulOp, binaryKernel('mul', a, b), [a, b], {});
export const div = (a: TensorOrScalar, b: TensorOrScalar): Tensor => record(divOp, binaryKernel('div', a, b), [a, b], {});
export const pow = (a: TensorOrScalar, b: TensorOrScalar): Tensor => record(powOp, binaryKernel('pow', a, b), [a, b], {});

/** Comparisons give 1 or 0 and carry no gradient. */
export const equal = (a: TensorOrScalar, b: TensorOrScalar): Tensor => binaryKernel('eq', a, b);
export const greater = (a: TensorOrScalar, b: TensorOrScalar): Tensor => binaryKernel('gt', a, b);
export const greaterEqual = (a: TensorOrScalar, b: TensorOrScalar): Tensor => binaryKernel('ge', a, b);
export const less = (a: TensorOrScalar, b: TensorOrScalar): Tensor => binaryKernel('lt', a, b);
export const maximum = (a: TensorOrScalar, b: TensorOrScalar): Tensor => binaryKernel('max', a, b);
export const minimum = (a: TensorOrScalar, b: TensorOrScalar): Tensor => binaryKernel('min', a, b);

const whereOp = defineOp('where', (dy, { inputs: [cond], needs }) => [
  null,
  needs[1] ? where(cond, dy, 0) : null,
  needs[2] ? where(cond, 0, dy) : null,
]);

/** cond ≠ 0 ? a : b, all three broadcast together. The condition takes no gradient. */
export function where(cond: TensorOrScalar, a: TensorOrScalar, b: TensorOrScalar): Tensor {
  const device = deviceOf('where', cond, a, b);
  const outShape = broadcastShapes('where', shapeOf(cond), shapeOf(a), shapeOf(b));
  const out = new Tensor(
    device.where(kernelOperand('where', cond), kernelOperand('where', a), kernelOperand('where', b), outShape),
    outShape, device,
  );
  return record(whereOp, out, [cond, a, b], {});
}

/** x with `value` wherever mask ≠ 0 (mask broadcasts to x). */
export function maskedFill(x: Tensor, mask: Tensor, value: number): Tensor {
  return where(mask, value, x);
}
