/**
 * The oracle: attention exactly as written, S = τ·QKᵀ and P = softmax(S) materialised in full
 * (N × N), differentiated by the core autograd. Tests compare flashAttention against it, so its
 * masks are written here from their definitions, sharing no code with flash's tile planning
 * (masks.ts) or kernels: a bug in one cannot hide in the other.
 */
import { Tensor, dropoutHash24, dropoutSeed, dropoutThreshold, greaterEqual, matmulT, noGrad, where } from '@flashgrad/core';
import {
  validateCall, type AttentionDims, type BlockGrid,
} from './validate.js';

export interface AttentionOptions {
  /** Bottom-right aligned causal mask: query i sees key j iff j ≤ i + Nk − Nq. */
  causal?: boolean;
  /** τ in softmax(τ·QKᵀ); default 1/√d. */
  scale?: number;
  /**
   * Block-sparse mask: an [Mq][Mk] grid of booleans; query i sees key j only where
   * blockMask[⌊i / ⌈Nq/Mq⌉⌋][⌊j / ⌈Nk/Mk⌉⌋] is true (and, if causal, the causal mask allows).
   * Rows that see no key output 0.
   */
  blockMask?: readonly (readonly (boolean | number)[])[];
  /**
   * flash-attn's dropout_p: each element of P = softmax(S) is zeroed with probability p and the
   * rest scaled by 1/(1 − p). Element (b, h, i, j) is dropped where dropoutHash24(seed, ((b·H + h)·Nq
   * + i)·Nk + j) < dropoutThreshold(p), the seed drawn from core's stream (manualSeed) once per call.
   */
  dropout?: number;
}

export interface AttentionWithLse {
  /** [B, H, Nq, d] */
  out: Tensor;
  /** Row logsumexp of τ·QKᵀ over the visible keys, [B, H, Nq]; −∞ for rows that see no key. Not differentiable. */
  lse: Tensor;
}

/** Large enough that exp(HIDDEN − m) is 0 for any real row max m; finite, so never NaN. */
const HIDDEN = -1e30;

/**
 * 1 where query i may see key j, (Nq, Nk), or null when nothing is masked. The causal mask alone
 * is a device comparison of each row's last visible key, i + Nk − Nq, with the key numbers (so the
 * oracle stays cheap enough to benchmark against); with a block grid every element is decided on
 * the host, one at a time.
 */
function visibleKeys(device: Tensor['device'], { Nq, Nk }: AttentionDims, causal: boolean, grid: BlockGrid | null): Tensor | null {
  if (!causal && !grid) return null;
  if (!grid) {
    const lastKey = new Tensor(device.upload(Float64Array.from({ length: Nq }, (_, i) => i + Nk - Nq)), [Nq, 1], device);
    const key = new Tensor(device.upload(Float64Array.from({ length: Nk }, (_, j) => j)), [1, Nk], device);
    const keep = greaterEqual(lastKey, key); // (Nq, Nk): j ≤ i + Nk − Nq
    lastKey.dispose();
    key.dispose();
    return keep;
  }
  const keep = new Float64Array(Nq * Nk);
  for (let i = 0; i < Nq; i++) {
    for (let j = 0; j < Nk; j++) {
      const causalOk = !causal || j <= i + Nk - Nq;
      const blockOk = grid.cells[Math.floor(i / grid.rowsPerBlock) * grid.Mk + Math.floor(j / grid.keysPerBlock)] === 1;
      keep[i * Nk + j] = causalOk && blockOk ? 1 : 0;
    }
  }
  return new Tensor(device.upload(keep), [Nq, Nk], device);
}

/** 0 or 1/(1 − p) for every element of P [B, H, Nq, Nk], from the call's seed. */
function dropoutScale({ B, H, Nq, Nk }: AttentionDims, p: number, seed: number): Float64Array {
  const threshold = dropoutThreshold(p);
  const z = new Float64Array(B * H * Nq * Nk);
  for (let e = 0; e < z.length; e++) z[e] = dropoutHash24(seed, e) >= threshold ? 1 / (1 - p) : 0;
  return z;
}

export function naiveAttention(q: Tensor, k: Tensor, v: Tensor, options?: AttentionOptions & { returnLse?: false }): Tensor;
export function naiveAttention(q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions & { returnLse: true }): AttentionWithLse;
export function naiveAttention(
  q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions & { returnLse?: boolean } = {},
): Tensor | AttentionWithLse {
  const op = 'naiveAttention';
  const { dims, scale, grid, p } = validateCall(op, q, k, v, options);
  const device = q.device;
  const keep = visibleKeys(device, dims, options.causal ?? false, grid); // (Nq, Nk)
  const z = p > 0 ? new Tensor(device.upload(dropoutScale(dims, p, dropoutSeed())), [dims.B, dims.H, dims.Nq, dims.Nk], device) : null;
  const s = matmulT(q, k, false, true).mul(scale); // (B, H, Nq, Nk)
  let probs = (keep ? where(keep, s, HIDDEN) : s).softmax(-1); // (B, H, Nq, Nk)
  // rows that see no key would average all values (every score is HIDDEN): they output 0 instead
  if (keep) probs = probs.mul(keep);
  if (z) probs = probs.mul(z);
  const out = probs.matmul(v); // (B, H, Nq, d)
  const lse = options.returnLse ? noGrad(() => rowLogsumexp(s, keep)) : null;
  // the where and mul gradients read the masks, so they live as long as the graph does
  if (!out.requiresGrad) for (const t of [keep, z]) t?.dispose();
  return lse ? { out, lse } : out;
}

function rowLogsumexp(s: Tensor, keep: Tensor | null): Tensor {
  const masked = keep ? where(keep, s, -Infinity) : s;
  const lse = masked.logsumexp(-1); // (B, H, Nq)
  if (masked !== s) masked.dispose();
  return lse;
}
