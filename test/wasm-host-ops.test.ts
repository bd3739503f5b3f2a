/**
 * The wasm device's host loops (packages/core/src/devices/host-ops: strided, pad,
 * layer norm of odd rows, AdamW; and wasm-ops' SIMD gelu, same-shape add/sub/mul/div and layer norm of even rows) at the Device level against the reference
 * device (float64), over random shapes, views and values; each property also checks that the
 * wasm device really took the host path (its stats name the host label), so the suite guards
 * those loops and not gpu.js's kernels. Tolerances: 0 for movement (a copy), 1e-7 relative per
 * element for + − × ÷ (one float32 rounding), 1e-5 by norm for layer norm (float64 sums, float32
 * inputs and outputs), 1e-4 for dweight (a column sum of up to 12 rows of cancelling terms is
 * compared against the sum of magnitudes). FC_RUNS scales the cases (default 40). Last, the
 * memory the host loops reuse (GpujsEngine.hostArray): a result written into a disposed result's
 * memory must read as new data to gpu.js's kernels, which skip the copy of an argument object they
 * have already seen.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { DeviceBuffer } from '@flashgrad/core';
import { runs, shapeArb, sizeOf } from './helpers/arbitraries.js';
import { float32SumBound, relErr } from './helpers/compare.js';
import { adamwHost } from '../packages/core/src/devices/host-ops/index.js';
import { clipFactorHost } from '../packages/core/src/devices/clip-factor.js';
import { sizeClass } from '../packages/core/src/devices/wasm-arena/index.js';
import { both, values, wasm } from './helpers/wasm-vs-reference.js';

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/** A random view of a buffer: a shape, its strides (some negative, some 0 for a broadcast) and an offset that keep every index inside. */
const viewArb = shapeArb({ minRank: 0, maxRank: 4, maxDim: 5, maxSize: 200 }).chain((outShape) =>
  fc.tuple(
    fc.constant(outShape),
    fc.array(fc.integer({ min: -7, max: 7 }), { minLength: outShape.length, maxLength: outShape.length }),
    fc.integer({ min: 0, max: 9 }),
    fc.integer(),
  ));

describe('wasm host ops ≡ reference', () => {
  it('strided: any view (permutes, slices, reversals, broadcasts) copies exactly', async () => {
    await fc.assert(fc.asyncProperty(viewArb, async ([outShape, strides, extra, seed]) => {
      // the smallest offset and size that keep the view inside its buffer
      let lo = 0;
      let hi = 0;
      outShape.forEach((d, k) => (strides[k] < 0 ? (lo += (d - 1) * strides[k]) : (hi += (d - 1) * strides[k])));
      const offset = -lo;
      const n = offset + hi + 1 + extra;
      const { got, want, labels } = await both([values(n, seed)], (d, [x]) => [d.strided(x, outShape, strides, offset)]);
      if (sizeOf(outShape) > 0) expect(labels).toContain('host.strided');
      expect(Array.from(got[0])).toEqual(Array.from(want[0]));
    }), runs(40));
  });

  it('strided and pad with contiguous rows of ≥ 8 floats (SIMD rows, or a memmove a row inside the arena) copy exactly', async () => {
    // the outer axes as viewArb's (any strides), the innermost contiguous and 8–40 long: rows of a
    // multiple of 4 under ≤ 3 outer axes (after merging) take wasm-ops' copy kernels, the others
    // host-ops/movement.ts's copyWithin a row (input and output both arena blocks)
    const outer = shapeArb({ minRank: 0, maxRank: 4, maxDim: 4, maxSize: 24 }).chain((shape) =>
      fc.tuple(fc.constant(shape), fc.array(fc.integer({ min: -90, max: 90 }), { minLength: shape.length, maxLength: shape.length })));
    const arb = fc.tuple(outer, fc.integer({ min: 8, max: 40 }), fc.integer({ min: 0, max: 9 }), fc.integer());
    await fc.assert(fc.asyncProperty(arb, async ([[outerShape, outerStrides], inner, extra, seed]) => {
      const outShape = [...outerShape, inner];
      const strides = [...outerStrides, 1];
      let lo = 0;
      let hi = 0;
      outShape.forEach((d, k) => (strides[k] < 0 ? (lo += (d - 1) * strides[k]) : (hi += (d - 1) * strides[k])));
      const offset = -lo;
      const n = offset + hi + 1 + extra;
      const s = await both([values(n, seed)], (d, [x]) => [d.strided(x, outShape, strides, offset)]);
      expect(s.labels).toContain('host.strided');
      expect(Array.from(s.got[0])).toEqual(Array.from(s.want[0]));
      // pad: the same rows placed inside zeros, at starts from the seed
      const starts = outShape.map((_, k) => (seed >>> k) & 3);
      const padded = outShape.map((d, k) => d + starts[k] + ((seed >>> (k + 8)) & 1));
      const p = await both([values(sizeOf(outShape), seed)], (d, [x]) => [d.pad(x, outShape, padded, starts)]);
      expect(p.labels).toContain('host.pad');
      expect(Array.from(p.got[0])).toEqual(Array.from(p.want[0]));
    }), runs(40));
  });

  it('strided: a view reaching outside its buffer is an error naming the view, not NaN', () => {
    const x = wasm.upload(new Float32Array(6));
    expect(() => wasm.strided(x, [2, 3], [3, 1], 1)).toThrow(/strided: view \[2,3\] with strides \[3,1\] at offset 1 reads index 6 of a buffer of 6/);
    expect(() => wasm.strided(x, [2], [-1], 0)).toThrow(/reads index -1/);
    wasm.dispose(x);
  });

  it('pad: x lands at its starts inside zeros', async () => {
    const arb = shapeArb({ minRank: 0, maxRank: 4, maxDim: 4, maxSize: 100 }).chain((shape) =>
      fc.tuple(
        fc.constant(shape),
        fc.array(fc.integer({ min: 0, max: 3 }), { minLength: shape.length, maxLength: shape.length }),
        fc.array(fc.integer({ min: 0, max: 3 }), { minLength: shape.length, maxLength: shape.length }),
        fc.integer(),
      ));
    await fc.assert(fc.asyncProperty(arb, async ([shape, starts, after, seed]) => {
      const outShape = shape.map((d, k) => d + starts[k] + after[k]);
      const { got, want, labels } = await both([values(sizeOf(shape), seed)], (d, [x]) => [d.pad(x, shape, outShape, starts)]);
      if (sizeOf(shape) > 0) expect(labels).toContain('host.pad');
      expect(Array.from(got[0])).toEqual(Array.from(want[0]));
    }), runs(40));
  });

  it('add, sub, mul, div of one shape round once to float32', async () => {
    const arb = fc.tuple(shapeArb({ minRank: 1, maxRank: 3, maxDim: 9, maxSize: 300 }), fc.constantFrom('add', 'sub', 'mul', 'div' as const), fc.integer());
    await fc.assert(fc.asyncProperty(arb, async ([shape, op, seed]) => {
      const n = sizeOf(shape);
      const { got, want, labels } = await both([values(n, seed), values(n, seed + 1)], (d, [a, b]) =>
        [d.binary(op, { buf: a, shape }, { buf: b, shape }, shape)]);
      expect(labels).toContain(`wasm.${op}`);
      for (let i = 0; i < n; i++) expect(Math.abs(got[0][i] - want[0][i])).toBeLessThanOrEqual(1.2e-7 * Math.abs(want[0][i]));
    }), runs(40));
  });

  it('add, sub, mul, div of a tensor and a number (either side) are the float32 op on fround(number)', async () => {
    const arb = fc.tuple(
      shapeArb({ minRank: 0, maxRank: 3, maxDim: 9, maxSize: 300 }), fc.constantFrom('add', 'sub', 'mul', 'div' as const),
      fc.double({ min: -5, max: 5, noNaN: true }), fc.boolean(), fc.integer(),
    );
    await fc.assert(fc.asyncProperty(arb, async ([shape, op, s, scalarFirst, seed]) => {
      const n = sizeOf(shape);
      const x = values(n, seed);
      const { got, labels } = await both([x], (d, [a]) =>
        [scalarFirst ? d.binary(op, s, { buf: a, shape }, shape) : d.binary(op, { buf: a, shape }, s, shape)]);
      if (n > 0) expect(labels).toContain(`wasm.${op}Scalar`);
      // the number read as float32 (as gpu.js's kernels read it), one float32 rounding of the op
      const f = Math.fround(s);
      const apply = { add: (u: number, v: number) => u + v, sub: (u: number, v: number) => u - v, mul: (u: number, v: number) => u * v, div: (u: number, v: number) => u / v }[op];
      for (let i = 0; i < n; i++) expect(got[0][i]).toBe(Math.fround(scalarFirst ? apply(f, x[i]) : apply(x[i], f)));
    }), runs(40));
  });

  it('where(mask repeated over leading axes, tensor, number) and where(mask, number, tensor) pick as the reference does', async () => {
    // the output: leading axes, then the mask's axes (a multiple of 4 floats); the mask's values
    // 0, −0, 1, −2 and NaN (≠ 0, so it picks a), the mask's shape maybe with leading 1s
    const arb = fc.record({
      lead: shapeArb({ minRank: 0, maxRank: 2, maxDim: 4, maxSize: 12 }),
      mask: shapeArb({ minRank: 1, maxRank: 2, maxDim: 12, maxSize: 48 }).filter((m) => sizeOf(m) % 4 === 0),
      ones: fc.integer({ min: 0, max: 2 }), s: fc.double({ min: -1e30, max: 1e30, noNaN: true }), numberIsA: fc.boolean(), seed: fc.integer(),
    });
    await fc.assert(fc.asyncProperty(arb, async ({ lead, mask, ones, s, numberIsA, seed }) => {
      const outShape = [...lead, ...mask];
      const condShape = [...new Array<number>(Math.min(ones, lead.length)).fill(1), ...mask];
      const picks = [0, -0, 1, -2, NaN];
      const cond = Float32Array.from(values(sizeOf(mask), seed), (v) => picks[Math.floor((v + 3) / 6 * picks.length)]);
      const { got, want, labels } = await both([cond, values(sizeOf(outShape), seed + 1)], (d, [c, t]) => {
        const T = { buf: t, shape: outShape };
        return [numberIsA ? d.where({ buf: c, shape: condShape }, s, T, outShape) : d.where({ buf: c, shape: condShape }, T, s, outShape)];
      });
      expect(labels).toContain('wasm.where');
      // the number as float32 (as gpu.js's kernels read it); the tensor's floats exactly
      expect(Array.from(got[0])).toEqual(Array.from(want[0], (v) => Math.fround(v)));
    }), runs(40));
  });

  it('sums over one run of axes and the sum of squares are float64 sums rounded once (wasm-ops/sum-module.ts)', async () => {
    const arb = fc.tuple(shapeArb({ minRank: 1, maxRank: 4, maxDim: 7, maxSize: 400 }), fc.integer()).chain(([shape, seed]) =>
      fc.tuple(fc.constant(shape), fc.subarray(shape.map((_, k) => k), { minLength: 1 }), fc.constant(seed)));
    await fc.assert(fc.asyncProperty(arb, async ([shape, axes, seed]) => {
      const n = sizeOf(shape);
      const { got, want, labels } = await both([values(n, seed)], (d, [x]) =>
        // the reference device has no sumOfSquares: Σ of its float64 x·x
        [d.reduce('sum', x, shape, axes), d.sumOfSquares ? d.sumOfSquares(x) : d.reduce('sum', d.binary('mul', { buf: x, shape: [n] }, { buf: x, shape: [n] }, [n]), [n], [0])]);
      // the SIMD path when the reduced axes (1s aside) are adjacent and the kept run after them is 1 or even
      const kept = shape.map((d, k) => ({ d, r: axes.includes(k) })).filter(({ d }) => d !== 1);
      const first = kept.findIndex((a) => a.r);
      const last = kept.length - 1 - [...kept].reverse().findIndex((a) => a.r);
      const inner = kept.slice(last + 1).reduce((p, a) => p * a.d, 1);
      const simd = first >= 0 && kept.slice(first, last + 1).every((a) => a.r) && (inner === 1 || inner % 2 === 0);
      if (simd) expect(labels).toContain('wasm.sum');
      if (n > 1) expect(labels).toContain('wasm.sumSquares');
      // within an ulp where the SIMD sums ran; gpu.js's float32 sums otherwise, within float32SumBound
      // of their m terms, not relative to the result, which cancels (seed 15, [7, 3, 4, 4] over [0, 2]:
      // 1.26e-6 off 0.146)
      const m = axes.reduce((p, k) => p * shape[k], 1);
      const magnitude = (await both([values(n, seed).map(Math.abs)], (d, [x]) => [d.reduce('sum', x, shape, axes)])).want[0];
      for (let k = 0; k < 2; k++) {
        const bound = (i: number) => (k === 1 || simd ? 1.2e-7 * Math.abs(want[k][i]) + 1e-10 : float32SumBound(m, magnitude[i]));
        for (let i = 0; i < got[k].length; i++) expect(Math.abs(got[k][i] - want[k][i])).toBeLessThanOrEqual(bound(i));
      }
    }), runs(40));
  });

  it('layerNorm forward and backward (dx, dweight), with and without weight and bias', async () => {
    const arb = fc.record({
      rows: fc.integer({ min: 1, max: 12 }), cols: fc.integer({ min: 1, max: 40 }),
      hasW: fc.boolean(), hasB: fc.boolean(), dx: fc.boolean(), dweight: fc.boolean(), seed: fc.integer(),
    });
    await fc.assert(fc.asyncProperty(arb, async ({ rows, cols, hasW, hasB, dx, dweight, seed }) => {
      const n = rows * cols;
      const inputs = [values(n, seed), values(n, seed + 1), values(cols, seed + 2), values(cols, seed + 3)];
      const want = { dx: dx || !dweight, dweight, dbias: false };
      const { got, want: ref64, labels } = await both(inputs, (d, [x, dy, w, b]) => {
        const y = d.layerNorm!(x, hasW ? w : null, hasB ? b : null, rows, cols, 1e-5);
        const g = d.layerNormBackward!(dy, x, hasW ? w : null, rows, cols, 1e-5, want);
        return [y, ...[g.dx, g.dweight].filter((t): t is DeviceBuffer => t !== null)];
      });
      // even rows take the SIMD kernels (wasm-ops/layer-norm-module.ts), odd ones the host loops
      const where = cols % 2 === 0 ? 'wasm' : 'host';
      expect(labels).toContain(`${where}.layerNorm`);
      expect(labels).toContain(want.dx ? `${where}.layerNormDx` : `${where}.layerNormDw`);
      // y and dx: float64 throughout, rounded once (both paths), so within an ulp of the reference's value
      for (let k = 0; k < got.length - (want.dweight ? 1 : 0); k++) {
        for (let i = 0; i < got[k].length; i++) expect(Math.abs(got[k][i] - ref64[k][i])).toBeLessThanOrEqual(1.2e-7 * Math.abs(ref64[k][i]) + 1e-12);
      }
      for (let k = 0; k < got.length; k++) {
        // dweight sums cancelling terms: measured against the sum of their magnitudes
        const isDw = k === got.length - 1 && want.dweight;
        expect(relErr(got[k], ref64[k], isDw ? rows * 3 : 0)).toBeLessThanOrEqual(isDw ? 1e-4 : 1e-5);
      }
    }), runs(40));
  });

  it('adamwPacked: parameters and moments of one step, over steps and hyperparameters', async () => {
    const arb = fc.record({
      n: fc.integer({ min: 1, max: 300 }), step: fc.integer({ min: 1, max: 50 }), seed: fc.integer(),
      lr: fc.double({ min: 1e-4, max: 1e-1, noNaN: true }), beta1: fc.constantFrom(0, 0.5, 0.9), beta2: fc.constantFrom(0.9, 0.99, 0.999),
      weightDecay: fc.constantFrom(0, 0.1), eps: fc.constantFrom(1e-8, 1e-6),
    });
    await fc.assert(fc.asyncProperty(arb, async ({ n, seed, ...h }) => {
      // moments: m of either sign, v ≥ 0
      const mv = values(2 * n, seed + 2).map((x, i) => (i % 2 ? Math.abs(x) * 0.1 : x * 0.1));
      const { got, want, labels } = await both([values(n, seed), values(n, seed + 1), mv], (d, [p, g, m]) => {
        const r = d.adamwPacked(p, g, m, h);
        return [r.param, r.moments];
      });
      expect(labels).toContain('wasm.adamw');
      expect(relErr(got[0], want[0])).toBeLessThanOrEqual(1e-6);
      expect(relErr(got[1], want[1])).toBeLessThanOrEqual(1e-6);
      // the SIMD kernel does the host loop's float64 arithmetic in its order: the same floats
      const host = adamwHost(values(n, seed), values(n, seed + 1), mv, h);
      expect(Array.from(got[0])).toEqual(Array.from(host.param));
      expect(Array.from(got[1])).toEqual(Array.from(host.moments));
      // clipped (a factor below 1, from a Σ g² past maxNorm²), in the same SIMD pass: the host loop's
      // floats with its gradScale
      const maxNorm = 0.5;
      const sumOfSquares = 4 + (seed >>> 0) % 100;
      const bufs = [values(n, seed), values(n, seed + 1), mv, Float32Array.of(sumOfSquares)].map((x) => wasm.upload(x));
      const clipped = wasm.adamwPackedClipped!(bufs[0], bufs[1], bufs[2], h, { sumOfSquares: bufs[3], maxNorm });
      const [param, moments] = [await wasm.read(clipped.param), await wasm.read(clipped.moments)];
      for (const b of [...bufs, clipped.param, clipped.moments]) wasm.dispose(b);
      const scaled = adamwHost(values(n, seed), values(n, seed + 1), mv, h, undefined, undefined, clipFactorHost(Math.fround(sumOfSquares), maxNorm));
      expect(Array.from(param)).toEqual(Array.from(scaled.param));
      expect(Array.from(moments)).toEqual(Array.from(scaled.moments));
    }), runs(40));
  });

  it('gelu and geluDeriv (the SIMD kernels of wasm-ops) over random sizes, values and non-finite inputs', async () => {
    const special = [0, -0, 1e-30, -1e-30, -11.5, -10.9, 88, -88, Infinity, -Infinity, NaN];
    const arb = fc.record({ n: fc.integer({ min: 1, max: 400 }), scale: fc.constantFrom(1, 4, 12), seed: fc.integer(), op: fc.constantFrom('gelu', 'geluDeriv' as const) });
    await fc.assert(fc.asyncProperty(arb, async ({ n, scale, seed, op }) => {
      const x = values(n, seed).map((v) => v * scale);
      // non-finite inputs go in a case of their own: NaN in any element makes relErr NaN
      const { got, want, labels } = await both([x, Float32Array.from(special)], (d, [a, b]) => [d.unary(op, a), d.unary(op, b)]);
      expect(labels).toContain(`wasm.${op}`);
      // per element: float32 carries e^t with a relative error of ~|t|·2⁻²⁴ (t = −2u, up to 88 before
      // the clamp), and gelu′ is a sum of two terms that cancel near x = −0.75, so its error is
      // relative to the terms' size, not to itself
      x.forEach((v, i) => {
        const t = Math.min(2 * SQRT_2_OVER_PI * Math.abs(v) * (1 + 0.044715 * v * v), 88);
        const sig = 1 / (1 + Math.exp(-2 * SQRT_2_OVER_PI * (v + 0.044715 * v ** 3)));
        const terms = op === 'gelu' ? Math.abs(want[0][i]) : sig + Math.abs(2 * v * sig * (1 - sig) * SQRT_2_OVER_PI * (1 + 3 * 0.044715 * v * v));
        // the reference's own error: its 0.5(1 + tanh u) cancels in float64 where tanh u → −1
        const refErr = 2 ** -51 * (1 + Math.abs(v) * (1 + 0.134 * v * v));
        expect(Math.abs(got[0][i] - want[0][i])).toBeLessThanOrEqual((8 + 4 * t) * 2 ** -24 * terms + refErr + 1e-37);
      });
      // the limits: −0 below −11 and at −∞, ±∞ kept, NaN kept (gelu); σ's limits 0 and 1 (gelu′ at ±88)
      const limits = op === 'gelu' ? [0, -0, 5e-31, -5e-31, -0, null, 88, -0, Infinity, -0, NaN] : [0.5, 0.5, 0.5, 0.5, null, null, 1, 0, null, null, NaN];
      limits.forEach((w, i) => {
        if (w === null) return;
        if (Number.isNaN(w)) expect(got[1][i]).toBeNaN();
        else expect(got[1][i]).toBeCloseTo(w, 6);
      });
    }), runs(40));
  });

  it('reused host memory reads as new data to a gpu.js kernel that saw the old result', async () => {
    const n = 5000;
    const [x1, x2] = [values(n, 1), values(n, 2)].map((v) => wasm.upload(v));
    await wasm.sync();
    const cached0 = wasm.memory().cachedBytes ?? 0;
    // a reversal through the host loop, then exp through gpu.js (which records its argument)
    const a = wasm.strided(x1, [n], [-1], n - 1);
    const ea = wasm.unary('exp', a);
    wasm.dispose(a);
    await wasm.sync();
    // a's block back in the arena: its size class
    expect(wasm.memory().cachedBytes).toBe(cached0 + sizeClass(n * 4));
    // same size: the host loop writes into a's memory
    const b = wasm.strided(x2, [n], [-1], n - 1);
    expect(wasm.memory().cachedBytes).toBe(cached0);
    const eb = wasm.unary('exp', b);
    const [gotA, gotB, in1, in2] = await Promise.all([ea, eb, x1, x2].map((t) => wasm.read(t)));
    const want = (v: Float32Array) => Float64Array.from(v).reverse().map(Math.exp);
    expect(relErr(gotA, want(in1))).toBeLessThanOrEqual(1e-6);
    expect(relErr(gotB, want(in2))).toBeLessThanOrEqual(1e-6);
    for (const t of [x1, x2, b, ea, eb]) wasm.dispose(t);
  });
});
