/** Shape and option checks shared by naiveAttention and flashAttention; every Error names the op. */
import { Tensor, checkBoolean, checkOptions, show } from '@flashgrad/core';

/** The sizes every attention call works with, read from q [B, H, Nq, d] and k, v [B, H, Nk, d]. */
export interface AttentionDims {
  B: number;
  H: number;
  Nq: number;
  Nk: number;
  d: number;
}

const fmt = (t: Tensor): string => `[${t.shape.join(', ')}]`;

export function validateAttention(op: string, q: Tensor, k: Tensor, v: Tensor): AttentionDims {
  const named = { q, k, v };
  for (const [name, t] of Object.entries(named)) {
    if (!(t instanceof Tensor)) throw new Error(`${op}: ${name} must be a Tensor, got ${show(t)}`);
  }
  const shapes = `q ${fmt(q)}, k ${fmt(k)}, v ${fmt(v)}`;
  if (q.ndim !== 4 || k.ndim !== 4 || v.ndim !== 4) {
    throw new Error(`${op}: q, k and v must be rank 4 [B, H, N, d], got ${shapes}`);
  }
  const [B, H, Nq, d] = q.shape;
  const [Bk, Hk, Nk, dk] = k.shape;
  if (Bk !== B || Hk !== H || v.shape[0] !== B || v.shape[1] !== H) {
    throw new Error(`${op}: batch and head dims [B, H] of q, k and v must agree, got ${shapes}`);
  }
  if (dk !== d || v.shape[3] !== d) {
    throw new Error(`${op}: head dim d of q, k and v must agree, got ${shapes}`);
  }
  if (v.shape[2] !== Nk) {
    throw new Error(`${op}: k and v must have the same length Nk, got ${shapes}`);
  }
  if (B < 1 || H < 1 || Nq < 1 || Nk < 1 || d < 1) {
    throw new Error(`${op}: every dim must be at least 1, got ${shapes}`);
  }
  const devices = new Set([q.device, k.device, v.device]);
  if (devices.size > 1) {
    throw new Error(`${op}: q, k and v live on different devices (${[q, k, v].map((t) => t.device.name).join(', ')}); move them with await t.to(name)`);
  }
  return { B, H, Nq, Nk, d };
}

/**
 * τ: the given scale, or 1/√d. On a float32 device it must be finite as a float32 too: 1e300 became
 * ∞ there, NaN scores on wasm and a kernel that would not compile on webgpu.
 */
export function resolveScale(op: string, scale: number | undefined, d: number, precision: 'float32' | 'float64'): number {
  if (scale === undefined) return 1 / Math.sqrt(d);
  if (typeof scale !== 'number' || !Number.isFinite(scale)) throw new Error(`${op}: scale must be a finite number, got ${show(scale)}`);
  if (precision === 'float32' && !Number.isFinite(Math.fround(scale))) {
    throw new Error(`${op}: scale ${scale} overflows float32 (|scale| ≤ 3.4e38 on this device)`);
  }
  return scale;
}

function validateBlockSize(op: string, blockSize: number): void {
  if (!Number.isInteger(blockSize) || blockSize < 1) {
    throw new Error(`${op}: blockSize must be a positive integer, got ${show(blockSize)}`);
  }
}

/**
 * A block-sparse mask (FlashAttention's block-sparse variant) as given: an [Mq, Mk] grid of
 * booleans over query blocks of ⌈Nq/Mq⌉ rows and key blocks of ⌈Nk/Mk⌉ keys (the last block of
 * each may be shorter), independent of any kernel's tile sizes. `cells[a·Mk + b]` is 1 where
 * query block a may see key block b.
 */
export interface BlockGrid {
  Mq: number;
  Mk: number;
  /** Query rows per block, ⌈Nq/Mq⌉. */
  rowsPerBlock: number;
  /** Keys per block, ⌈Nk/Mk⌉. */
  keysPerBlock: number;
  cells: Uint8Array;
}

/** The blockMask option checked and flattened; null when absent. */
export function validateBlockMask(op: string, mask: unknown, dims: AttentionDims): BlockGrid | null {
  if (mask === undefined || mask === null) return null;
  if (mask instanceof Tensor) {
    throw new Error(`${op}: blockMask must be nested arrays of booleans [Mq][Mk], not a Tensor (tiles are planned on the host: pass await mask.toArray())`);
  }
  if (!Array.isArray(mask) || mask.length === 0 || !mask.every((row) => Array.isArray(row))) {
    throw new Error(`${op}: blockMask must be a non-empty [Mq][Mk] array of arrays of booleans, got ${show(mask)}`);
  }
  const Mq = mask.length;
  const Mk = (mask[0] as unknown[]).length;
  if (Mk === 0 || !mask.every((row) => (row as unknown[]).length === Mk)) {
    throw new Error(`${op}: blockMask rows must all have the same non-zero length, got lengths [${mask.map((r) => (r as unknown[]).length).join(', ')}]`);
  }
  if (Mq > dims.Nq || Mk > dims.Nk) {
    throw new Error(`${op}: blockMask [${Mq}, ${Mk}] has more blocks than queries or keys (Nq ${dims.Nq}, Nk ${dims.Nk})`);
  }
  // with ⌈N/M⌉ per block the last blocks may hold nothing (Nq 4, Mq 3: rows 0–1, 2–3 and none), and
  // their row or column of the grid would be ignored without a word
  for (const [axis, M, N] of [['query', Mq, dims.Nq], ['key', Mk, dims.Nk]] as const) {
    const per = Math.ceil(N / M);
    if ((M - 1) * per >= N) {
      throw new Error(`${op}: blockMask [${Mq}, ${Mk}] splits ${N} ${axis === 'query' ? 'queries' : 'keys'} into blocks of ⌈${N}/${M}⌉ = ${per}, which leaves ${axis} block ${M - 1} empty (only ${Math.ceil(N / per)} hold any); use ${axis === 'query' ? 'Mq' : 'Mk'} blocks that all hold one (a divisor of ${N} always does)`);
    }
  }
  const cells = new Uint8Array(Mq * Mk);
  // plain loops: a training step passes its grid every call (64 × 64 cells at N = 4096)
  for (let a = 0; a < Mq; a++) {
    const row = mask[a] as unknown[];
    for (let b = 0; b < Mk; b++) {
      const x = row[b];
      if (x === true || x === 1) cells[a * Mk + b] = 1;
      else if (x !== false && x !== 0) throw new Error(`${op}: blockMask[${a}][${b}] must be a boolean (or 0 / 1), got ${show(x)}`);
    }
  }
  return { Mq, Mk, rowsPerBlock: Math.ceil(dims.Nq / Mq), keysPerBlock: Math.ceil(dims.Nk / Mk), cells };
}

/** Attention dropout's p (flash-attn's dropout_p): 0 (the default) is off. */
export function validateDropout(op: string, p: unknown): number {
  if (p === undefined) return 0;
  if (typeof p !== 'number' || !(p >= 0 && p < 1)) throw new Error(`${op}: dropout must be a number in [0, 1), got ${show(p)}`);
  return p;
}

/**
 * The causal mask, bottom-right aligned as in PyTorch SDPA and flash-attn: query i may see key j
 * iff j ≤ i + Nk − Nq. So the first max(0, Nq − Nk) queries see no key at all; their output is 0.
 */
export const causalOffset = (dims: AttentionDims): number => dims.Nk - dims.Nq;

/** Every option either attention takes (naive accepts flash's tile options and ignores them). */
const ATTENTION_OPTIONS = ['causal', 'scale', 'blockMask', 'dropout', 'returnLse', 'blockSize', 'skipMaskedTiles'];

/**
 * What flash and naive attention both check first: the options object, the shapes, blockSize where
 * given, and the scale, block mask and dropout resolved from it.
 */
export function validateCall(op: string, q: Tensor, k: Tensor, v: Tensor,
  options: { causal?: boolean; returnLse?: boolean; skipMaskedTiles?: boolean; scale?: number; blockMask?: unknown; dropout?: number; blockSize?: number }) {
  // known keys only (a typo such as `casual` would be ignored), booleans that are booleans (`causal: 'no'` is truthy)
  checkOptions(op, options, ATTENTION_OPTIONS);
  for (const key of ['causal', 'returnLse', 'skipMaskedTiles'] as const) checkBoolean(op, key, options[key]);
  const dims = validateAttention(op, q, k, v);
  // naive ignores blockSize, but not a bad one: code that swaps one attention for the other gets the same errors
  if (options.blockSize !== undefined) validateBlockSize(op, options.blockSize);
  return { dims, scale: resolveScale(op, options.scale, dims.d, q.device.precision), grid: validateBlockMask(op, options.blockMask, dims), p: validateDropout(op, options.dropout) };
}
