/**
 * The composite form of every fused op is its oracle, and the path every vocabulary above the
 * fused row limit (GPT-2's 50,257 classes) and FLASHGRAD_FUSION=off take. So both forms are held
 * to the same function, on the float64 reference device:
 *
 * - fused ≡ composite, forward and backward, at 1e-9 relative (float64 rounding is ~1e-15; a
 *   wrong sign, a lost sqrt or a lost term is an error of the result's own size);
 * - each form against a host formula written here, sharing no code with core (so the two forms
 *   cannot agree on the same mistake).
 *
 * The equivalence and GPT suites also run once with FLASHGRAD_FUSION=off (the `composite`
 * project of vitest.config.ts), which takes every op down its composite path on every device.
 */
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  type Tensor, crossEntropy, crossEntropyComposite, layerNorm, layerNormComposite, linear, matmulT, setDevice, tensor, tidy,
} from '@flashgrad/core';
import { runs, seedArb } from './helpers/arbitraries.js';
import { rng, weights } from './helpers/gradcheck.js';
import { relErr } from './helpers/compare.js';

const TOL = 1e-9;

beforeAll(async () => {
  await setDevice('reference');
});

interface Input { shape: number[]; data: Float64Array; grad?: boolean }

const values = (n: number, seed: number, scale = 3): Float64Array => {
  const next = rng(seed);
  return Float64Array.from({ length: n }, () => scale * (2 * next() - 1));
};

/** Outputs and input gradients of f under loss Σ out ∘ w, in float64. */
async function run(f: (...xs: Tensor[]) => Tensor, inputs: Input[], seed: number): Promise<Float64Array[]> {
  const xs = inputs.map((x) => tensor(x.data, { shape: x.shape, requiresGrad: x.grad !== false }));
  const out = tidy(() => {
    const y = f(...xs);
    y.mul(tensor(weights(y.size, seed), { shape: [...y.shape] })).sum().backward();
    return y;
  });
  const result = [await out.data64()];
  for (const [i, x] of xs.entries()) if (inputs[i].grad !== false) result.push(await x.grad!.data64());
  out.dispose();
  xs.forEach((x) => x.dispose());
  return result;
}

async function expectSame(name: string, fused: Float64Array[], composite: Float64Array[]): Promise<void> {
  expect(composite.length).toBe(fused.length);
  fused.forEach((want, k) => {
    // relative to at least 1: inputs are O(1), so a sum that cancels to ~0 is held to 1e-9 absolute
    const err = relErr(composite[k], want, 1);
    expect(err, `${name}: ${k === 0 ? 'output' : `gradient ${k - 1}`} of the composite vs the fused kernel`).toBeLessThanOrEqual(TOL);
  });
}

/** Mean over rows of logsumexp(row) − row[target], straight from the definition. */
function hostCrossEntropy(x: Float64Array, targets: Int32Array, cols: number): number {
  let total = 0;
  for (let r = 0; r < targets.length; r++) {
    const row = x.subarray(r * cols, (r + 1) * cols);
    const m = Math.max(...row);
    const lse = m + Math.log(row.reduce((s, v) => s + Math.exp(v - m), 0));
    total += lse - row[targets[r]];
  }
  return total / targets.length;
}

/** (x − mean) / √(var + eps) · w + b per row, biased variance. */
function hostLayerNorm(x: Float64Array, cols: number, w: Float64Array | null, b: Float64Array | null, eps: number): Float64Array {
  const out = new Float64Array(x.length);
  for (let r = 0; r < x.length / cols; r++) {
    const row = x.subarray(r * cols, (r + 1) * cols);
    const mean = row.reduce((s, v) => s + v, 0) / cols;
    const variance = row.reduce((s, v) => s + (v - mean) ** 2, 0) / cols;
    for (let c = 0; c < cols; c++) out[r * cols + c] = ((row[c] - mean) / Math.sqrt(variance + eps)) * (w?.[c] ?? 1) + (b?.[c] ?? 0);
  }
  return out;
}

const dims = fc.tuple(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 9 }), seedArb);

describe('crossEntropy: fused ≡ composite ≡ the definition', () => {
  it('values and gradients', () =>
    fc.assert(fc.asyncProperty(dims, async ([rows, cols, seed]) => {
      const x: Input = { shape: [rows, cols], data: values(rows * cols, seed) };
      const next = rng(seed + 1);
      const targets = Int32Array.from({ length: rows }, () => Math.floor(next() * cols));
      const fused = await run((t) => crossEntropy(t, targets), [x], seed);
      const composite = await run((t) => crossEntropyComposite(t, targets), [x], seed);
      await expectSame('crossEntropy', fused, composite);
      const want = hostCrossEntropy(x.data, targets, cols);
      expect(Math.abs(composite[0][0] - want)).toBeLessThanOrEqual(TOL * Math.max(1, Math.abs(want)));
      expect(Math.abs(fused[0][0] - want)).toBeLessThanOrEqual(TOL * Math.max(1, Math.abs(want)));
    }), runs(60)));
});

describe('layerNorm: fused ≡ composite ≡ the definition', () => {
  it('values and gradients, with and without weight and bias', () =>
    fc.assert(fc.asyncProperty(dims, fc.boolean(), fc.boolean(), fc.constantFrom(1e-5, 0.1), async ([rows, cols, seed], hasW, hasB, eps) => {
      const x: Input = { shape: [rows, cols], data: values(rows * cols, seed) };
      const w: Input = { shape: [cols], data: values(cols, seed + 2) };
      const b: Input = { shape: [cols], data: values(cols, seed + 3) };
      const inputs = [x, ...(hasW ? [w] : []), ...(hasB ? [b] : [])];
      const affine = (p: Tensor[]) => [hasW ? p[0] : undefined, hasB ? p[hasW ? 1 : 0] : undefined] as const;
      const fused = await run((t, ...p) => layerNorm(t, ...affine(p), eps), inputs, seed);
      const composite = await run((t, ...p) => layerNormComposite(t, ...affine(p), eps), inputs, seed);
      await expectSame('layerNorm', fused, composite);
      const want = hostLayerNorm(x.data, cols, hasW ? w.data : null, hasB ? b.data : null, eps);
      expect(relErr(composite[0], want, 1), 'composite layerNorm vs the definition').toBeLessThanOrEqual(TOL);
      expect(relErr(fused[0], want, 1), 'fused layerNorm vs the definition').toBeLessThanOrEqual(TOL);
    }), runs(60)));
});

describe('linear: the fused bias epilogue ≡ matmul then add', () => {
  it('values and gradients, with and without bias', () =>
    fc.assert(fc.asyncProperty(dims, fc.integer({ min: 1, max: 5 }), fc.boolean(), async ([rows, inF, seed], outF, hasB) => {
      const inputs: Input[] = [
        { shape: [rows, inF], data: values(rows * inF, seed) },
        { shape: [outF, inF], data: values(outF * inF, seed + 1) },
        ...(hasB ? [{ shape: [outF], data: values(outF, seed + 2) }] : []),
      ];
      const fused = await run((x, wt, bias) => linear(x, wt, bias ?? null), inputs, seed);
      const composite = await run((x, wt, bias) => {
        const y = matmulT(x, wt, false, true);
        return bias ? y.add(bias) : y;
      }, inputs, seed);
      await expectSame('linear', fused, composite);
    }), runs(60)));
});
