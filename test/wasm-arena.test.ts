/**
 * The wasm device's arena (packages/core/src/devices/wasm-arena): the allocator alone, the GEMM
 * reading and writing views of it in place, and the device whose tensors live there.
 *
 * Allocator: random sequences of allocations and releases never hand out overlapping live blocks
 * and never disturb a live block's contents (each block holds its own pattern, checked after
 * every step); a released block of a class serves the next request of that class without growth;
 * growing the shared memory leaves earlier views attached and aliasing the same bytes; a tensor
 * request past the limit or the memory's maximum answers null (the caller's fallback); a double
 * release, a stale view of a block handed out again and a foreign array all throw.
 *
 * GEMM: over random shapes (edge tiles, transposes, batches, bias), each operand and the result
 * either a view of the arena or a plain array, on 1 and 2 threads, the result equals the reference
 * device's (‖got − want‖ / ‖|A|·|B|‖ ≤ 1e-5, as in wasm-gemm.test.ts), the operands are unchanged,
 * and the bytes copied are exactly those of the operands from outside.
 *
 * Device: uploads, host-loop and GEMM results are arena blocks; a matmul of device tensors copies
 * nothing; disposed blocks come back and are reused; a disposed tensor cannot be read and its
 * block, handed to a new tensor, holds only the new tensor's data; with a small limit the tensors
 * past it are plain arrays and every op still equals the reference.
 */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { type Device, getDevice, setDevice } from '@flashgrad/core';
import { ReferenceDevice } from '../packages/core/src/devices/reference.js';
import { WasmArena, sizeClass } from '../packages/core/src/devices/wasm-arena/index.js';
import { WasmGemm, noTimes } from '../packages/core/src/devices/wasm-gemm/index.js';
import { WasmElementwise } from '../packages/core/src/devices/wasm-ops/index.js';
import { type GpujsDevice, createGpujsDevice } from '../packages/core/src/devices/gpujs/index.js';
import { runs, sizeOf } from './helpers/arbitraries.js';
import { relErr } from './helpers/compare.js';
import { rng } from './helpers/gradcheck.js';

const PAGE = 65536;
const ref = new ReferenceDevice();

function values(n: number, seed: number): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => r() * 2 - 1);
}

describe('size classes', () => {
  it('a class holds its request, is a multiple of 64 and wastes under 25% (64 bytes at least)', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 2 ** 31 }), (bytes) => {
      const c = sizeClass(bytes);
      expect(c).toBeGreaterThanOrEqual(bytes);
      expect(c % 64).toBe(0);
      expect(c).toBeLessThan(Math.max(1.25 * bytes, 64 + bytes));
      expect(sizeClass(c)).toBe(c);
    }), runs(500));
  });
});

describe('wasm arena', () => {
  type Op = { alloc: number } | { release: number };
  const opsArb = fc.array(fc.oneof(
    { weight: 3, arbitrary: fc.record({ alloc: fc.oneof(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: 20000 })) }) },
    { weight: 2, arbitrary: fc.record({ release: fc.nat() }) },
  ), { minLength: 1, maxLength: 80 }) as fc.Arbitrary<Op[]>;

  it('live blocks never overlap and keep their contents; a released block serves its class again without growth', () => {
    fc.assert(fc.property(opsArb, (ops) => {
      const arena = new WasmArena({ maxBytes: 8 * 2 ** 20 });
      const live: { view: Float32Array; tag: number }[] = [];
      let tag = 0;
      for (const op of ops) {
        if ('alloc' in op) {
          const view = arena.alloc(op.alloc);
          expect(view).not.toBeNull();
          view!.fill(++tag);
          live.push({ view: view!, tag });
        } else if (live.length > 0) {
          const [gone] = live.splice(op.release % live.length, 1);
          const before = arena.stats();
          arena.release(gone.view);
          // the same class again: the same block, the memory not grown
          const again = arena.alloc(gone.view.length)!;
          expect(again.byteOffset).toBe(gone.view.byteOffset);
          expect(arena.stats().memoryBytes).toBe(before.memoryBytes);
          again.fill(++tag);
          live.push({ view: again, tag });
        }
        const spans = live.map(({ view }) => [arena.addressOf(view), arena.addressOf(view) + sizeClass(view.byteLength)]).sort((x, y) => x[0] - y[0]);
        for (let i = 1; i < spans.length; i++) expect(spans[i][0]).toBeGreaterThanOrEqual(spans[i - 1][1]);
        for (const { view, tag: t } of live) expect(view.every((v) => v === t)).toBe(true);
      }
    }), runs(100));
  });

  it('growing the shared memory leaves earlier views attached, aliasing the same bytes', () => {
    const arena = new WasmArena();
    const first = arena.alloc(1000)!;
    first.set(values(1000, 1));
    const bufferBefore = arena.memory.buffer;
    const bytesBefore = bufferBefore.byteLength;
    const big = arena.alloc(8 * 2 ** 20)!; // 32 MiB: past the first 1 MiB, the memory grows
    expect(arena.memory.buffer.byteLength).toBeGreaterThan(bytesBefore);
    expect(arena.memory.buffer).not.toBe(bufferBefore);
    // not detached: the old SharedArrayBuffer keeps its length and the view its values
    expect(first.buffer.byteLength).toBe(bytesBefore);
    expect(Array.from(first)).toEqual(Array.from(values(1000, 1)));
    // one memory: a write through the old view shows through a view of the grown buffer, and back
    const at = arena.addressOf(first);
    expect(at).toBeGreaterThanOrEqual(0);
    first[7] = 42;
    expect(arena.floats()[at / 4 + 7]).toBe(42);
    arena.floats()[at / 4 + 8] = 43;
    expect(first[8]).toBe(43);
    big[big.length - 1] = 5;
    expect(arena.addressOf(first)).toBe(at);
    // and when another shared memory grows, V8 gives this one a new buffer object too: views hold
    const other = new WebAssembly.Memory({ initial: 1, maximum: 64, shared: true });
    const bufferNow = arena.memory.buffer;
    other.grow(8);
    expect(arena.memory.buffer.byteLength).toBe(bufferNow.byteLength);
    first[9] = 44;
    expect(arena.floats()[at / 4 + 9]).toBe(44);
    expect(arena.addressOf(first)).toBe(at);
    expect(arena.addressOf(big)).toBeGreaterThan(at);
  });

  it('tensors past the limit or the maximum get null, working space may use the rest', () => {
    const arena = new WasmArena({ maxBytes: 2 * 2 ** 20, tensorLimit: 2 ** 20 });
    const blocks: Float32Array[] = [];
    for (let v = arena.alloc(65536); v; v = arena.alloc(65536)) blocks.push(v);
    // 256 KiB blocks under a 1 MiB limit: four of them
    expect(blocks.length).toBe(4);
    expect(arena.stats().refused).toBe(1);
    const work = arena.allocWorking(2 ** 20 - 64 * 1024);
    expect(work).toBeGreaterThanOrEqual(2 ** 20);
    // the memory's maximum: no room for a second MiB of working space
    expect(arena.allocWorking(2 ** 20)).toBe(-1);
    arena.release(work);
    arena.release(blocks[0]);
    expect(arena.alloc(65536)).not.toBeNull();
    expect(new WasmArena({ tensorLimit: 0 }).alloc(1)).toBeNull();
  });

  it('out of new space, a request takes a larger free block rather than fail', () => {
    const arena = new WasmArena({ maxBytes: PAGE * 2 });
    const big = arena.alloc(20000)!; // class 81920 of the 131072 bytes
    arena.release(big);
    const small = arena.alloc(15000)!; // class 65536: no room above `big` (81920 + 65536 > 131072)
    expect(small.byteOffset).toBe(big.byteOffset);
    arena.release(small);
    expect(arena.alloc(15000)).not.toBeNull();
  });

  it('a double release, a stale view and a foreign array throw; a stale view never frees the new owner', () => {
    const arena = new WasmArena();
    const a = arena.alloc(100)!;
    arena.release(a);
    expect(() => arena.release(a)).toThrow(/release of a block that is not live/);
    const b = arena.alloc(100)!; // a's block, a new view
    expect(b.byteOffset).toBe(a.byteOffset);
    expect(() => arena.release(a)).toThrow(/not live/);
    expect(arena.addressOf(b)).toBe(b.byteOffset);
    expect(arena.addressOf(a)).toBe(-1);
    expect(() => arena.release(new Float32Array(100))).toThrow(/not live/);
    expect(() => arena.release(b.subarray(4))).toThrow(/not live/);
    const w = arena.allocWorking(64);
    expect(() => arena.release(b.byteOffset)).toThrow(/not live/);
    arena.release(w);
    expect(() => arena.release(w)).toThrow(/not live/);
  });

  it('poison: a released block reads NaN through a stale view', () => {
    const arena = new WasmArena();
    arena.poison = true;
    const a = arena.alloc(10)!;
    a.fill(1);
    arena.release(a);
    expect(Array.from(a).every(Number.isNaN)).toBe(true);
  });
});

describe('wasm SIMD kernels on arena views', () => {
  // expShift's last row reads and writes whole groups of 4, up to 3 floats past the array: a
  // view whose block has no room for that must go through working space, or the write would land
  // in the next block, another tensor's
  it('expShift and gelu run in place where the block holds their reach, and never write past the array', () => {
    // rows × cols filling their block exactly with a last row that ends mid-group (8 × 2, 16 × 3,
    // 32 × 6 …: its last group passes the block), rows of a multiple of 4 filling it exactly
    // (16 × 4, 64 × 64: they end on a group, so in place), beside random shapes
    const exact = fc.constantFrom([8, 2], [16, 3], [16, 5], [32, 6], [64, 7], [24, 10], [16, 4], [32, 8], [64, 64]);
    const shapeArb = fc.oneof(exact, fc.tuple(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 37 })));
    fc.assert(fc.property(shapeArb, fc.integer({ min: 0, max: 2 ** 30 }), ([rows, cols], seed) => {
      const arena = new WasmArena();
      const simd = new WasmElementwise(arena);
      const n = rows * cols;
      const x = arena.alloc(n)!;
      x.set(values(n, seed));
      const shift = arena.alloc(rows)!;
      shift.set(values(rows, seed + 1));
      const out = arena.alloc(n)!;
      // a neighbour right after out's block (fresh space is handed out in order)
      const next = arena.alloc(64)!;
      expect(next.byteOffset).toBe(out.byteOffset + sizeClass(4 * n));
      next.fill(7);
      const copied0 = simd.bytesCopied;
      simd.expShift(x, shift, 1, rows, cols, out);
      for (let i = 0; i < n; i++) expect(out[i]).toBeCloseTo(Math.exp(x[i] - shift[Math.floor(i / cols)]), 5);
      expect(Array.from(next).every((v) => v === 7)).toBe(true);
      // in place exactly when out's block (and x's) holds the last group's reach: rows of a
      // multiple of 4 touch only their floats
      const fits = cols % 4 === 0 || sizeClass(4 * n) >= Math.ceil(n / 4) * 16 + 16;
      expect(simd.bytesCopied === copied0).toBe(fits);
      simd.run('gelu', x, out);
      expect(Array.from(next).every((v) => v === 7)).toBe(true);
    }), runs(60));
  });
});

describe('wasm GEMM on arena views', () => {
  interface Case {
    aShape: number[];
    bShape: number[];
    batch: number[];
    N: number;
    M: number;
    transA: boolean;
    transB: boolean;
    bias: boolean;
    /** Which of a, b, bias, out are views of the arena; out: 'none' lets the GEMM make one. */
    where: { a: boolean; b: boolean; bias: boolean; out: 'arena' | 'plain' | 'none' };
    seed: number;
  }
  const dim = fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 1, max: 30 }) }, { weight: 1, arbitrary: fc.integer({ min: 100, max: 300 }) });
  const caseArb: fc.Arbitrary<Case> = fc.record({
    batch: fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 2 }), bBroadcast: fc.boolean(),
    // K = 0 too: C is the bias (or zeros), written in place or copied out like any result
    M: dim, K: fc.oneof({ weight: 1, arbitrary: fc.constant(0) }, { weight: 6, arbitrary: dim }), N: dim, transA: fc.boolean(), transB: fc.boolean(), bias: fc.boolean(),
    where: fc.record({ a: fc.boolean(), b: fc.boolean(), bias: fc.boolean(), out: fc.constantFrom('arena', 'plain', 'none' as const) }),
    seed: fc.integer({ min: 0, max: 2 ** 30 }),
  }).filter((c) => sizeOf(c.batch) * c.M * c.K * c.N <= 2_000_000).map((c) => ({
    aShape: [...c.batch, ...(c.transA ? [c.K, c.M] : [c.M, c.K])],
    bShape: [...(c.bBroadcast ? [] : c.batch), ...(c.transB ? [c.N, c.K] : [c.K, c.N])],
    batch: c.batch, M: c.M, N: c.N, transA: c.transA, transB: c.transB, bias: c.bias, where: c.where, seed: c.seed,
  }));

  const arena = new WasmArena();
  const gemms = [new WasmGemm({ threads: 1, arena }), new WasmGemm({ threads: 2, arena, threadedMacs: 0 })];
  afterAll(() => gemms.forEach((g) => g.destroy()));

  it.each([0, 1])('equals the reference with operands and result in or out of the arena (gemm %i: 1 and 2 threads)', async (g) => {
    const gemm = gemms[g];
    await fc.assert(fc.asyncProperty(caseArb, async (c) => {
      const placed: Float32Array[] = [];
      const put = (x: Float32Array, inArena: boolean) => {
        if (!inArena) return x;
        const v = arena.alloc(x.length) ?? x;
        v.set(x);
        if (v !== x) placed.push(v);
        return v;
      };
      const a0 = values(sizeOf(c.aShape), c.seed);
      const b0 = values(sizeOf(c.bShape), c.seed + 1);
      const bias0 = c.bias ? values(c.N, c.seed + 2) : null;
      const a = put(a0, c.where.a);
      const b = put(b0, c.where.b);
      const bias = bias0 ? put(bias0, c.where.bias) : null;
      const sizeC = sizeOf(c.batch) * c.M * c.N;
      const out = c.where.out === 'none' ? null : c.where.out === 'arena' ? arena.alloc(sizeC)! : new Float32Array(sizeC);
      if (out) {
        placed.push(...(c.where.out === 'arena' ? [out] : []));
        out.fill(Number.NaN); // stale contents must not leak into C
      }
      gemm.times = noTimes();
      const got = gemm.matmul({ a, aShape: c.aShape, b, bShape: c.bShape, transA: c.transA, transB: c.transB, batch: c.batch, bias, out });
      if (out) expect(got).toBe(out);
      const up = (x: Float32Array, abs: boolean) => ref.upload(abs ? x.map(Math.abs) : x);
      const run = (abs: boolean) => ref.read64(ref.matmul(up(a0, abs), c.aShape, up(b0, abs), c.bShape, c.transA, c.transB, c.batch, { bias: bias0 ? up(bias0, abs) : undefined }));
      const want = await run(false);
      const terms = await run(true);
      const err = relErr(got, want, Math.sqrt(terms.reduce((s, t) => s + t * t, 0)));
      expect(err, JSON.stringify({ ...c, err })).toBeLessThanOrEqual(1e-5);
      // operands untouched, and copied exactly when they are outside the arena
      expect(Array.from(a)).toEqual(Array.from(a0));
      expect(Array.from(b)).toEqual(Array.from(b0));
      const K = c.transA ? c.aShape[c.aShape.length - 2] : c.aShape[c.aShape.length - 1];
      const outside = (x: Float32Array) => (placed.includes(x) ? 0 : x.length);
      const copiedIn = K === 0 ? 0 : outside(a) + outside(b);
      expect(gemm.times.bytesIn).toBe(4 * (copiedIn + (bias ? outside(bias) : 0)));
      expect(gemm.times.bytesOut).toBe(out && placed.includes(out) ? 0 : 4 * sizeC);
      for (const v of placed) arena.release(v);
    }), runs(60));
  });

  it('reads operands made before the memory grew, during a call that grows it', () => {
    const own = new WasmArena();
    const gemm = new WasmGemm({ threads: 2, arena: own, threadedMacs: 0 });
    const n = 96;
    const a = own.alloc(n * n)!;
    a.set(values(n * n, 3));
    const b = own.alloc(n * n)!;
    b.set(values(n * n, 4));
    const before = own.memory.buffer;
    // a plain 600 × 600 B: its copy and packed panels need more than the memory has
    const big = values(600 * 600, 5);
    const c1 = gemm.matmul({ a: values(n * 600, 6), aShape: [n, 600], b: big, bShape: [600, 600], transA: false, transB: false, batch: [] });
    expect(own.memory.buffer).not.toBe(before);
    const c = gemm.matmul({ a, aShape: [n, n], b, bShape: [n, n], transA: false, transB: false, batch: [] });
    const want = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let k = 0; k < n; k++) for (let j = 0; j < n; j++) want[i * n + j] += a[i * n + k] * b[k * n + j];
    expect(relErr(c, want)).toBeLessThanOrEqual(1e-6);
    expect(c1.length).toBe(n * 600);
    gemm.destroy();
  });
});

await setDevice('wasm');

describe('the wasm device on its arena', () => {
  const wasm = getDevice() as GpujsDevice & Device;
  const arena = wasm.wasmArena;

  it('uploads, host-loop and GEMM results are blocks of the arena; a matmul of device tensors copies nothing', async () => {
    const [M, K, N] = [70, 50, 40];
    const a0 = values(M * K, 1);
    const b0 = values(K * N, 2);
    const bias0 = values(N, 3);
    const tensorsBefore = arena.stats().tensorBytes;
    const a = wasm.upload(a0);
    const b = wasm.upload(b0);
    const bias = wasm.upload(bias0);
    expect(arena.stats().tensorBytes - tensorsBefore).toBe(sizeClass(4 * M * K) + sizeClass(4 * K * N) + sizeClass(4 * N));
    const c = wasm.matmul(a, [M, K], b, [K, N], false, false, [], { bias });
    const gemm = wasm.wasmGemm!;
    gemm.times = noTimes();
    const ct = wasm.matmul(c, [M, N], b, [K, N], false, true, []); // c · bᵀ: a transposed operand, packed from the arena
    const g = wasm.unary('gelu', ct);
    expect(gemm.times.bytesIn + gemm.times.bytesOut).toBe(0);
    expect(gemm.times.bytesInPlace).toBe(4 * (M * N + K * N + M * K));
    expect(arena.stats().tensorBytes - tensorsBefore).toBe(3 * sizeClass(4 * M * K) + sizeClass(4 * K * N) + sizeClass(4 * N) + sizeClass(4 * M * N));
    const want = ref.matmul(ref.matmul(ref.upload(a0), [M, K], ref.upload(b0), [K, N], false, false, [], { bias: ref.upload(bias0) }), [M, N], ref.upload(b0), [K, N], false, true, []);
    expect(relErr(await wasm.read(ct), await ref.read64(want))).toBeLessThanOrEqual(1e-5);
    expect(relErr(await wasm.read(g), await ref.read64(ref.unary('gelu', want)))).toBeLessThanOrEqual(1e-5);
    for (const t of [a, b, bias, c, ct, g]) wasm.dispose(t);
    await wasm.sync();
    expect(arena.stats().tensorBytes).toBe(tensorsBefore);
  });

  it('a disposed tensor cannot be read, and its block, reused, holds only the new tensor\'s data', async () => {
    arena.poison = true;
    try {
      const x = wasm.upload(values(3000, 7));
      const fresh = arena.stats().fresh;
      wasm.dispose(x);
      await expect(wasm.read(x)).rejects.toThrow(/used after dispose/);
      const y = wasm.upload(values(3000, 8)); // x's block
      expect(arena.stats().fresh).toBe(fresh);
      const z = wasm.binary('add', { buf: y, shape: [3000] }, { buf: y, shape: [3000] }, [3000]);
      expect(Array.from(await wasm.read(z))).toEqual(Array.from(values(3000, 8).map((v) => 2 * v)));
      for (const t of [y, z]) wasm.dispose(t);
    } finally {
      arena.poison = false;
    }
  });

  it('past a small limit, tensors are plain arrays and every op still equals the reference', async () => {
    const saved = process.env.FLASHGRAD_WASM_ARENA_MB;
    process.env.FLASHGRAD_WASM_ARENA_MB = '0.25';
    const small = (await createGpujsDevice('wasm')) as GpujsDevice & Device;
    const own = small.wasmArena;
    if (saved === undefined) delete process.env.FLASHGRAD_WASM_ARENA_MB;
    else process.env.FLASHGRAD_WASM_ARENA_MB = saved;
    expect(own.tensorLimit).toBe(2 ** 18);
    // A [M, K] · B [K, 64], then gelu: some of the four tensors fit under the limit, some not
    const check = async (M: number, K: number, seed: number) => {
      const a0 = values(M * K, seed);
      const b0 = values(K * 64, seed + 1);
      const a = small.upload(a0);
      const b = small.upload(b0);
      const c = small.matmul(a, [M, K], b, [K, 64], false, false, []);
      const g = small.unary('gelu', c);
      const want = ref.matmul(ref.upload(a0), [M, K], ref.upload(b0), [K, 64], false, false, []);
      expect(relErr(await small.read(c), await ref.read64(want))).toBeLessThanOrEqual(1e-5);
      expect(relErr(await small.read(g), await ref.read64(ref.unary('gelu', want)))).toBeLessThanOrEqual(1e-5);
      for (const t of [a, b, c, g]) small.dispose(t);
    };
    try {
      // 160 KB of A, 51 KB each of B, C and gelu's result: past the 256 KiB whatever the order
      const refused = own.stats().refused;
      await check(200, 200, 1);
      expect(own.stats().refused).toBeGreaterThan(refused);
      await fc.assert(fc.asyncProperty(fc.integer({ min: 1, max: 200 }), fc.integer({ min: 1, max: 200 }), fc.integer(), check), runs(30));
      // none stayed behind
      await small.sync();
      expect(own.stats().tensorBytes).toBe(0);
    } finally {
      await small.destroy();
    }
  });
});
