/**
 * FlashAttention (Dao et al. 2022; FlashAttention-2, 2023) composed from core ops, laid out as
 * flash-attention's Triton file: forward kernel, Δ preprocessing, backward kernel, launcher,
 * autograd wrapper. The outer loop walks K/V in blocks of Bc keys; each block's scratch is
 * Nq × Bc and is freed before the next, so nothing N × N ever exists. Forward keeps a running row
 * max m, row sum l and unnormalised O; backward saves only q, k, v, O and L = m + log l, and
 * recomputes P = exp(τ·QKᵀ − L) one block at a time.
 *
 * Causal blocks: with the bottom-right mask, the queries that see any key of block [j0, j1) are
 * rows j0 + Nq − Nk … Nq−1, a suffix that only shrinks as j grows. With `skipMaskedTiles` each
 * block runs on that suffix alone (the tiles above the diagonal are skipped, halving the work),
 * and the rows that no later block reaches are finished and set aside ("retired") as soon as the
 * suffix leaves them; every row of a block's suffix sees at least its first key, so the running
 * max is always finite and no row of any block is all-masked. Without it (the default on gpu.js
 * GPU modes, where a kernel call costs more than the skipped arithmetic) every block runs on all
 * rows that see any key, masked; rows that see none of a block's keys get rowmax = MASKED and so
 * P̃ = 0 and an unchanged m, and since every such row sees key 0, block 0 makes m finite.
 *
 * Kernel calls, the cost that dominates on a GPU (~0.03 ms each on an H100 over WebGPU): per
 * block the forward makes 4 (first block) or 5: scores, the fused online-softmax stats, P̃, P̃V,
 * and the rescale of O (core's onlineSoftmaxStats / expShift / onlineRescale), +2 when the block
 * crosses the causal diagonal (mask, where), +2 K/V slices when there is more than one block (+1
 * each for the matmuls a GPU splits along K); the backward about 8 (+1 dq accumulate after the
 * first block, +2 mask, +2 slices, +4 placing dK_j and dV_j). Both add a few per call (τ·Q, and
 * Δ, O/l, L in one kernel each). On webgpu, 1 head, d = 64, forward / forward + backward at
 * N = 1024 (examples/count-attention.mjs): 237 / 522 calls with Bc = 64 and the composed softmax,
 * 8 / 21 now (one block); causal 12 / 29.
 * See defaultBlockSize for why blocks are few on a GPU.
 */
import {
  Tensor, concat, customOp, expShift, matmulT, noGrad, onlineLogsumexp, onlineNormalize, onlineRescale, onlineSoftmaxStats, pad,
  rowDot, rowShiftedProduct, tidy, where, type Device, type Grads,
} from '@flashgrad/core';
import { MASKED, causalKeep, type AttentionOptions, type AttentionWithLse } from './naive.js';
import { causalOffset, resolveScale, validateAttention, validateBlockSize, validateOptions, type AttentionDims } from './validate.js';

export interface FlashAttentionOptions extends AttentionOptions {
  /** Bc, keys per block (the scratch is B·H·Nq × Bc); default defaultBlockSize(device, dims). */
  blockSize?: number;
  /**
   * Causal only: run each block on the query rows that see it and retire finished rows (skips the
   * tiles above the diagonal, at ~9 more kernel calls a block). Default: true on CPU devices
   * (reference, wasm, cpu), false on gpu.js GPU modes (webgpu, headlessgl).
   */
  skipMaskedTiles?: boolean;
}

/**
 * Bc by measurement (examples/bench-attention.js with BENCH_BLOCK_SIZES, d = 64): on the reference
 * device 64 was fastest or tied at N = 1024 and 2048 with the lowest peak; on wasm 64 and 128 were
 * within the run-to-run spread at N = 512…2048 while peak memory grows with Bc (Nq × Bc scratch).
 * On a GPU, where a kernel call costs more than a block's arithmetic, defaultBlockSize picks larger blocks.
 */
export const DEFAULT_BLOCK_SIZE = 64;

/** gpu.js modes that run on a GPU, where each kernel call costs ~0.06–0.2 ms of host and launch time. */
const GPU_DEVICES = new Set(['webgpu', 'headlessgl']);

export const isGpuDevice = (device: Pick<Device, 'name'>): boolean => GPU_DEVICES.has(device.name);

/**
 * Elements of one block's scratch (B·H·Nq·Bc) that defaultBlockSize allows on a GPU: 2^23 float32
 * = 32 MiB. Measured on an H100 (webgpu, 1 head, N = 4096, d = 64, fwd+bwd; examples/bench-attention.js
 * with BENCH_BLOCK_SIZES): Bc = 1024 (2^22) 11.3 ms at a 53 MiB peak, 2048 (2^23) 8.8 ms at 102 MiB,
 * 4096 (the whole N × N) 7.5 ms at 195 MiB. 2^23 halves the blocks, and their kernel calls, of 2^22
 * and stays O(N): past N = 2048 at one head each doubling of N halves Bc.
 */
export const GPU_SCRATCH_ELEMENTS = 2 ** 23;

/**
 * Bc for a call. On CPU devices (reference, wasm, cpu): DEFAULT_BLOCK_SIZE, by measurement. On the
 * gpu.js GPU modes (webgpu, headlessgl): the largest power of two ≥ 64 with B·H·Nq·Bc ≤
 * GPU_SCRATCH_ELEMENTS, capped at Nk rounded up to a power of two, so that there are few blocks.
 * Why: measured on an H100 (webgpu over Vulkan; a kernel call ~0.06–0.1 ms, a 1024² matmul ~1 ms),
 * 1 head, d = 64, Bc = 64, flash forward+backward took 123.5 ms against naive's 7.3 at N = 1024
 * causal, 106 against 7.5 at N = 2048 and 205 against 21 at N = 4096 — the calls of 16…64 blocks,
 * not the arithmetic. The scratch stays bounded by the budget, so memory stays O(N): at B·H = 1
 * this gives one block up to N = 2048, 2 at 4096, 8 at 8192; at B·H = 8, Bc = 256 at N = 4096.
 */
export function defaultBlockSize(device: Pick<Device, 'name'>, dims: Pick<AttentionDims, 'B' | 'H' | 'Nq' | 'Nk'>): number {
  if (!isGpuDevice(device)) return DEFAULT_BLOCK_SIZE;
  const cap = 2 ** Math.ceil(Math.log2(dims.Nk));
  const rowsTimesHeads = dims.B * dims.H * dims.Nq;
  let bc = 64;
  while (bc < cap && rowsTimesHeads * bc * 2 <= GPU_SCRATCH_ELEMENTS) bc *= 2;
  return Math.min(bc, cap);
}

/** One block of keys [j0, j1) and the query rows [rowStart, Nq) that see any of them. */
interface Block {
  j0: number;
  j1: number;
  rowStart: number;
  /** Whether some of those rows must not see some of the block's keys (the block crosses the diagonal). */
  masked: boolean;
}

/** Blocks of Bc keys; with `shrink` (causal only) each runs on the rows that see it, else on every row that sees any key. */
function planBlocks(dims: AttentionDims, causal: boolean, bc: number, shrink: boolean): Block[] {
  const offset = causalOffset(dims); // query i sees key j iff j ≤ i + offset
  const blocks: Block[] = [];
  for (let j0 = 0; j0 < dims.Nk; j0 += bc) {
    const j1 = Math.min(dims.Nk, j0 + bc);
    const rowStart = causal ? Math.max(0, (shrink ? j0 : 0) - offset) : 0;
    blocks.push({ j0, j1, rowStart, masked: causal && j1 - 1 > rowStart + offset });
  }
  return blocks;
}

const rows = (t: Tensor, start: number, end: number): Tensor =>
  t.slice([0, 0, start], [t.shape[0], t.shape[1], end]);

/** Keys/values [j0, j1) of a block: the tensor itself when the block covers them all (no copy). */
const blockRows = (t: Tensor, b: Block): Tensor => (b.j0 === 0 && b.j1 === t.shape[2] ? t : rows(t, b.j0, b.j1));

/**
 * Parts along axis 2 joined by placing each into the full length and summing as it goes (2 kernel
 * calls a part after the first, one full-size buffer besides the running sum); one part is returned as is.
 */
function joinRows(parts: Tensor[]): Tensor {
  if (parts.length === 1) return parts[0];
  const shape = [...parts[0].shape];
  shape[2] = parts.reduce((n, p) => n + p.shape[2], 0);
  let acc: Tensor | null = null;
  let offset = 0;
  for (const p of parts) {
    const placed = pad(p, shape, [0, 0, offset, 0]);
    offset += p.shape[2];
    p.dispose();
    if (!acc) acc = placed;
    else {
      const sum: Tensor = acc.add(placed);
      acc.dispose();
      placed.dispose();
      acc = sum;
    }
  }
  return acc!;
}

/** Scores τ·Q_rows K_jᵀ of one block, MASKED where the causal mask hides a key. */
function blockScores(qs: Tensor, kj: Tensor, b: Block, dims: AttentionDims): Tensor {
  const s = matmulT(qs, kj, false, true); // (B, H, R, Bc)
  if (!b.masked) return s;
  const keep = causalKeep(qs.device, dims.Nq - b.rowStart, b.j1 - b.j0, b.rowStart, b.j0, causalOffset(dims)); // (R, Bc)
  const masked = where(keep, s, MASKED); // (B, H, R, Bc)
  keep.dispose();
  s.dispose();
  return masked;
}

/**
 * Joins parts along `axis` pairwise, freeing each level as it goes: core's concat pads every part
 * to the full size at once, which for many blocks would hold (#blocks × N × d) at the peak.
 */
function join(parts: Tensor[], axis: number): Tensor {
  if (parts.length === 1) return parts[0];
  const mid = parts.length >> 1;
  const left = join(parts.slice(0, mid), axis);
  const right = join(parts.slice(mid), axis);
  const joined = tidy(() => concat([left, right], axis));
  left.dispose();
  right.dispose();
  return joined;
}

/** Rows [0, r0) of a causal call with Nq > Nk see no key: they get `value` (0 for O and dq, −∞ for L). */
function prependRows(t: Tensor, r0: number, value: number): Tensor {
  if (r0 === 0) return t;
  const [B, H, , c] = t.shape;
  const head = new Tensor(t.device.fill(B * H * r0 * c, value), [B, H, r0, c], t.device); // (B, H, r0, c)
  return join([head, t], 2);
}

// ---------------------------------------------------------------------------------------------
// Forward kernel

/** Running statistics of the active rows [start, Nq). */
interface RowState {
  start: number;
  stats: Tensor; // (B, H, R, 2) per row (m, l): max of the scores seen so far and Σ exp(S − m)
  o: Tensor; // (B, H, R, d) unnormalised output, Σ exp(S − m) V
}

/**
 * One block: m' = max(m, rowmax S), l' = e^(m−m')·l + rowsum P̃ (one fused kernel), P̃ = e^(S − m'),
 * O' = e^(m−m')·O + P̃ V_j (one more).
 */
function forwardBlock(state: RowState | null, qs: Tensor, k: Tensor, v: Tensor, b: Block, dims: AttentionDims): RowState {
  const { Nq } = dims;
  const kj = blockRows(k, b); // (B, H, Bc, d)
  const vj = blockRows(v, b); // (B, H, Bc, d)
  const qj = b.rowStart > 0 ? rows(qs, b.rowStart, Nq) : qs; // (B, H, R, d)
  const s = blockScores(qj, kj, b, dims); // (B, H, R, Bc)
  const stats = onlineSoftmaxStats(s, state?.stats ?? null); // (B, H, R, 2)
  const p = expShift(s, stats); // (B, H, R, Bc)
  s.dispose();
  const pv = p.matmul(vj); // (B, H, R, d)
  p.dispose();
  return { start: b.rowStart, stats, o: state ? onlineRescale(state.o, pv, state.stats, stats) : pv };
}

/**
 * Splits off rows [state.start, upTo), which no later block reaches, finishes them (O/l and
 * L = m + log l, one kernel each) into `done`, and returns the state of the rows still active (null if none).
 */
function retireForward(state: RowState, upTo: number, done: { o: Tensor; lse: Tensor }[]): RowState | null {
  const n = upTo - state.start;
  const R = state.o.shape[2];
  const own = [state.stats, state.o];
  const [stats, o] = n === R ? own : own.map((t) => rows(t, 0, n)); // (B, H, n, ·)
  done.push({ o: onlineNormalize(o, stats), lse: onlineLogsumexp(stats) });
  const next = n === R ? null : { start: upTo, stats: rows(state.stats, n, R), o: rows(state.o, n, R) };
  for (const t of new Set([stats, o, ...own])) t.dispose();
  return next;
}

/** O [B, H, Nq, d] and L [B, H, Nq, 1] without any N × N buffer. */
function flashForward(
  q: Tensor, k: Tensor, v: Tensor, dims: AttentionDims, scale: number, causal: boolean, bc: number, shrink: boolean,
): { out: Tensor; lse: Tensor } {
  return noGrad(() => tidy(() => {
    const blocks = planBlocks(dims, causal, bc, shrink);
    const qs = q.mul(scale); // (B, H, Nq, d) τ folded into Q once
    const done: { o: Tensor; lse: Tensor }[] = [];
    let state: RowState | null = null;
    for (const b of blocks) {
      if (state && b.rowStart > state.start) state = retireForward(state, b.rowStart, done);
      const previous: RowState | null = state;
      state = tidy(() => forwardBlock(previous, qs, k, v, b, dims));
      if (previous) for (const t of [previous.stats, previous.o]) t.dispose();
    }
    retireForward(state!, dims.Nq, done);
    const r0 = blocks[0].rowStart;
    const out = prependRows(join(done.map((x) => x.o), 2), r0, 0); // (B, H, Nq, d)
    const lse = prependRows(join(done.map((x) => x.lse), 2), r0, -Infinity); // (B, H, Nq, 1)
    return { out, lse };
  }));
}

// ---------------------------------------------------------------------------------------------
// Δ preprocessing

/** Δ = rowsum(dO ∘ O), which equals rowsum(P ∘ dP): the softmax backward's row term. */
function flashBackwardPreprocess(dout: Tensor, out: Tensor): Tensor {
  return rowDot(dout, out); // (B, H, Nq, 1)
}

// ---------------------------------------------------------------------------------------------
// Backward kernel

/**
 * dq, dk, dv from q, k, v, O, L and dO. Per block (forward: S = τQKᵀ, P = exp(S − L), O = PV):
 * dV_j = Pᵀ dO, dP = dO V_jᵀ, dS = P ∘ (dP − Δ), dQ += τ dS K_j, dK_j = τ dSᵀ Q.
 */
function flashBackward(
  dout: Tensor, q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor,
  dims: AttentionDims, scale: number, causal: boolean, bc: number, shrink: boolean, needs: boolean[],
): Grads {
  return noGrad(() => tidy(() => {
    const { Nq } = dims;
    const blocks = planBlocks(dims, causal, bc, shrink);
    const [needQ, needK, needV] = needs;
    const delta = flashBackwardPreprocess(dout, out); // (B, H, Nq, 1)
    const qs = q.mul(scale); // (B, H, Nq, d)
    const dqDone: Tensor[] = [];
    let dq: { start: number; acc: Tensor } | null = null; // Σ_j dS K_j over the active rows
    const dks: Tensor[] = [];
    const dvs: Tensor[] = [];
    for (const b of blocks) {
      if (dq && b.rowStart > dq.start) {
        const n = b.rowStart - dq.start;
        const R = dq.acc.shape[2];
        dqDone.push(rows(dq.acc, 0, n));
        const rest = rows(dq.acc, n, R);
        dq.acc.dispose();
        dq = { start: b.rowStart, acc: rest };
      }
      const previous: { start: number; acc: Tensor } | null = dq;
      const grads = tidy((): { dvj: Tensor | null; dkj: Tensor | null; acc: Tensor | null } => {
        const kj = blockRows(k, b); // (B, H, Bc, d)
        const vj = blockRows(v, b); // (B, H, Bc, d)
        const suffix = (t: Tensor): Tensor => (b.rowStart > 0 ? rows(t, b.rowStart, Nq) : t);
        const qj = suffix(qs); // (B, H, R, d)
        const doj = suffix(dout); // (B, H, R, d)
        const s = blockScores(qj, kj, b, dims); // (B, H, R, Bc)
        const p = expShift(s, suffix(lse)); // (B, H, R, Bc) masked entries are exp(MASKED − L) = 0
        s.dispose();
        const dvj = needV ? matmulT(p, doj, true, false) : null; // (B, H, Bc, d)
        if (!needQ && !needK) return { dvj, dkj: null, acc: null };
        const dp = matmulT(doj, vj, false, true); // (B, H, R, Bc)
        const ds = rowShiftedProduct(p, dp, suffix(delta)); // (B, H, R, Bc) P ∘ (dP − Δ)
        dp.dispose();
        p.dispose();
        const dkj = needK ? matmulT(ds, qj, true, false) : null; // (B, H, Bc, d) τ is inside qj
        const dsk = needQ ? ds.matmul(kj) : null; // (B, H, R, d)
        const acc: Tensor | null = dsk && previous ? previous.acc.add(dsk) : dsk;
        return { dvj, dkj, acc };
      });
      if (grads.dvj) dvs.push(grads.dvj);
      if (grads.dkj) dks.push(grads.dkj);
      if (grads.acc) {
        previous?.acc.dispose();
        dq = { start: b.rowStart, acc: grads.acc };
      }
    }
    if (dq) dqDone.push(dq.acc);
    const r0 = blocks[0].rowStart;
    const dqOut = needQ ? tidy(() => prependRows(join(dqDone, 2), r0, 0).mul(scale)) : null; // (B, H, Nq, d)
    return [dqOut, needK ? joinRows(dks) : null, needV ? joinRows(dvs) : null];
  }));
}

// ---------------------------------------------------------------------------------------------
// Launcher and autograd wrapper

/**
 * softmax(τ·QKᵀ)·V by FlashAttention: q [B, H, Nq, d], k and v [B, H, Nk, d] → [B, H, Nq, d].
 * `returnLse: true` also returns L [B, H, Nq] (−∞ for rows that see no key; not differentiable).
 * Causal rows that see no key (Nq > Nk) output 0, as in flash-attn.
 */
export function flashAttention(q: Tensor, k: Tensor, v: Tensor, options?: FlashAttentionOptions & { returnLse?: false }): Tensor;
export function flashAttention(q: Tensor, k: Tensor, v: Tensor, options: FlashAttentionOptions & { returnLse: true }): AttentionWithLse;
export function flashAttention(
  q: Tensor, k: Tensor, v: Tensor, options: FlashAttentionOptions & { returnLse?: boolean } = {},
): Tensor | AttentionWithLse {
  const op = 'flashAttention';
  validateOptions(op, options, ['causal', 'scale', 'blockSize', 'skipMaskedTiles', 'returnLse']);
  const dims = validateAttention(op, q, k, v);
  const scale = resolveScale(op, options.scale, dims.d);
  const bc = Math.min(validateBlockSize(op, options.blockSize ?? defaultBlockSize(q.device, dims)), dims.Nk);
  const causal = options.causal ?? false;
  const shrink = options.skipMaskedTiles ?? !isGpuDevice(q.device);
  const { out, lse } = flashForward(q, k, v, dims, scale, causal, bc, shrink);
  customOp(op, out, [q, k, v], (dout, needs) => flashBackward(dout, q, k, v, out, lse, dims, scale, causal, bc, shrink, needs));
  if (options.returnLse) return { out, lse: lse.reshape([dims.B, dims.H, dims.Nq]) }; // (B, H, Nq)
  if (!out.requiresGrad) lse.dispose();
  return out;
}
