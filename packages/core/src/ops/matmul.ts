/** Batched matrix multiplication with broadcast batch dims; transposes fold into the kernel. */
import { Tensor } from '../tensor.js';
import { record } from '../autograd.js';
import { broadcastShapes, fmt } from '../shape.js';
import { deviceOf, fusion } from './common.js';

/** a @ b for a [..., M, K] and b [..., K, N]; batch dims broadcast. */
export function matmul(a: Tensor, b: Tensor): Tensor {
  return matmulT(a, b, false, false);
}

/** op(a) @ op(b) where op transposes the last two dims when asked, without moving memory. */
export function matmulT(a: Tensor, b: Tensor, transA: boolean, transB: boolean): Tensor {
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
  return record('matmul', new Tensor(buf, [...batch, m, n], device), [a, b], { transA, transB });
}

/**
 * y = x Wᵀ + b (+ residual): a Linear layer as one matmul kernel that adds its bias, and the
 * residual stream where given, on the way out. x [..., in], weight [out, in] (PyTorch's layout),
 * bias [out], residual [..., out]. The leading dims fold into the rows of one 2-D product, so the
 * weight's gradient is one matmul over all rows (no per-batch products summed afterwards).
 */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor | null, residual?: Tensor | null): Tensor {
  if (weight.ndim !== 2 || x.ndim < 1 || x.shape[x.ndim - 1] !== weight.shape[1]) {
    throw new Error(`linear: input ${fmt(x.shape)} does not fit weight ${fmt(weight.shape)} ([out, in])`);
  }
  const [outF, inF] = weight.shape;
  const outShape = [...x.shape.slice(0, -1), outF];
  if (bias && (bias.ndim !== 1 || bias.shape[0] !== outF)) throw new Error(`linear: bias of shape ${fmt(bias.shape)} for ${outF} outputs`);
  if (residual && residual.shape.join() !== outShape.join()) {
    throw new Error(`linear: residual of shape ${fmt(residual.shape)} for an output of shape ${fmt(outShape)}`);
  }
  const extra = [bias, residual].filter((t): t is Tensor => t instanceof Tensor);
  if (!fusion.enabled) {
    const y = matmulT(x, weight, false, true);
    const yb = bias ? y.add(bias) : y;
    return residual ? yb.add(residual) : yb;
  }
  const device = deviceOf('linear', x, weight, ...extra);
  const rows = x.shape.slice(0, -1).reduce((a, d) => a * d, 1);
  const buf = device.matmul(x.buffer('linear'), [rows, inF], weight.buffer('linear'), weight.shape, false, true, [], {
    bias: bias?.buffer('linear'), residual: residual?.buffer('linear'),
  });
  return record('linear', new Tensor(buf, outShape, device), [x, weight, ...extra], { hasBias: !!bias, hasResidual: !!residual });
}
