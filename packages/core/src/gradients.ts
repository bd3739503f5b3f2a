/**
 * Every gradient rule in one table, tinygrad-style: op → (output gradient, saved values) →
 * one gradient per input. Rules may return a gradient of the broadcast output shape; autograd
 * sums it back to the input's shape. Composite ops have no rule: their primitives' rules compose;
 * softmax, layerNorm and crossEntropy have fused kernels, and so rules of their own.
 */
import type { Tensor } from './tensor.js';
import * as ops from './ops/index.js';

type Operand = Tensor | number;

export interface OpAttrs {
  add: object; sub: object; mul: object; div: object; pow: object;
  neg: object; exp: object; log: object; sqrt: object; tanh: object; sigmoid: object;
  relu: object; gelu: object; abs: object;
  /** Reductions keep dims; the caller reshapes. */
  sum: object;
  max: object;
  matmul: { transA: boolean; transB: boolean };
  /** Inputs are x, weight, then bias and residual where given. */
  linear: { hasBias: boolean; hasResidual: boolean };
  reshape: object;
  permute: { perm: number[] };
  expand: object;
  slice: { starts: number[] };
  pad: { starts: number[] };
  gatherRows: { indices: Int32Array; rows: number };
  where: object;
  softmax: object;
  /** The mask is redrawn from the seed. */
  dropout: { p: number; seed: number };
  /** Inputs are x, then weight and bias where given. */
  layerNorm: { eps: number; hasWeight: boolean; hasBias: boolean };
  /** The per-row loss [rows] of logits [..., C]. */
  crossEntropy: { targets: Int32Array };
}

interface Context<A> {
  inputs: readonly Operand[];
  out: Tensor;
  attrs: A;
  /** needs[i]: whether input i wants a gradient (skip the work otherwise). */
  needs: boolean[];
}

type Rule<A> = (dy: Tensor, ctx: Context<A>) => (Tensor | null)[];
type Rules = { [K in keyof OpAttrs]: Rule<OpAttrs[K]> };

const T = (x: Operand): Tensor => x as Tensor; // inputs that need a gradient are tensors

export const gradients: Rules = {
  add: (dy) => [dy, dy],
  sub: (dy, { needs }) => [dy, needs[1] ? dy.neg() : null],
  mul: (dy, { inputs: [a, b], needs }) => [needs[0] ? dy.mul(b) : null, needs[1] ? dy.mul(a) : null],
  // d(a/b) = dy/b, −dy·a/b²
  div: (dy, { inputs: [a, b], out, needs }) => [
    needs[0] ? dy.div(b) : null,
    needs[1] ? ops.tidy(() => dy.mul(out).div(b).neg()) : null,
  ],
  // d(aᵇ) = dy·b·aᵇ⁻¹, dy·aᵇ·ln a
  pow: (dy, { inputs: [a, b], out, needs }) => [
    needs[0] ? ops.tidy(() => dy.mul(b).mul(ops.pow(a, typeof b === 'number' ? b - 1 : T(b).sub(1)))) : null,
    needs[1] ? ops.tidy(() => dy.mul(out).mul(typeof a === 'number' ? Math.log(a) : ops.log(a))) : null,
  ],
  neg: (dy) => [dy.neg()],
  exp: (dy, { out }) => [dy.mul(out)],
  log: (dy, { inputs: [x] }) => [dy.div(x)],
  sqrt: (dy, { out }) => [ops.tidy(() => dy.div(out).mul(0.5))],
  tanh: (dy, { out }) => [ops.tidy(() => dy.mul(ops.sub(1, out.mul(out))))],
  sigmoid: (dy, { out }) => [ops.tidy(() => dy.mul(out).mul(ops.sub(1, out)))],
  relu: (dy, { inputs: [x] }) => [ops.tidy(() => dy.mul(ops.unaryKernel('reluDeriv', T(x))))],
  gelu: (dy, { inputs: [x] }) => [ops.tidy(() => dy.mul(ops.unaryKernel('geluDeriv', T(x))))],
  abs: (dy, { inputs: [x] }) => [ops.tidy(() => dy.mul(ops.unaryKernel('sign', T(x))))],
  sum: (dy, { inputs: [x] }) => [dy.expand([...T(x).shape])],
  // the gradient goes to every position holding the max, shared equally between ties
  max: (dy, { inputs: [x], out }) => [
    ops.tidy(() => {
      const hits = ops.equal(T(x), out);
      return hits.mul(dy.div(hits.sum(reducedAxes(out, T(x)), true)));
    }),
  ],
  // C = op(A)·op(B): dA = dC·op(B)ᵀ, dB = op(A)ᵀ·dC, with the transposes folded into the kernel
  matmul: (dy, { inputs: [a, b], attrs: { transA, transB }, needs }) => [
    needs[0] ? (transA ? ops.matmulT(T(b), dy, transB, true) : ops.matmulT(dy, T(b), false, !transB)) : null,
    needs[1] ? (transB ? ops.matmulT(dy, T(a), true, transA) : ops.matmulT(T(a), dy, !transA, false)) : null,
  ],
  // y = x Wᵀ + b + r over rows: dx = dy W, dW = dyᵀ x, db = Σ_rows dy, dr = dy
  linear: (dy, { inputs, attrs: { hasBias, hasResidual }, needs }) => ops.tidy(() => {
    const [x, w] = [T(inputs[0]), T(inputs[1])];
    const [outF, inF] = w.shape;
    const dy2 = dy.reshape([-1, outF]); // (rows, out)
    return [
      needs[0] ? ops.matmulT(dy2, w, false, false).reshape([...x.shape]) : null,
      needs[1] ? ops.matmulT(dy2, x.reshape([-1, inF]), true, false) : null,
      ...(hasBias ? [needs[2] ? ops.sum(dy2, 0) : null] : []),
      ...(hasResidual ? [needs[inputs.length - 1] ? dy : null] : []),
    ];
  }),
  reshape: (dy, { inputs: [x] }) => [dy.reshape([...T(x).shape])],
  permute: (dy, { attrs: { perm } }) => [dy.permute(inversePermutation(perm))],
  expand: (dy) => [dy],
  slice: (dy, { inputs: [x], attrs: { starts } }) => [ops.pad(dy, [...T(x).shape], starts)],
  pad: (dy, { inputs: [x], attrs: { starts } }) => [
    dy.slice(starts, starts.map((s, i) => s + T(x).shape[i])),
  ],
  gatherRows: (dy, { attrs: { indices, rows } }) => [ops.scatterAddRows(dy, indices, rows)],
  where: (dy, { inputs: [cond], needs }) => [
    null,
    needs[1] ? ops.where(cond, dy, 0) : null,
    needs[2] ? ops.where(cond, 0, dy) : null,
  ],
  softmax: (dy, { out }) => [ops.softmaxBackward(out, dy)],
  dropout: (dy, { attrs: { p, seed } }) => [ops.dropoutBackward(dy, p, seed)],
  layerNorm: (dy, { inputs, attrs: { eps, hasWeight, hasBias }, needs }) => {
    const g = ops.layerNormBackward(dy, T(inputs[0]), hasWeight ? T(inputs[1]) : null, eps,
      { dx: needs[0], dweight: hasWeight && needs[1], dbias: hasBias && needs[hasWeight ? 2 : 1] });
    return [g.dx, ...(hasWeight ? [g.dweight] : []), ...(hasBias ? [g.dbias] : [])];
  },
  crossEntropy: (dy, { inputs: [logits], attrs: { targets } }) => [ops.crossEntropyBackward(T(logits), targets, dy)],
};

function inversePermutation(perm: number[]): number[] {
  const inv = new Array<number>(perm.length);
  perm.forEach((p, i) => (inv[p] = i));
  return inv;
}

function reducedAxes(reduced: Tensor, full: Tensor): number[] {
  return full.shape.flatMap((d, i) => (reduced.shape[i] !== d ? [i] : []));
}
