/**
 * Every gpu.js device kernel against the reference device (float64), on random shapes — size-1
 * and broadcast dims included — and random values. Tolerance is the relative error of the norm:
 * 1e-5 for elementwise kernels, 1e-4 for reductions and matmul; NaN never passes (a NaN error
 * fails `<=`). Runs once per mode that starts: wasm, cpu and webgpu (software rasterizer without a
 * GPU) must start; headlessgl is skipped, with the reason, where the `gl` addon is not built.
 * FC_RUNS scales the number of cases per property.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { AdamWHyper, Device, DeviceBuffer, FusedKernels, Operand } from '../packages/core/src/devices/device.js';
import { createGpujsDevice, type GpujsMode } from '../packages/core/src/devices/gpujs/index.js';
import { GRID_WORKGROUP, WIDE_GRID, gridWorkgroupSize } from '../packages/core/src/devices/gpujs/engine.js';
import { ReferenceDevice } from '../packages/core/src/devices/reference.js';
import { sizeClass } from '../packages/core/src/devices/wasm-arena/index.js';
import { unaryNames } from '../packages/core/src/ops/elementwise.js';
import { float32SumBound, layerNormGradTerms, relErr } from './helpers/compare.js';
import { runs } from './helpers/arbitraries.js';
import { rng } from './helpers/gradcheck.js';

const RUNS = Number(process.env.FC_RUNS ?? 40);
const EW = 1e-5;
const RED = 1e-4;
const modes: GpujsMode[] = ['wasm', 'cpu', 'webgpu', 'headlessgl'];
/** Modes that may be absent from a machine without failing the suite. */
const optional = new Set<GpujsMode>(['headlessgl']);

const started = await Promise.all(modes.map(async (mode) => {
  try {
    return { mode, device: await createGpujsDevice(mode), error: '' };
  } catch (err) {
    return { mode, device: null, error: (err as Error).message };
  }
}));

const ref = new ReferenceDevice();

const fusedKernels = ['layerNorm', 'layerNormBackward', 'crossEntropy', 'crossEntropyBackward'] as const;
const fuses = (d: Device): d is Device & FusedKernels => fusedKernels.every((k) => typeof d[k] === 'function');

/** The device with its fused kernels: every gpu.js mode and the reference implement all of them. */
function fused(d: Device): Device & FusedKernels {
  if (!fuses(d)) throw new Error(`${d.name} lacks a fused kernel: ${fusedKernels.filter((k) => !d[k]).join(', ')}`);
  return d;
}

// ------------------------------------------------------------------ data

/** Deterministic values from a seed (the tests' own generator), rounded to float32 so both devices see the same inputs. */
function values(n: number, seed: number, kind: 'any' | 'pos' | 'small' | 'nonzero' = 'any'): number[] {
  const rand = rng(seed);
  const draw = (): number => {
    const u = rand();
    switch (kind) {
      case 'pos': return Math.fround(0.1 + 3 * u);
      // integers in [-2, 2]: ties for comparisons, max/min and eq
      case 'small': return Math.floor(u * 5) - 2;
      case 'nonzero': return Math.fround((u < 0.5 ? -1 : 1) * (0.5 + 2 * u));
      default: return Math.fround(6 * u - 3);
    }
  };
  // a loop into a preallocated array: Array.from took 1.4 s of the 16.7M values of a wide-rows case, this 0.55
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) out[i] = draw();
  return out;
}

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/**
 * Runs `f` on the device under test and on the reference with the same host data; compares.
 * `scale`, where given, replaces ‖want‖ as the denominator: for results that cancel (softmax's
 * backward subtracts nearly equal terms), float32 can only promise an error relative to the size
 * of the terms, not of their difference.
 */
async function check(device: Device, tol: number, f: (d: Device) => DeviceBuffer, scale?: number): Promise<void> {
  const got = await device.read(f(device));
  const want = await ref.read64(f(ref));
  let err = relErr(got, want);
  if (scale !== undefined && got.length === want.length) {
    const norm = Math.sqrt(want.reduce((a, w) => a + w * w, 0));
    // both 0 (a dweight of one column, x̂ = 0): the absolute error stands
    if (Math.max(norm, scale) > 0) err = (err * (norm === 0 ? 1 : norm)) / Math.max(norm, scale);
  }
  if (!(err <= tol)) {
    throw new Error(`relative error ${err} > ${tol}\n got ${Array.from(got.slice(0, 12))}\nwant ${Array.from(want.slice(0, 12))}`);
  }
}

/**
 * A sum over `axes` of x, element by element, within float32SumBound of its m terms (m − 1 adds
 * and the result's rounding). Relative to the result a bound cancels with it:
 * [3, 176, 2] summed whole came out 0.0043807 against 0.0043870 on webgpu (1.4e-3 relative, but
 * 0.07·2⁻²⁴·Σ|x|). A dropped or repeated term is an error of a term's size, ~Σ|x|/m.
 */
async function checkSum(device: Device, x: number[], shape: number[], axes: number[]): Promise<void> {
  const m = axes.reduce((p, k) => p * shape[k], 1);
  const got = await device.read(device.reduce('sum', device.upload(x), shape, axes));
  const want = await ref.read64(ref.reduce('sum', ref.upload(x), shape, axes));
  const magnitude = await ref.read64(ref.reduce('sum', ref.upload(x.map(Math.abs)), shape, axes));
  expect(got.length).toBe(want.length);
  const bound = (i: number) => float32SumBound(m, magnitude[i]);
  for (let i = 0; i < want.length; i++) {
    if (!(Math.abs(got[i] - want[i]) <= bound(i))) {
      throw new Error(`sum of [${shape}] over [${axes}], element ${i}: got ${got[i]}, want ${want[i]}, error ${Math.abs(got[i] - want[i])} > ${bound(i)} = γ(${m})·Σ|x|`);
    }
  }
}

// ------------------------------------------------------------------ arbitraries

const dim = fc.integer({ min: 1, max: 5 });
const shapeArb = (minRank = 0, maxRank = 4) => fc.array(dim, { minLength: minRank, maxLength: maxRank });
const seed = fc.integer({ min: 0, max: 2 ** 31 - 1 });
/** (size, seed, step, lr, weight decay) of one AdamW update. */
const adamwCase = fc.tuple(fc.integer({ min: 1, max: 200 }), seed, fc.integer({ min: 1, max: 1000 }),
  fc.double({ min: 1e-4, max: 0.1, noNaN: true }), fc.double({ min: 0, max: 0.2, noNaN: true }));

/** An operand broadcastable to `out`: leading dims dropped, some dims set to 1, or a scalar. */
const operandShape = (out: number[]) => fc.oneof(
  { weight: 1, arbitrary: fc.constant('scalar' as const) },
  {
    weight: 4,
    arbitrary: fc.tuple(fc.integer({ min: 0, max: out.length }), fc.array(fc.boolean(), { minLength: out.length, maxLength: out.length }))
      .map(([drop, ones]) => out.slice(drop).map((d, i) => (ones[i + drop] ? 1 : d))),
  },
);

type OpShape = number[] | 'scalar';
function operand(d: Device, shape: OpShape, vals: number[]): Operand {
  return shape === 'scalar' ? vals[0] : { buf: d.upload(vals.slice(0, size(shape))), shape };
}

const unaryOps = [...unaryNames, 'reluDeriv', 'geluDeriv', 'sign'] as const;
const binaryOps = ['add', 'sub', 'mul', 'div', 'pow', 'max', 'min', 'gt', 'ge', 'lt', 'eq'] as const;

/** Value kinds that keep each op inside its domain (the reference would give NaN otherwise). */
function binaryKinds(op: string): ['any' | 'pos' | 'small' | 'nonzero', 'any' | 'pos' | 'small' | 'nonzero'] {
  switch (op) {
    case 'div': return ['any', 'nonzero'];
    case 'pow': return ['pos', 'any'];
    case 'max': case 'min': case 'gt': case 'ge': case 'lt': case 'eq': return ['small', 'small'];
    default: return ['any', 'any'];
  }
}

// ------------------------------------------------------------------ the suites

for (const { mode, device, error } of started) {
  if (!device) {
    if (optional.has(mode)) {
      describe.skip(`gpujs ${mode} (skipped: ${error.split('.')[0]})`, () => {
        it('equals the reference device', () => {});
      });
    } else {
      describe(`gpujs ${mode}`, () => {
        it('starts', () => {
          throw new Error(`gpujs ${mode} did not start: ${error}`);
        });
      });
    }
  }
}

const available = started.filter((s): s is { mode: GpujsMode; device: Device; error: string } => s.device !== null);

/**
 * Sizes of the terms of AdamW's new parameter p·(1 − lr·λ) − lr·m̂/(√v̂ + ε) and first moment
 * β₁m + (1 − β₁)g. Both can cancel, so float32 promises an error relative to these, not to the
 * result (a case with |p'| = 8e-4 from terms ~1e-2 missed a plain 1e-5 by 1.7×).
 */
function adamwTerms(p: number[], g: number[], m: number[], v: number[], h: AdamWHyper): { param: number; m: number } {
  const c1 = 1 - h.beta1 ** h.step;
  const c2 = 1 - h.beta2 ** h.step;
  const mTerm = (i: number) => h.beta1 * Math.abs(m[i]) + (1 - h.beta1) * Math.abs(g[i]);
  const param = p.map((pi, i) => Math.abs(pi) * (1 + h.lr * h.weightDecay) +
    (h.lr * mTerm(i) / c1) / (Math.sqrt((h.beta2 * v[i] + (1 - h.beta2) * g[i] ** 2) / c2) + h.eps));
  return { param: Math.hypot(...param), m: Math.hypot(...p.map((_, i) => mTerm(i))) };
}

describe.each(available)('gpujs $mode equals the reference device', ({ device }) => {
  const prop = <T>(arb: fc.Arbitrary<T>, body: (t: T) => Promise<void>) =>
    fc.assert(fc.asyncProperty(arb, body), runs(RUNS));

  it('upload, read, fill', async () => {
    await prop(fc.tuple(fc.integer({ min: 1, max: 300 }), seed), async ([n, s]) => {
      await check(device, 0, (d) => d.upload(values(n, s)));
      await check(device, 0, (d) => d.fill(n, values(1, s)[0]));
    });
  });

  it('unary ops', async () => {
    await prop(fc.tuple(fc.constantFrom(...unaryOps), shapeArb(), seed), async ([op, shape, s]) => {
      const vals = values(size(shape), s, op === 'log' || op === 'sqrt' ? 'pos' : 'any');
      await check(device, EW, (d) => d.unary(op, d.upload(vals)));
    });
  });

  it('binary ops with broadcasting and scalars', async () => {
    const arb = shapeArb().chain((out) => fc.tuple(fc.constant(out), fc.constantFrom(...binaryOps), operandShape(out), operandShape(out), seed));
    await prop(arb, async ([out, op, sa, sb, s]) => {
      const [ka, kb] = binaryKinds(op);
      const va = values(size(out), s, ka);
      const vb = values(size(out), s + 1, kb);
      await check(device, EW, (d) => d.binary(op, operand(d, sa, va), operand(d, sb, vb), out));
    });
  });

  it('where', async () => {
    const arb = shapeArb().chain((out) => fc.tuple(fc.constant(out), operandShape(out), operandShape(out), operandShape(out), seed));
    await prop(arb, async ([out, sc, sa, sb, s]) => {
      const vc = values(size(out), s, 'small').map((v) => (v > 0 ? v : 0));
      await check(device, EW, (d) => d.where(operand(d, sc, vc), operand(d, sa, values(size(out), s + 1)), operand(d, sb, values(size(out), s + 2)), out));
    });
  });

  it('reduce sum and max over any axes', async () => {
    const arb = shapeArb(1, 4).chain((shape) => fc.tuple(
      fc.constant(shape), fc.constantFrom('sum' as const, 'max' as const),
      fc.subarray(shape.map((_, k) => k)), seed));
    await prop(arb, async ([shape, op, axes, s]) => {
      const x = values(size(shape), s);
      if (op === 'sum') await checkSum(device, x, shape, axes);
      else await check(device, RED, (d) => d.reduce(op, d.upload(x), shape, axes));
    });
  });

  it('batched matmul with transposes and broadcast batch', async () => {
    const mat = fc.integer({ min: 1, max: 9 });
    const arb = fc.tuple(mat, mat, mat, fc.boolean(), fc.boolean(), shapeArb(0, 2), seed).chain(([M, K, N, tA, tB, batch, s]) =>
      fc.tuple(fc.constant({ M, K, N, tA, tB, batch, s }), operandShape(batch), operandShape(batch)));
    await prop(arb, async ([{ M, K, N, tA, tB, batch, s }, ba, bb]) => {
      const aShape = [...(ba === 'scalar' ? [] : ba), ...(tA ? [K, M] : [M, K])];
      const bShape = [...(bb === 'scalar' ? [] : bb), ...(tB ? [N, K] : [K, N])];
      const va = values(size(aShape), s);
      const vb = values(size(bShape), s + 1);
      // a dot product of K ≤ 9 terms is within γ(K)·(|A|·|B|)ᵢⱼ in float32, whatever it cancels to
      // (M = N = 1 is one dot product of random signs): relative to ‖|A|·|B|‖, 9·2⁻²⁴ ≪ RED
      const terms = await ref.read64(ref.matmul(ref.upload(va.map(Math.abs)), aShape, ref.upload(vb.map(Math.abs)), bShape, tA, tB, batch));
      await check(device, RED, (d) => d.matmul(d.upload(va), aShape, d.upload(vb), bShape, tA, tB, batch), Math.hypot(...terms));
    });
  });

  it('matmul on larger shapes (each wasm formulation, split-K)', async () => {
    const cases: [number[], number[], boolean, boolean, number[]][] = [
      [[5, 300], [300, 132], false, false, []], // wasm: cols4 (M < 8), K past one accumulation block
      [[37, 130], [130, 300], false, false, []], // wasm: rows4, a partial last row group
      [[301, 20], [20, 7], false, false, []], // rows4, M % 4 = 1, N % 4 ≠ 0
      [[2, 140, 256], [140, 257], true, false, [2]], // transposed A, batch broadcast
      [[2, 1, 9, 12000], [5, 12000], false, true, [2, 1]], // K past MAX_SERIAL: split-K
      [[2, 3, 1024, 8], [3, 1024, 12], true, false, [2, 3]], // GPUs: few threads, K in slices of one launch
    ];
    for (const [aShape, bShape, tA, tB, batch] of cases) {
      const va = values(size(aShape), 3);
      const vb = values(size(bShape), 4);
      await check(device, RED, (d) => d.matmul(d.upload(va), aShape, d.upload(vb), bShape, tA, tB, batch));
    }
  });

  it('matmul epilogue: the bias added in the kernel (each formulation, split-K)', async () => {
    const cases: [number[], number[], boolean, boolean, number[]][] = [
      [[3, 5], [7, 5], false, true, []], // a Linear layer, N % 4 ≠ 0, cols4 (M < 8)
      [[37, 16], [12, 16], false, true, []], // rows4 on wasm, N % 4 = 0
      [[2, 9, 6], [6, 8], false, false, [2]], // batched: one bias for every matrix
      [[2, 1, 9, 12000], [5, 12000], false, true, [2, 1]], // split-K: the epilogue as an add
    ];
    for (const [aShape, bShape, tA, tB, batch] of cases) {
      const N = bShape[bShape.length - (tB ? 2 : 1)];
      await check(device, RED, (d) => d.matmul(d.upload(values(size(aShape), 3)), aShape, d.upload(values(size(bShape), 4)), bShape, tA, tB, batch, {
        bias: d.upload(values(N, 5)),
      }));
    }
  });

  it('strided views: permute, slice, expand', async () => {
    const arb = shapeArb(1, 4).chain((shape) => fc.tuple(
      fc.constant(shape),
      fc.shuffledSubarray(shape.map((_, k) => k), { minLength: shape.length, maxLength: shape.length }),
      fc.array(fc.tuple(fc.nat(), fc.nat(), fc.boolean()), { minLength: shape.length, maxLength: shape.length }),
      seed));
    await prop(arb, async ([shape, perm, cuts, s]) => {
      const strides: number[] = [];
      let acc = 1;
      for (let k = shape.length - 1; k >= 0; k--) {
        strides[k] = acc;
        acc *= shape[k];
      }
      // slice each input dim (start, length), expand some to stride 0, then permute
      let offset = 0;
      const dims: number[] = [];
      const st: number[] = [];
      shape.forEach((n, k) => {
        const start = cuts[k][0] % n;
        const len = 1 + (cuts[k][1] % (n - start));
        offset += start * strides[k];
        if (cuts[k][2] && len === 1) {
          dims.push(3);
          st.push(0);
        } else {
          dims.push(len);
          st.push(strides[k]);
        }
      });
      const outShape = perm.map((k) => dims[k]);
      const outStrides = perm.map((k) => st[k]);
      await check(device, 0, (d) => d.strided(d.upload(values(size(shape), s)), outShape, outStrides, offset));
    });
  });

  it('pad', async () => {
    const arb = shapeArb(0, 4).chain((shape) => fc.tuple(
      fc.constant(shape), fc.array(fc.tuple(fc.nat(3), fc.nat(3)), { minLength: shape.length, maxLength: shape.length }), seed));
    await prop(arb, async ([shape, margins, s]) => {
      const outShape = shape.map((n, k) => n + margins[k][0] + margins[k][1]);
      const starts = margins.map((m) => m[0]);
      await check(device, 0, (d) => d.pad(d.upload(values(size(shape), s)), shape, outShape, starts));
    });
  });

  it('concat: 1 to 7 parts (past one kernel\'s three, joined in turn), empty ones among them, exactly', async () => {
    const arb = fc.tuple(fc.integer({ min: 0, max: 4 }), fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 1, maxLength: 7 }), fc.integer({ min: 0, max: 4 }), seed);
    await prop(arb, async ([outer, lens, inner, s]) => {
      const parts = lens.map((len, p) => values(outer * len * inner, s + p));
      await check(device, 0, (d) => d.concat(parts.map((v) => d.upload(v)), outer, lens, inner));
    });
    // a part that is not [outer, len, inner] is refused, naming it
    expect(() => device.concat([device.upload([1, 2, 3])], 1, [2], 1)).toThrow(/concat: part 0 has 3 elements, not \[1, 2, 1\]/);
  });

  it('one-dimensional grids past WIDE_GRID (webgpu: workgroups of 256), the last one partial: elementwise, strided, concat, reduce', async () => {
    for (const n of [WIDE_GRID, WIDE_GRID + 37, 3 * WIDE_GRID + 129]) {
      const a = values(n, n);
      const b = values(n, n + 1);
      await check(device, EW, (d) => d.binary('add', { buf: d.upload(a), shape: [n] }, { buf: d.upload(b), shape: [n] }, [n]));
      await check(device, EW, (d) => d.unary('gelu', d.upload(a)));
      await check(device, EW, (d) => d.derivProduct!('geluDeriv', d.upload(a), d.upload(b)));
      // a transpose of [n/ c, c]: a strided read, then the two halves joined along rows
      const rows = Math.floor(n / 64);
      const cut = rows * 64;
      await check(device, 0, (d) => d.strided(d.upload(a.slice(0, cut)), [64, rows], [1, 64], 0));
      await check(device, 0, (d) => d.concat([d.upload(a), d.upload(b)], 1, [n, n], 1));
      await check(device, RED, (d) => d.reduce('sum', d.upload(a), [n], [0]));
    }
  });

  it('gatherRows, scatterAddRows, oneHot', async () => {
    const arb = fc.tuple(fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 6 }), fc.array(fc.nat(), { minLength: 1, maxLength: 12 }), seed);
    await prop(arb, async ([rows, cols, raw, s]) => {
      const idx = Int32Array.from(raw.map((r) => r % rows));
      await check(device, 0, (d) => d.gatherRows(d.upload(values(rows * cols, s)), cols, idx));
      // sums into a row can cancel: float32 error is relative to Σ|terms| of each output
      const src = values(idx.length * cols, s);
      const absSums = new Float64Array(rows * cols);
      idx.forEach((r, i) => { for (let c = 0; c < cols; c++) absSums[r * cols + c] += Math.abs(src[i * cols + c]); });
      await check(device, EW, (d) => d.scatterAddRows(d.upload(src), cols, idx, rows), Math.hypot(...absSums));
      await check(device, 0, (d) => d.oneHot(idx, rows));
    });
  });

  it('softmax and its backward', async () => {
    const arb = fc.tuple(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 40 }), seed);
    await prop(arb, async ([rows, cols, s]) => {
      const x = values(rows * cols, s).map((v) => 3 * v);
      const dy = values(rows * cols, s + 1);
      await check(device, RED, (d) => d.softmax(d.upload(x), rows, cols));
      // both devices get the same float32 y; the scale is ‖y ∘ dy‖, the size of the cancelling terms
      const y = Array.from(await device.read(device.softmax(device.upload(x), rows, cols)));
      const terms = Math.sqrt(y.reduce((a, v, i) => a + (v * dy[i]) ** 2, 0));
      await check(device, RED, (d) => d.softmaxBackward(d.upload(y), d.upload(dy), rows, cols), terms);
    });
  });

  it('online softmax (flash attention\'s block kernels): stats, expShift, rescale, rowShiftedProduct', async () => {
    const arb = fc.tuple(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 70 }), fc.integer({ min: 1, max: 9 }), seed);
    await prop(arb, async ([rows, cols, d, s]) => {
      const x = values(rows * cols, s).map((v) => 4 * v);
      const x2 = values(rows * cols, s + 1).map((v) => 4 * v);
      const o = values(rows * d, s + 2);
      const pv = values(rows * d, s + 3);
      const c = values(rows, s + 4);
      await check(device, RED, (dv) => dv.onlineSoftmaxStats(dv.upload(x), null, rows, cols));
      await check(device, RED, (dv) => dv.onlineSoftmaxStats(dv.upload(x2), dv.onlineSoftmaxStats(dv.upload(x), null, rows, cols), rows, cols));
      await check(device, EW, (dv) => dv.expShift(dv.upload(x), dv.upload(c), 1, rows, cols));
      await check(device, RED, (dv) => dv.expShift(dv.upload(x), dv.onlineSoftmaxStats(dv.upload(x), null, rows, cols), 2, rows, cols));
      // o·e^(m − m′) + pv can cancel: float32 promises an error relative to |o|·e^(m − m′) + |pv|
      // (e^(m − m′) within (|m − m′| + a few)·2⁻²⁴, |m − m′| ≤ 24 here, and two roundings: ≪ RED)
      const rescale = (dv: Device, oo: number[], pp: number[]) => {
        const before = dv.onlineSoftmaxStats(dv.upload(x), null, rows, cols);
        const after = dv.onlineSoftmaxStats(dv.upload(x2), before, rows, cols);
        return dv.onlineRescale(dv.upload(oo), dv.upload(pp), before, after, rows, d);
      };
      const rescaleTerms = await ref.read64(rescale(ref, o.map(Math.abs), pv.map(Math.abs)));
      await check(device, RED, (dv) => rescale(dv, o, pv), Math.hypot(...rescaleTerms));
      await check(device, EW, (dv) => dv.rowShiftedProduct(dv.upload(x), dv.upload(x2), dv.upload(c), rows, cols));
      await check(device, RED, (dv) => dv.onlineNormalize(dv.upload(o), dv.onlineSoftmaxStats(dv.upload(x), null, rows, cols), rows, d));
      // m + log l can cancel (a row of two negative scores): relative to |m| + log l per row
      const lseTerms = Array.from({ length: rows }, (_, r) => {
        const row = x.slice(r * cols, (r + 1) * cols);
        const m = Math.max(...row);
        return Math.abs(m) + Math.log(row.reduce((a, v) => a + Math.exp(v - m), 0));
      });
      await check(device, RED, (dv) => dv.onlineLogsumexp(dv.onlineSoftmaxStats(dv.upload(x), null, rows, cols), rows), Math.hypot(...lseTerms));
      // Σ x ∘ x2 can cancel: relative to Σ|x ∘ x2| per row
      const absDots = Array.from({ length: rows }, (_, r) => x.slice(r * cols, (r + 1) * cols).reduce((a, v, k) => a + Math.abs(v * x2[r * cols + k]), 0));
      await check(device, RED, (dv) => dv.rowDot(dv.upload(x), dv.upload(x2), rows, cols), Math.hypot(...absDots));
    });
  });

  it('each element finds its row exactly, at every multiple of the row length (floorDiv)', async () => {
    // WGSL's float division may be approximate: on an H100, ⌊47/47⌋ came out 0 and put element 47
    // of a [2, 47] block in row 0. y = 1, dy = 0 and c[r] = r make the output −(row of each element).
    for (const cols of [3, 7, 47, 1000, 4097]) {
      const rows = Math.floor(2 ** 18 / cols);
      const ones = new Array(rows * cols).fill(1);
      const zeros = new Array(rows * cols).fill(0);
      const rowIds = Array.from({ length: rows }, (_, r) => r);
      await check(device, 0, (d) => d.rowShiftedProduct(d.upload(ones), d.upload(zeros), d.upload(rowIds), rows, cols));
    }
  });

  it('online softmax stats and rowDot on rows past the fused kernels (split reductions)', async () => {
    const [rows, cols] = [3, 9000];
    const x = values(rows * cols, 21).map((v) => 4 * v);
    const pos = values(rows * cols, 22, 'pos');
    await check(device, RED, (dv) => dv.rowDot(dv.upload(pos), dv.upload(pos), rows, cols));
    await check(device, RED, (dv) => dv.onlineSoftmaxStats(dv.upload(x), null, rows, cols));
    await check(device, RED, (dv) => dv.onlineSoftmaxStats(dv.upload(x), dv.onlineSoftmaxStats(dv.upload(x.map((v) => v - 1)), null, rows, cols), rows, cols));
  });

  it('dropout: the same mask as the reference for any 48-bit seed, at indices up to 2^18', async () => {
    const n = 2 ** 18 + 3;
    const x = values(n, 9);
    for (const [p, seed] of [[0.1, 0], [0.5, 2 ** 48 - 1], [0.2, 123456789012345], [0.9, 2 ** 24 - 1]]) {
      await check(device, EW, (d) => d.dropout(d.upload(x), p, seed));
    }
  });

  async function checkLayerNorm(rows: number, cols: number, hasW: boolean, hasB: boolean, eps: number, s: number): Promise<void> {
    const x = values(rows * cols, s).map((v) => Math.fround(v + 0.5 * (s % 7)));
    const w = hasW ? values(cols, s + 1) : null;
    const b = hasB ? values(cols, s + 2) : null;
    const dy = values(rows * cols, s + 3);
    const up = (d: Device, v: number[] | null) => (v ? d.upload(v) : null);
    await check(device, RED, (d) => fused(d).layerNorm(d.upload(x), up(d, w), up(d, b), rows, cols, eps));
    const grads = (d: Device) => fused(d).layerNormBackward(d.upload(dy), d.upload(x), up(d, w), rows, cols, eps, { dx: true, dweight: true, dbias: true });
    const terms = layerNormGradTerms(x, dy, w, rows, cols, eps);
    await check(device, RED, (d) => grads(d).dx!, terms.dx);
    // dweight and dbias within γ(rows − 1) of their terms in any order (≤ RED up to 1,678 rows; the
    // long cases' blocked sums add fewer in a row): seed 57033377's chunked case drew 33–200 rows of
    // one column, a single sum of random signs
    await check(device, RED, (d) => grads(d).dweight!, terms.dweight);
    await check(device, RED, (d) => grads(d).dbias!, terms.dbias);
    // only what is asked for is computed
    const some = fused(device).layerNormBackward(device.upload(dy), device.upload(x), up(device, w), rows, cols, eps, { dx: false, dweight: true, dbias: false });
    expect([some.dx, some.dbias]).toEqual([null, null]);
  }

  it('layerNorm and its backward (fused)', async () => {
    const arb = fc.tuple(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 40 }), fc.boolean(), fc.boolean(),
      fc.constantFrom(1e-5, 1e-3), seed);
    await prop(arb, async ([rows, cols, hasW, hasB, eps, s]) => checkLayerNorm(rows, cols, hasW, hasB, eps, s));
  });

  it('layerNorm on long rows and many rows (blocked sums, split dweight)', async () => {
    await checkLayerNorm(3, 2048, true, true, 1e-5, 5);
    await checkLayerNorm(9000, 3, true, false, 1e-5, 6);
    // past MAX_SERIAL rows and wide: dweight in chunks shorter than CHUNK (webgpu: 32 rows)
    await checkLayerNorm(9000, 300, true, false, 1e-5, 14);
  });

  it('layerNorm on wide rows, both sides of the workgroup-per-row kernel (webgpu: from 256 columns)', async () => {
    const arb = fc.tuple(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 200, max: 1000 }), fc.boolean(), fc.boolean(), seed);
    await fc.assert(fc.asyncProperty(arb, ([rows, cols, hasW, hasB, s]) => checkLayerNorm(rows, cols, hasW, hasB, 1e-5, s)), runs(Math.min(RUNS, 12)));
    // rows past the 32,768 of one grid row go to the grid's y
    await checkLayerNorm(32769, 256, true, true, 1e-5, 13);
  });

  it('reductions and layerNorm\'s dweight split into chunks for occupancy (reduceMinThreads) give the same sums', async () => {
    const d = device as Device & { reduceMinThreads: number };
    const saved = d.reduceMinThreads;
    // a few threads wanted: every reduced run of ≥ 32 elements splits into chunks of ≥ 16
    d.reduceMinThreads = 4;
    try {
      const arb = fc.tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 17, max: 300 }), fc.integer({ min: 1, max: 4 }),
        fc.constantFrom('sum' as const, 'max' as const), fc.subarray([0, 2]), seed);
      await prop(arb, async ([a, r, b, op, more, s]) => {
        const shape = [a, r, b];
        const x = values(a * r * b, s);
        if (op === 'sum') await checkSum(device, x, shape, [1, ...more]);
        else await check(device, RED, (dv) => dv.reduce(op, dv.upload(x), shape, [1, ...more]));
      });
      await prop(fc.tuple(fc.integer({ min: 33, max: 200 }), fc.integer({ min: 1, max: 5 }), seed),
        async ([rows, cols, s]) => checkLayerNorm(rows, cols, true, true, 1e-5, s));
    } finally {
      d.reduceMinThreads = saved;
    }
  });

  async function checkCrossEntropy(rows: number, cols: number, s: number, spread = 3): Promise<void> {
    const x = values(rows * cols, s).map((v) => Math.fround(spread * v));
    const t = Int32Array.from(values(rows, s + 1).map((v) => Math.floor(((v + 3) / 6) * cols) % cols));
    const dl = values(rows, s + 2);
    // lse − x[target] cancels when one class dominates: float32 promises an error relative to the
    // size of the terms (about the row's largest |logit|), not of their difference
    let terms = 0;
    for (let r = 0; r < rows; r++) {
      let big = 1;
      for (let c = r * cols; c < (r + 1) * cols; c++) big = Math.max(big, Math.abs(x[c]));
      terms += big ** 2;
    }
    await check(device, RED, (d) => fused(d).crossEntropy(d.upload(x), t, rows, cols), Math.sqrt(terms));
    // softmax − 1 at the target cancels the same way: terms of size |dl[r]|
    const dlTerms = Math.sqrt(dl.reduce((a, v) => a + v * v, 0));
    await check(device, RED, (d) => fused(d).crossEntropyBackward(d.upload(x), t, d.upload(dl), rows, cols), dlTerms);
  }

  it('crossEntropy and its backward (fused)', async () => {
    const arb = fc.tuple(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 40 }), seed);
    await prop(arb, async ([rows, cols, s]) => checkCrossEntropy(rows, cols, s));
  });

  it('crossEntropy on long rows and large logits', async () => {
    await checkCrossEntropy(4, 2048, 9);
    await checkCrossEntropy(5, 65, 10, 30);
  });

  it('crossEntropy on wide rows, both sides of the workgroup-per-row kernel (webgpu: WIDE_ROW), up to GPT-2\'s 50257 classes', async () => {
    const arb = fc.tuple(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 300, max: 3000 }), seed, fc.constantFrom(3, 30));
    await fc.assert(fc.asyncProperty(arb, ([rows, cols, s, spread]) => checkCrossEntropy(rows, cols, s, spread)), runs(Math.min(RUNS, 12)));
    await checkCrossEntropy(2, 50257, 11, 10);
    // rows past the 32,768 of one grid row go to the grid's y
    await checkCrossEntropy(32769, 512, 12);
  });

  it('adamwPacked', async () => {
    await prop(adamwCase, async ([n, s, step, lr, weightDecay]) => {
      const h = { lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay, step };
      const p = values(n, s);
      const g = values(n, s + 1);
      const mv = values(n, s + 2).flatMap((m, i) => [m * 0.1, values(n, s + 3, 'pos')[i] * 0.01]);
      const terms = adamwTerms(p, g, mv.filter((_, i) => i % 2 === 0), mv.filter((_, i) => i % 2 === 1), h);
      for (const [k, scale] of [['param', terms.param], ['moments', terms.m]] as const) {
        await check(device, EW, (d) => d.adamwPacked(d.upload(p), d.upload(g), d.upload(mv), h)[k], scale);
      }
      // the reference's update is AdamW's definition, written here a second time on the host
      const packed = ref.adamwPacked(ref.upload(p), ref.upload(g), ref.upload(mv), h);
      const [c1, c2] = [1 - h.beta1 ** step, 1 - h.beta2 ** step];
      const m2 = p.map((_, i) => h.beta1 * mv[2 * i] + (1 - h.beta1) * g[i]);
      const v2 = p.map((_, i) => h.beta2 * mv[2 * i + 1] + (1 - h.beta2) * g[i] ** 2);
      const p2 = p.map((x, i) => x * (1 - lr * weightDecay) - (lr * (m2[i] / c1)) / (Math.sqrt(v2[i] / c2) + h.eps));
      expect(relErr(await ref.read64(packed.moments), m2.flatMap((m, i) => [m, v2[i]]))).toBeLessThan(1e-12);
      expect(relErr(await ref.read64(packed.param), p2)).toBeLessThan(1e-12);
    });
  });

  it('long sums stay within 1e-4 of float64 (65,536 elements)', async () => {
    const n = 65536;
    const pos = values(n, 7, 'pos');
    const any = values(2 * n, 8);
    await check(device, RED, (d) => d.reduce('sum', d.upload(pos), [n], [0]));
    await check(device, RED, (d) => d.reduce('sum', d.upload(any), [2, n], [1]));
    await check(device, RED, (d) => d.reduce('sum', d.upload(any), [n, 2], [0]));
    await check(device, RED, (d) => d.matmul(d.upload(pos), [1, n], d.upload(pos), [n, 1], false, false, []));
    await check(device, RED, (d) => d.softmax(d.upload(any.slice(0, 20000)), 2, 10000));
  });
});

describe.each(available)('gpujs $mode resources', ({ device }) => {
  it('1,000 allocate/compute/dispose iterations keep memory flat and compile nothing new', async () => {
    const before = device.memory();
    const gpujs = device as Device & { compiledKernels?: number };
    let compiled = -1;
    for (let i = 0; i < 1000; i++) {
      const x = device.upload([1, 2, 3, 4, 5, 6]);
      const y = device.binary('mul', { buf: x, shape: [2, 3] }, 2, [2, 3]);
      const z = device.softmax(y, 2, 3);
      const w = device.reduce('sum', z, [2, 3], [0, 1]);
      for (const b of [x, y, z, w]) device.dispose(b);
      if (i === 0) compiled = gpujs.compiledKernels ?? -1;
      const now = device.memory();
      expect([now.buffers, now.bytes]).toEqual([before.buffers, before.bytes]);
    }
    await device.sync();
    expect(gpujs.compiledKernels ?? -1).toBe(compiled);
  });

  it('a disposed result\'s buffer is reused only by kernels launched after its readers', async () => {
    const n = 4096;
    const xs = [1, 2].map((seed) => device.upload(values(n, seed, 'small')));
    // y1's reader is launched, then y1 is disposed and the same kernel runs again: on webgpu the
    // second call takes the first's instance and writes into the same GPU buffer
    const y1 = device.unary('exp', xs[0]);
    const reader = device.binary('add', { buf: y1, shape: [n] }, 1, [n]);
    device.dispose(y1);
    const y2 = device.unary('exp', xs[1]);
    const [got1, got2] = [await device.read(reader), await device.read(y2)];
    const [in1, in2] = [await device.read(xs[0]), await device.read(xs[1])];
    expect(relErr(got1, in1.map((v) => Math.exp(v) + 1))).toBeLessThanOrEqual(EW);
    expect(relErr(got2, in2.map((v) => Math.exp(v)))).toBeLessThanOrEqual(EW);
    // webgpu keeps the four buffers for reuse (uploads are kernels there too); wasm the blocks of
    // its arena: the two uploads' and the reader's (a SIMD kernel's result, wasm-ops), not y2's
    // (gpu.js's results are plain arrays, left to the GC)
    const cached = device.memory().cachedBytes ?? 0;
    for (const b of [...xs, reader, y2]) device.dispose(b);
    const kept = { webgpu: 4 * n * 4, wasm: 3 * sizeClass(n * 4) }[device.name] ?? 0;
    expect(device.memory().cachedBytes ?? 0).toBe(cached + kept);
  });

  it('refuses double dispose and use after dispose', () => {
    const x = device.upload([1, 2]);
    device.dispose(x);
    expect(() => device.dispose(x)).toThrow(/dispose/);
    expect(() => device.unary('neg', x)).toThrow(/dispose/);
  });

  it('names the size and the limit of a buffer too big for the device', () => {
    const n = device.maxElements + 1;
    expect(() => device.fill(n, 0)).toThrow(new RegExp(`${n} elements.*limit of ${device.maxElements}`));
    const big = device.maxElements;
    const x = device.upload([1]);
    expect(() => device.binary('add', { buf: x, shape: [1, 1] }, 1, [big, 2])).toThrow(/limit/);
    device.dispose(x);
  });
});

describe('webgpu workgroups of one-dimensional grids (gridWorkgroupSize)', () => {
  const spec = (n: number, extra: object = {}) => ({ key: 'k', source: 'function () { return 0; }', output: [n], outSize: n, work: n, ...extra });
  it('a grid of WIDE_GRID threads or more gets GRID_WORKGROUP a workgroup where the device allows it; smaller, 2-D or laid-out kernels are left alone', () => {
    expect(gridWorkgroupSize(spec(WIDE_GRID), 256)).toEqual([GRID_WORKGROUP]);
    expect(gridWorkgroupSize(spec(WIDE_GRID - 1), 256)).toBeNull();
    expect(gridWorkgroupSize(spec(WIDE_GRID), GRID_WORKGROUP - 1)).toBeNull();
    expect(gridWorkgroupSize(spec(WIDE_GRID), undefined)).toBeNull();
    expect(gridWorkgroupSize({ ...spec(WIDE_GRID), output: [WIDE_GRID, 2] }, 1024)).toBeNull();
    expect(gridWorkgroupSize(spec(WIDE_GRID, { workgroupSize: [64] }), 1024)).toBeNull();
    expect(gridWorkgroupSize(spec(WIDE_GRID, { dispatch: [4] }), 1024)).toBeNull();
  });
});

describe('gpujs device creation', () => {
  it('rejects an unknown mode, naming the choices', async () => {
    await expect(createGpujsDevice('gpu' as GpujsMode)).rejects.toThrow(/unknown mode 'gpu'.*wasm/);
  });

  const webgpuStarts = started.some((s) => s.mode === 'webgpu' && s.device);
  it.runIf(webgpuStarts)('webgpu with no buffer cache (FLASHGRAD_GPU_CACHE_MB=0) frees idle buffers, builds no instance twice and stays correct', async () => {
    const saved = process.env.FLASHGRAD_GPU_CACHE_MB;
    process.env.FLASHGRAD_GPU_CACHE_MB = '0';
    try {
      const device = await createGpujsDevice('webgpu');
      const x = values(1000, 5);
      let compiled = -1;
      for (let i = 0; i < 3; i++) {
        // each round allocates the buffers the previous round's dispose freed, in the same kernels
        const input = device.upload(x);
        const y = device.unary('exp', input);
        const z = device.binary('mul', { buf: y, shape: [1000] }, 2, [1000]);
        device.dispose(input);
        device.dispose(y);
        const got = await device.read(z);
        device.dispose(z);
        expect(relErr(got, Array.from(x, (v) => 2 * Math.exp(v)))).toBeLessThanOrEqual(EW);
        expect(device.memory().cachedBytes).toBe(0);
        const built = (device as unknown as { kernelInstances: number }).kernelInstances;
        if (i === 0) compiled = built;
        expect(built).toBe(compiled);
      }
      process.env.FLASHGRAD_GPU_CACHE_MB = 'lots';
      await expect(createGpujsDevice('webgpu')).rejects.toThrow(/FLASHGRAD_GPU_CACHE_MB must be a number of MiB ≥ 0, got 'lots'/);
    } finally {
      if (saved === undefined) delete process.env.FLASHGRAD_GPU_CACHE_MB;
      else process.env.FLASHGRAD_GPU_CACHE_MB = saved;
    }
  });

  // a training step frees and reallocates one working set every step: under a fixed cap below it,
  // least-recently-used eviction freed and reallocated buffers every step (webgpuCacheBytes)
  it.runIf(webgpuStarts)('webgpu\'s idle cap grows to the most memory ever live at once, unless FLASHGRAD_GPU_CACHE_MB fixes it', async () => {
    const saved = process.env.FLASHGRAD_GPU_CACHE_MB;
    // three 96 MiB outputs live at once: 288 MiB, over a cap of 256 MiB
    const n = 24 * 2 ** 20;
    const round = async (device: Device, value: number) => {
      const bufs = [0, 1, 2].map(() => device.fill(n, value));
      const firsts = await Promise.all(bufs.map(async (b) => (await device.read(b))[n - 1]));
      expect(firsts).toEqual([value, value, value]);
      bufs.forEach((b) => device.dispose(b));
      return device.memory().cachedBytes;
    };
    try {
      delete process.env.FLASHGRAD_GPU_CACHE_MB;
      const grows = await createGpujsDevice('webgpu');
      // the software adapter's default (Dawn's GLES adapter here is not always recognised as one)
      (grows as unknown as { cacheBytes: number }).cacheBytes = 256 * 2 ** 20;
      expect(await round(grows, 1)).toBe(3 * n * 4);
      const built = (grows as unknown as { kernelInstances: number }).kernelInstances;
      expect(await round(grows, 2)).toBe(3 * n * 4);
      expect((grows as unknown as { kernelInstances: number }).kernelInstances).toBe(built);
      await (grows as unknown as { destroy(): Promise<void> }).destroy();
      process.env.FLASHGRAD_GPU_CACHE_MB = '256';
      const fixed = await createGpujsDevice('webgpu');
      // the cap holds two of the three: the longest idle lets its buffer go
      expect(await round(fixed, 3)).toBe(2 * n * 4);
      await (fixed as unknown as { destroy(): Promise<void> }).destroy();
    } finally {
      if (saved === undefined) delete process.env.FLASHGRAD_GPU_CACHE_MB;
      else process.env.FLASHGRAD_GPU_CACHE_MB = saved;
    }
  });
});
