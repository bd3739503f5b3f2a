/**
 * Every core op at the Tensor level, forward and backward, on each gpu.js mode against the
 * reference device (float64), through the public API only: `await setDevice('reference')`, build
 * the inputs from host Float32Arrays, run; `await setDevice(mode)`, the same host arrays, run;
 * compare `await t.data()` with `await t.data64()`.
 *
 * Backward: loss = Σ_k sum(out_k ∘ w_k) with random weights w_k in ±[0.5, 1.5], then
 * `loss.backward()`; the gradient of every input that requires one is compared.
 *
 * Tolerance is the relative error of the norm, ‖got − want‖ / ‖want‖ (absolute where want is all
 * zeros): EW = 1e-5 for elementwise ops, RED = 1e-4 for reductions and matmul, and for backward
 * passes that contain a reduction — a broadcast input's gradient is summed over the broadcast
 * dims, expand's and gather's gradients are sums, the softmax family and layerNorm reduce rows.
 * A float32 sum of n terms carries up to ~n·2⁻²⁴ of the terms' size (~4e-6 for the ≤ 64-term sums
 * here, before any cancellation), which 1e-5 cannot cover reliably but 1e-4 does. NaN never passes:
 * a NaN error fails `<=`, and so does a NaN in the reference.
 *
 * Cancellation: a sum whose terms nearly cancel (a dot product of random signs, a broadcast
 * gradient Σ w) is computed by float32 to within ~n·2⁻²⁴ of its terms, not of itself. So where a
 * result is a difference of larger terms, the denominator is max(‖want‖, size of the terms): for
 * the linear cases (sum, mean, matmul, expand, add/sub/mul/div, where, gather: `linear: true`) the
 * terms' size is the same case run on the reference with |inputs| and |w|, which turns every sum
 * into a sum of magnitudes; softmax and layerNorm compute theirs by hand (gradScale). A real bug —
 * a wrong index, a lost term, a transposed operand — is an error of the terms' own size, 10⁴×
 * these tolerances.
 *
 * Also per mode: each case must leave the device's `memory()` where it found it (no op leaks a
 * buffer, forward or backward); AdamW and SGD-momentum steps give the same parameters; a 1,000-step
 * MLP training loop keeps memory flat and lowers its loss; and the Tensor API's errors on the gpu.js
 * devices (too large, mixed devices, headlessgl without its addon) say what is wrong.
 *
 * FC_RUNS sets the cases per property (default 40 on wasm and cpu, 25 on webgpu);
 * LEAK_STEPS the training loop's steps (default 1,000).
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type Device, type Tensor, add, concat, crossEntropy, div, dropout, gather, getDevice, layerNorm, logSoftmax,
  manualSeed, matmulT, maskedFill, memory, mul, nn, optim, pow, setDevice, softmax, split, sub, tensor, tidy, unaryFunctions,
  unaryNames, where, zeros,
} from '@flashgrad/core';
import { axesArb, axisArb, runs, seedArb, shapeArb, sizeOf, type ShapeOptions } from './helpers/arbitraries.js';
import { rng, weights } from './helpers/gradcheck.js';
import { normalizeAxes } from '../packages/core/src/shape.js';
import { layerNormGradTerms, relErr } from './helpers/compare.js';

const EW = 1e-5;
const RED = 1e-4;
const LEAK_STEPS = Number(process.env.LEAK_STEPS ?? 1000);

type Mode = 'wasm' | 'cpu' | 'webgpu' | 'headlessgl';
const modes: Mode[] = ['wasm', 'cpu', 'webgpu', 'headlessgl'];
/** Modes that may be absent from a machine without failing the suite. */
const optional = new Set<Mode>(['headlessgl']);

// the same discovery as device-equivalence.test.ts, through the registry: a mode that cannot
// start throws an Error saying why, and headlessgl alone may be missing
const started: { mode: Mode; error: string }[] = [];
for (const mode of modes) {
  try {
    await setDevice(mode);
    started.push({ mode, error: '' });
  } catch (err) {
    started.push({ mode, error: (err as Error).message });
  }
}
await setDevice('reference');

for (const { mode, error } of started) {
  if (!error) continue;
  if (optional.has(mode)) {
    describe.skip(`${mode} (skipped: ${error.split('.')[0]})`, () => {
      it('Tensor ops equal the reference device', () => {});
    });
  } else {
    describe(`${mode}`, () => {
      it('starts', () => {
        throw new Error(`${mode} did not start: ${error}`);
      });
    });
  }
}
const available = started.filter((s) => !s.error).map((s) => s.mode);

/**
 * Cases per property. webgpu on Mesa's llvmpipe pays ~0.2 ms a kernel call and a shader compile
 * for every new (op, shape) key — a forward+backward case compiles 5–30 kernels — so it runs
 * fewer cases, on smaller shapes (see shapesFor), than the CPU modes.
 */
const shapesFor = (mode: Mode): ShapeOptions => (mode === 'webgpu' ? { maxRank: 3, maxDim: 3, maxSize: 27 } : { maxRank: 4, maxDim: 4, maxSize: 64 });

// ------------------------------------------------------------------ data

type Kind = 'any' | 'pos' | 'nonzero' | 'mask';

/** Float32 values from a seed, so both devices see the same inputs. */
function values(n: number, seed: number, kind: Kind = 'any'): Float32Array {
  const next = rng(seed);
  return Float32Array.from({ length: n }, () => {
    const u = next();
    switch (kind) {
      case 'pos': return 0.1 + 3 * u;
      case 'nonzero': return (next() < 0.5 ? -1 : 1) * (0.5 + 2 * u);
      case 'mask': return u < 0.5 ? 1 : 0;
      default: return 6 * u - 3;
    }
  });
}

/** Softmax along `axis` in float64 on the host (for the scale of softmax's cancelling backward). */
function hostSoftmax(x: Float32Array, shape: number[], axis: number): Float64Array {
  const ax = axis < 0 ? axis + shape.length : axis;
  const len = shape[ax];
  const inner = sizeOf(shape.slice(ax + 1));
  const out = new Float64Array(x.length);
  for (let o = 0; o < x.length / (len * inner); o++) {
    for (let j = 0; j < inner; j++) {
      const at = (k: number) => o * len * inner + k * inner + j;
      let m = -Infinity;
      for (let k = 0; k < len; k++) m = Math.max(m, x[at(k)]);
      let z = 0;
      for (let k = 0; k < len; k++) z += Math.exp(x[at(k)] - m);
      for (let k = 0; k < len; k++) out[at(k)] = Math.exp(x[at(k)] - m) / z;
    }
  }
  return out;
}

// ------------------------------------------------------------------ running one case on a device

interface Input {
  shape: number[];
  data: Float32Array;
  /** false: a constant (no gradient). Default true. */
  grad?: boolean;
}

interface Case {
  inputs: Input[];
  f: (...xs: Tensor[]) => Tensor | Tensor[];
  /** Tolerance of the outputs and of the gradients. */
  fwd: number;
  bwd: number;
  seed: number;
  /**
   * Where a gradient is a difference of nearly equal terms, float32 can only promise an error
   * relative to the size of those terms, not of their difference: gradScale[i], when given, is
   * that size, and replaces ‖want‖ in the denominator when it is larger.
   */
  gradScale?: (number | undefined)[];
  /** The same for the outputs: outScale[k], when larger, replaces ‖want‖ of output k. */
  outScale?: number[];
  /** Sums and products only: the |inputs|, |w| run on the reference gives the terms' size. */
  linear?: boolean;
}

interface Result {
  outs: { shape: number[]; data: ArrayLike<number> }[];
  grads: ({ shape: number[]; data: ArrayLike<number> } | null)[];
}

/**
 * Runs the case on `name` from the same host arrays; frees everything and checks that it did.
 * `magnitude`: with |inputs| and |w| (masks and indices are left alone), for the terms' size.
 */
async function runOn(name: string, c: Case, magnitude = false): Promise<Result> {
  await setDevice(name);
  const before = memory();
  const abs = (v: Float32Array) => (magnitude ? v.map(Math.abs) : v);
  const xs = c.inputs.map((x) => tensor(x.grad === false ? x.data : abs(x.data), { shape: x.shape, requiresGrad: x.grad !== false }));
  const outs = tidy(() => {
    const produced = c.f(...xs);
    const list = Array.isArray(produced) ? produced : [produced];
    const loss = list
      .map((t, k) => t.mul(tensor(abs(Float32Array.from(weights(t.size, c.seed + 7919 * k))), { shape: [...t.shape] })).sum())
      .reduce((a, b) => a.add(b));
    loss.backward();
    return list;
  });
  const read = (t: Tensor) => (name === 'reference' ? t.data64() : t.data());
  const result: Result = { outs: [], grads: [] };
  for (const t of outs) result.outs.push({ shape: [...t.shape], data: await read(t) });
  for (const [i, x] of xs.entries()) {
    const g = x.grad;
    if (c.inputs[i].grad === false) {
      result.grads.push(null);
      continue;
    }
    if (!g) throw new Error(`${name}: input ${i} of shape [${x.shape}] got no gradient`);
    result.grads.push({ shape: [...g.shape], data: await read(g) });
  }
  for (const t of outs) t.dispose();
  for (const x of xs) {
    x.grad = null;
    x.dispose();
  }
  const after = memory();
  expect({ buffers: after.buffers, bytes: after.bytes }, `${name}: memory after the case is freed`)
    .toEqual({ buffers: before.buffers, bytes: before.bytes });
  return result;
}

const norm = (v: ArrayLike<number>): number => Math.sqrt(Array.from(v).reduce((a, x) => a + x * x, 0));

/** The case on `mode` against the reference: outputs within c.fwd, gradients within c.bwd. */
async function check(mode: Mode, c: Case): Promise<void> {
  const want = await runOn('reference', c);
  const got = await runOn(mode, c);
  const terms = c.linear ? await runOn('reference', c, true) : null;
  const shapes = c.inputs.map((x) => `[${x.shape}]`).join(', ');
  expect(got.outs.length).toBe(want.outs.length);
  want.outs.forEach((w, k) => {
    const g = got.outs[k];
    expect(g.shape, `output ${k} shape`).toEqual(w.shape);
    const err = relErr(g.data, w.data, Math.max(c.outScale?.[k] ?? 0, terms ? norm(terms.outs[k].data) : 0));
    if (!(err <= c.fwd)) {
      throw new Error(`${mode}: output ${k} (inputs ${shapes}) relative error ${err} > ${c.fwd}\n got ${Array.from(g.data).slice(0, 8)}\nwant ${Array.from(w.data).slice(0, 8)}`);
    }
  });
  want.grads.forEach((w, i) => {
    const g = got.grads[i];
    if (!w || !g) {
      expect(g, `gradient of input ${i}`).toBe(w);
      return;
    }
    expect(g.shape, `gradient ${i} shape`).toEqual(w.shape);
    const termsGrad = terms?.grads[i];
    const err = relErr(g.data, w.data, Math.max(c.gradScale?.[i] ?? 0, termsGrad ? norm(termsGrad.data) : 0));
    if (!(err <= c.bwd)) {
      throw new Error(`${mode}: gradient of input ${i} (inputs ${shapes}) relative error ${err} > ${c.bwd}\n got ${Array.from(g.data).slice(0, 8)}\nwant ${Array.from(w.data).slice(0, 8)}`);
    }
  });
}

// ------------------------------------------------------------------ arbitraries

/** A shape that broadcasts to `base`: some leading dims dropped, some dims set to 1. */
const broadcastTo = (base: number[]): fc.Arbitrary<number[]> =>
  fc.tuple(fc.integer({ min: 0, max: base.length }), fc.array(fc.boolean(), { minLength: base.length, maxLength: base.length }))
    .map(([drop, ones]) => base.slice(drop).map((d, i) => (ones[i + drop] ? 1 : d)));

const same = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);

/** NumPy broadcast of shapes that are known to broadcast. */
function broadcast(...shapes: number[][]): number[] {
  const rank = Math.max(...shapes.map((s) => s.length));
  return Array.from({ length: rank }, (_, i) => Math.max(...shapes.map((s) => s[i - (rank - s.length)] ?? 1)));
}

const binaryOps = { add, sub, mul, div, pow } as const;
type BinaryName = keyof typeof binaryOps;
const reductions = ['sum', 'mean', 'max', 'logsumexp'] as const;

// ------------------------------------------------------------------ the suites

describe.each(available)('%s: Tensor ops, forward and backward, equal the reference device', (mode) => {
  const S = shapesFor(mode);
  const prop = <T>(arb: fc.Arbitrary<T>, body: (t: T) => Promise<void>) =>
    fc.assert(fc.asyncProperty(arb, body), runs(mode === 'webgpu' ? 25 : 40));

  it(`unary: ${unaryNames.join(' ')}`, async () => {
    await prop(fc.tuple(fc.constantFrom(...unaryNames), shapeArb({ ...S, minRank: 0 }), seedArb), async ([op, shape, seed]) => {
      const kind = op === 'log' || op === 'sqrt' ? 'pos' : 'any';
      // tanh′ = 1 − t², σ′ = σ(1 − σ), gelu′ and silu′ = σ(1 + x(1 − σ)) cancel towards saturation: float32 promises an error
      // relative to their terms, O(1) times the upstream weights w (a tanh case with 1 − t² = 0.017
      // missed a plain 1e-5 by 1.7×)
      const cancels = op === 'tanh' || op === 'sigmoid' || op === 'gelu' || op === 'silu';
      const gradScale = cancels ? [norm(weights(sizeOf(shape), seed))] : undefined;
      await check(mode, { inputs: [{ shape, data: values(sizeOf(shape), seed, kind) }], f: (x) => unaryFunctions[op](x), fwd: EW, bwd: EW, seed, gradScale });
    });
  });

  it('binary with broadcasting and scalars: add sub mul div pow', async () => {
    const arb = shapeArb(S).chain((base) => fc.tuple(
      fc.constantFrom<BinaryName>('add', 'sub', 'mul', 'div', 'pow'),
      broadcastTo(base), broadcastTo(base), fc.constantFrom('tt', 'ts', 'st'), seedArb));
    await prop(arb, async ([op, sa, sb, form, seed]) => {
      // pow: positive base; div: denominators away from 0
      const [ka, kb]: Kind[] = op === 'pow' ? ['pos', 'any'] : op === 'div' ? ['any', 'nonzero'] : ['any', 'any'];
      const a = values(sizeOf(sa), seed, ka);
      const b = values(sizeOf(sb), seed + 1, kb);
      const fn = binaryOps[op];
      let c: Case;
      if (form === 'tt') {
        // a broadcast operand's gradient is summed over its broadcast dims: a reduction
        const out = broadcast(sa, sb);
        const full = same(sa, out) && same(sb, out);
        c = { inputs: [{ shape: sa, data: a }, { shape: sb, data: b }], f: (x, y) => fn(x, y), fwd: EW, bwd: full ? EW : RED, seed, linear: op !== 'pow' };
      } else if (form === 'ts') {
        c = { inputs: [{ shape: sa, data: a }], f: (x) => fn(x, b[0]), fwd: EW, bwd: EW, seed };
      } else {
        c = { inputs: [{ shape: sb, data: b }], f: (y) => fn(a[0], y), fwd: EW, bwd: EW, seed };
      }
      await check(mode, c);
    });
  });

  it('reductions over axes with keepDims: sum mean max logsumexp', async () => {
    const arb = shapeArb({ ...S, minRank: 0 }).chain((shape) => fc.tuple(
      fc.constant(shape), fc.constantFrom(...reductions), axesArb(shape.length), fc.boolean(), seedArb));
    await prop(arb, async ([shape, op, axes, keepDims, seed]) => {
      // logsumexp = m + log Σ e^(x − m) cancels toward 0 (two values near −log 2): float32 promises
      // an error relative to its terms, |m| + log m' ≤ 3 + log m' for m' values in [−3, 3)
      const reduced = normalizeAxes(op, axes, shape.length).reduce((p, k) => p * shape[k], 1);
      const outScale = op === 'logsumexp' && reduced > 0 ? [Math.sqrt(sizeOf(shape) / reduced) * (3 + Math.log(reduced))] : undefined;
      await check(mode, {
        inputs: [{ shape, data: values(sizeOf(shape), seed) }], f: (x) => x[op](axes, keepDims), fwd: RED, bwd: RED, seed,
        linear: op === 'sum' || op === 'mean', outScale,
      });
    });
  });

  it('sumOfSquares (clipGradNorm\'s reduction, the square in the first pass) and clipGradNorm', async () => {
    // sizes up to 2^20: one pass, chunked passes and (webgpu) the interleaved first pass
    const arb = fc.tuple(fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 70 }), fc.integer({ min: 1000, max: 1 << 20 })), seedArb);
    await prop(arb, async ([n, seed]) => {
      const x = values(n, seed);
      await setDevice(mode);
      const device = getDevice();
      const buf = device.upload(x);
      const got = device.sumOfSquares!(buf);
      const [sum] = await device.read(got);
      device.dispose(got);
      const want = x.reduce((a, v) => a + v * v, 0);
      expect(Math.abs(sum - want) / want).toBeLessThanOrEqual(RED);
      // with an addend (the clip's running total), added by the last pass
      const addend = device.upload(Float32Array.of(seed % 7 + 0.5));
      const plus = device.sumOfSquares!(buf, addend);
      const [total] = await device.read(plus);
      for (const b of [plus, addend, buf]) device.dispose(b);
      expect(Math.abs(total - (want + (seed % 7) + 0.5)) / (want + (seed % 7) + 0.5), 'with an addend').toBeLessThanOrEqual(RED);
    });
    // the clip through it: the norm and the scaled gradients equal the reference's
    const grads = [values(5, 1), values(3000, 2)];
    const run = async (name: 'reference' | Mode) => {
      await setDevice(name);
      const ps = grads.map((g) => tensor(g, { requiresGrad: true }));
      ps.forEach((p, k) => { p.grad = tensor(grads[k]); });
      const norm = optim.clipGradNorm(ps, 1);
      const out = [await norm.item(), ...(await Promise.all(ps.map((p) => p.grad!.data())))];
      norm.dispose();
      for (const p of ps) { p.grad!.dispose(); p.dispose(); }
      return out as [number, ...Float32Array[]];
    };
    const [wantNorm, ...wantGrads] = await run('reference');
    const [gotNorm, ...gotGrads] = await run(mode);
    expect(Math.abs(gotNorm - wantNorm) / wantNorm).toBeLessThanOrEqual(RED);
    gotGrads.forEach((g, k) => expect(relErr(g, wantGrads[k])).toBeLessThanOrEqual(RED));
  });

  it('matmul: batched, broadcast batch, matmulT transposes', async () => {
    const mat = fc.integer({ min: 1, max: mode === 'webgpu' ? 3 : 5 });
    const arb = shapeArb({ maxRank: 2, maxDim: 3 }).chain((batch) => fc.tuple(
      broadcastTo(batch), broadcastTo(batch), mat, mat, mat, fc.boolean(), fc.boolean(), fc.boolean(), seedArb));
    await prop(arb, async ([ba, bb, M, K, N, tA, tB, method, seed]) => {
      const aShape = [...ba, ...(tA ? [K, M] : [M, K])];
      const bShape = [...bb, ...(tB ? [N, K] : [K, N])];
      const plain = !tA && !tB && method;
      await check(mode, {
        inputs: [{ shape: aShape, data: values(sizeOf(aShape), seed) }, { shape: bShape, data: values(sizeOf(bShape), seed + 1) }],
        f: (a, b) => (plain ? a.matmul(b) : matmulT(a, b, tA, tB)), fwd: RED, bwd: RED, seed, linear: true,
      });
    });
  });

  it('reshape, permute, transpose', async () => {
    const arb = shapeArb({ ...S, minRank: 1 }).chain((shape) => fc.tuple(
      fc.constant(shape),
      fc.shuffledSubarray(shape.map((_, k) => k), { minLength: shape.length, maxLength: shape.length }),
      fc.constantFrom('reshape', 'permute', 'transpose'),
      axisArb(shape.length), axisArb(shape.length), fc.boolean(), seedArb));
    await prop(arb, async ([shape, perm, op, d0, d1, infer, seed]) => {
      // reshape to the dims in another order (one spelled −1), so the view really changes shape
      const target = perm.map((k) => shape[k]);
      if (infer) target[0] = -1;
      const f = op === 'reshape' ? (x: Tensor) => x.reshape(target).mul(1)
        : op === 'permute' ? (x: Tensor) => x.permute(perm) : (x: Tensor) => x.transpose(d0, d1);
      await check(mode, { inputs: [{ shape, data: values(sizeOf(shape), seed) }], f, fwd: EW, bwd: EW, seed });
    });
  });

  it('slice (negative indices, missing trailing axes)', async () => {
    const arb = shapeArb({ ...S, minRank: 1 }).chain((shape) => fc.tuple(
      fc.constant(shape), fc.integer({ min: 0, max: shape.length }),
      fc.array(fc.tuple(fc.nat(), fc.nat(), fc.boolean()), { minLength: shape.length, maxLength: shape.length }), seedArb));
    await prop(arb, async ([shape, given, cuts, seed]) => {
      const starts: number[] = [];
      const ends: number[] = [];
      for (let k = 0; k < given; k++) {
        const n = shape[k];
        const s = cuts[k][0] % n;
        const e = s + 1 + (cuts[k][1] % (n - s));
        // Python-style negative spellings for some dims
        starts.push(cuts[k][2] ? s - n : s);
        ends.push(cuts[k][2] && e < n ? e - n : e);
      }
      await check(mode, {
        inputs: [{ shape, data: values(sizeOf(shape), seed) }], f: (x) => x.slice(starts, ends), fwd: EW, bwd: EW, seed,
      });
    });
  });

  it('concat and split', async () => {
    const arb = shapeArb({ ...S, minRank: 1, maxRank: 3 }).chain((shape) => fc.tuple(
      fc.constant(shape), axisArb(shape.length), fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 3 }),
      fc.integer({ min: 1, max: 4 }), fc.boolean(), seedArb));
    await prop(arb, async ([shape, axis, sizes, piece, asList, seed]) => {
      const ax = axis < 0 ? axis + shape.length : axis;
      const parts = sizes.map((n) => shape.map((d, i) => (i === ax ? n : d)));
      await check(mode, {
        inputs: parts.map((s, i) => ({ shape: s, data: values(sizeOf(s), seed + i) })),
        f: (...xs) => concat(xs, axis), fwd: EW, bwd: EW, seed,
      });
      // split into the same pieces (a list) or equal pieces of `piece` (a number)
      const whole = shape.map((d, i) => (i === ax ? sizes.reduce((a, b) => a + b, 0) : d));
      await check(mode, {
        inputs: [{ shape: whole, data: values(sizeOf(whole), seed) }],
        f: (x) => split(x, asList ? sizes : piece, axis), fwd: EW, bwd: EW, seed,
      });
    });
  });

  it('expand (its gradient is a sum over the broadcast dims)', async () => {
    const arb = shapeArb(S).chain((base) => fc.tuple(fc.constant(base), broadcastTo(base), seedArb));
    await prop(arb, async ([base, shape, seed]) => {
      await check(mode, {
        inputs: [{ shape, data: values(sizeOf(shape), seed) }], f: (x) => x.expand(base), fwd: EW, bwd: same(shape, base) ? EW : RED, seed, linear: true,
      });
    });
  });

  it('gather (its gradient sums rows picked more than once)', async () => {
    const arb = fc.tuple(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 4 }),
      fc.array(fc.nat(), { minLength: 1, maxLength: 8 }), fc.boolean(), seedArb);
    await prop(arb, async ([rows, cols, raw, nested, seed]) => {
      const flat = raw.map((r) => r % rows);
      // a 2-D index array when the count allows it: the output is [a, b, cols]
      const idx = nested && flat.length % 2 === 0 ? [flat.slice(0, flat.length / 2), flat.slice(flat.length / 2)] : flat;
      await check(mode, {
        inputs: [{ shape: [rows, cols], data: values(rows * cols, seed) }], f: (t) => gather(t, idx), fwd: EW, bwd: RED, seed, linear: true,
      });
    });
  });

  it('where and maskedFill with broadcasting and scalars', async () => {
    const arb = shapeArb(S).chain((base) => fc.tuple(
      broadcastTo(base), broadcastTo(base), broadcastTo(base), fc.constantFrom('tt', 'ts', 'st', 'masked'), seedArb));
    await prop(arb, async ([sc, sa, sb, form, seed]) => {
      const cond = { shape: sc, data: values(sizeOf(sc), seed, 'mask'), grad: false };
      const a = { shape: sa, data: values(sizeOf(sa), seed + 1) };
      const b = { shape: sb, data: values(sizeOf(sb), seed + 2) };
      const out = broadcast(sc, sa, sb);
      const bwdOf = (...xs: number[][]) => (xs.every((s) => same(s, out)) ? EW : RED);
      let c: Case;
      if (form === 'tt') c = { inputs: [cond, a, b], f: (m, x, y) => where(m, x, y), fwd: EW, bwd: bwdOf(sa, sb), seed };
      else if (form === 'ts') c = { inputs: [cond, a], f: (m, x) => where(m, x, -1.5), fwd: EW, bwd: bwdOf(sa), seed };
      else if (form === 'st') c = { inputs: [cond, b], f: (m, y) => where(m, 2.25, y), fwd: EW, bwd: bwdOf(sb), seed };
      else {
        // maskedFill: the mask broadcasts to x, so x's shape is the output's
        const mask = cond;
        const x = { shape: out, data: values(sizeOf(out), seed + 1) };
        // a fill of the data's size: −1e9 would swamp ‖want‖ and hide errors in the kept values
        c = { inputs: [mask, x], f: (m, t) => maskedFill(t, m, -2.5), fwd: EW, bwd: EW, seed };
      }
      await check(mode, { ...c, linear: true });
    });
  });

  it('softmax and logSoftmax along any axis', async () => {
    const arb = shapeArb({ ...S, minRank: 1 }).chain((shape) => fc.tuple(
      fc.constant(shape), axisArb(shape.length), fc.boolean(), seedArb));
    await prop(arb, async ([shape, axis, log, seed]) => {
      // the backward cancels: dx = y∘(w − Σ w∘y) for softmax, w − y·Σ w for logSoftmax (a row of
      // two where one y is near 1 leaves a difference far smaller than its terms); float32 error is
      // relative to the terms, ‖y∘w‖ and ‖w‖
      const x = values(sizeOf(shape), seed);
      const w = weights(x.length, seed);
      const y = hostSoftmax(x, shape, axis);
      const terms = Math.sqrt(w.reduce((a, v, i) => a + (log ? v : v * y[i]) ** 2, 0));
      await check(mode, {
        inputs: [{ shape, data: x }],
        f: (t) => (log ? logSoftmax(t, axis) : softmax(t, axis)), fwd: RED, bwd: RED, seed, gradScale: [terms],
      });
    });
  });

  it('crossEntropy', async () => {
    const arb = fc.tuple(shapeArb({ minRank: 1, maxRank: 2, maxDim: 4 }), fc.integer({ min: 1, max: mode === 'webgpu' ? 4 : 6 }),
      fc.array(fc.nat(), { minLength: 16, maxLength: 16 }), seedArb);
    await prop(arb, async ([lead, classes, raw, seed]) => {
      const n = sizeOf(lead);
      const targets = raw.slice(0, n).map((r) => r % classes);
      const idx = lead.length === 2 ? Array.from({ length: lead[0] }, (_, i) => targets.slice(i * lead[1], (i + 1) * lead[1])) : targets;
      const shape = [...lead, classes];
      await check(mode, {
        // the mean of lse − x_target cancels where the target dominates: relative to |lse| + |x_target| ≤ (3 + log classes) + 3
        inputs: [{ shape, data: values(sizeOf(shape), seed) }], f: (x) => crossEntropy(x, idx), fwd: RED, bwd: RED, seed,
        outScale: [6 + Math.log(classes)],
      });
    });
  });

  it('layerNorm with and without weight and bias', async () => {
    const arb = fc.tuple(shapeArb({ maxRank: 2, maxDim: 3 }), fc.integer({ min: 1, max: 8 }), fc.constantFrom(0, 1, 2), seedArb);
    await prop(arb, async ([lead, C, affine, seed]) => {
      const shape = [...lead, C];
      // rows of nearly equal values make x̂ = (x − mean)·rstd ill-conditioned in any float32
      // implementation (relative error ~2⁻²⁴·max|x|/σ): spread each row to σ ≥ 0.3, so that what is
      // measured is the devices, not the conditioning of the input
      const x = values(sizeOf(shape), seed);
      for (let r = 0; r < x.length / C && C > 1; r++) {
        const row = x.subarray(r * C, (r + 1) * C);
        const mean = row.reduce((a, v) => a + v, 0) / C;
        const sd = Math.sqrt(row.reduce((a, v) => a + (v - mean) ** 2, 0) / C);
        if (sd < 0.3) row.forEach((v, k) => (row[k] = mean + (sd > 0 ? (v - mean) * (0.3 / sd) : k % 2 ? 0.3 : -0.3)));
      }
      const inputs: Input[] = [{ shape, data: x }];
      if (affine >= 1) inputs.push({ shape: [C], data: values(C, seed + 1) });
      if (affine >= 2) inputs.push({ shape: [C], data: values(C, seed + 2) });
      // the loss weights w are layerNorm's upstream gradient; dweight and dbias sum ≤ 9 rows, within
      // γ(8) ≪ RED of their terms
      const w = weights(sizeOf(shape), seed);
      const terms = layerNormGradTerms(x, w, affine >= 1 ? inputs[1].data : null, x.length / C, C, 1e-5);
      const gradScale = [terms.dx, terms.dweight, terms.dbias].slice(0, 1 + affine);
      await check(mode, { inputs, f: (x, w, b) => layerNorm(x, w, b), fwd: RED, bwd: RED, seed, gradScale });
    });
  });

  it('dropout: the same seed draws the same mask on both devices', async () => {
    const arb = fc.tuple(shapeArb(S), fc.constantFrom(0, 0.1, 0.5, 0.9), fc.boolean(), seedArb);
    await prop(arb, async ([shape, p, training, seed]) => {
      await check(mode, {
        inputs: [{ shape, data: values(sizeOf(shape), seed) }],
        f: (x) => {
          manualSeed(seed);
          return dropout(x, p, training).mul(1);
        },
        fwd: EW, bwd: EW, seed,
      });
    });
  });

  it('AdamW steps give the same parameters and moments', async () => {
    const STEPS = 3;
    const arb = fc.tuple(fc.array(shapeArb({ maxRank: 2, maxDim: 5 }), { minLength: 1, maxLength: 3 }),
      fc.double({ min: 1e-4, max: 0.1, noNaN: true }), fc.double({ min: 0, max: 0.2, noNaN: true }), seedArb);
    await prop(arb, async ([shapes, lr, weightDecay, seed]) => {
      const run = async (name: string) => {
        await setDevice(name);
        const params = shapes.map((s, i) => tensor(values(sizeOf(s), seed + i), { shape: s, requiresGrad: true }));
        const opt = new optim.AdamW(params, { lr, weightDecay });
        for (let step = 0; step < STEPS; step++) {
          params.forEach((p, i) => (p.grad = tensor(values(p.size, seed + 100 * step + i + 50), { shape: [...p.shape] })));
          opt.step();
          opt.zeroGrad();
        }
        const state = opt.state();
        const out = [];
        for (const t of [...params, ...state.m, ...state.v]) out.push(name === 'reference' ? await t.data64() : await t.data());
        for (const t of [...params, ...state.m, ...state.v]) t.dispose();
        return out;
      };
      const want = await run('reference');
      const got = await run(mode);
      // a few fused elementwise updates: float32 rounding of a few operations per element. But
      // m = (1 − β1)·Σ β1^(t−s)·g_s sums gradients of either sign, and may cancel: its error is
      // relative to the size of those terms
      const mTerms = shapes.map((s, i) => {
        const n = sizeOf(s);
        const acc = new Float64Array(n);
        for (let step = 0; step < STEPS; step++) {
          const g = values(n, seed + 100 * step + i + 50);
          for (let j = 0; j < n; j++) acc[j] += 0.1 * 0.9 ** (STEPS - 1 - step) * Math.abs(g[j]);
        }
        return Math.sqrt(acc.reduce((a, v) => a + v * v, 0));
      });
      const k = shapes.length;
      want.forEach((w, t) => {
        const scale = t >= k && t < 2 * k ? mTerms[t - k] : 0;
        expect(relErr(got[t], w, scale), `AdamW ${['parameter', 'm', 'v'][Math.floor(t / k)]} ${t % k}`).toBeLessThanOrEqual(EW);
      });
    });
  });

  it('AdamW.clipGradNorm: the clip folded into the update gives the reference\'s clipped steps, with no scaling kernels', async () => {
    const STEPS = 2;
    const fusedClip = process.env.FLASHGRAD_FUSION !== 'off';
    // a long gradient now and then: past MAX_SERIAL (8,192) its sum of squares takes two passes, the addend in the second
    const sizes = fc.array(fc.oneof(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 40 }), fc.integer({ min: 8193, max: 20000 })), { minLength: 1, maxLength: 4 });
    // maxNorm from below the gradients' norm (every step clipped) to above it (factor 1)
    const arb = fc.tuple(sizes, fc.double({ min: 1e-3, max: 0.1, noNaN: true }), fc.constantFrom(0.05, 0.5, 1e3), seedArb);
    await prop(arb, async ([ns, lr, maxNorm, seed]) => {
      const grad = (n: number, step: number, i: number) => values(n, seed + 100 * step + i + 50);
      const run = async (name: string) => {
        await setDevice(name);
        const device = getDevice();
        const params = ns.map((n, i) => tensor(values(n, seed + i), { requiresGrad: true }));
        const opt = new optim.AdamW(params, { lr, weightDecay: 0.1 });
        const norms: number[] = [];
        const calls: Record<string, number>[] = [];
        for (let step = 0; step < STEPS; step++) {
          params.forEach((p, i) => (p.grad = tensor(grad(p.size, step, i))));
          device.resetStats?.();
          const norm = opt.clipGradNorm(params, maxNorm);
          opt.step();
          calls.push(Object.fromEntries(Object.entries(device.stats?.().byOp ?? {}).map(([op, st]) => [op, st.calls])));
          norms.push(await norm.item());
          norm.dispose();
          opt.zeroGrad();
        }
        const state = opt.state();
        const out = [];
        for (const t of [...params, ...state.m, ...state.v]) out.push(name === 'reference' ? await t.data64() : await t.data());
        for (const t of [...params, ...state.m, ...state.v]) t.dispose();
        return { out, norms, calls };
      };
      const want = await run('reference');
      const got = await run(mode);
      got.norms.forEach((n, step) => expect(Math.abs(n - want.norms[step]) / want.norms[step], `norm at step ${step}`).toBeLessThanOrEqual(RED));
      if (fusedClip) {
        // a reduction a gradient and the norm's square root; nothing scales a gradient or adds the sums up
        for (const c of got.calls) {
          expect(c['binary.mul'] ?? 0, 'scaling kernels').toBe(0);
          expect(c['binary.add'] ?? 0, 'adds of the sums of squares').toBe(0);
        }
      }
      // as the AdamW test above: m sums gradients of either sign (scaled by a factor ≤ 1)
      const mTerms = ns.map((n, i) => {
        const acc = new Float64Array(n);
        for (let step = 0; step < STEPS; step++) {
          const g = grad(n, step, i);
          for (let j = 0; j < n; j++) acc[j] += 0.1 * 0.9 ** (STEPS - 1 - step) * Math.abs(g[j]);
        }
        return Math.sqrt(acc.reduce((a, v) => a + v * v, 0));
      });
      const k = ns.length;
      want.out.forEach((w, t) => {
        const scale = t >= k && t < 2 * k ? mTerms[t - k] : 0;
        expect(relErr(got.out[t], w, scale), `AdamW ${['parameter', 'm', 'v'][Math.floor(t / k)]} ${t % k}`).toBeLessThanOrEqual(EW);
      });
    });
  });

  it('a split\'s pieces come back as one concatenation: no pad, no add (GPT\'s q, k, v)', async () => {
    await setDevice(mode);
    const device = getDevice();
    const x = tensor(values(2 * 3 * 6, 3), { shape: [2, 3, 6], requiresGrad: true });
    const w = tensor(values(2 * 3 * 2, 4), { shape: [2, 3, 2] });
    const loss = split(x, 2, 2).map((p, i) => p.mul(w).mul(i + 1).sum()).reduce((a, b) => a.add(b));
    device.resetStats?.();
    loss.backward();
    const calls = device.stats?.().byOp ?? {};
    if (device.stats) {
      // a gpu.js kernel, or on wasm the host's copies
      expect((calls.concat?.calls ?? 0) + (calls['host.concat']?.calls ?? 0), 'concat kernels').toBe(1);
      expect(calls.pad, 'pad kernels').toBeUndefined();
      expect(calls['binary.add'], 'add kernels').toBeUndefined();
    }
    // x's gradient: piece i of it is (i + 1)·w
    const want = new Float32Array(36);
    const wv = await w.data();
    for (let r = 0; r < 6; r++) for (let c = 0; c < 6; c++) want[r * 6 + c] = Math.fround((Math.floor(c / 2) + 1) * wv[r * 2 + (c % 2)]);
    expect(Array.from(await x.grad!.data())).toEqual(Array.from(want));
    for (const t of [x, w, loss]) { t.grad?.dispose(); t.dispose(); }
  });

  it('AdamW.clipGradNorm refuses a parameter it does not step, and zeroGrad drops a clip not applied', async () => {
    await setDevice(mode);
    const a = tensor([3, 4], { requiresGrad: true });
    const b = tensor([1], { requiresGrad: true });
    const opt = new optim.AdamW([a], { lr: 0.1, weightDecay: 0 });
    a.grad = tensor([3, 4]);
    b.grad = tensor([1]);
    expect(() => opt.clipGradNorm([a, b], 1)).toThrow(/^AdamW\.clipGradNorm: a parameter of shape \[1\] is not one this optimizer steps/);
    expect(() => opt.clipGradNorm([a], 0)).toThrow(/^AdamW\.clipGradNorm: maxNorm must be positive, got 0/);
    // clipped to norm 1e-3 (a factor 2e-4), then dropped by zeroGrad: the next step sees the new
    // gradient whole. Adam's first step moves each coordinate by lr·g/(|g| + ε), so a gradient
    // near ε (1e-8) tells the factor: whole, 0.075 and 0.08; scaled by 2e-4, ~6e-5
    opt.clipGradNorm([a], 1e-3).dispose();
    opt.zeroGrad();
    a.grad = tensor([3e-8, 4e-8]);
    opt.step();
    const [a0, a1] = await a.data();
    expect(Math.abs(a0 - (3 - 0.1 * 3 / 4))).toBeLessThan(1e-5);
    expect(Math.abs(a1 - (4 - 0.1 * 4 / 5))).toBeLessThan(1e-5);
    for (const t of [a, b]) { t.grad?.dispose(); t.dispose(); }
  });

  it('SGD momentum steps give the same parameters', async () => {
    const arb = fc.tuple(fc.array(shapeArb({ maxRank: 2, maxDim: 5 }), { minLength: 1, maxLength: 3 }),
      fc.double({ min: 1e-3, max: 0.5, noNaN: true }), fc.constantFrom(0.5, 0.9), fc.constantFrom(0, 0.01), seedArb);
    await prop(arb, async ([shapes, lr, momentum, weightDecay, seed]) => {
      const run = async (name: string) => {
        await setDevice(name);
        const params = shapes.map((s, i) => tensor(values(sizeOf(s), seed + i), { shape: s, requiresGrad: true }));
        const opt = new optim.SGD(params, { lr, momentum, weightDecay });
        for (let step = 0; step < 3; step++) {
          params.forEach((p, i) => (p.grad = tensor(values(p.size, seed + 100 * step + i + 50), { shape: [...p.shape] })));
          opt.step();
          opt.zeroGrad();
        }
        const out = [];
        for (const p of params) out.push(name === 'reference' ? await p.data64() : await p.data());
        for (const p of params) p.dispose();
        // SGD has no state() to hand its velocities back: free them here, or the garbage
        // collector frees them later, in the middle of another test's memory books
        for (const v of (opt as unknown as { velocity: Map<Tensor, Tensor> }).velocity.values()) v.dispose();
        return out;
      };
      const want = await run('reference');
      const got = await run(mode);
      // p − lr·v can cancel: float32 promises an error relative to the terms, the same three steps
      // on |p| and |g| with every subtraction made an addition
      const terms = shapes.map((s, i) => {
        const p = values(sizeOf(s), seed + i).map(Math.abs);
        const v = new Array(p.length).fill(0);
        for (let step = 0; step < 3; step++) {
          const g = values(p.length, seed + 100 * step + i + 50);
          p.forEach((pj, j) => {
            v[j] = momentum * v[j] + Math.abs(g[j]) + weightDecay * pj;
            p[j] = pj + lr * v[j];
          });
        }
        return Math.hypot(...p);
      });
      want.forEach((w, k) => expect(relErr(got[k], w, terms[k]), `SGD parameter ${k}`).toBeLessThanOrEqual(EW));
    });
  });
});

// ------------------------------------------------------------------ leaks in a training loop

/** After the device's queue drains, a full GC and the finalizers it schedules: only reachable tensors hold buffers. */
async function settled(device: Device): Promise<void> {
  await device.sync();
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
  for (let k = 0; k < 3; k++) await new Promise((r) => setTimeout(r, 0));
}

describe.each(available)('%s: a training loop', (mode) => {
  it(`${LEAK_STEPS} MLP steps (Linear→gelu→Linear, crossEntropy, AdamW, tidy) keep memory flat and lower the loss`, async () => {
    await setDevice(mode);
    const device = getDevice() as Device & { compiledKernels?: number };
    manualSeed(1);
    const [batch, inF, hidden, classes] = [16, 8, 16, 4];
    const l1 = new nn.Linear(inF, hidden);
    const l2 = new nn.Linear(hidden, classes);
    const params = [...l1.parameters(), ...l2.parameters()];
    const opt = new optim.AdamW(params, { lr: 1e-2 });
    const xHost = values(batch * inF, 42);
    // a learnable labelling: the class of the largest of the first four features
    const targets = Array.from({ length: batch }, (_, i) => {
      const row = Array.from(xHost.slice(i * inF, i * inF + classes));
      return row.indexOf(Math.max(...row));
    });
    const x = tensor(xHost, { shape: [batch, inF] });
    const step = () => tidy(() => {
      const loss = crossEntropy(l2.forward(l1.forward(x).gelu()), targets);
      loss.backward();
      opt.step();
      opt.zeroGrad();
      return loss;
    });
    let first = NaN;
    let last = NaN;
    let afterFirst = memory();
    let compiled = -1;
    const t0 = performance.now();
    for (let i = 1; i <= LEAK_STEPS; i++) {
      const loss = step();
      if (i === 1) first = await loss.item();
      if (i === LEAK_STEPS) last = await loss.item();
      loss.dispose();
      // compared at settled points only: between them, buffers whose release waits behind queued
      // kernels are still live, and tensors dropped without dispose hold theirs until GC runs
      // their finalizer (CI's load once moved 19 of them between step 1 and step 150). Settling
      // also lets the device catch up (the queue refuses an unbounded backlog)
      if (i === 1 || i % 50 === 0) {
        await settled(device);
        const now = memory();
        if (i === 1) {
          afterFirst = now;
          compiled = device.compiledKernels ?? -1;
        } else if (now.buffers !== afterFirst.buffers || now.bytes !== afterFirst.bytes) {
          throw new Error(`step ${i}: ${now.buffers} buffers / ${now.bytes} bytes live, after step 1: ${afterFirst.buffers} / ${afterFirst.bytes}`);
        }
      }
    }
    await device.sync();
    const ms = performance.now() - t0;
    await settled(device);
    console.log(`${mode}: ${LEAK_STEPS} MLP steps in ${(ms / 1000).toFixed(1)} s (${(ms / LEAK_STEPS).toFixed(2)} ms/step), loss ${first.toFixed(4)} → ${last.toFixed(4)}`);
    const end = memory();
    expect([end.buffers, end.bytes]).toEqual([afterFirst.buffers, afterFirst.bytes]);
    // static shapes: everything compiles in the first step and never again
    expect(device.compiledKernels ?? -1).toBe(compiled);
    expect(Number.isFinite(first) && Number.isFinite(last)).toBe(true);
    expect(last).toBeLessThan(LEAK_STEPS >= 200 ? first / 10 : first);
    for (const t of [x, ...params, ...opt.state().m, ...opt.state().v]) t.dispose();
  });
});

// ------------------------------------------------------------------ errors through the Tensor API

describe.each(available)('%s: errors through the Tensor API', (mode) => {
  it('a tensor larger than the device allows names its size and the limit', async () => {
    await setDevice(mode);
    const limit = getDevice().maxElements;
    const n = limit + 1;
    const side = Math.ceil(Math.sqrt(n));
    // no await in between: the books cannot move under us (the garbage collector's finalizers
    // run as tasks of their own), so they must read the same after the failed calls
    const before = memory();
    // sizes are checked before anything is allocated: on wasm and cpu the limit is GiBs
    expect(() => zeros([n])).toThrow(new RegExp(`${n} elements.*${mode}.*limit of ${limit}`));
    // an op whose output is too big: expand and matmul, inside tidy (which frees what it made)
    expect(() => tidy(() => tensor([1, 2]).reshape([2, 1]).expand([2, side * side]))).toThrow(new RegExp(`${2 * side * side} elements.*limit of ${limit}`));
    expect(() => tidy(() => zeros([side, 1]).matmul(zeros([1, side])))).toThrow(new RegExp(`\\d+ elements.*limit of ${limit}`));
    const after = memory();
    expect([after.buffers, after.bytes]).toEqual([before.buffers, before.bytes]);
    await getDevice().sync();
  });

  it('mixing tensors of two devices names both devices', async () => {
    await setDevice('reference');
    const r = tensor([1, 2, 3]);
    const other = available.find((m) => m !== mode);
    await setDevice(mode);
    const g = tensor([4, 5, 6], { requiresGrad: true });
    expect(() => g.add(r)).toThrow(new RegExp(`different devices \\(${mode} and reference\\)`));
    expect(() => r.mul(g)).toThrow(new RegExp(`different devices \\(reference and ${mode}\\)`));
    expect(() => tidy(() => g.reshape([1, 3]).matmul(r.reshape([3, 1])))).toThrow(new RegExp(`matmul.*${mode} and reference`));
    expect(() => where(r, g, 0)).toThrow(new RegExp(`where.*reference and ${mode}`));
    expect(() => g.assign(r)).toThrow(new RegExp(`reference.*${mode}`));
    if (other) {
      await setDevice(other);
      const o = tensor([7, 8, 9]);
      expect(() => g.sub(o)).toThrow(new RegExp(`different devices \\(${mode} and ${other}\\)`));
      o.dispose();
    }
    r.dispose();
    g.dispose();
    await setDevice('reference');
  });
});

describe('headlessgl without its addon', () => {
  const gl = started.find((s) => s.mode === 'headlessgl');
  it.skipIf(!gl?.error)('setDevice("headlessgl") throws an Error naming what to install (skipped: gl is present)', async () => {
    await setDevice('reference');
    await expect(setDevice('headlessgl')).rejects.toThrow(/'gl' native addon.*apt-get install.*libxi-dev.*pnpm rebuild gl.*xvfb-run/s);
    // no silent fallback: the current device stays what it was
    expect(getDevice().name).toBe('reference');
  });
});
