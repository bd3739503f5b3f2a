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
 *
 * Block-sparse (`blockMask`) and causal masks are planned a tile at a time (masks.ts): a block
 * whose active rows see none of its keys is left out of the plan, so it costs nothing; one that
 * some see is masked like the causal diagonal. Rows that see no key at all output 0; the
 * backward's L holds +HUGE there, so their P rows recompute as 0. Dropout (flash-attn's
 * dropout_p) multiplies P̃ by Z = 0 or 1/(1 − p) per element, drawn from one seed by core's counter
 * hash over the element's index in P [B, H, Nq, Nk]; the backward redraws Z block by block, and
 * nothing of it is kept. The row sums l, and so L, are of the undropped P̃, as in flash-attn.
 */
import {
  Tensor, concat, customOp, dropoutSeed, expShift, matmulT, noGrad, onlineLogsumexp, onlineNormalize, onlineRescale,
  onlineSoftmaxStats, pad, rowDot, rowShiftedProduct, tidy, where, type Device, type Grads,
} from '@flashgrad/core';
import { HUGE, MASKED, callerLse, tileCoverage, tileDropout, tileKeep, visibleRows, type AttentionMask } from './masks.js';
import { runsWorkgroupKernels, workgroupBackward, workgroupForward, workgroupLse } from './webgpu/index.js';
import type { AttentionOptions, AttentionWithLse } from './naive.js';
import {
  causalOffset, validateCall, type AttentionDims,
} from './validate.js';

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
  /** Whether some of those rows must not see some of the block's keys (the causal diagonal or a block-sparse cell). */
  masked: boolean;
}

/** Everything a call fixes before its first kernel: the forward and the backward read the same plan. */
interface FlashPlan {
  dims: AttentionDims;
  scale: number;
  mask: AttentionMask;
  /** The blocks that see any key; fully masked ones are left out, so they cost nothing. */
  blocks: Block[];
  /** Rows that see no key at all (block-sparse): 1 or 0 per row, [Nq, 1]; null when every row sees one. */
  visible: Float64Array | null;
  dropout: { p: number; seed: number } | null;
}

/** Blocks of Bc keys; with `shrink` (causal only) each runs on the rows that see it, else on every row that sees any key. */
function planBlocks(mask: AttentionMask, bc: number, shrink: boolean): Block[] {
  const { Nq, Nk } = mask.dims;
  const blocks: Block[] = [];
  for (let j0 = 0; j0 < Nk; j0 += bc) {
    const j1 = Math.min(Nk, j0 + bc);
    const rowStart = mask.causal ? Math.max(0, (shrink ? j0 : 0) - mask.offset) : 0;
    if (rowStart >= Nq) continue;
    const coverage = tileCoverage(mask, rowStart, Nq, j0, j1);
    if (coverage !== 'none') blocks.push({ j0, j1, rowStart, masked: coverage === 'some' });
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

/** dK_j or dV_j of the blocks, placed along the keys; keys of skipped blocks get 0. */
function placeKeyBlocks(parts: Tensor[], blocks: Block[], like: Tensor): Tensor {
  const covers = blocks.length > 0 && blocks[0].j0 === 0 && blocks.every((b, n) => n === 0 || b.j0 === blocks[n - 1].j1) && blocks[blocks.length - 1].j1 === like.shape[2];
  if (covers) return joinRows(parts);
  return tidy(() => parts.reduce((acc, p, n) => acc.add(pad(p, [...like.shape], [0, 0, blocks[n].j0, 0])), zerosLike(like)));
}

const zerosLike = (t: Tensor): Tensor => new Tensor(t.device.fill(t.size, 0), t.shape, t.device);

/** Scores τ·Q_rows K_jᵀ of one block, MASKED where the mask hides a key. */
function blockScores(qs: Tensor, kj: Tensor, b: Block, plan: FlashPlan): Tensor {
  const s = matmulT(qs, kj, false, true); // (B, H, R, Bc)
  if (!b.masked) return s;
  const keep = tileKeep(qs.device, plan.mask, b.rowStart, plan.dims.Nq, b.j0, b.j1); // (R, Bc)
  const masked = where(keep, s, MASKED); // (B, H, R, Bc)
  keep.dispose();
  s.dispose();
  return masked;
}

/** Dropout's 0 or 1/(1 − p) for a block's rows and keys, (B, H, R, Bc); null without dropout. */
function blockDropout(device: Tensor['device'], b: Block, plan: FlashPlan): Tensor | null {
  if (!plan.dropout) return null;
  return tileDropout(device, plan.dims, plan.dropout.p, plan.dropout.seed, b.rowStart, plan.dims.Nq, b.j0, b.j1);
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

/**
 * Per-row tensors of the active rows [start, Nq) (forward: the (m, l) stats and O; backward: the
 * dq accumulator). With the causal suffix, rows before a block's rowStart are reached by no later
 * block: `retireRows` splits them off.
 */
interface RowState {
  start: number;
  parts: Tensor[];
}

/** Splits rows [state.start, upTo) off every part into `done` and returns the rest (null if none); frees the old parts. */
function retireRows(state: RowState, upTo: number, done: (finished: Tensor[]) => void): RowState | null {
  const n = upTo - state.start;
  const R = state.parts[0].shape[2];
  if (n === R) {
    done(state.parts);
    return null;
  }
  done(state.parts.map((t) => rows(t, 0, n))); // (B, H, n, ·)
  const rest = state.parts.map((t) => rows(t, n, R));
  for (const t of state.parts) t.dispose();
  return { start: upTo, parts: rest };
}

// ---------------------------------------------------------------------------------------------
// Forward kernel

/**
 * One block: m' = max(m, rowmax S), l' = e^(m−m')·l + rowsum P̃ (one fused kernel), P̃ = e^(S − m'),
 * O' = e^(m−m')·O + (P̃ ∘ Z) V_j (one more), Z the dropout scale. parts = [stats (B, H, R, 2), O (B, H, R, d)].
 */
function forwardBlock(state: RowState | null, qs: Tensor, k: Tensor, v: Tensor, b: Block, plan: FlashPlan): RowState {
  const { Nq } = plan.dims;
  const kj = blockRows(k, b); // (B, H, Bc, d)
  const vj = blockRows(v, b); // (B, H, Bc, d)
  const qj = b.rowStart > 0 ? rows(qs, b.rowStart, Nq) : qs; // (B, H, R, d)
  const s = blockScores(qj, kj, b, plan); // (B, H, R, Bc)
  const [prevStats, prevO] = state?.parts ?? [null, null];
  const stats = onlineSoftmaxStats(s, prevStats); // (B, H, R, 2)
  const p = expShift(s, stats); // (B, H, R, Bc)
  s.dispose();
  const z = blockDropout(qs.device, b, plan);
  const pv = (z ? p.mul(z) : p).matmul(vj); // (B, H, R, d)
  return { start: b.rowStart, parts: [stats, prevO ? onlineRescale(prevO, pv, prevStats!, stats) : pv] };
}

/** O/l and L = m + log l of finished rows, one kernel each. */
const finishRows = ([stats, o]: Tensor[]): { o: Tensor; lse: Tensor } => ({ o: onlineNormalize(o, stats), lse: onlineLogsumexp(stats) });

/**
 * O [B, H, Nq, d] and L [B, H, Nq, 1] without any N × N buffer. `lse` is the backward's: rows
 * that see no key hold +HUGE there, so that P = exp(MASKED − L) is 0 in their row.
 */
function flashForward(q: Tensor, k: Tensor, v: Tensor, plan: FlashPlan): { out: Tensor; lse: Tensor } {
  const { B, H, Nq } = plan.dims;
  return noGrad(() => tidy(() => {
    if (plan.blocks.length === 0) {
      return { out: zerosLike(q), lse: new Tensor(q.device.fill(B * H * Nq, HUGE), [B, H, Nq, 1], q.device) };
    }
    const qs = q.mul(plan.scale); // (B, H, Nq, d) τ folded into Q once
    const done: { o: Tensor; lse: Tensor }[] = [];
    const finish = (parts: Tensor[]) => done.push(finishRows(parts));
    let state: RowState | null = null;
    for (const b of plan.blocks) {
      if (state && b.rowStart > state.start) state = retireRows(state, b.rowStart, finish);
      const previous: RowState | null = state;
      state = tidy(() => forwardBlock(previous, qs, k, v, b, plan));
      for (const t of previous?.parts ?? []) t.dispose();
    }
    retireRows(state!, Nq, finish);
    const r0 = plan.blocks[0].rowStart;
    let out = prependRows(join(done.map((x) => x.o), 2), r0, 0); // (B, H, Nq, d)
    let lse = prependRows(join(done.map((x) => x.lse), 2), r0, HUGE); // (B, H, Nq, 1)
    if (plan.visible) {
      const visible = new Tensor(q.device.upload(plan.visible), [Nq, 1], q.device); // (Nq, 1)
      out = out.mul(visible);
      lse = where(visible, lse, HUGE);
    }
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

/** What the forward saved, and the output gradient. */
interface Saved {
  q: Tensor;
  k: Tensor;
  v: Tensor;
  out: Tensor;
  /** The backward's L (+HUGE on rows that see no key), (B, H, Nq, 1). */
  lse: Tensor;
}

/**
 * dq, dk, dv from q, k, v, O, L and dO. Per block (forward: S = τQKᵀ, P = exp(S − L), O = (P ∘ Z)V):
 * dV_j = (P ∘ Z)ᵀ dO, dP = (dO V_jᵀ) ∘ Z, dS = P ∘ (dP − Δ), dQ += τ dS K_j, dK_j = τ dSᵀ Q.
 */
function flashBackward(dout: Tensor, { q, k, v, out, lse }: Saved, plan: FlashPlan, needs: boolean[]): Grads {
  return noGrad(() => tidy(() => {
    const { Nq } = plan.dims;
    const [needQ, needK, needV] = needs;
    if (plan.blocks.length === 0) return [needQ ? zerosLike(q) : null, needK ? zerosLike(k) : null, needV ? zerosLike(v) : null];
    const delta = flashBackwardPreprocess(dout, out); // (B, H, Nq, 1)
    const qs = q.mul(plan.scale); // (B, H, Nq, d)
    const dqDone: Tensor[] = [];
    const finish = ([acc]: Tensor[]) => dqDone.push(acc);
    let dq: RowState | null = null; // parts [Σ_j dS K_j] over the active rows
    const dks: Tensor[] = [];
    const dvs: Tensor[] = [];
    for (const b of plan.blocks) {
      if (dq && b.rowStart > dq.start) dq = retireRows(dq, b.rowStart, finish);
      const previous: RowState | null = dq;
      const grads = tidy((): { dvj: Tensor | null; dkj: Tensor | null; acc: Tensor | null } => {
        const kj = blockRows(k, b); // (B, H, Bc, d)
        const vj = blockRows(v, b); // (B, H, Bc, d)
        const suffix = (t: Tensor): Tensor => (b.rowStart > 0 ? rows(t, b.rowStart, Nq) : t);
        const qj = suffix(qs); // (B, H, R, d)
        const doj = suffix(dout); // (B, H, R, d)
        const s = blockScores(qj, kj, b, plan); // (B, H, R, Bc)
        const p = expShift(s, suffix(lse)); // (B, H, R, Bc) masked entries are exp(MASKED − L) = 0
        s.dispose();
        const z = blockDropout(q.device, b, plan); // (B, H, R, Bc)
        const dvj = needV ? matmulT(z ? p.mul(z) : p, doj, true, false) : null; // (B, H, Bc, d)
        if (!needQ && !needK) return { dvj, dkj: null, acc: null };
        const dpDropped = matmulT(doj, vj, false, true); // (B, H, R, Bc)
        const dp = z ? dpDropped.mul(z) : dpDropped;
        const ds = rowShiftedProduct(p, dp, suffix(delta)); // (B, H, R, Bc) P ∘ (dP − Δ)
        const dkj = needK ? matmulT(ds, qj, true, false) : null; // (B, H, Bc, d) τ is inside qj
        const dsk = needQ ? ds.matmul(kj) : null; // (B, H, R, d)
        const acc: Tensor | null = dsk && previous ? previous.parts[0].add(dsk) : dsk;
        return { dvj, dkj, acc };
      });
      if (grads.dvj) dvs.push(grads.dvj);
      if (grads.dkj) dks.push(grads.dkj);
      if (grads.acc) {
        for (const t of previous?.parts ?? []) t.dispose();
        dq = { start: b.rowStart, parts: [grads.acc] };
      }
    }
    if (dq) dqDone.push(dq.parts[0]);
    const r0 = plan.blocks[0].rowStart;
    const dqOut = needQ ? tidy(() => prependRows(join(dqDone, 2), r0, 0).mul(plan.scale)) : null; // (B, H, Nq, d)
    return [dqOut, needK ? placeKeyBlocks(dks, plan.blocks, k) : null, needV ? placeKeyBlocks(dvs, plan.blocks, v) : null];
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
  const { dims, scale, grid, p } = validateCall(op, q, k, v, options); // blockSize too, where given
  const mask: AttentionMask = { dims, causal: options.causal ?? false, offset: causalOffset(dims), grid };
  const dropout = p > 0 ? { p, seed: dropoutSeed() } : null;
  if (runsWorkgroupKernels(q.device, dims.d)) return workgroupFlash(q, k, v, mask, scale, dropout, options.returnLse ?? false);
  const bc = Math.min(options.blockSize ?? defaultBlockSize(q.device, dims), dims.Nk);
  const shrink = options.skipMaskedTiles ?? !isGpuDevice(q.device);
  const blocks = planBlocks(mask, bc, shrink);
  const plan: FlashPlan = { dims, scale, mask, blocks, visible: grid ? visibleRows(mask) : null, dropout };
  const { out, lse } = flashForward(q, k, v, plan);
  customOp(op, out, [q, k, v], (dout, needs) => flashBackward(dout, { q, k, v, out, lse }, plan, needs));
  // rows that see no key hold +HUGE for the backward; the caller sees −∞ there. In a tidy, as
  // workgroupLse: the mask and the (B, H, Nq, 1) tensor the caller's view shares storage with are freed
  const someRowBlind = blocks.length === 0 || blocks[0].rowStart > 0 || plan.visible !== null;
  const userLse = options.returnLse
    ? noGrad(() => tidy(() => (someRowBlind ? callerLse(lse) : lse).reshape([dims.B, dims.H, dims.Nq]))) // (B, H, Nq)
    : null;
  if (!out.requiresGrad) lse.dispose(); // else the backward reads it
  return userLse ? { out, lse: userLse } : out;
}

/** The FlashAttention-2 kernels on workgroup memory (webgpu): forward 1 kernel (O a view of its O|L result), backward 2, or 3 where the plan splits it. */
function workgroupFlash(q: Tensor, k: Tensor, v: Tensor, mask: AttentionMask, scale: number,
  dropout: { p: number; seed: number } | null, returnLse: boolean): Tensor | AttentionWithLse {
  const fwd = workgroupForward(q, k, v, mask, scale, dropout);
  const { out, saved } = fwd;
  customOp('flashAttention', out, [q, k, v], (dout, needs) => noGrad(() => workgroupBackward(dout, q, k, v, fwd, needs)));
  const lse = returnLse ? workgroupLse(fwd) : null;
  // the backward reads the saved O and L, so they live as long as the graph does (the tile table is cached)
  if (!out.requiresGrad) saved.dispose();
  return lse ? { out, lse } : out;
}
