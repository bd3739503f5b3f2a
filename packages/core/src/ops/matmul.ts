/** Batched matrix multiplication with broadcast batch dims; transposes fold into the kernel. */
import { Tensor, tidy } from '../tensor.js';
import { record } from '../autograd.js';
import { broadcastShapes, fmt, sizeOf } from '../shape.js';
import { deviceOf, fusion } from './common.js';
import { asTensor, defineOp } from './op.js';
import { sum } from './reduce.js';
import { checkTensor } from '../validate.js';

// C = op(A)·op(B): dA = dC·op(B)ᵀ, dB = op(A)ᵀ·dC, with the transposes folded into the kernel
const matmulOp = defineOp<{ transA: boolean; transB: boolean }>('matmul', (dy, { inputs: [x, y], attrs: { transA, transB }, needs }) => {
  const [a, b] = [asTensor(x), asTensor(y)];
  return [
    needs[0] ? (transA ? matmulT(b, dy, transB, true) : matmulT(dy, b, false, !transB)) : null,
    needs[1] ? (foldsRows(a, b, transA) ? foldedWeightGrad(a, dy, transB) : transB ? matmulT(dy, a, true, transA) : matmulT(a, dy, !transA, false)) : null,
  ];
});

/**
 * A 2-D B under a batched, untransposed A is one weight applied to every row of A (GPT's head:
 * x [B, T, C] · wteᵀ). Its gradient sums over the batch, so the batch folds into the rows.
 */
function foldsRows(a: Tensor, b: Tensor, transA: boolean): boolean {
  return b.ndim === 2 && a.ndim > 2 && !transA;
}

/**
 * dB as one 2-D product with K = every row of the batch (as PyTorch's linear backward): A folded
 * to [rows, K] and dC to [rows, N]. The batched form, a product per batch element summed after,
 * wrote batch × |B| floats and ran each product with a short K (GPT-2's head: 4 products of
 * [50257, 768] over 1,024 rows, 20.9 ms on the H200, where one over 4,096 rows took 9.1 ms).
 */
function foldedWeightGrad(a: Tensor, dy: Tensor, transB: boolean): Tensor {
  return tidy(() => {
    // the row count spelled out: -1 is ambiguous beside a 0-size K or N
    const rows = sizeOf(a.shape.slice(0, -1));
    const a2 = a.reshape([rows, a.shape[a.ndim - 1]]);
    const dy2 = dy.reshape([rows, dy.shape[dy.ndim - 1]]);
    // B [K, N]: dB = A2ᵀ·dC2; B [N, K] (transB): dB = dC2ᵀ·A2
    return transB ? matmulT(dy2, a2, true, false) : matmulT(a2, dy2, true, false);
  });
}

// y = x Wᵀ + b over rows: dx = dy W, dW = dyᵀ x, db = Σ_rows dy
const linearOp = defineOp<{ hasBias: boolean }>('linear', (dy, { inputs, attrs: { hasBias }, needs }) => tidy(() => {
  const [x, w] = [asTensor(inputs[0]), asTensor(inputs[1])];
  const outF = w.shape[0];
  const rows = sizeOf(x.shape.slice(0, -1)); // spelled out: -1 is ambiguous beside a 0-size dim
  const dy2 = dy.reshape([rows, outF]);
  return [
    needs[0] ? matmulT(dy2, w, false, false).reshape([...x.shape]) : null,
    needs[1] ? foldedWeightGrad(x, dy, true) : null,
    ...(hasBias ? [needs[2] ? sum(dy2, 0) : null] : []),
  ];
}));

/** a @ b for a [..., M, K] and b [..., K, N]; batch dims broadcast. */
export function matmul(a: Tensor, b: Tensor): Tensor {
  return matmulT(a, b, false, false);
}

/** op(a) @ op(b) where op transposes the last two dims when asked, without moving memory. */
export function matmulT(a: Tensor, b: Tensor, transA: boolean, transB: boolean): Tensor {
  // deviceOf lets numbers through (elementwise ops broadcast them); matmul has no scalar operand
  checkTensor('matmul', 'a', a);
  checkTensor('matmul', 'b', b);
  const device = deviceOf('matmul', a, b);
  if (a.ndim < 2 || b.ndim < 2) {
    throw new Error(`matmul: both operands need at least 2 dims, got ${fmt(a.shape)} and ${fmt(b.shape)}`);
  }
  const [m, ka] = transA ? [a.shape[a.ndim - 1], a.shape[a.ndim - 2]] : [a.shape[a.ndim - 2], a.shape[a.ndim - 1]];
  const [kb, n] = transB ? [b.shape[b.ndim - 1], b.shape[b.ndim - 2]] : [b.shape[b.ndim - 2], b.shape[b.ndim - 1]];
  if (ka !== kb) {
    throw new Error(`matmul: inner dimensions differ: ${fmt(a.shape)}${transA ? 'ᵀ' : ''} @ ${fmt(b.shape)}${transB ? 'ᵀ' : ''} (${ka} vs ${kb})`);
  }
  const batch = broadcastShapes('matmul', a.shape.slice(0, -2), b.shape.slice(0, -2));
  const buf = device.matmul(a.buffer('matmul'), a.shape, b.buffer('matmul'), b.shape, transA, transB, batch);
  return record(matmulOp, new Tensor(buf, [...batch, m, n], device), [a, b], { transA, transB });
}

/**
 * y = x Wᵀ + b: a Linear layer as one matmul kernel that adds its bias on the way out. x [..., in],
 * weight [out, in] (PyTorch's layout), bias [out]. The leading dims fold into the rows of one 2-D
 * product, so the weight's gradient is one matmul over all rows (no per-batch products summed
 * afterwards).
 */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  if (weight.ndim !== 2 || x.ndim < 1 || x.shape[x.ndim - 1] !== weight.shape[1]) {
    throw new Error(`linear: input ${fmt(x.shape)} does not fit weight ${fmt(weight.shape)} ([out, in])`);
  }
  const [outF, inF] = weight.shape;
  const outShape = [...x.shape.slice(0, -1), outF];
  if (bias && (bias.ndim !== 1 || bias.shape[0] !== outF)) throw new Error(`linear: bias of shape ${fmt(bias.shape)} for ${outF} outputs`);
  if (!fusion.enabled) {
    // rows folded as in the fused path: x may be 1-D, which matmul alone would refuse
    const y = matmulT(x.reshape([-1, inF]), weight, false, true).reshape(outShape);
    return bias ? y.add(bias) : y;
  }
  const device = deviceOf('linear', x, weight, ...(bias ? [bias] : []));
  const rows = x.shape.slice(0, -1).reduce((a, d) => a * d, 1);
  const buf = device.matmul(x.buffer('linear'), [rows, inF], weight.buffer('linear'), weight.shape, false, true, [], {
    bias: bias?.buffer('linear'),
  });
  return record(linearOp, new Tensor(buf, outShape, device), bias ? [x, weight, bias] : [x, weight], { hasBias: !!bias });
}
