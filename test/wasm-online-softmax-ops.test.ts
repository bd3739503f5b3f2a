/**
 * The wasm device's online-softmax ops against the reference device (float64): expShift and the
 * block stats as the SIMD kernels of wasm-ops (rows walked in wasm, the last group of a row read
 * past its end and masked), and the row ops without an exp per element (onlineNormalize,
 * onlineLogsumexp, onlineRescale, rowShiftedProduct, rowDot) as host loops. Random rows and
 * columns (0 rows; 1, 2, 3 and other lengths that are not multiples of 4), scales up to ±180,
 * and −∞, the flash kernels' MASKED (−1e30), ±88…89 and NaN mixed in. Each property checks the
 * wasm device took its own path (the label in its stats).
 *
 * Tolerances, per element: float32 carries x − shift with a relative error of 2⁻²⁴, so e^(x − shift)
 * is off by |x − shift|·2⁻²⁴ relative, plus the polynomial's few ulp; below e^−87 the kernels give
 * 0 (as gpu.js's exp does), 1.6e-38 at most from the true value. A row sum adds up to 256 terms
 * a float32 lane partial, each rounding 2⁻²⁴ relative at most.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { runs } from './helpers/arbitraries.js';
import { relErr } from './helpers/compare.js';
import { both, values } from './helpers/wasm-vs-reference.js';
import { onlineNormalizeHost, rowShiftedProductHost } from '../packages/core/src/devices/host-ops/index.js';

const ULP = 2 ** -24;
const FLT_MAX = 3.4028234663852886e38;
const SPECIALS = [-Infinity, -1e30, 88.5, 89, -88, -100, NaN, 1e30];

/** values scaled, with a special value every `every` elements (never, when every is 0). */
function mixed(n: number, seed: number, scale: number, every: number): Float32Array {
  const x = values(n, seed).map((v) => v * scale);
  if (every > 0) for (let i = seed % every; i < n; i += every) x[i] = SPECIALS[(i + seed) % SPECIALS.length];
  return x;
}

/** |got − e^d| within the float32 bound for e^d (d = x − shift in float64); NaN for NaN; ∞ past float32's max. */
function expectExp(got: number, want: number, d: number): void {
  if (Number.isNaN(want)) return void expect(got).toBeNaN();
  if (want > FLT_MAX) return void expect(got).toBeGreaterThanOrEqual(FLT_MAX * (1 - 4 * ULP));
  if (want < 1.7e-38) return void expect(got).toBeLessThanOrEqual(1.7e-38); // −∞ included
  expect(Math.abs(got - want)).toBeLessThanOrEqual((6 + Math.abs(d)) * ULP * want + 1.7e-38);
}

const rowsCols = { rows: fc.integer({ min: 0, max: 20 }), cols: fc.oneof(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 10, max: 70 })) };

describe('wasm online-softmax ops ≡ reference', () => {
  it('expShift (SIMD): e^(x − shift[r·stride]) per element, stride 1 and 2', async () => {
    const arb = fc.record({ ...rowsCols, stride: fc.constantFrom(1, 2), scale: fc.constantFrom(1, 10, 30), every: fc.constantFrom(0, 5, 13), seed: fc.integer({ min: 0, max: 1e9 }) });
    await fc.assert(fc.asyncProperty(arb, async ({ rows, cols, stride, scale, every, seed }) => {
      const x = mixed(rows * cols, seed, scale, every);
      const shift = values(rows * stride, seed + 1).map((v) => v * scale);
      const { got, want, labels } = await both([x, shift], (d, [a, s]) => [d.expShift(a, s, stride, rows, cols)]);
      if (rows > 0) expect(labels).toContain('wasm.expShift');
      for (let i = 0; i < rows * cols; i++) expectExp(got[0][i], want[0][i], x[i] - shift[Math.floor(i / cols) * stride]);
    }), runs(60));
  });

  it('onlineSoftmaxStats (SIMD): the row max exactly, the row sum of e^(s − m′) within float32 rounding, with and without carried stats', async () => {
    const arb = fc.record({ ...rowsCols, carried: fc.boolean(), scale: fc.constantFrom(1, 10, 60), every: fc.constantFrom(0, 4, 11), seed: fc.integer({ min: 0, max: 1e9 }) });
    await fc.assert(fc.asyncProperty(arb, async ({ rows, cols, carried, scale, every, seed }) => {
      // NaN and +1e30 (whose e^(s − m′) terms are NaN or the whole sum) get a case of their own below
      const s = mixed(rows * cols, seed, scale, every).map((v) => (Number.isNaN(v) || v > 1e29 ? -1e30 : v));
      const prev = Float32Array.from({ length: 2 * rows }, (_, i) => (i % 2 ? 0.1 + Math.abs(values(1, seed + i)[0]) : (i % 6 === 0 ? -1e30 : values(1, seed + i)[0] * scale)));
      const { got, want, labels } = await both([s, prev], (d, [a, p]) => [d.onlineSoftmaxStats(a, carried ? p : null, rows, cols)]);
      if (rows > 0) expect(labels).toContain('wasm.onlineSoftmaxStats');
      for (let r = 0; r < rows; r++) {
        const [m, l] = [got[0][2 * r], got[0][2 * r + 1]];
        const [wm, wl] = [want[0][2 * r], want[0][2 * r + 1]];
        expect(m).toBe(wm);
        if (Number.isNaN(wl)) {
          expect(l).toBeNaN(); // a row of −∞ only: −∞ − (−∞)
          continue;
        }
        let spread = 0;
        for (let c = 0; c < cols; c++) spread = Math.max(spread, Math.min(87, wm - s[r * cols + c]));
        if (carried) spread = Math.max(spread, Math.min(87, wm - prev[2 * r]));
        const bound = ((8 + spread) * ULP + Math.min(Math.ceil(cols / 4), 256) * ULP) * wl + (cols + 1) * 1.7e-38;
        expect(Math.abs(l - wl)).toBeLessThanOrEqual(bound);
      }
    }), runs(60));
  });

  it('onlineSoftmaxStats (SIMD): NaN in a row makes its sum NaN; a +1e30 dominates it (m′ = 1e30, l′ = 1)', async () => {
    const s = Float32Array.from([1, 2, NaN, 3, 4, 1e30, -5]);
    const { got, want } = await both([s], (d, [a]) => [d.onlineSoftmaxStats(a, null, 1, 7)]);
    expect(want[0][1]).toBeNaN();
    expect(got[0][1]).toBeNaN();
    const { got: g2 } = await both([Float32Array.from([1, 1e30, -5])], (d, [a]) => [d.onlineSoftmaxStats(a, null, 1, 3)]);
    expect(Array.from(g2[0])).toEqual([Math.fround(1e30), 1]);
  });

  it('onlineSoftmaxStats (SIMD): a row of 65,536 columns keeps float32 precision (lane partials of at most 256 terms, summed in float64)', async () => {
    // m = 0 and every other term e^(ln 1/3): 65,535 terms that round at every float32 addition
    const s = Float32Array.from({ length: 65536 }, (_, i) => (i === 0 ? 0 : Math.log(1 / 3)));
    const { got, want, labels } = await both([s], (d, [a]) => [d.onlineSoftmaxStats(a, null, 1, 65536)]);
    expect(labels).toContain('wasm.onlineSoftmaxStats');
    expect(Math.abs(got[0][1] - want[0][1]) / want[0][1]).toBeLessThanOrEqual(1e-6);
  });

  it('the row ops (host loops, two of them SIMD): onlineNormalize, onlineLogsumexp, onlineRescale, rowShiftedProduct, rowDot', async () => {
    const arb = fc.record({ ...rowsCols, seed: fc.integer({ min: 0, max: 1e9 }) });
    await fc.assert(fc.asyncProperty(arb, async ({ rows, cols, seed }) => {
      const n = rows * cols;
      // (m, l) stats: l > 0
      const stats = (k: number) => Float32Array.from(values(2 * rows, seed + k), (v, i) => (i % 2 ? 0.1 + Math.abs(v) : v * 4));
      const inputs = [values(n, seed), values(n, seed + 1), stats(2), stats(3), values(rows, seed + 4)];
      const { got, want, labels } = await both(inputs, (d, [o, pv, st, st2, c]) => [
        d.onlineNormalize(o, st, rows, cols), d.onlineLogsumexp(st, rows), d.onlineRescale(o, pv, st, st2, rows, cols),
        d.rowShiftedProduct(o, pv, c, rows, cols), d.rowDot(o, pv, rows, cols),
      ]);
      if (rows > 0) {
        // SIMD (wasm-ops/rows-module.ts) for onlineNormalize with cols a multiple of 4 and rowShiftedProduct with cols even
        const where = { onlineNormalize: cols % 4 === 0, rowShiftedProduct: cols % 2 === 0 } as Record<string, boolean>;
        for (const op of ['onlineNormalize', 'onlineLogsumexp', 'onlineRescale', 'rowShiftedProduct', 'rowDot']) {
          expect(labels).toContain(`${where[op] ? 'wasm' : 'host'}.${op}`);
        }
      }
      // either path: the host loops' very floats
      expect(Array.from(got[0])).toEqual(Array.from(onlineNormalizeHost(inputs[0], inputs[2], rows, cols, new Float32Array(n))));
      expect(Array.from(got[3])).toEqual(Array.from(rowShiftedProductHost(inputs[0], inputs[1], inputs[4], rows, cols, new Float32Array(n))));
      // one float32 rounding of a float64 result (the host loops compute in float64, store once)
      for (let k = 0; k < 4; k++) expect(relErr(got[k], want[k])).toBeLessThanOrEqual(1.5 * ULP);
      // a float64 sum of products rounded once: relative to the sum of magnitudes
      for (let r = 0; r < rows; r++) {
        let mag = 0;
        for (let c = 0; c < cols; c++) mag += Math.abs(inputs[0][r * cols + c] * inputs[1][r * cols + c]);
        expect(Math.abs(got[4][r] - want[4][r])).toBeLessThanOrEqual(ULP * mag + 1e-30);
      }
    }), runs(40));
  });
});
