/**
 * The webgpu tiled matmul (kernels/matmul-tiled.ts) against a float64 product on the host, for
 * every tile the device may choose, on random shapes with edge tiles in m, n and k (so both the
 * vec4 and the scalar loads run: a dim that is not a multiple of 4 turns vec4 off), both
 * transposes, broadcast batches and the bias/residual epilogue. The device-level suites
 * (device-equivalence) reach it through GpujsDevice.matmul with the tile chooseTile picks.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  TILE_LARGE, TILE_MEDIUM, TILE_SMALL, TILE_WIDE, chooseTile, matmulTiledSpec, type MatmulTile,
} from '../packages/core/src/devices/gpujs/kernels/matmul-tiled.js';
import { createGpujsDevice } from '../packages/core/src/devices/gpujs/index.js';
import type { GpujsDevice } from '../packages/core/src/devices/gpujs/device.js';
import { startRuntime } from '../packages/core/src/devices/gpujs/runtime.js';
import type { KernelSpec } from '../packages/core/src/devices/gpujs/kernels/spec.js';
import { float32SumBound, relErr } from './helpers/compare.js';
import { runs } from './helpers/arbitraries.js';

const { gpu } = await startRuntime('webgpu');

async function runSpec(spec: KernelSpec, args: Float32Array[]): Promise<Float32Array> {
  const kernel = gpu.createKernel(spec.source, {
    output: spec.output, workgroupSize: spec.workgroupSize, dispatch: spec.dispatch,
    workgroupArrays: spec.workgroupArrays, ...(spec.vec4Arguments ? { vec4Arguments: spec.vec4Arguments } : {}),
  });
  try {
    return (await kernel(...args)) as Float32Array;
  } finally {
    kernel.destroy();
  }
}

/** Values in [-2, 2) on a float32 grid, from a seed. */
function values(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return Math.fround((s / 2 ** 32) * 4 - 2);
  });
}

/** Row-major strides of the broadcast batch index into an operand's own batch dims. */
function batchIndex(own: number[], batch: number[], z: number): number {
  let rest = z;
  const coords = batch.map(() => 0);
  for (let k = batch.length - 1; k >= 0; k--) {
    coords[k] = rest % batch[k];
    rest = Math.floor(rest / batch[k]);
  }
  const lead = batch.length - own.length;
  let index = 0;
  for (let k = 0; k < own.length; k++) index = index * own[k] + (own[k] === 1 ? 0 : coords[lead + k]);
  return index;
}

interface Case {
  M: number; K: number; N: number; transA: boolean; transB: boolean;
  batch: number[]; aBatch: number[]; bBatch: number[]; bias: boolean; residual: boolean; seed: number;
}

function reference(c: Case, a: Float32Array, b: Float32Array, bias: Float32Array, res: Float32Array): Float64Array {
  const { M, K, N, transA, transB, batch, aBatch, bBatch } = c;
  const count = batch.reduce((x, y) => x * y, 1);
  const out = new Float64Array(count * M * N);
  for (let z = 0; z < count; z++) {
    const ao = batchIndex(aBatch, batch, z) * M * K;
    const bo = batchIndex(bBatch, batch, z) * K * N;
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let s = 0;
        for (let k = 0; k < K; k++) {
          s += a[ao + (transA ? k * M + m : m * K + k)] * b[bo + (transB ? n * K + k : k * N + n)];
        }
        const flat = z * M * N + m * N + n;
        out[flat] = s + (c.bias ? bias[n] : 0) + (c.residual ? res[flat] : 0);
      }
    }
  }
  return out;
}

/** Sums a split-K result [count, S, M·N] over its splits: what the device does after the kernel. */
function sumSplits(partials: Float32Array, count: number, S: number, MN: number): Float32Array {
  const out = new Float32Array(count * MN);
  for (let z = 0; z < count; z++) for (let s = 0; s < S; s++) for (let i = 0; i < MN; i++) out[z * MN + i] += partials[(z * S + s) * MN + i];
  return out;
}

async function check(c: Case, tile: MatmulTile): Promise<void> {
  const { M, K, N, transA, transB, batch, aBatch, bBatch } = c;
  const count = batch.reduce((x, y) => x * y, 1);
  const aShape = [...aBatch, ...(transA ? [K, M] : [M, K])];
  const bShape = [...bBatch, ...(transB ? [N, K] : [K, N])];
  const a = values(aShape.reduce((x, y) => x * y, 1), c.seed);
  const b = values(bShape.reduce((x, y) => x * y, 1), c.seed + 1);
  const bias = values(N, c.seed + 2);
  const res = values(count * M * N, c.seed + 3);
  const spec = matmulTiledSpec(aShape, bShape, transA, transB, batch, { bias: c.bias, residual: c.residual }, tile);
  const args = [a, b, ...(c.bias ? [bias] : []), ...(c.residual ? [res] : [])];
  const S = tile.splitK ?? 1;
  const raw = await runSpec(spec, args);
  const got = S > 1 ? sumSplits(raw, count, S, M * N) : raw;
  const want = reference(c, a, b, bias, res);
  expect(got.length).toBe(want.length);
  // each output is K products and the bias and residual summed in float32 (split: K/S in a
  // workgroup, then S partials): at most K + 2 roundings deep, so within γ(K + 2) of the sum of
  // its terms' magnitudes (Higham's dot-product bound), whatever the sum cancels to; relative to
  // ‖want‖ an output of one dot product (M = N = 1) that cancels could miss any fixed tolerance
  const abs = (v: Float32Array) => v.map(Math.abs);
  const terms = reference(c, abs(a), abs(b), abs(bias), abs(res));
  for (let i = 0; i < want.length; i++) {
    const bound = float32SumBound(K + 2, terms[i]);
    if (!(Math.abs(got[i] - want[i]) <= bound)) {
      throw new Error(`tiled matmul ${JSON.stringify(c)} tile ${JSON.stringify(tile)}: element ${i} got ${got[i]}, want ${want[i]}, error ${Math.abs(got[i] - want[i])} > γ(K + 2)·terms = ${bound}`);
    }
  }
}

/** A batch and two operand batches broadcasting to it (dims dropped or set to 1). */
const batchArb = fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 2 }).chain((batch) => {
  const operand = fc.tuple(fc.integer({ min: 0, max: batch.length }), fc.array(fc.boolean(), { minLength: batch.length, maxLength: batch.length }))
    .map(([drop, ones]) => batch.slice(drop).map((d, i) => (ones[i + drop] ? 1 : d)));
  return fc.tuple(fc.constant(batch), operand, operand);
});

/** Shapes around `tile`: up to two tiles and a bit along m and n, several k tiles with a tail. */
const caseArb = (tile: MatmulTile) => fc.record({
  M: fc.integer({ min: 1, max: 2 * tile.BM + 5 }),
  K: fc.integer({ min: 1, max: 3 * tile.BK + 3 }),
  N: fc.integer({ min: 1, max: 2 * tile.BN + 5 }),
  transA: fc.boolean(),
  transB: fc.boolean(),
  batches: batchArb,
  bias: fc.boolean(),
  residual: fc.boolean(),
  seed: fc.integer({ min: 0, max: 2 ** 30 }),
}).map(({ batches: [batch, aBatch, bBatch], ...rest }): Case => ({ ...rest, batch, aBatch, bBatch }));

describe('webgpu tiled matmul ≡ float64 product', () => {
  for (const [name, tile, n] of [
    ['small', TILE_SMALL, 30], ['medium', TILE_MEDIUM, 15], ['wide', TILE_WIDE, 8], ['large', TILE_LARGE, 8],
    ['small, k steps straight-line', { ...TILE_SMALL, unroll: 16 }, 10], ['large, a plain k loop', { ...TILE_LARGE, unroll: 1 }, 4],
    ['small, next k tile staged in registers', { ...TILE_SMALL, prefetch: true }, 15],
    ['large, staged, A by transposed quads, 2 k steps a trip', { ...TILE_LARGE, prefetch: true, aQuadTranspose: true, unroll: 2 }, 6],
    ['small, grid down M first', { ...TILE_SMALL, mFirst: true }, 15], ['wide, grid down M first', { ...TILE_WIDE, mFirst: true }, 6],
    ['small, A by transposed quads', { ...TILE_SMALL, aQuadTranspose: true }, 15], ['large, A by transposed quads', { ...TILE_LARGE, aQuadTranspose: true }, 6],
  ] as const) {
    it(`${name} tile ${tile.BM}×${tile.BN}×${tile.BK}, ${tile.TM}×${tile.TN} a thread: edges, transposes, batches, epilogue`, async () => {
      await fc.assert(fc.asyncProperty(caseArb(tile), (c) => check(c, tile)), runs(n));
    });
  }

  for (const S of [2, 4]) {
    for (const [name, base] of [['small', TILE_SMALL], ['large', TILE_LARGE], ['small staged', { ...TILE_SMALL, prefetch: true }]] as const) {
      const tile: MatmulTile = { ...base, splitK: S };
      it(`${name} tile split ${S} ways along k: each workgroup's slice of k, batches, edges`, async () => {
        // k tiles a multiple of S (one to three a split, the last with a tail), no epilogue
        const arb = caseArb(tile).chain((c) => fc.record({ kt: fc.integer({ min: 1, max: 3 }), tail: fc.integer({ min: 0, max: tile.BK - 1 }) })
          .map(({ kt, tail }): Case => ({ ...c, K: (kt * S - 1) * tile.BK + tail + 1, bias: false, residual: false })));
        await fc.assert(fc.asyncProperty(arb, (c) => check(c, tile)), runs(name === 'large' ? 4 : 10));
      });
    }
  }

  it('refuses a split that does not divide the k tiles, or one with an epilogue', () => {
    const tile: MatmulTile = { ...TILE_SMALL, splitK: 2 };
    expect(() => matmulTiledSpec([8, 48], [48, 8], false, false, [], undefined, tile)).toThrow(/splitK 2 must be a power of two dividing the 3 k tiles/);
    expect(() => matmulTiledSpec([8, 64], [64, 8], false, false, [], { bias: true, residual: false }, tile)).toThrow(/without an epilogue/);
    expect(() => matmulTiledSpec([8, 64], [64, 8], false, false, [], undefined, { ...TILE_SMALL, splitK: 3 })).toThrow(/splitK 3/);
    expect(() => matmulTiledSpec([8, 64], [64, 8], false, false, [], undefined, { ...TILE_SMALL, unroll: 3 })).toThrow(/unroll 3 must be a power of two dividing BK 16/);
    expect(() => matmulTiledSpec([8, 64], [64, 8], false, false, [], undefined, { ...TILE_SMALL, unroll: 32 })).toThrow(/unroll 32/);
  });

  it('exact multiples of the tile (no edge code) and vec4 loads on every operand', async () => {
    for (const tile of [TILE_SMALL, TILE_MEDIUM, TILE_WIDE, TILE_LARGE, { ...TILE_SMALL, aQuadTranspose: true }, { ...TILE_LARGE, aQuadTranspose: true },
      { ...TILE_LARGE, aQuadTranspose: true, prefetch: true, unroll: 16 }]) {
      for (const [transA, transB] of [[false, false], [true, false], [false, true], [true, true]]) {
        await check({ M: tile.BM, K: 2 * tile.BK, N: 2 * tile.BN, transA, transB, batch: [2], aBatch: [2], bBatch: [], bias: true, residual: false, seed: 7 }, tile);
      }
    }
  });

  it('the device compiles a kernel of its own for every tile setting, and each computes the product', async () => {
    // the device's kernel cache once keyed a tile by a flag for unroll and nothing for prefetch:
    // a bench then timed the first of them under every other's name
    const device = (await createGpujsDevice('webgpu')) as GpujsDevice;
    const [M, K, N] = [40, 48, 36];
    const a = values(M * K, 3);
    const b = values(K * N, 4);
    const want = reference({ M, K, N, transA: false, transB: false, batch: [], aBatch: [], bBatch: [], bias: false, residual: false, seed: 0 },
      a, b, new Float32Array(N), new Float32Array(M * N));
    const A = device.upload(a);
    const B = device.upload(b);
    const base = { ...TILE_SMALL, prefetch: false, unroll: 1 };
    for (const tile of [base, { ...base, prefetch: true }, { ...base, unroll: 2 }, { ...base, unroll: 4 }, { ...base, prefetch: true, unroll: 4 }]) {
      device.matmulTiles = () => tile;
      const before = device.compiledKernels;
      const C = device.matmul(A, [M, K], B, [K, N], false, false, []);
      expect(device.compiledKernels, JSON.stringify(tile)).toBe(before + 1);
      expect(relErr(await device.read(C), want)).toBeLessThanOrEqual(1e-5);
      device.dispose(C);
    }
    device.dispose(A);
    device.dispose(B);
  });

  it('chooses smaller tiles when the large one would leave the GPU idle', () => {
    expect(chooseTile(4096, 4096, 1)).toBe(TILE_LARGE);
    expect(chooseTile(2048, 2048, 1)).toBe(TILE_LARGE);
    expect(chooseTile(4096, 768, 1)).toBe(TILE_WIDE);
    expect(chooseTile(1024, 1024, 1)).toBe(TILE_WIDE);
    expect(chooseTile(512, 512, 1)).toBe(TILE_SMALL);
    expect(chooseTile(64, 128, 12)).toBe(TILE_SMALL);
    // attention's P·V at d = 64: half of a 128-wide tile would be padding
    expect(chooseTile(1024, 64, 48)).toBe(TILE_WIDE);
  });

  it('copies A by transposed quads only for large squares with a long k (where it measured faster)', () => {
    expect(chooseTile(2048, 2048, 1, 2048)).toEqual({ ...TILE_LARGE, aQuadTranspose: true });
    expect(chooseTile(4096, 3072, 1, 768)).toBe(TILE_LARGE);
    expect(chooseTile(4096, 768, 1, 3072)).toBe(TILE_WIDE);
  });

  it('splits k where a long k leaves few output tiles (weight gradients), never with an epilogue', () => {
    // `small` at B64: dW of its MLP projection, [384, 16384]·[16384, 1536]: 36 tiles of 128 × 128
    expect(chooseTile(384, 1536, 1, 16384)).toEqual({ ...TILE_LARGE, splitK: 8 });
    // GPT-2's attention projection dW, 768 × 768 over 4096 tokens; qkv's, 2304 × 768
    expect(chooseTile(768, 768, 1, 4096)).toEqual({ ...TILE_LARGE, splitK: 8 });
    expect(chooseTile(2304, 768, 1, 4096)).toEqual({ ...TILE_LARGE, splitK: 4 });
    expect(chooseTile(768, 768, 1, 4096, true)).toBe(TILE_MEDIUM);
    // not where the 128 × 64 tile has 2 workgroups an SM (GPT-2's fc dW: 288 of them)
    expect(chooseTile(3072, 768, 1, 4096)).toBe(TILE_WIDE);
    // k too short to split: 256 of k a split at least, and longer than the output's sides
    expect(chooseTile(768, 768, 1, 511)).toBe(TILE_MEDIUM);
    expect(chooseTile(1024, 1024, 1, 1024)).toBe(TILE_WIDE);
    // k tiles that no power of two divides (K = 16 · 3 · 101)
    expect(chooseTile(768, 768, 1, 4848)).toBe(TILE_MEDIUM);
  });

  it('walks M first only where B is far past the L2 and larger than A (GPT-2\'s head)', () => {
    expect(chooseTile(4096, 50257, 1, 768)).toEqual({ ...TILE_LARGE, mFirst: true });
    expect(chooseTile(4096, 4096, 1, 4096)).toEqual({ ...TILE_LARGE, aQuadTranspose: true });
    expect(chooseTile(4096, 768, 1, 50257)).toBe(TILE_WIDE);
    // (the head's dW: its A is transposed, so the quads setting changes nothing there)
    expect(chooseTile(50257, 768, 1, 4096)).toEqual({ ...TILE_LARGE, aQuadTranspose: true });
  });
});
