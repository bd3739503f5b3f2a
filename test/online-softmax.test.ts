/**
 * Property (FlashAttention §2.2, "online softmax"): for any vector and any split into blocks,
 * merging per-block statistics (m = max, l = Σ exp(x − m)) as
 *   m = max(m₁, m₂),  l = l₁·e^(m₁−m) + l₂·e^(m₂−m)
 * gives the full softmax and logsumexp: the max exactly, the rest to float64 rounding. The same
 * holds for the running output O = diag(e^(m−m'))·O + P̃·V that flash attention keeps per row, in
 * any merge order, with fully masked (−∞) blocks, and against core's softmax/logsumexp kernels.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  expShift, logsumexp, onlineLogsumexp, onlineNormalize, onlineRescale, onlineSoftmaxStats, rowDot, softmax, tensor, type Tensor,
} from '@flashgrad/core';
import { runs } from './helpers/arbitraries.js';

interface Stats {
  /** Running max (−∞ for an empty or fully masked block). */
  m: number;
  /** Σ exp(x − m) over the block (0 when m = −∞). */
  l: number;
}

function blockStats(x: Float64Array): Stats {
  let m = -Infinity;
  for (const v of x) m = Math.max(m, v);
  if (m === -Infinity) return { m, l: 0 }; // −∞ − (−∞) would be NaN: a masked block adds nothing
  let l = 0;
  for (const v of x) l += Math.exp(v - m);
  return { m, l };
}

function merge(a: Stats, b: Stats): Stats {
  const m = Math.max(a.m, b.m);
  if (m === -Infinity) return { m, l: 0 };
  return { m, l: a.l * Math.exp(a.m - m) + b.l * Math.exp(b.m - m) };
}

const lse = (s: Stats): number => (s.l === 0 ? -Infinity : s.m + Math.log(s.l));

/** The textbook two-pass computation over the whole vector. */
function direct(x: Float64Array): { lse: number; p: Float64Array } {
  const s = blockStats(x);
  return { lse: lse(s), p: x.map((v) => Math.exp(v - s.m) / s.l) };
}

/** Blocks of x cut at the given points (empty blocks allowed). */
function blocks(x: Float64Array, cuts: number[]): Float64Array[] {
  const points = [0, ...[...cuts].sort((a, b) => a - b), x.length];
  return points.slice(1).map((end, i) => x.subarray(points[i], end));
}

/** Merges stats pairwise in a random binary tree shape (checks the merge is associative). */
function mergeTree(stats: Stats[], choices: number[]): Stats {
  const list = [...stats];
  let k = 0;
  while (list.length > 1) {
    const i = (choices[k++ % Math.max(1, choices.length)] ?? 0) % (list.length - 1);
    list.splice(i, 2, merge(list[i], list[i + 1]));
  }
  return list[0];
}

const close = (a: number, b: number, tol: number): boolean => a === b || Math.abs(a - b) <= tol;

/** A vector of finite values (some large, where a naive exp would overflow), with −∞ entries (masking). */
const vectorArb = fc
  .integer({ min: 1, max: 64 })
  .chain((n) =>
    fc.tuple(
      fc.array(fc.oneof(fc.double({ min: -30, max: 30, noNaN: true }), fc.double({ min: -1e4, max: 1e4, noNaN: true })), { minLength: n, maxLength: n }),
      fc.array(fc.boolean(), { minLength: n, maxLength: n }),
      fc.boolean(),
      fc.array(fc.integer({ min: 0, max: n }), { maxLength: 8 }),
    ),
  )
  .map(([values, masked, useMask, cuts]) => {
    const x = Float64Array.from(values, (v, i) => (useMask && masked[i] ? -Infinity : v));
    if (x.every((v) => v === -Infinity)) x[0] = 0; // at least one unmasked entry
    return { x, cuts };
  });

describe('online softmax: merging per-block statistics', () => {
  it('gives the full logsumexp and softmax for any split (the max exactly)', () => {
    fc.assert(
      fc.property(vectorArb, ({ x, cuts }) => {
        const full = direct(x);
        const merged = blocks(x, cuts).map(blockStats).reduce(merge, { m: -Infinity, l: 0 });
        expect(merged.m).toBe(blockStats(x).m);
        const n = x.length;
        // relative error of l is at most ~2n·u: merging rescales each block's sum once
        expect(close(lse(merged), full.lse, 4 * n * 1.2e-16 + 1e-15 * Math.abs(full.lse))).toBe(true);
        x.forEach((v, i) => {
          const p = Math.exp(v - merged.m) / merged.l;
          if (!close(p, full.p[i], 4 * n * 1.2e-16 * full.p[i])) throw new Error(`softmax[${i}]: merged ${p}, direct ${full.p[i]}`);
        });
      }),
      runs(1000),
    );
  });

  it('does not depend on the order in which blocks are merged', () => {
    fc.assert(
      fc.property(vectorArb, fc.array(fc.nat(), { maxLength: 16 }), ({ x, cuts }, choices) => {
        const stats = blocks(x, cuts).map(blockStats);
        const left = stats.reduce(merge, { m: -Infinity, l: 0 });
        const tree = mergeTree(stats, choices);
        expect(tree.m).toBe(left.m);
        expect(close(tree.l, left.l, 8 * x.length * 1.2e-16 * left.l)).toBe(true);
      }),
      runs(500),
    );
  });

  it('the running output of flash attention, O = diag(e^(m−m′))·O + P̃·V, equals softmax(x)·V', () => {
    fc.assert(
      fc.property(
        vectorArb.chain((v) =>
          fc.integer({ min: 1, max: 4 }).chain((d) =>
            fc
              .array(fc.double({ min: -2, max: 2, noNaN: true }), { minLength: v.x.length * d, maxLength: v.x.length * d })
              .map((values) => ({ ...v, d, values: Float64Array.from(values) })))),
        ({ x, cuts, d, values }) => {
          // streamed over blocks, left to right, as the forward kernel does
          let m = -Infinity;
          let l = 0;
          const o = new Float64Array(d);
          let start = 0;
          for (const block of blocks(x, cuts)) {
            const mNew = Math.max(m, ...block);
            if (mNew !== -Infinity) {
              const rescale = Math.exp(m - mNew); // 0 on the first unmasked block (m = −∞)
              l *= rescale;
              o.forEach((_, c) => (o[c] *= rescale));
              block.forEach((s, j) => {
                const p = Math.exp(s - mNew);
                l += p;
                for (let c = 0; c < d; c++) o[c] += p * values[(start + j) * d + c];
              });
              m = mNew;
            }
            start += block.length;
          }
          const { p, lse: fullLse } = direct(x);
          expect(close(m + Math.log(l), fullLse, 4 * x.length * 1.2e-16 + 1e-15 * Math.abs(fullLse))).toBe(true);
          for (let c = 0; c < d; c++) {
            let expected = 0;
            let scale = 0;
            p.forEach((pi, i) => {
              expected += pi * values[i * d + c];
              scale += Math.abs(pi * values[i * d + c]);
            });
            const got = o[c] / l;
            // e^(s − m) has relative error ~|s − m|·ε (the rounding of s − m, amplified by exp)
            const spread = x.reduce((a, s) => (s === -Infinity ? a : Math.max(a, m - s)), 0);
            const tol = (8 * x.length + spread) * 1.2e-16 * (scale + 1e-300);
            if (!close(got, expected, tol)) throw new Error(`output[${c}]: online ${got}, direct ${expected}`);
          }
        },
      ),
      runs(500),
    );
  });

  it("agrees with core's softmax and logsumexp kernels on the reference device (rows of a batch)", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(vectorArb.map((v) => v.x), { minLength: 1, maxLength: 4 }), async (rows) => {
        const n = Math.min(...rows.map((r) => r.length));
        const batch = rows.map((r) => r.slice(0, n));
        batch.forEach((r) => r.every((v) => v === -Infinity) && (r[0] = 0));
        const t = tensor(Float64Array.from(batch.flatMap((r) => [...r])), { shape: [batch.length, n] });
        const [sm, ls] = [await softmax(t).data64(), await logsumexp(t, -1).data64()];
        batch.forEach((r, i) => {
          const merged = blocks(r, [Math.floor(n / 3), Math.floor((2 * n) / 3)]).map(blockStats).reduce(merge);
          const tol = 4 * n * 1.2e-16;
          expect(close(ls[i], lse(merged), tol + 1e-15 * Math.abs(ls[i]))).toBe(true);
          r.forEach((v, j) => {
            const p = Math.exp(v - merged.m) / merged.l;
            if (!close(sm[i * n + j], p, tol * p)) throw new Error(`row ${i} col ${j}: core ${sm[i * n + j]}, online ${p}`);
          });
        });
      }),
      runs(300),
    );
  });

  it('a fully masked row has logsumexp −∞ (not NaN), in the merge and in core', async () => {
    const x = Float64Array.of(-Infinity, -Infinity, -Infinity);
    expect(lse(blocks(x, [1]).map(blockStats).reduce(merge))).toBe(-Infinity);
    expect(Array.from(await logsumexp(tensor(x)).data64())).toEqual([-Infinity]);
  });

  it("core's fused kernels (onlineSoftmaxStats, expShift, onlineRescale) carry the same merge, block by block", async () => {
    const finite = fc.array(fc.double({ min: -30, max: 30, noNaN: true }), { minLength: 2, maxLength: 40 });
    await fc.assert(
      fc.asyncProperty(fc.array(finite, { minLength: 1, maxLength: 3 }), fc.integer({ min: 1, max: 3 }), async (rows, nBlocks) => {
        const n = Math.min(...rows.map((r) => r.length));
        const batch = rows.map((r) => Float64Array.from(r.slice(0, n)));
        const cuts = Array.from({ length: nBlocks - 1 }, (_, i) => Math.floor(((i + 1) * n) / nBlocks));
        const edges = [0, ...cuts, n];
        let stats: Tensor | null = null;
        let o: Tensor | null = null; // a running Σ e^(x − m)·x per row (V = x itself, d = 1)
        for (let b = 0; b + 1 < edges.length; b++) {
          const [j0, j1] = [edges[b], edges[b + 1]];
          if (j1 === j0) continue;
          const s = tensor(Float64Array.from(batch.flatMap((r) => [...r.slice(j0, j1)])), { shape: [batch.length, j1 - j0] });
          const next = onlineSoftmaxStats(s, stats);
          const pv = expShift(s, next).mul(s).sum(-1, true);
          o = o && stats ? onlineRescale(o, pv, stats, next) : pv;
          stats = next;
        }
        const [st, out] = [await stats!.data64(), await o!.data64()];
        // finishing: O / l and the row logsumexp, as the flash forward retires its rows
        const [normalized, lseOut] = [await onlineNormalize(o!, stats!).data64(), await onlineLogsumexp(stats!).data64()];
        batch.forEach((_, i) => {
          expect(close(normalized[i], out[i] / st[2 * i + 1], 4e-16 * Math.abs(out[i] / st[2 * i + 1]) + 1e-300)).toBe(true);
          expect(close(lseOut[i], st[2 * i] + Math.log(st[2 * i + 1]), 4e-16 * Math.abs(lseOut[i]) + 1e-300)).toBe(true);
        });
        batch.forEach((r, i) => {
          const want = blockStats(r);
          const tol = 4 * n * 1.2e-16;
          expect(st[2 * i]).toBe(want.m);
          expect(close(st[2 * i + 1], want.l, tol * want.l)).toBe(true);
          const weighted = r.reduce((a, v) => a + Math.exp(v - want.m) * v, 0);
          expect(close(out[i], weighted, tol * r.reduce((a, v) => a + Math.exp(v - want.m) * Math.abs(v), 0) + 1e-300)).toBe(true);
        });
      }),
      runs(200),
    );
  });

  it('the fused kernels name the op and the shapes on a mismatch', () => {
    const s = tensor([1, 2, 3, 4, 5, 6], { shape: [2, 3] });
    expect(() => onlineSoftmaxStats(s, tensor([0, 0, 0], { shape: [3, 1] }))).toThrow(/onlineSoftmaxStats: shape \[3, 1\] does not match \[2, 3\]/);
    expect(() => expShift(s, tensor([0, 0, 0, 0, 0, 0], { shape: [2, 3] }))).toThrow(/expShift: shift must end in 1 \(values\) or 2 \(stats\)/);
    expect(() => onlineSoftmaxStats(tensor([], { shape: [2, 0] }), null)).toThrow(/at least one column/);
    expect(() => onlineLogsumexp(s)).toThrow(/onlineLogsumexp: stats must end in 2/);
    expect(() => rowDot(s, tensor([1, 2], { shape: [2, 1] }))).toThrow(/rowDot: shape \[2, 1\] does not match \[2, 3\]/);
  });
});
