/**
 * flashAttention against naiveAttention, the way the flash-attention repo tests itself: the
 * reference is naive attention in float64 (the reference device); flash computed in float32 must
 * stay within 2× the float32 naive attention's error against it, plus 1e-5 (times max|x| where
 * that exceeds 1), for O, L, dq, dk, dv.
 * The float32 device is wasm (or gpu.js cpu) when it starts; on the reference device itself flash
 * and naive, both float64, must agree to ~1e-10. Also: O(N) peak memory, block-size independence,
 * and the shape errors. FC_RUNS scales the number of random cases; fast-check prints the seed.
 */
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { Tensor, dropoutHash24, dropoutSeed, dropoutThreshold, getDevice, manualSeed, memory, randn, resetPeakMemory, setDevice, tidy, zeros } from '@flashgrad/core';
import { DEFAULT_BLOCK_SIZE, GPU_SCRATCH_ELEMENTS, defaultBlockSize, flashAttention, naiveAttention } from '@flashgrad/attention';
import { runs } from './helpers/arbitraries.js';
import { tileCoverage, tileKeep, visibleRows, type AttentionMask } from '../packages/attention/src/masks.js';
import { causalOffset, validateBlockMask } from '../packages/attention/src/validate.js';
import { arrayBytes, kernelGeometry, planWithTiles, workgroupPlan } from '../packages/attention/src/webgpu/geometry.js';
import { sparseTable } from '../packages/attention/src/webgpu/sparse-table.js';
import { forwardSpec } from '../packages/attention/src/webgpu/forward.js';
import { dkvSpec, dqSpec } from '../packages/attention/src/webgpu/backward.js';

const RUNS = Number(process.env.FC_RUNS ?? 25);

/** Tiles of a webgpu kernel: query rows, keys, lanes (threads a row or key). */
type Tiles = [number, number, number];
/** Forward, dK/dV and dQ tiles (the forward's unless given), and the backward's splits (dQ's, dK/dV's; 1 each unless given). */
interface ForcedTiles { fwd: Tiles; bwd: Tiles; dq?: Tiles; splits?: [number, number] }

/**
 * The tiles the webgpu kernels take where a test forces them (withTiles); the planner's own
 * choice otherwise. The tile geometry bands run each band's kernels at two heads, not the hundreds
 * at which the planner picks them: the head count only sizes the dispatch, and the float64 oracle
 * at B·H = 256 took ~20 s of a ~35 s case on this host.
 */
const forced = vi.hoisted(() => ({ tiles: null as ForcedTiles | null, used: 0 }));
vi.mock('../packages/attention/src/webgpu/geometry.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../packages/attention/src/webgpu/geometry.js')>();
  const workgroupPlan: typeof real.workgroupPlan = (mask, scale, dropout, workgroupBytes) => {
    if (!forced.tiles) return real.workgroupPlan(mask, scale, dropout, workgroupBytes);
    forced.used++;
    const at = ([br, bc, lanes]: Tiles) => real.kernelGeometry(mask.dims, br, bc, lanes);
    const { fwd, bwd, dq = fwd, splits = [1, 1] } = forced.tiles;
    return real.planWithTiles(mask, scale, dropout, { fwd: at(fwd), dq: at(dq), bwd: at(bwd) }, splits);
  };
  return { ...real, workgroupPlan };
});

/** `fn` with every webgpu flash call planned on these tiles (at the call's own dims); fails if no call took them. */
async function withTiles(tiles: ForcedTiles, fn: () => Promise<void>): Promise<void> {
  forced.tiles = tiles;
  forced.used = 0;
  try {
    await fn();
    expect(forced.used, 'flash calls planned on the forced tiles').toBeGreaterThan(0);
  } finally {
    forced.tiles = null;
  }
}

/** A device that starts here, or null (with the reason printed). */
async function tryDevice(name: 'wasm' | 'cpu' | 'webgpu'): Promise<string | null> {
  try {
    await setDevice(name);
    return name;
  } catch (err) {
    console.warn(`attention.test: device ${name} did not start: ${(err as Error).message.split('\n')[0]}`);
    return null;
  }
}

/** The first CPU float32 device that starts here, or null (then only the float64 checks run). */
const f32Device = (await tryDevice('wasm')) ?? (await tryDevice('cpu'));
/** Every float32 device the equivalence properties run on: the CPU one and webgpu (llvmpipe without a GPU). */
const f32Devices = [f32Device, await tryDevice('webgpu')].filter((d): d is string => d !== null);
await setDevice('reference');

interface Case {
  B: number;
  H: number;
  Nq: number;
  Nk: number;
  d: number;
  causal: boolean;
  blockSize: number;
  scale?: number;
  /** flashAttention's option; undefined takes the device's default. */
  skipMaskedTiles?: boolean;
  blockMask?: boolean[][];
  dropout?: number;
}

interface Inputs {
  q: Tensor;
  k: Tensor;
  v: Tensor;
  dO: Tensor;
}

const names = ['out', 'lse', 'dq', 'dk', 'dv'] as const;
type Result = Record<(typeof names)[number], Float64Array>;

/** Random inputs on the reference device; randn draws float32 values, so every device sees the same numbers. */
function makeInputs(c: Case, seed: number): Inputs {
  manualSeed(seed);
  return {
    q: randn([c.B, c.H, c.Nq, c.d]),
    k: randn([c.B, c.H, c.Nk, c.d]),
    v: randn([c.B, c.H, c.Nk, c.d]),
    dO: randn([c.B, c.H, c.Nq, c.d]),
  };
}

const read = async (t: Tensor): Promise<Float64Array> =>
  t.device.name === 'reference' ? t.data64() : Float64Array.from(await t.data());

/** O, L and the gradients of ⟨O, dO⟩ from one attention on `device`, inputs copied there as leaves. */
async function run(
  attention: typeof flashAttention | typeof naiveAttention, x: Inputs, c: Case, device: string,
): Promise<Result> {
  const [q, k, v, dO] = await Promise.all([x.q, x.k, x.v, x.dO].map((t) => (device === 'reference' ? t.mul(1) : t.to(device as 'wasm'))));
  for (const t of [q, k, v]) t.requiresGrad = true;
  manualSeed(DROPOUT_SEED); // both attentions draw their dropout seed first: the same mask
  const { out, lse } = tidy(() => {
    const { causal, scale, blockSize, skipMaskedTiles, blockMask, dropout } = c;
    const r = attention(q, k, v, { causal, scale, blockSize, skipMaskedTiles, blockMask, dropout, returnLse: true });
    r.out.backward(dO);
    return r;
  });
  const result = {
    out: await read(out), lse: await read(lse), dq: await read(q.grad!), dk: await read(k.grad!), dv: await read(v.grad!),
  };
  for (const t of [q, k, v]) t.grad = null;
  for (const t of [q, k, v, dO, out, lse]) t.dispose();
  return result;
}

/** Largest |a − b|; equal infinities (L of rows that see no key) count as 0, NaN as ∞. */
function maxErr(a: Float64Array, b: Float64Array): number {
  if (a.length !== b.length) return Infinity;
  let e = 0;
  for (let i = 0; i < a.length; i++) {
    const diff = a[i] === b[i] ? 0 : Math.abs(a[i] - b[i]);
    e = Math.max(e, Number.isNaN(diff) ? Infinity : diff);
  }
  return e;
}

const maxAbs = (a: Float64Array): number => a.reduce((m, x) => (Number.isFinite(x) ? Math.max(m, Math.abs(x)) : m), 0);

const DROPOUT_SEED = 1234;

const sizes = fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 40 }));
const denseCases: fc.Arbitrary<Case> = fc.record({
  B: fc.integer({ min: 1, max: 2 }),
  H: fc.integer({ min: 1, max: 2 }),
  Nq: sizes,
  Nk: sizes,
  d: fc.oneof(fc.constantFrom(1, 8, 64, 128), fc.integer({ min: 1, max: 128 })),
  causal: fc.boolean(),
  blockSize: fc.oneof(fc.integer({ min: 1, max: 16 }), fc.constantFrom(32, 64, 128)),
  scale: fc.option(fc.double({ min: 0.05, max: 1, noNaN: true }), { nil: undefined }),
  skipMaskedTiles: fc.option(fc.boolean(), { nil: undefined }),
});

/** Block counts M for N of at most 5, each block of ⌈N/M⌉ holding one row or key at least (the last may be shorter, never empty). */
const blocksFor = (N: number): fc.Arbitrary<number> =>
  fc.integer({ min: 1, max: Math.min(5, N) }).filter((M) => (M - 1) * Math.ceil(N / M) < N);

/** An [Mq][Mk] grid for a case: at most 5 × 5 blocks, none of them empty. */
const gridFor = (c: Case): fc.Arbitrary<boolean[][]> =>
  fc.tuple(blocksFor(c.Nq), blocksFor(c.Nk))
    .chain(([Mq, Mk]) => fc.array(fc.array(fc.boolean(), { minLength: Mk, maxLength: Mk }), { minLength: Mq, maxLength: Mq }));

/** Dense, causal, block-sparse (often with causal) and dropout cases in one stream. */
const cases: fc.Arbitrary<Case> = denseCases.chain((c) => fc.record({
  blockMask: fc.option(gridFor(c), { nil: undefined, freq: 2 }),
  dropout: fc.option(fc.constantFrom(0.1, 0.5, 0.9), { nil: undefined, freq: 2 }),
}).map((extra) => ({ ...c, ...extra })));

/**
 * Flash's error on float32 `device` against float64 naive attention stays within 2 × naive
 * float32's own error there, plus a floor: the property every float32 flash test asserts.
 */
async function expectWithinNaive32(c: Case, seed: number, device: string, label: string): Promise<void> {
  const x = makeInputs(c, seed);
  const exact = await run(naiveAttention, x, c, 'reference');
  const naive32 = await run(naiveAttention, x, c, device);
  const flash32 = await run(flashAttention, x, c, device);
  for (const t of Object.values(x)) t.dispose();
  for (const name of names) {
    // flash-attn's own test adds a floor on the scale of the values (its dq_atol): 1e-5 is
    // ~170 float32 ulps at magnitude 1, so it scales with max|x| where gradients run larger
    // dropout's 1/(1 − p) scales every term of P ∘ Z, and so what float32 cancels in dS = P ∘ (dP − Δ)
    const zScale = 1 / (1 - (c.dropout ?? 0));
    // and dS's terms are d-long dot products (dP = dO·Vᵀ, Δ = rowsum(dO ∘ O)) whose float32
    // rounding grows as √d: where they cancel (one key: dS = 0 exactly) that is all the error
    const dotScale = name === 'out' || name === 'lse' ? 1 : Math.sqrt(c.d);
    const bound = 2 * maxErr(naive32[name], exact[name]) + 1e-5 * zScale * dotScale * Math.max(1, maxAbs(exact[name]));
    expect(maxErr(flash32[name], exact[name]), `${name} ${label}`).toBeLessThanOrEqual(bound);
  }
}

describe('flashAttention equals naive attention', () => {
  it('in float64 on the reference device, to 1e-12 (O, L, dq, dk, dv)', async () => {
    await fc.assert(fc.asyncProperty(cases, fc.nat(), async (c, seed) => {
      const x = makeInputs(c, seed);
      const want = await run(naiveAttention, x, c, 'reference');
      const got = await run(flashAttention, x, c, 'reference');
      for (const t of Object.values(x)) t.dispose();
      for (const name of names) {
        expect(maxErr(got[name], want[name]), `${name} ${JSON.stringify(c)}`).toBeLessThanOrEqual(1e-12 * (1 + maxAbs(want[name])));
      }
    }), runs(RUNS));
  });

  for (const f32 of f32Devices) it(`in float32 on ${f32}: error ≤ 2 × naive float32's + 1e-5 against float64`, async () => {
    await fc.assert(fc.asyncProperty(cases, fc.nat(), async (c, seed) => {
      await expectWithinNaive32(c, seed, f32, JSON.stringify(c));
    // llvmpipe compiles each new shape's unrolled webgpu kernels in seconds: fewer cases, more time
    }), { ...runs(RUNS), numRuns: Math.max(1, Math.ceil(RUNS / (f32 === 'webgpu' ? 3 : 2))) });
  }, 600_000);

  it('causal rows that see no key (Nq > Nk) give O = 0, L = −∞ and no gradient', async () => {
    const c: Case = { B: 1, H: 1, Nq: 9, Nk: 4, d: 3, causal: true, blockSize: 2 };
    const x = makeInputs(c, 7);
    const got = await run(flashAttention, x, c, 'reference');
    const empty = (c.Nq - c.Nk) * c.d;
    expect(Array.from(got.out.slice(0, empty))).toEqual(new Array(empty).fill(0));
    expect(Array.from(got.dq.slice(0, empty))).toEqual(new Array(empty).fill(0));
    expect(Array.from(got.lse.slice(0, c.Nq - c.Nk))).toEqual(new Array(c.Nq - c.Nk).fill(-Infinity));
    expect(got.out.slice(empty).some((o) => o !== 0)).toBe(true);
  });

  it('gives gradients only to the inputs that ask, matching naive', async () => {
    const c: Case = { B: 1, H: 2, Nq: 13, Nk: 11, d: 5, causal: true, blockSize: 4 };
    const x = makeInputs(c, 3);
    const want = await run(naiveAttention, x, c, 'reference');
    for (const only of ['q', 'k', 'v'] as const) {
      const [q, k, v] = [x.q.mul(1), x.k.mul(1), x.v.mul(1)];
      const leaf = { q, k, v }[only];
      leaf.requiresGrad = true;
      flashAttention(q, k, v, { causal: c.causal, blockSize: c.blockSize }).backward(x.dO);
      expect(maxErr(await leaf.grad!.data64(), want[`d${only}`])).toBeLessThan(1e-10);
      for (const t of [q, k, v]) expect(t.grad === null).toBe(t !== leaf);
    }
  });
});

describe('the masks flash plans by tiles equal the brute-force element mask', () => {
  // written here a third time, element by element: query i sees key j iff j ≤ i + Nk − Nq (causal)
  // and its block cell is open
  const brute = (Nq: number, Nk: number, causal: boolean, grid: boolean[][] | undefined, i: number, j: number): boolean =>
    (!causal || j <= i + Nk - Nq) &&
    (!grid || grid[Math.floor(i / Math.ceil(Nq / grid.length))][Math.floor(j / Math.ceil(Nk / grid[0].length))]);

  it('tile by tile: coverage and keep (every tiling, causal and block-sparse)', async () => {
    const dims = fc.record({ Nq: fc.integer({ min: 1, max: 30 }), Nk: fc.integer({ min: 1, max: 30 }), causal: fc.boolean() });
    const arb = dims.chain((c) => fc.record({
      grid: fc.option(gridFor({ ...c, B: 1, H: 1, d: 1, blockSize: 1 }), { nil: undefined }),
      tileRows: fc.integer({ min: 1, max: 12 }), tileKeys: fc.integer({ min: 1, max: 12 }),
    }).map((t) => ({ ...c, ...t })));
    await fc.assert(fc.asyncProperty(arb, async ({ Nq, Nk, causal, grid, tileRows, tileKeys }) => {
      const attentionDims = { B: 1, H: 1, Nq, Nk, d: 1 };
      const mask: AttentionMask = {
        dims: attentionDims, causal, offset: causalOffset(attentionDims), grid: validateBlockMask('test', grid, attentionDims),
      };
      for (let r0 = 0; r0 < Nq; r0 += tileRows) {
        for (let j0 = 0; j0 < Nk; j0 += tileKeys) {
          const [r1, j1] = [Math.min(Nq, r0 + tileRows), Math.min(Nk, j0 + tileKeys)];
          const want: boolean[] = [];
          for (let i = r0; i < r1; i++) for (let j = j0; j < j1; j++) want.push(brute(Nq, Nk, causal, grid, i, j));
          const coverage = want.every(Boolean) ? 'all' : want.some(Boolean) ? 'some' : 'none';
          expect(tileCoverage(mask, r0, r1, j0, j1), `tile ${r0}:${r1} × ${j0}:${j1}`).toBe(coverage);
          const keep = tileKeep(getDevice(), mask, r0, r1, j0, j1);
          expect(Array.from(await keep.data64()).map((x) => x === 1)).toEqual(want);
          keep.dispose();
        }
      }
      if (mask.grid) {
        // the webgpu kernels' tile table (prefix sums) agrees with the planner, tile by tile
        const plan = workgroupPlan(mask, 1, null);
        const table = sparseTable(mask, plan)!;
        for (const [g, at] of [[plan.fwd, plan.fwdTableOffset], [plan.dq, plan.dqTableOffset], [plan.bwd, plan.bwdTableOffset]] as const) {
          for (let a = 0; a < g.qt; a++) {
            for (let b = 0; b < g.kt; b++) {
              const cov = tileCoverage(mask, a * g.br, Math.min(Nq, (a + 1) * g.br), b * g.bc, Math.min(Nk, (b + 1) * g.bc));
              const code = table[at + a * g.kt + b];
              expect(code === 0 ? 'none' : code === 1 ? 'all' : 'some', `table tile ${a}, ${b}`).toBe(cov === 'all' && code === 2 ? 'some' : cov);
            }
          }
        }
      }
      const rowsSeeing = Array.from({ length: Nq }, (_, i) => Array.from({ length: Nk }, (_, j) => brute(Nq, Nk, causal, grid, i, j)).some(Boolean));
      const visible = visibleRows(mask);
      expect(visible ? Array.from(visible).map((x) => x === 1) : rowsSeeing.map(() => true)).toEqual(rowsSeeing);
    }), runs(RUNS * 4));
  });
});

describe('the block-sparse table orders the tiles heaviest first', () => {
  // the webgpu kernels take tiles in this order (workgroup w runs tile order[w]): every tile must
  // appear once, or a tile would be computed twice and another never; heaviest first is the schedule
  it('each order is a permutation of its tiles, by open tiles of the other side, non-increasing', () => {
    const arb = fc.record({
      BH: fc.constantFrom(1, 3, 64, 256), Nq: fc.integer({ min: 1, max: 300 }), Nk: fc.integer({ min: 1, max: 300 }), causal: fc.boolean(),
    }).chain((c) => fc.record({ grid: gridFor({ B: 1, H: 1, d: 1, blockSize: 1, ...c }) }).map((g) => ({ ...c, ...g })));
    fc.assert(fc.property(arb, ({ BH, Nq, Nk, causal, grid }) => {
      const dims = { B: 1, H: BH, Nq, Nk, d: 64 };
      const mask: AttentionMask = { dims, causal, offset: causalOffset(dims), grid: validateBlockMask('test', grid, dims) };
      const plan = workgroupPlan(mask, 1, null);
      const table = sparseTable(mask, plan)!;
      expect(table.length).toBe(plan.bwdOrderOffset + plan.bwd.kt);
      for (const [g, codesAt, at, rows] of [[plan.fwd, plan.fwdTableOffset, plan.fwdOrderOffset, true], [plan.dq, plan.dqTableOffset, plan.dqOrderOffset, true], [plan.bwd, plan.bwdTableOffset, plan.bwdOrderOffset, false]] as const) {
        const n = rows ? g.qt : g.kt;
        const open = (tile: number): number => {
          let count = 0;
          for (let other = 0; other < (rows ? g.kt : g.qt); other++) count += table[codesAt + (rows ? tile * g.kt + other : other * g.kt + tile)] !== 0 ? 1 : 0;
          return count;
        };
        const order = Array.from(table.subarray(at, at + n));
        expect([...order].sort((x, y) => x - y)).toEqual(Array.from({ length: n }, (_, t) => t));
        for (let w = 1; w < n; w++) expect(open(order[w - 1]), `${rows ? 'query' : 'key'} order ${order}`).toBeGreaterThanOrEqual(open(order[w]));
      }
    }), runs(RUNS * 4));
  });
});

describe('block-sparse and dropout', () => {
  it('a row with no visible key gives O = 0, L = −∞ and dq = 0; its keys get no gradient from it', async () => {
    // query block 1 (rows 4..7) sees nothing; key block 1 (keys 3..5) is seen by nobody
    const c: Case = { B: 1, H: 2, Nq: 10, Nk: 6, d: 3, causal: false, blockSize: 2, blockMask: [[true, false], [false, false], [true, false]] };
    const x = makeInputs(c, 5);
    for (const device of ['reference', ...f32Devices]) {
      const got = await run(flashAttention, x, c, device);
      const want = await run(naiveAttention, x, c, 'reference');
      for (let h = 0; h < 2; h++) {
        for (let i = 4; i < 8; i++) {
          const at = (h * 10 + i) * 3;
          expect(Array.from(got.out.slice(at, at + 3), Math.abs)).toEqual([0, 0, 0]);
          expect(Array.from(got.dq.slice(at, at + 3), Math.abs)).toEqual([0, 0, 0]);
          expect(got.lse[h * 10 + i]).toBe(-Infinity);
        }
        for (let j = 3; j < 6; j++) {
          const at = (h * 6 + j) * 3;
          expect(Array.from(got.dk.slice(at, at + 3), Math.abs)).toEqual([0, 0, 0]);
          expect(Array.from(got.dv.slice(at, at + 3), Math.abs)).toEqual([0, 0, 0]);
        }
      }
      for (const name of names) expect(maxErr(got[name], want[name]), `${device} ${name}`).toBeLessThan(device === 'reference' ? 1e-12 : 1e-5);
    }
  });

  it('a mask that hides everything gives zeros and −∞, like naive', async () => {
    const c: Case = { B: 1, H: 1, Nq: 5, Nk: 7, d: 4, causal: true, blockSize: 3, blockMask: [[false, false]] };
    const x = makeInputs(c, 9);
    const got = await run(flashAttention, x, c, 'reference');
    const want = await run(naiveAttention, x, c, 'reference');
    for (const name of names) expect(maxErr(got[name], want[name]), name).toBe(0);
    expect(Array.from(got.lse)).toEqual(new Array(5).fill(-Infinity));
  });

  it.skipIf(!f32Device)(`skips fully masked tiles: half the key tiles hidden costs fewer kernel calls on ${f32Device}`, async () => {
    await setDevice(f32Device!);
    const dims = { B: 1, H: 1, N: 64, d: 8 };
    const [q, k, v] = [0, 1, 2].map(() => randn([dims.B, dims.H, dims.N, dims.d]));
    const calls = (blockMask?: boolean[][]): number => {
      getDevice().resetStats!();
      tidy(() => flashAttention(q, k, v, { blockSize: 16, blockMask }));
      return getDevice().stats!().kernelCalls;
    };
    const dense = calls();
    const half = calls([[true, false, true, false]]); // key tiles 1 and 3 hidden from every row
    const none = calls([[true, true, true, true]]);
    for (const t of [q, k, v]) t.dispose();
    await setDevice('reference');
    expect(none).toBe(dense); // an all-open grid adds no kernel
    expect(half).toBeLessThan(dense);
  });

  it('dropout: Z per element of P from the seed, fresh each call, the same under manualSeed, about p dropped', async () => {
    // q = 0 makes P uniform (1/Nk) and v = I (d = Nk) makes O = P ∘ Z itself: O·Nk = Z
    const [Nq, Nk, p] = [24, 40, 0.5];
    const q = zeros([1, 2, Nq, Nk]);
    const k = zeros([1, 2, Nk, Nk]);
    const eye = Float64Array.from({ length: 2 * Nk * Nk }, (_, e) => (e % (Nk * Nk)) % (Nk + 1) === 0 ? 1 : 0);
    const v = new Tensor(getDevice().upload(eye), [1, 2, Nk, Nk]);
    const z = async (): Promise<number[]> => Array.from(await flashAttention(q, k, v, { dropout: p, blockSize: 16 }).data64()).map((o) => o * Nk);
    manualSeed(42);
    const first = await z();
    const second = await z();
    manualSeed(42);
    const again = await z();
    manualSeed(42);
    const seed = dropoutSeed();
    const want = first.map((_, e) => (dropoutHash24(seed, e) >= dropoutThreshold(p) ? 1 / (1 - p) : 0));
    for (const [e, x] of first.entries()) expect(x, `element ${e}`).toBeCloseTo(want[e], 12);
    expect(again).toEqual(first);
    expect(second).not.toEqual(first);
    const dropped = first.filter((x) => x === 0).length / first.length;
    expect(Math.abs(dropped - p)).toBeLessThan(5 * Math.sqrt(p * (1 - p) / first.length)); // 5σ of a binomial
    for (const t of [q, k, v]) t.dispose();
  });

  it('dropout 0 is no dropout, and draws no seed', async () => {
    const c: Case = { B: 1, H: 1, Nq: 6, Nk: 9, d: 4, causal: true, blockSize: 4 };
    const x = makeInputs(c, 2);
    const plain = await run(flashAttention, x, c, 'reference');
    const zero = await run(flashAttention, x, { ...c, dropout: 0 }, 'reference');
    for (const name of names) expect(maxErr(zero[name], plain[name])).toBe(0);
  });
});

describe('webgpu: FlashAttention-2 kernels on workgroup memory', () => {
  it.runIf(f32Devices.includes('webgpu'))('kernel calls: forward 1 (O a view of its result, no copy), backward 2 (dQ with Δ, dK with dV), 3 where the plan splits (+ the sum), a block mask +1 upload', async () => {
    await setDevice('webgpu');
    try {
      const device = getDevice();
      expect(device.workgroupKernels).toBe(true);
      // two heads: few tiles, so the backward splits; 256 heads: enough tiles to fill a GPU unsplit
      const [q, k, v, dO] = [0, 1, 2, 3].map(() => randn([1, 2, 40, 8]));
      const [qh, kh, vh, dOh] = [0, 1, 2, 3].map(() => randn([1, 256, 40, 8]));
      for (const t of [q, k, v, qh, kh, vh]) t.requiresGrad = true;
      const count = (blockMask?: boolean[][], [q, k, v, dO] = [qh, kh, vh, dOh]): [number, number] => {
        device.resetStats!();
        const out = flashAttention(q, k, v, { causal: true, blockMask });
        const forward = device.stats!().kernelCalls;
        out.backward(dO);
        const total = device.stats!().kernelCalls;
        out.dispose();
        for (const t of [q, k, v]) t.grad = null;
        return [forward, total - forward];
      };
      expect(count()).toEqual([1, 2]);
      expect(count(undefined, [q, k, v, dO])).toEqual([1, 3]);
      expect(count([[true, false], [true, true]], [q, k, v, dO])).toEqual([2, 2]);
      for (const t of [q, k, v, dO, qh, kh, vh, dOh]) t.dispose();
    } finally {
      await setDevice('reference');
    }
  });
});

describe('webgpu: every tile geometry the plan picks', () => {
  // the random cases above are small (B·H ≤ 4, N ≤ 40), so they all get the 8-lane geometry; these
  // fix B·H so that each band of workgroupPlan is taken (at llvmpipe's 32 KiB of workgroup memory),
  // with lengths off the tile sizes, d past 64, block-sparse grids finer than the wide tiles (2-lane
  // tiles as long as a block of 64 to 127, the 4-lane tiles for causal grids and finer blocks)
  // (and below 256 tiles, dQ's own tiles and the backward's splits: causal, dropout, uneven parts)
  const bands: { c: Case; fwd: Tiles; bwd: Tiles; dq?: Tiles; splits?: [number, number] }[] = [
    { c: { B: 1, H: 2, Nq: 70, Nk: 45, d: 64, causal: true, blockSize: 16 }, fwd: [16, 32, 8], dq: [32, 32, 8], bwd: [32, 64, 4], splits: [2, 3] },
    { c: { B: 1, H: 16, Nq: 64, Nk: 100, d: 32, causal: false, blockSize: 16, dropout: 0.3 }, fwd: [16, 32, 8], dq: [32, 32, 8], bwd: [32, 32, 8], splits: [4, 2] },
    { c: { B: 1, H: 32, Nq: 40, Nk: 70, d: 64, causal: true, blockSize: 16 }, fwd: [16, 32, 8], dq: [128, 24, 2], bwd: [32, 64, 4], splits: [3, 2] },
    { c: { B: 1, H: 64, Nq: 33, Nk: 50, d: 24, causal: false, blockSize: 16 }, fwd: [32, 32, 8], dq: [128, 32, 2], bwd: [32, 128, 2], splits: [2, 2] },
    { c: { B: 2, H: 64, Nq: 33, Nk: 50, d: 24, causal: true, blockSize: 16, blockMask: [[true, false], [true, true]] }, fwd: [32, 32, 4], bwd: [32, 32, 4] },
    { c: { B: 4, H: 64, Nq: 100, Nk: 70, d: 20, causal: true, blockSize: 16 }, fwd: [128, 32, 2], bwd: [32, 128, 2] },
    { c: { B: 4, H: 64, Nq: 150, Nk: 130, d: 64, causal: false, blockSize: 16 }, fwd: [128, 24, 2], bwd: [32, 64, 4] },
    { c: { B: 4, H: 64, Nq: 150, Nk: 130, d: 64, causal: false, blockSize: 16, blockMask: [[true, false, true], [false, true, true]] }, fwd: [64, 32, 2], dq: [64, 16, 2], bwd: [32, 64, 4] },
    { c: { B: 4, H: 64, Nq: 150, Nk: 130, d: 64, causal: false, blockSize: 16, blockMask: [[true, false], [false, true]] }, fwd: [64, 32, 2], dq: [64, 16, 2], bwd: [16, 64, 2] },
    { c: { B: 4, H: 64, Nq: 150, Nk: 130, d: 64, causal: true, blockSize: 16, blockMask: [[true, false], [true, true]] }, fwd: [64, 32, 4], bwd: [32, 64, 4] },
    { c: { B: 4, H: 64, Nq: 70, Nk: 90, d: 100, causal: true, blockSize: 16, dropout: 0.5 }, fwd: [64, 16, 4], bwd: [16, 64, 4] },
  ];
  const tilesOf = (g: { br: number; bc: number; lanes: number }): Tiles => [g.br, g.bc, g.lanes];
  for (const { c, fwd, bwd, dq = fwd, splits = [1, 1] } of bands) {
    const split = `${dq !== fwd ? `, dQ ${dq[0]} × ${dq[1]}, ${dq[2]} lanes` : ''}${splits[0] > 1 || splits[1] > 1 ? `, splits ${splits.join(' and ')}` : ''}`;
    it.runIf(f32Devices.includes('webgpu'))(`B·H ${c.B * c.H}, Nq ${c.Nq}, Nk ${c.Nk}, d ${c.d}${c.blockMask ? ', block-sparse' : ''}: forward tiles ${fwd[0]} × ${fwd[1]}, ${fwd[2]} lanes; dK/dV ${bwd[0]} × ${bwd[1]}, ${bwd[2]} lanes${split}`, async () => {
      const dims = { B: c.B, H: c.H, Nq: c.Nq, Nk: c.Nk, d: c.d };
      const plan = workgroupPlan({ dims, causal: c.causal, offset: c.Nk - c.Nq, grid: validateBlockMask('test', c.blockMask, dims) }, 1, null, 32 * 1024);
      expect([tilesOf(plan.fwd), tilesOf(plan.dq), tilesOf(plan.bwd), [plan.dqSplit, plan.dkvSplit]]).toEqual([fwd, dq, bwd, splits]);
      // the same kernels at two heads (tiles, splits, lengths and d as picked; B·H only sizes the dispatch)
      await withTiles({ fwd, bwd, dq, splits: [plan.dqSplit, plan.dkvSplit] }, () => expectWithinNaive32({ ...c, B: 1, H: 2 }, 11, 'webgpu', ''));
    }, 600_000);
  }

  it('a plan refuses splits outside 1 … min(8, the tiles walked), and any split under a block-sparse grid', () => {
    const dims = { B: 1, H: 1, Nq: 100, Nk: 70, d: 16 };
    const mask: AttentionMask = { dims, causal: false, offset: 0, grid: null };
    const tiles = { br: 32, bc: 32, lanes: 8, d: 16, qt: 4, kt: 3 };
    expect(planWithTiles(mask, 1, null, { fwd: tiles, bwd: tiles }, [3, 4]).dqSplit).toBe(3);
    expect(() => planWithTiles(mask, 1, null, { fwd: tiles, bwd: tiles }, [4, 1])).toThrow(/dQ split 4 must be an integer from 1 to min\(8, its 3 tiles\)/);
    expect(() => planWithTiles(mask, 1, null, { fwd: tiles, bwd: tiles }, [1, 0])).toThrow(/dK\/dV split 0/);
    expect(() => planWithTiles(mask, 1, null, { fwd: tiles, bwd: tiles }, [1.5, 1])).toThrow(/dQ split 1.5/);
    const grid = validateBlockMask('test', [[true, false], [true, true]], dims);
    expect(() => planWithTiles({ ...mask, grid }, 1, null, { fwd: tiles, bwd: tiles }, [2, 1])).toThrow(/under a block-sparse grid/);
  });

  it('a kernel spec key names its source: plans whose sources differ (other tiles for the other kernels, under a grid) get different keys', () => {
    // a gpu.js device compiles a spec once per key, so two sources under one key would run the first
    const dims = { B: 1, H: 2, Nq: 150, Nk: 130, d: 16 };
    const tiles: [number, number, number][] = [[64, 32, 2], [64, 16, 2], [32, 32, 8], [16, 64, 2]];
    const arb = fc.record({ fwd: fc.constantFrom(...tiles), dq: fc.constantFrom(...tiles), bwd: fc.constantFrom(...tiles), causal: fc.boolean(), sparse: fc.boolean() });
    fc.assert(fc.property(arb, arb, (a, b) => {
      const planOf = ({ fwd, dq, bwd, causal, sparse }: typeof a) => {
        const grid = sparse ? validateBlockMask('test', [[true, false], [true, true]], dims) : null;
        const at = ([br, bc, lanes]: [number, number, number]) => kernelGeometry(dims, br, bc, lanes);
        return planWithTiles({ dims, causal, offset: causalOffset(dims), grid }, 1, null, { fwd: at(fwd), dq: at(dq), bwd: at(bwd) });
      };
      const [pa, pb] = [planOf(a), planOf(b)];
      for (const spec of [forwardSpec, dqSpec, dkvSpec]) {
        const [sa, sb] = [spec(pa), spec(pb)];
        expect(sa.key === sb.key, `${sa.key} | ${sb.key}`).toBe(sa.source === sb.source);
      }
    }), runs(RUNS));
  });

  it('every plan fits the workgroup memory it was made for; 48 KiB (the H200) takes the wide tiles at d = 64', () => {
    const arb = fc.record({
      BH: fc.constantFrom(1, 3, 64, 256, 1024), Nq: fc.integer({ min: 2, max: 20000 }), Nk: fc.integer({ min: 2, max: 20000 }),
      d: fc.integer({ min: 1, max: 128 }), causal: fc.boolean(), bytes: fc.constantFrom(32 * 1024, 48 * 1024), sparse: fc.boolean(),
    });
    fc.assert(fc.property(arb, ({ BH, Nq, Nk, d, causal, bytes, sparse }) => {
      const dims = { B: 1, H: BH, Nq, Nk, d };
      const grid = sparse ? validateBlockMask('test', [[true, false], [true, true]], dims) : null;
      const plan = workgroupPlan({ dims, causal, offset: causalOffset(dims), grid }, 1, null, bytes);
      for (const spec of [forwardSpec(plan), dqSpec(plan), dkvSpec(plan)]) {
        expect(arrayBytes(spec.workgroupArrays!), spec.key).toBeLessThanOrEqual(bytes);
      }
    }), runs(RUNS));
    const h200 = workgroupPlan({ dims: { B: 1, H: 1, Nq: 16384, Nk: 16384, d: 64 }, causal: false, offset: 0, grid: null }, 1, null, 48 * 1024);
    expect([[h200.fwd.br, h200.fwd.bc, h200.fwd.lanes], [h200.bwd.br, h200.bwd.bc, h200.bwd.lanes]]).toEqual([[128, 32, 2], [32, 128, 2]]);
  });
});

describe('webgpu: block-sparse tiles skipped whole', () => {
  // blocks of 32 = the tiles: query tile 0 is hidden from key tile 0 and key tile 2, then later
  // query tiles see them, so the dK/dV loops skip a tile and must go on to the next ones
  const blockMask = [[false, true, false, true], [true, false, true, true], [true, true, false, false], [false, true, true, true]];
  it.runIf(f32Devices.includes('webgpu'))('Nq = Nk = 128, 4 × 4 blocks: O, L, dq, dk, dv match float64 naive', async () => {
    const c: Case = { B: 1, H: 2, Nq: 128, Nk: 128, d: 32, causal: false, blockSize: 16, blockMask };
    await expectWithinNaive32(c, 5, 'webgpu', '');
  }, 300_000);

  it.runIf(f32Devices.includes('webgpu'))('the tile table is uploaded once for a blockMask used again, inside tidy() or not, and the calls agree', async () => {
    await setDevice('webgpu');
    const device = getDevice();
    manualSeed(5);
    // a mask and shape of this test alone: the table cache is the module's, so a mask another test
    // used would already be there
    const ownMask = [[true, false, false, true], [false, true, true, false], [true, true, true, false], [false, false, true, true]];
    const [q, k, v] = [0, 1, 2].map(() => randn([1, 3, 128, 32]));
    const uploads: number[] = [];
    const upload = device.upload.bind(device);
    device.upload = (data) => { uploads.push(data.length); return upload(data); };
    try {
      const first = tidy(() => flashAttention(q, k, v, { blockMask: ownMask }) as Tensor);
      const afterFirst = uploads.length;
      expect(afterFirst, 'the table uploaded by the first call').toBeGreaterThan(0);
      const second = flashAttention(q, k, v, { blockMask: ownMask }) as Tensor;
      expect(uploads.length, 'uploads by the second call').toBe(afterFirst);
      expect(Array.from(await second.data())).toEqual(Array.from(await first.data()));
      for (const t of [first, second, q, k, v]) t.dispose();
    } finally {
      device.upload = upload;
    }
  }, 300_000);
});

describe('blockSize independence', () => {
  for (const [causal, Nq, Nk] of [[false, 45, 70], [true, 45, 70], [true, 70, 45]] as const) {
    const c = { B: 2, H: 1, Nq, Nk, d: 16 };
    it(`${causal ? 'causal' : 'full'} Nq ${Nq} Nk ${Nk}: blockSize 1, 7, 16, 64, 128, masked tiles skipped or not, agree (float64, and float32 where a device runs)`, async () => {
      const x = makeInputs({ ...c, causal, blockSize: 1 }, 11);
      // webgpu's workgroup kernels have fixed tiles and ignore blockSize: only the blocked formulation here
      for (const device of ['reference', ...(f32Device ? [f32Device] : [])]) {
        const tol = device === 'reference' ? 1e-11 : 2e-5;
        const results = [];
        for (const blockSize of [1, 7, 16, 64, 128]) {
          for (const skipMaskedTiles of [true, false]) results.push(await run(flashAttention, x, { ...c, causal, blockSize, skipMaskedTiles }, device));
        }
        for (const r of results.slice(1)) {
          for (const name of names) {
            expect(maxErr(r[name], results[0][name]), `${device} ${name}`).toBeLessThanOrEqual(tol * (1 + maxAbs(results[0][name])));
          }
        }
      }
    });
  }
});

describe('defaultBlockSize', () => {
  const gpus = [{ name: 'webgpu' }, { name: 'headlessgl' }];
  it('is DEFAULT_BLOCK_SIZE on CPU devices', () => {
    for (const name of ['reference', 'wasm', 'cpu']) expect(defaultBlockSize({ name }, { B: 8, H: 8, Nq: 4096, Nk: 4096 })).toBe(DEFAULT_BLOCK_SIZE);
  });
  it('on a GPU: the largest power of two ≥ 64 whose B·H·Nq·Bc scratch fits the budget, capped at Nk rounded up', () => {
    expect(defaultBlockSize(gpus[0], { B: 1, H: 1, Nq: 1024, Nk: 1024 })).toBe(1024); // one block
    expect(defaultBlockSize(gpus[0], { B: 1, H: 1, Nq: 4096, Nk: 4096 })).toBe(2048);
    expect(defaultBlockSize(gpus[0], { B: 2, H: 4, Nq: 4096, Nk: 4096 })).toBe(256);
    expect(defaultBlockSize(gpus[0], { B: 1, H: 1, Nq: 1000, Nk: 45 })).toBe(64);
    expect(defaultBlockSize(gpus[0], { B: 1, H: 1, Nq: 1, Nk: 1 })).toBe(1);
    expect(defaultBlockSize(gpus[0], { B: 64, H: 64, Nq: 65536, Nk: 65536 })).toBe(64); // floor
  });
  it('on a GPU keeps the scratch within GPU_SCRATCH_ELEMENTS whenever Bc > 64, so memory stays O(N)', () => {
    fc.assert(fc.property(fc.constantFrom(...gpus), fc.integer({ min: 1, max: 16 }), fc.integer({ min: 1, max: 32 }),
      fc.integer({ min: 1, max: 1 << 16 }), fc.integer({ min: 1, max: 1 << 16 }), (device, B, H, Nq, Nk) => {
        const bc = defaultBlockSize(device, { B, H, Nq, Nk });
        expect(Number.isInteger(Math.log2(bc))).toBe(true);
        expect(bc).toBeLessThanOrEqual(2 ** Math.ceil(Math.log2(Nk)));
        if (bc > 64) expect(B * H * Nq * bc).toBeLessThanOrEqual(GPU_SCRATCH_ELEMENTS);
        // and it is the largest such: doubling would pass the budget or the cap
        if (bc >= 64 && bc < Nk) expect(B * H * Nq * bc * 2).toBeGreaterThan(GPU_SCRATCH_ELEMENTS);
      }), { ...runs(500), numRuns: 500 });
  });
});

describe('memory: nothing N × N', () => {
  /** Peak device bytes above the live inputs during forward + backward (the reference device stores float64). */
  function peakBytes(attention: typeof flashAttention | typeof naiveAttention, N: number): number {
    manualSeed(N);
    const d = 64;
    const [q, k, v] = [0, 1, 2].map(() => randn([1, 1, N, d], { requiresGrad: true }));
    const dO = zeros([1, 1, N, d]).add(1);
    const baseline = memory().bytes;
    resetPeakMemory();
    tidy(() => attention(q, k, v).backward(dO));
    const peak = memory().peakBytes - baseline;
    for (const t of [q, k, v]) t.grad = null;
    for (const t of [q, k, v, dO]) t.dispose();
    return peak;
  }

  it('flash forward+backward at N = 2048, d = 64 peaks below one N × N buffer and grows linearly; naive grows quadratically', () => {
    const bytesPerElement = 8;
    const flash = [1024, 2048].map((N) => peakBytes(flashAttention, N));
    const naive = [1024, 2048].map((N) => peakBytes(naiveAttention, N));
    console.log(`peak bytes above inputs, N = 1024 → 2048: flash ${flash.join(' → ')} (×${(flash[1] / flash[0]).toFixed(2)}), naive ${naive.join(' → ')} (×${(naive[1] / naive[0]).toFixed(2)})`);
    expect(flash[1]).toBeLessThan(2048 * 2048 * bytesPerElement);
    expect(flash[1] / flash[0]).toBeLessThan(2.5);
    expect(naive[1] / naive[0]).toBeGreaterThan(3.5);
  }, 170_000);

  it.runIf(f32Devices.includes('webgpu'))('on webgpu too: flash forward+backward at N = 2048 peaks below one float32 N × N buffer and grows linearly', async () => {
    await setDevice('webgpu');
    try {
      const flash = [1024, 2048].map((N) => peakBytes(flashAttention, N));
      await getDevice().sync();
      console.log(`webgpu peak bytes above inputs, N = 1024 → 2048: flash ${flash.join(' → ')} (×${(flash[1] / flash[0]).toFixed(2)})`);
      expect(flash[1]).toBeLessThan(2048 * 2048 * 4);
      expect(flash[1] / flash[0]).toBeLessThan(2.5);
    } finally {
      await setDevice('reference');
    }
  }, 170_000);
});

describe('memory: returnLse leaves nothing behind', () => {
  // the composed path's L went through a mask and a reshape outside any tidy: a buffer or two a
  // call stayed until the garbage collector found them
  it.each([...new Set(['reference', ...f32Devices])])('%s: out and L disposed, the buffers are as before (rows that see no key, and none)', async (name) => {
    await setDevice(name);
    try {
      const q = randn([1, 2, 8, 4]);
      const k = randn([1, 2, 4, 4]);
      for (const causal of [false, true]) {
        const before = memory().buffers;
        const { out, lse } = flashAttention(q, k, k, { causal, returnLse: true });
        out.dispose();
        lse.dispose();
        expect(memory().buffers - before, `causal ${causal}`).toBe(0);
      }
      for (const t of [q, k]) t.dispose();
    } finally {
      await setDevice('reference');
    }
  });
});

describe('errors name the op and the shapes', () => {
  const t = (...shape: number[]) => zeros(shape);
  const q = t(1, 2, 5, 4);
  const kv = t(1, 2, 6, 4);
  const cases: [string, () => unknown, RegExp][] = [
    ['rank 3', () => flashAttention(t(2, 5, 4), t(2, 6, 4), t(2, 6, 4)), /flashAttention: q, k and v must be rank 4 .*q \[2, 5, 4\]/],
    ['rank 5', () => flashAttention(q, kv, t(1, 1, 2, 6, 4)), /flashAttention: .*rank 4.*v \[1, 1, 2, 6, 4\]/],
    ['d mismatch', () => flashAttention(q, t(1, 2, 6, 3), t(1, 2, 6, 3)), /flashAttention: head dim d .*q \[1, 2, 5, 4\], k \[1, 2, 6, 3\]/],
    ['v d mismatch', () => flashAttention(q, kv, t(1, 2, 6, 8)), /flashAttention: head dim d .*v \[1, 2, 6, 8\]/],
    ['batch mismatch', () => flashAttention(q, t(2, 2, 6, 4), t(2, 2, 6, 4)), /flashAttention: batch and head dims .*k \[2, 2, 6, 4\]/],
    ['head mismatch', () => flashAttention(q, kv, t(1, 3, 6, 4)), /flashAttention: batch and head dims .*v \[1, 3, 6, 4\]/],
    ['k/v length', () => flashAttention(q, kv, t(1, 2, 7, 4)), /flashAttention: k and v must have the same length Nk.*k \[1, 2, 6, 4\], v \[1, 2, 7, 4\]/],
    ['empty', () => flashAttention(t(1, 2, 0, 4), kv, kv), /flashAttention: every dim must be at least 1/],
    ['blockSize 0', () => flashAttention(q, kv, kv, { blockSize: 0 }), /flashAttention: blockSize must be a positive integer, got 0/],
    ['blockSize 2.5', () => flashAttention(q, kv, kv, { blockSize: 2.5 }), /flashAttention: blockSize must be a positive integer, got 2.5/],
    ['blockSize NaN', () => flashAttention(q, kv, kv, { blockSize: NaN }), /flashAttention: blockSize must be a positive integer/],
    ['scale', () => flashAttention(q, kv, kv, { scale: Infinity }), /flashAttention: scale must be a finite number/],
    ['naive rank', () => naiveAttention(t(5, 4), kv, kv), /naiveAttention: q, k and v must be rank 4/],
    ['blockMask not arrays', () => flashAttention(q, kv, kv, { blockMask: [true] as never }), /flashAttention: blockMask must be a non-empty \[Mq\]\[Mk\] array of arrays/],
    ['blockMask empty', () => flashAttention(q, kv, kv, { blockMask: [] }), /flashAttention: blockMask must be a non-empty/],
    ['blockMask ragged', () => flashAttention(q, kv, kv, { blockMask: [[true, false], [true]] }), /flashAttention: blockMask rows must all have the same non-zero length, got lengths \[2, 1\]/],
    ['blockMask too many blocks', () => flashAttention(q, kv, kv, { blockMask: [[true], [true], [true], [true], [true], [true]] }), /flashAttention: blockMask \[6, 1\] has more blocks than queries or keys \(Nq 5, Nk 6\)/],
    ['blockMask value', () => flashAttention(q, kv, kv, { blockMask: [[true, 'yes' as never]] }), /flashAttention: blockMask\[0\]\[1\] must be a boolean \(or 0 \/ 1\), got "yes"/],
    ['blockMask tensor', () => flashAttention(q, kv, kv, { blockMask: zeros([1, 1]) as never }), /flashAttention: blockMask must be nested arrays of booleans \[Mq\]\[Mk\], not a Tensor/],
    ['naive blockMask', () => naiveAttention(q, kv, kv, { blockMask: [[2]] }), /naiveAttention: blockMask\[0\]\[0\] must be a boolean/],
    ['dropout 1', () => flashAttention(q, kv, kv, { dropout: 1 }), /flashAttention: dropout must be a number in \[0, 1\), got 1/],
    ['dropout negative', () => flashAttention(q, kv, kv, { dropout: -0.1 }), /flashAttention: dropout must be a number in \[0, 1\), got -0.1/],
    ['dropout NaN', () => naiveAttention(q, kv, kv, { dropout: NaN }), /naiveAttention: dropout must be a number in \[0, 1\), got NaN/],
  ];
  for (const [name, call, message] of cases) it(name, () => expect(call).toThrow(message));
});
