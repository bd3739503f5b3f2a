/** Batched matrix multiplication with broadcast batch dims; transposes fold into the kernel. */
import { Tensor } from '../tensor.js';
import { record } from '../autograd.js';
import { broadcastShapes, fmt } from '../shape.js';
import { deviceOf } from './common.js';

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
