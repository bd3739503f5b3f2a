/**
 * The oracle: attention exactly as written, S = τ·QKᵀ and P = softmax(S) materialised in full
 * (N × N), differentiated by the core autograd. Tests compare flashAttention against it.
 */
import { Tensor, greaterEqual, matmulT, noGrad, where } from '@flashgrad/core';
import { causalOffset, resolveScale, validateAttention, validateOptions } from './validate.js';

export interface AttentionOptions {
  /** Bottom-right aligned causal mask: query i sees key j iff j ≤ i + Nk − Nq. */
  causal?: boolean;
  /** τ in softmax(τ·QKᵀ); default 1/√d. */
  scale?: number;
}

export interface AttentionWithLse {
  /** [B, H, Nq, d] */
  out: Tensor;
  /** Row logsumexp of τ·QKᵀ over the visible keys, [B, H, Nq]; −∞ for rows that see no key. Not differentiable. */
  lse: Tensor;
}

/**
 * A finite stand-in for −∞ in masked scores: exp(MASKED − m) is exactly 0 for any real row max m,
 * and unlike −∞ it never makes NaN (−∞ − (−∞)) nor relies on a device's infinity handling.
 */
export const MASKED = -1e30;

/** 1 where query i (of `rows` starting at rowStart) may see key j (of `cols` starting at colStart). */
export function causalKeep(
  device: Tensor['device'], rows: number, cols: number, rowStart: number, colStart: number, offset: number,
): Tensor {
  // query i sees key j iff j ≤ i + offset: compare a column of row numbers with a row of key numbers
  const i = new Tensor(device.upload(Float64Array.from({ length: rows }, (_, r) => rowStart + r + offset)), [rows, 1], device);
  const j = new Tensor(device.upload(Float64Array.from({ length: cols }, (_, c) => colStart + c)), [1, cols], device);
  const keep = greaterEqual(i, j); // (rows, cols)
  i.dispose();
  j.dispose();
  return keep;
}

export function naiveAttention(q: Tensor, k: Tensor, v: Tensor, options?: AttentionOptions & { returnLse?: false }): Tensor;
export function naiveAttention(q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions & { returnLse: true }): AttentionWithLse;
export function naiveAttention(
  q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions & { returnLse?: boolean } = {},
): Tensor | AttentionWithLse {
  // flash's tile options are accepted (and ignored) so one options object can drive either
  validateOptions('naiveAttention', options, ['causal', 'scale', 'returnLse', 'blockSize', 'skipMaskedTiles']);
  const dims = validateAttention('naiveAttention', q, k, v);
  const scale = resolveScale('naiveAttention', options.scale, dims.d);
  const keep = options.causal ? causalKeep(q.device, dims.Nq, dims.Nk, 0, 0, causalOffset(dims)) : null; // (Nq, Nk)
  const s = matmulT(q, k, false, true).mul(scale); // (B, H, Nq, Nk)
  let p = (keep ? where(keep, s, MASKED) : s).softmax(-1); // (B, H, Nq, Nk)
  // rows that see no key would average all values (every score is MASKED): they output 0 instead
  if (keep && dims.Nq > dims.Nk) p = p.mul(keep);
  const out = p.matmul(v); // (B, H, Nq, d)
  const lse = options.returnLse ? noGrad(() => rowLogsumexp(s, keep)) : null;
  // the where and mul gradients read the mask, so it lives as long as the graph does
  if (!out.requiresGrad) keep?.dispose();
  return lse ? { out, lse } : out;
}

function rowLogsumexp(s: Tensor, keep: Tensor | null): Tensor {
  const masked = keep ? where(keep, s, -Infinity) : s;
  const lse = masked.logsumexp(-1); // (B, H, Nq)
  if (masked !== s) masked.dispose();
  return lse;
}
