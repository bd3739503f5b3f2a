/**
 * One semantics for non-finite values on every device, IEEE 754 as PyTorch has it: ±Infinity and
 * NaN (and overflow to Infinity, e.g. exp(89) in float32) go through every elementwise op the way
 * float32 arithmetic takes them; relu(NaN) is NaN; gelu(−∞) is −0, its limit. The oracle is float64
 * Math rounded to float32, written here independently of the devices.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { add, div, mul, setDevice, sub, tensor, type Tensor } from '@flashgrad/core';
import { runs } from './helpers/arbitraries.js';

type Mode = 'reference' | 'cpu' | 'wasm' | 'webgpu';
const modes: Mode[] = ['reference', 'cpu', 'wasm', 'webgpu'];
const started: Mode[] = [];
for (const mode of modes) {
  // every mode here must start on CI (webgpu runs on Mesa's llvmpipe): a failure is a failure
  await setDevice(mode);
  started.push(mode);
}

const K = Math.sqrt(2 / Math.PI);
const unary: Record<string, [(t: Tensor) => Tensor, (x: number) => number]> = {
  exp: [(t) => t.exp(), Math.exp],
  log: [(t) => t.log(), Math.log],
  sqrt: [(t) => t.sqrt(), Math.sqrt],
  tanh: [(t) => t.tanh(), Math.tanh],
  sigmoid: [(t) => t.sigmoid(), (x) => 1 / (1 + Math.exp(-x))],
  relu: [(t) => t.relu(), (x) => (Number.isNaN(x) ? NaN : Math.max(x, 0))],
  gelu: [(t) => t.gelu(), (x) => (x === -Infinity ? -0 : 0.5 * x * (1 + Math.tanh(K * (x + 0.044715 * x ** 3))))],
  abs: [(t) => t.abs(), Math.abs],
  neg: [(t) => t.neg(), (x) => -x],
};
const binary: Record<string, [(a: Tensor, b: Tensor) => Tensor, (a: number, b: number) => number]> = {
  add: [add, (a, b) => a + b],
  sub: [sub, (a, b) => a - b],
  mul: [mul, (a, b) => a * b],
  div: [div, (a, b) => a / b],
};

/**
 * Values at and around the edges of float32: infinities, NaN, signed zeros, exp's overflow point;
 * a subnormal too, except on webgpu, where WGSL lets a GPU flush subnormals to zero (llvmpipe does).
 */
const edges = [Infinity, -Infinity, NaN, 0, -0, 1e30, -1e30, 89, -89, 88.5, -88.5, 100, -100, 3.4e38, -3.4e38, 11.5, -11.5];
const valueArb = (mode: Mode) =>
  fc.oneof(fc.constantFrom(...edges, ...(mode === 'webgpu' ? [] : [1e-40])), fc.double({ min: -20, max: 20, noNaN: true }))
    .map(Math.fround)
    .filter((x) => mode !== 'webgpu' || !(x !== 0 && Math.abs(x) < 2 ** -126));
const N = 16; // one shape: a kernel compiles once per device and op

/** Same class of value (NaN, +∞, −∞, finite), and finite values within float32 elementwise error. */
function agrees(actual: number, expected: number): boolean {
  if (Number.isNaN(expected) || !Number.isFinite(expected)) return Object.is(actual, expected) || (Number.isNaN(expected) && Number.isNaN(actual));
  return Math.abs(actual - expected) <= 1e-5 * Math.max(1, Math.abs(expected)) + 1e-30;
}

function check(name: string, mode: Mode, inputs: number[][], actual: Float32Array, expected: (i: number) => number): void {
  for (let i = 0; i < actual.length; i++) {
    const want = Math.fround(expected(i));
    if (!agrees(actual[i], want)) {
      throw new Error(`${mode} ${name}(${inputs.map((x) => x[i]).join(', ')}) = ${actual[i]}, expected ${want}`);
    }
  }
}

describe('non-finite values, the same on every device', () => {
  for (const mode of started) {
    it(`${mode}: unary ops take ±Infinity, NaN and overflow as IEEE float32 does`, async () => {
      await setDevice(mode);
      await fc.assert(
        fc.asyncProperty(fc.array(valueArb(mode), { minLength: N, maxLength: N }), async (xs) => {
          const x = tensor(xs);
          for (const [name, [op, oracle]] of Object.entries(unary)) {
            const y = op(x);
            check(name, mode, [xs], await y.data(), (i) => oracle(xs[i]));
            y.dispose();
          }
          x.dispose();
        }),
        runs(mode === 'webgpu' ? 8 : 25),
      );
    });

    it(`${mode}: binary ops on non-finite pairs (∞ − ∞, 0 · ∞, x / 0) as IEEE`, async () => {
      await setDevice(mode);
      await fc.assert(
        fc.asyncProperty(fc.array(valueArb(mode), { minLength: N, maxLength: N }), fc.array(valueArb(mode), { minLength: N, maxLength: N }), async (as, bs) => {
          const a = tensor(as);
          const b = tensor(bs);
          for (const [name, [op, oracle]] of Object.entries(binary)) {
            const y = op(a, b);
            check(name, mode, [as, bs], await y.data(), (i) => oracle(as[i], bs[i]));
            y.dispose();
          }
          a.dispose();
          b.dispose();
        }),
        runs(mode === 'webgpu' ? 8 : 25),
      );
    });
  }

  it('the edge cases of the issue, spelled out', async () => {
    for (const mode of started) {
      await setDevice(mode);
      expect(Array.from(await tensor([Infinity, 89, 88.5, -Infinity]).exp().data()), mode).toEqual([Infinity, Infinity, Math.fround(Math.exp(88.5)), 0].map((v, i) => (i === 2 ? expect.closeTo(v, -33) : v)));
      expect(Number.isNaN((await tensor([NaN]).relu().data())[0]), `${mode} relu(NaN)`).toBe(true);
      const g = await tensor([-Infinity, Infinity]).gelu().data();
      expect(g[0] === 0 && g[1] === Infinity, `${mode} gelu(−∞), gelu(∞) = ${g[0]}, ${g[1]}`).toBe(true);
    }
    await setDevice('reference');
  });
});
