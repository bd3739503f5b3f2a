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
import { describe, expect, it } from 'vitest';
import { type Tensor, manualSeed, memory, randn, resetPeakMemory, setDevice, tidy, zeros } from '@flashgrad/core';
import { DEFAULT_BLOCK_SIZE, GPU_SCRATCH_ELEMENTS, defaultBlockSize, flashAttention, naiveAttention } from '@flashgrad/attention';
import { runs } from './helpers/arbitraries.js';

const RUNS = Number(process.env.FC_RUNS ?? 25);

/** The first float32 device that starts here, or null (then only the float64 checks run). */
const f32Device = await (async () => {
  for (const name of ['wasm', 'cpu'] as const) {
    try {
      await setDevice(name);
      return name;
    } catch (err) {
      console.warn(`attention.test: device ${name} did not start: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  return null;
})();
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
  const { out, lse } = tidy(() => {
    const r = attention(q, k, v, { causal: c.causal, scale: c.scale, blockSize: c.blockSize, skipMaskedTiles: c.skipMaskedTiles, returnLse: true });
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

const sizes = fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 40 }));
const cases: fc.Arbitrary<Case> = fc.record({
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

  it.skipIf(!f32Device)(`in float32 on ${f32Device}: error ≤ 2 × naive float32's + 1e-5 against float64`, async () => {
    await fc.assert(fc.asyncProperty(cases, fc.nat(), async (c, seed) => {
      const x = makeInputs(c, seed);
      const exact = await run(naiveAttention, x, c, 'reference');
      const naive32 = await run(naiveAttention, x, c, f32Device!);
      const flash32 = await run(flashAttention, x, c, f32Device!);
      for (const t of Object.values(x)) t.dispose();
      for (const name of names) {
        // flash-attn's own test adds a floor on the scale of the values (its dq_atol): 1e-5 is
        // ~170 float32 ulps at magnitude 1, so it scales with max|x| where gradients run larger
        const bound = 2 * maxErr(naive32[name], exact[name]) + 1e-5 * Math.max(1, maxAbs(exact[name]));
        expect(maxErr(flash32[name], exact[name]), `${name} ${JSON.stringify(c)}`).toBeLessThanOrEqual(bound);
      }
    }), { ...runs(RUNS), numRuns: Math.max(1, Math.ceil(RUNS / 2)) });
  });

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

describe('blockSize independence', () => {
  for (const [causal, Nq, Nk] of [[false, 45, 70], [true, 45, 70], [true, 70, 45]] as const) {
    const c = { B: 2, H: 1, Nq, Nk, d: 16 };
    it(`${causal ? 'causal' : 'full'} Nq ${Nq} Nk ${Nk}: blockSize 1, 7, 16, 64, 128, masked tiles skipped or not, agree (float64, and float32 where a device runs)`, async () => {
      const x = makeInputs({ ...c, causal, blockSize: 1 }, 11);
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
  ];
  for (const [name, call, message] of cases) it(name, () => expect(call).toThrow(message));
});
