/**
 * The wasm device's GEMM (packages/core/src/devices/wasm-gemm) against the reference device
 * (float64) over random shapes: edge tiles on every side of the MR × NR micro-tile (4 × 8 plain;
 * relaxed: 3 × 12, or 4 × 8 where it pads M and N less, both chosen among the small shapes) and of the MC/KC blocks, B's panels split into several pack tasks (threaded
 * calls; N up to 529 makes up to 8 groups of panels), broadcast B packed once for the matrices
 * sharing it, both transposes, batches with broadcast batch dims, the bias and residual epilogue,
 * bands of C copied out as they finish; for the plain-SIMD kernel and (where the engine validates
 * relaxed SIMD) the relaxed-madd one, on 1 thread, on 2 (main thread and a worker claiming tasks,
 * threadedMacs 0 so every call is threaded) and on workers alone (the main thread claims none: the
 * worker path runs every case, whatever the scheduling).
 *
 * Tolerance: ‖got − want‖ / max(‖want‖, ‖|A|·|B|‖) ≤ 1e-5. The kernel sums K terms in float32
 * in blocks of KC = 256 (each block's partial sum added into C), so its error is ~√256·2⁻²⁴ of the
 * terms' size typically and 256·2⁻²⁴ = 1.5e-5 at worst per block; a wrong index, a lost tile or a
 * transposed operand is an error of the terms' own size.
 */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { ReferenceDevice } from '../packages/core/src/devices/reference.js';
import { MIN_BAND_TILES, planBands } from '../packages/core/src/devices/wasm-gemm/bands.js';
import { KC, MC, PLAIN, RELAXED, WasmGemm, noTimes, relaxedSimdAvailable } from '../packages/core/src/devices/wasm-gemm/index.js';
import { runs, sizeOf } from './helpers/arbitraries.js';
import { relErr } from './helpers/compare.js';
import { rng } from './helpers/gradcheck.js';

const TOL = 1e-5;
const ref = new ReferenceDevice();

function values(n: number, seed: number): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => r() * 2 - 1);
}

interface Case {
  aShape: number[];
  bShape: number[];
  batch: number[];
  M: number;
  K: number;
  N: number;
  transA: boolean;
  transB: boolean;
  bias: boolean;
  residual: boolean;
  seed: number;
}

/** A batch shape and, for each operand, that shape with some dims set to 1 or dropped. */
const batchArb = fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 0, maxLength: 2 }).chain((batch) => {
  const operand = fc.tuple(fc.integer({ min: 0, max: batch.length }), fc.array(fc.boolean(), { minLength: batch.length, maxLength: batch.length }))
    .map(([drop, ones]) => batch.map((d, k) => (ones[k] ? 1 : d)).slice(drop));
  return fc.tuple(fc.constant(batch), operand, operand);
});

/** Mostly small dims around the tile sizes; now and then one past a block size (K > KC, M > 2·MC) or many panels wide (N ≈ 520). */
const dimArb = (big: number) => fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 1, max: 30 }) },
  { weight: 1, arbitrary: fc.integer({ min: big - 3, max: big + 9 }) });

const caseArb: fc.Arbitrary<Case> = fc.tuple(batchArb, dimArb(MC * 2), dimArb(KC), dimArb(520), fc.boolean(), fc.boolean(),
  fc.boolean(), fc.boolean(), fc.integer({ min: 0, max: 2 ** 30 }))
  .filter(([[batch], M, K, N]) => sizeOf(batch) * M * K * N <= 2_000_000)
  .map(([[batch, ba, bb], M, K, N, transA, transB, bias, residual, seed]) => ({
    aShape: [...ba, ...(transA ? [K, M] : [M, K])],
    bShape: [...bb, ...(transB ? [N, K] : [K, N])],
    batch, M, K, N, transA, transB, bias, residual, seed,
  }));

/** The reference's result and the size of its terms (the same product of |A|, |B|, |bias|, |residual|). */
async function reference(c: Case, a: Float32Array, b: Float32Array, bias: Float32Array | null, res: Float32Array | null) {
  const run = async (abs: boolean) => {
    const up = (x: Float32Array) => ref.upload(abs ? x.map(Math.abs) : x);
    const out = ref.matmul(up(a), c.aShape, up(b), c.bShape, c.transA, c.transB, c.batch, { bias: bias ? up(bias) : undefined });
    // the device contract has no residual epilogue (the GEMM keeps one): added here on the host
    const values = await ref.read64(out);
    return res ? values.map((v, i) => v + (abs ? Math.abs(res[i]) : res[i])) : values;
  };
  const want = await run(false);
  const terms = await run(true);
  return { want, scale: Math.sqrt(terms.reduce((s, t) => s + t * t, 0)) };
}

describe('wasm GEMM bands (the compute tasks)', () => {
  it('cover every matrix\'s rows once, in order, in whole micro-tiles of at most MC rows; one matrix on threads ends in short bands', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 3000 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 4 }), fc.constantFrom(3, 4),
      (M, count, threads, mr) => {
        const mcRows = Math.floor(MC / mr) * mr;
        const bands = planBands(M, count, threads, mr, mcRows);
        const heights: number[] = [];
        let z = 0;
        let next = 0;
        for (let b = 0; b < bands.length; b += 3) {
          const [bz, r0, rows] = bands.subarray(b, b + 3);
          if (next === M) [z, next] = [z + 1, 0];
          expect([bz, r0]).toEqual([z, next]);
          expect(rows).toBeGreaterThanOrEqual(1);
          expect(rows).toBeLessThanOrEqual(mcRows);
          next += rows;
          // only a matrix's last band may be a partial micro-tile
          if (next < M) expect(rows % mr).toBe(0);
          heights.push(rows);
        }
        expect([z, next]).toEqual([count - 1, M]);
        if (count === 1 && threads > 1) {
          // guided: never taller than the band before, and the tail at most MIN_BAND_TILES tiles high
          heights.forEach((h, i) => i === 0 || expect(h).toBeLessThanOrEqual(heights[i - 1]));
          expect(heights[heights.length - 1]).toBeLessThanOrEqual(MIN_BAND_TILES * mr);
          if (M >= 4 * threads * mr) expect(heights.length).toBeGreaterThanOrEqual(2 * threads);
        }
      }), runs(300));
  });
});

const variants = [{ name: `plain ${PLAIN.mr}×${PLAIN.nr}`, relaxed: false }, ...(relaxedSimdAvailable() ? [{ name: `relaxed madd ${RELAXED.mr}×${RELAXED.nr}`, relaxed: true }] : [])];

describe.each(variants)('wasm GEMM, $name', ({ relaxed }) => {
  const gemms = {
    'the main thread': new WasmGemm({ threads: 1, relaxed }),
    'the main thread and a worker': new WasmGemm({ threads: 2, relaxed, threadedMacs: 0 }),
    // every chunk on the workers, two of them racing for chunks: the worker path, every call
    'two workers': new WasmGemm({ threads: 3, relaxed, threadedMacs: 0, workersOnly: true }),
  };
  afterAll(() => Object.values(gemms).forEach((g) => g.destroy()));

  it.each(Object.keys(gemms) as (keyof typeof gemms)[])('equals the reference on %s: shapes, transposes, batches, bias, residual', async (who) => {
    const gemm = gemms[who];
    expect(gemm.variant.relaxed).toBe(relaxed);
    await fc.assert(fc.asyncProperty(caseArb, async (c) => {
      const a = values(sizeOf(c.aShape), c.seed);
      const b = values(sizeOf(c.bShape), c.seed + 1);
      const bias = c.bias ? values(c.N, c.seed + 2) : null;
      const res = c.residual ? values(sizeOf(c.batch) * c.M * c.N, c.seed + 3) : null;
      const got = gemm.matmul({ ...c, a, b, bias, residual: res });
      const { want, scale } = await reference(c, a, b, bias, res);
      const err = relErr(got, want, scale);
      expect(err, JSON.stringify({ ...c, err })).toBeLessThanOrEqual(TOL);
    }), runs(60));
  });

  it('a traced call records each task once, on a thread of the call, in time order', async () => {
    const gemm = gemms['the main thread and a worker'];
    const c: Case = { aShape: [250, 260], bShape: [260, 300], batch: [], M: 250, K: 260, N: 300, transA: false, transB: false, bias: false, residual: false, seed: 7 };
    const a = values(250 * 260, 1);
    const b = values(260 * 300, 2);
    gemm.trace = true;
    const got = gemm.matmul({ ...c, a, b, bias: null, residual: null });
    gemm.trace = false;
    const tr = gemm.lastTrace!;
    const { want, scale } = await reference(c, a, b, null, null);
    expect(relErr(got, want, scale)).toBeLessThanOrEqual(TOL);
    expect(tr.threads).toBe(2);
    const packs = tr.tasks.filter((k) => k.kind === 'pack');
    expect(packs.length).toBeGreaterThan(1);
    expect(tr.tasks.slice(0, packs.length).every((k) => k.kind === 'pack')).toBe(true);
    expect(tr.tasks.length).toBeGreaterThan(packs.length + 1);
    expect(tr.publishedMs).toBeGreaterThanOrEqual(0);
    for (const k of tr.tasks) {
      expect([0, 1]).toContain(k.thread);
      expect(k.claimedMs).toBeGreaterThanOrEqual(tr.publishedMs);
      expect(k.startMs).toBeGreaterThanOrEqual(k.claimedMs);
      expect(k.endMs).toBeGreaterThanOrEqual(k.startMs);
      expect(k.endMs).toBeLessThanOrEqual(tr.returnedMs);
      // a thread joins the job before it claims any task
      expect(k.claimedMs).toBeGreaterThanOrEqual(tr.joinedMs[k.thread]);
    }
    // a compute task starts once every pack task has ended
    const packed = Math.max(...packs.map((k) => k.endMs));
    tr.tasks.filter((k) => k.kind === 'compute').forEach((k) => expect(k.startMs).toBeGreaterThanOrEqual(packed));
  });

  it('a thread stalled on a pack task is helped at the barrier: the call finishes, counts each task once, and is right', async () => {
    // the thread that claims B's first group waits until another has packed it (as if its core had
    // been taken), so every call needs the barrier's help; without it, it would wait 5 s
    for (const [threads, workersOnly] of [[2, false], [3, true]] as const) {
      const gemm = new WasmGemm({ threads, relaxed, threadedMacs: 0, workersOnly, stallFirstPack: true });
      try {
        for (const [M, K, N, seed] of [[37, 300, 300, 1], [130, 70, 530, 2]]) {
          const c: Case = { aShape: [M, K], bShape: [K, N], batch: [], M, K, N, transA: false, transB: false, bias: false, residual: false, seed };
          const a = values(M * K, seed);
          const b = values(K * N, seed + 1);
          gemm.times = noTimes();
          const t0 = performance.now();
          const got = gemm.matmul({ ...c, a, b, bias: null, residual: null });
          const ms = performance.now() - t0;
          const { want, scale } = await reference(c, a, b, null, null);
          expect(relErr(got, want, scale)).toBeLessThanOrEqual(TOL);
          expect(gemm.times.packsHelped, `threads ${threads}, ${ms.toFixed(0)} ms`).toBeGreaterThanOrEqual(1);
        }
      } finally {
        gemm.destroy();
      }
    }
  });

  it('runs its tiles by shape (the property above covers each: small M and N pick either)', () => {
    const gemm = gemms['the main thread'];
    const tiles = gemm.variants.map((v) => `${v.mr}×${v.nr}`);
    expect(tiles).toEqual(relaxed ? ['3×12', '4×8'] : ['4×8']);
    expect(tiles[gemm.kernelFor(1024, 1024)]).toBe(relaxed ? '3×12' : '4×8');
    expect(tiles[gemm.kernelFor(64, 64)]).toBe('4×8');
    expect(tiles[gemm.kernelFor(3, 12)]).toBe(relaxed ? '3×12' : '4×8');
  });

  it('K = 0 gives the epilogue alone; M or N = 0 an empty result', () => {
    const gemm = gemms['the main thread and a worker'];
    const bias = Float32Array.from([1, 2, 3]);
    const res = Float32Array.from([10, 20, 30, 40, 50, 60]);
    const out = gemm.matmul({ a: new Float32Array(0), aShape: [2, 0], b: new Float32Array(0), bShape: [0, 3], transA: false, transB: false, batch: [], bias, residual: res });
    expect([...out]).toEqual([11, 22, 33, 41, 52, 63]);
    expect(gemm.matmul({ a: new Float32Array(0), aShape: [0, 4], b: new Float32Array(12), bShape: [4, 3], transA: false, transB: false, batch: [] }).length).toBe(0);
  });

  it('bad operands name the op, the shapes and the argument', () => {
    const gemm = gemms['the main thread'];
    expect(() => gemm.matmul({ a: new Float32Array(5), aShape: [2, 3], b: new Float32Array(6), bShape: [3, 2], transA: false, transB: false, batch: [] }))
      .toThrow(/wasm gemm: operands of \[2,3\] and \[3,2\] given 5 and 6 elements/);
    expect(() => gemm.matmul({ a: new Float32Array(6), aShape: [2, 3], b: new Float32Array(6), bShape: [3, 2], transA: false, transB: false, batch: [], bias: new Float32Array(3) }))
      .toThrow(/wasm gemm: bias of 3 elements for 2 columns/);
    expect(() => gemm.matmul({ a: new Float32Array(6), aShape: [2, 3], b: new Float32Array(6), bShape: [2, 3], transA: false, transB: false, batch: [] }))
      .toThrow(/inner dims differ/);
  });
});
