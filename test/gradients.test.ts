/**
 * Property: every differentiable op's gradient equals central finite differences in float64
 * (helpers/gradcheck.ts explains the tolerance), over random shapes — size-1 dims, broadcast dims,
 * rank 0 where the op allows it — and random values kept clear of each op's kinks.
 */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import {
  concat, getDevice, crossEntropy, div, dropout, expand, gather, layerNorm, linear, logSoftmax, logsumexp,
  manualSeed, maskedFill, matmul, matmulT, max, mean, permute, pow, reshape, slice,
  softmax, split, sub, sum, tensor, transpose, unaryFunctions, unaryNames, where, type Tensor, type UnaryName,
} from '@flashgrad/core';
import {
  awayFromZeroArb, axesArb, axisArb, broadcastableShapesArb, distinctValuesArb, runs, seedArb, shapeArb, sizeOf,
  valuesArb,
} from './helpers/arbitraries.js';
import { gradCheck, worstErrorRatio, weights, type Input } from './helpers/gradcheck.js';

// GRADCHECK_REPORT=1 prints the worst error as a fraction of the tolerance: the margin the suite keeps
afterAll(() => {
  if (process.env.GRADCHECK_REPORT) console.log(`worst gradient error / tolerance: ${worstErrorRatio().toExponential(2)}`);
});

type ValuesArb = (size: number) => fc.Arbitrary<Float64Array>;
const anyValues: ValuesArb = (n) => valuesArb(n);
const positive = (lo: number, hi: number): ValuesArb => (n) => valuesArb(n, lo, hi);
const nonZero = (lo: number, hi: number): ValuesArb => (n) => awayFromZeroArb(n, lo, hi);

/** A tensor input drawn for a shape. */
const inputArb = (shape: number[], values: ValuesArb = anyValues): fc.Arbitrary<Input> =>
  values(sizeOf(shape)).map((data) => ({ shape, data }));

async function holds<T>(arb: fc.Arbitrary<T>, body: (v: T) => Promise<unknown>, n = 100): Promise<void> {
  await fc.assert(fc.asyncProperty(arb, async (v) => { await body(v); }), runs(n));
}

describe('elementwise binary ops, with broadcasting', () => {
  const cases: [string, (a: Tensor, b: Tensor) => Tensor, ValuesArb, ValuesArb][] = [
    ['add', (a, b) => a.add(b), anyValues, anyValues],
    ['sub', (a, b) => a.sub(b), anyValues, anyValues],
    ['mul', (a, b) => a.mul(b), anyValues, anyValues],
    ['div', (a, b) => a.div(b), anyValues, nonZero(0.5, 2)],
    ['pow (tensor exponent, positive base)', (a, b) => a.pow(b), positive(0.5, 2), positive(-2, 2)],
  ];
  for (const [name, f, va, vb] of cases) {
    it(name, () =>
      holds(
        broadcastableShapesArb(2, { maxSize: 24 }).chain(([sa, sb]) => fc.tuple(inputArb(sa, va), inputArb(sb, vb), seedArb)),
        ([a, b, seed]) => gradCheck(f, [a, b], seed),
      ));
  }

  it('with one constant operand (tensor ⊕ number and number ⊕ tensor)', () => {
    const ops: [(a: Tensor, c: number) => Tensor, ValuesArb, [number, number]][] = [
      [(a, c) => a.add(c), anyValues, [-3, 3]],
      [(a, c) => sub(c, a), anyValues, [-3, 3]],
      [(a, c) => a.mul(c), anyValues, [-3, 3]],
      [(a, c) => div(c, a), nonZero(0.5, 2), [-3, 3]],
      [(a, c) => a.div(c), anyValues, [0.5, 3]],
      [(a, c) => a.pow(c), positive(0.5, 2), [-2.5, 2.5]], // scalar exponent
      [(a, c) => pow(c, a), anyValues, [0.5, 3]], // scalar positive base
    ];
    return holds(
      fc.tuple(fc.integer({ min: 0, max: ops.length - 1 }), shapeArb({ maxSize: 24 }), seedArb).chain(([k, shape, seed]) => {
        const [, va, [lo, hi]] = ops[k];
        return fc.tuple(fc.constant(k), inputArb(shape, va), fc.double({ min: lo, max: hi, noNaN: true }), fc.constant(seed));
      }),
      ([k, a, c, seed]) => gradCheck((x) => ops[k][0](x, c), [a], seed),
      200,
    );
  });

  it('the same tensor on both sides (x·x, x/x, x − x) accumulates both contributions', () =>
    holds(
      shapeArb({ maxSize: 24 }).chain((s) => fc.tuple(inputArb(s, nonZero(0.5, 2)), seedArb)),
      async ([x, seed]) => {
        await gradCheck((t) => t.mul(t), [x], seed);
        await gradCheck((t) => t.div(t.exp()), [x], seed);
        await gradCheck((t) => t.sub(t).add(t.pow(t)), [{ ...x, data: x.data.map(Math.abs) }], seed);
      },
      50,
    ));
});

describe('elementwise unary ops', () => {
  // every unary op of core's table, with the values it is differentiable on (compiler-checked)
  const domains: Record<UnaryName, [string, ValuesArb]> = {
    neg: ['neg', anyValues],
    exp: ['exp', anyValues],
    log: ['log', positive(0.2, 4)],
    sqrt: ['sqrt', positive(0.2, 4)],
    tanh: ['tanh', positive(-4, 4)],
    sigmoid: ['sigmoid', positive(-6, 6)],
    relu: ['relu (away from 0)', nonZero(0.05, 3)],
    gelu: ['gelu', positive(-5, 5)],
    abs: ['abs (away from 0)', nonZero(0.05, 3)],
    silu: ['silu', positive(-6, 6)],
  };
  for (const op of unaryNames) {
    const [name, values] = domains[op];
    it(name, () => holds(shapeArb({ maxSize: 32 }).chain((s) => fc.tuple(inputArb(s, values), seedArb)), ([x, seed]) => gradCheck(unaryFunctions[op], [x], seed), 60));
  }
});

describe('reductions over random axes, keepDims both ways', () => {
  const reductionArb = (values: ValuesArb) =>
    shapeArb({ maxSize: 48 }).chain((s) => fc.tuple(inputArb(s, values), axesArb(s.length), fc.boolean(), seedArb));
  const cases: [string, (x: Tensor, axes: number | number[] | undefined, keep: boolean) => Tensor, ValuesArb][] = [
    ['sum', sum, anyValues],
    ['mean', mean, anyValues],
    ['max (no ties)', max, distinctValuesArb],
    ['logsumexp', logsumexp, anyValues],
  ];
  for (const [name, f, values] of cases) {
    it(name, () => holds(reductionArb(values), ([x, axes, keep, seed]) => gradCheck((t) => f(t, axes, keep), [x], seed)));
  }
});

describe('matmul', () => {
  const dim = fc.integer({ min: 1, max: 4 });
  it('2-D', () =>
    holds(
      fc.tuple(dim, dim, dim).chain(([m, k, n]) => fc.tuple(inputArb([m, k]), inputArb([k, n]), seedArb)),
      ([a, b, seed]) => gradCheck(matmul, [a, b], seed),
    ));

  it('batched with broadcast batch dims, all four transposed variants (matmulT)', () =>
    holds(
      fc
        .tuple(broadcastableShapesArb(2, { maxRank: 3, maxDim: 3, maxSize: 8 }), dim, dim, dim, fc.boolean(), fc.boolean())
        .chain(([[ba, bb], m, k, n, transA, transB]) =>
          fc.tuple(
            inputArb([...ba, ...(transA ? [k, m] : [m, k])]),
            inputArb([...bb, ...(transB ? [n, k] : [k, n])]),
            fc.constant(transA),
            fc.constant(transB),
            seedArb,
          )),
      ([a, b, transA, transB, seed]) => gradCheck((x, y) => matmulT(x, y, transA, transB), [a, b], seed),
      150,
    ));

  // a 2-D B under a batched A (GPT's head): dB is one 2-D product over A's rows folded together
  it('2-D weight broadcast over A\'s batch dims: dB by one 2-D product over the folded rows', () =>
    holds(
      fc
        .tuple(fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 2 }), dim, dim, dim, fc.boolean())
        .chain(([batch, m, k, n, transB]) =>
          fc.tuple(inputArb([...batch, m, k]), inputArb(transB ? [n, k] : [k, n]), fc.constant(transB), seedArb)),
      async ([a, b, transB, seed]) => {
        const device = getDevice();
        const matmulImpl = device.matmul;
        const batches: number[][] = [];
        device.matmul = function (...args: Parameters<typeof matmulImpl>) {
          batches.push([...args[6]]);
          return matmulImpl.apply(this, args);
        };
        try {
          await gradCheck((x, y) => matmulT(x, y, false, transB), [a, b], seed);
        } finally {
          device.matmul = matmulImpl;
        }
        // forward and dA are batched; dB is the only 2-D product (the finite differences call forward only)
        const rows = sizeOf(a.shape.slice(0, -1));
        expect(batches.filter((bt) => bt.length === 0).length, `2-D products for dB of ${JSON.stringify(b.shape)} (${rows} rows)`).toBe(1);
      },
      60,
    ));

  // a 0-size K or N: the folded dB (and linear's) reshape with the row count spelled out, since
  // -1 is ambiguous beside a 0-size dim; the gradients are zeros of the inputs' shapes
  it('matmul and linear backward with a 0-size K or N give empty or zero gradients', async () => {
    // the last two fold no rows (M = 0) into a non-empty dB, which must be zeros
    const cases: [number[], number[], boolean][] = [
      [[2, 3, 0], [0, 5], false], [[2, 3, 4], [4, 0], false], [[2, 3, 4], [0, 4], true], [[2, 0, 4], [4, 5], false], [[2, 0, 4], [5, 4], true],
    ];
    for (const [as, bs, transB] of cases) {
      const a = tensor(new Float32Array(sizeOf(as)).fill(1), { shape: as, requiresGrad: true });
      const b = tensor(new Float32Array(sizeOf(bs)).fill(1), { shape: bs, requiresGrad: true });
      sum(matmulT(a, b, false, transB)).backward();
      expect(a.grad!.shape).toEqual(as);
      expect(b.grad!.shape).toEqual(bs);
      expect(Array.from(await a.grad!.data()).every((v) => v === 0)).toBe(true);
      expect(Array.from(await b.grad!.data()).every((v) => v === 0)).toBe(true);
    }
    const x = tensor(new Float32Array(6).fill(1), { shape: [2, 3, 1], requiresGrad: true });
    const w = tensor(new Float32Array(0), { shape: [0, 1], requiresGrad: true });
    sum(linear(x, w)).backward();
    expect(x.grad!.shape).toEqual([2, 3, 1]);
    expect(Array.from(await x.grad!.data())).toEqual([0, 0, 0, 0, 0, 0]);
  });
});

describe('movement ops', () => {
  it('reshape (including an inferred −1 dim)', () =>
    holds(
      shapeArb({ maxSize: 48 }).chain((s) =>
        fc.tuple(
          inputArb(s),
          fc.shuffledSubarray(s, { minLength: s.length, maxLength: s.length }),
          fc.boolean(),
          fc.option(fc.nat()),
          seedArb,
        )),
      ([x, dims, merge, inferAt, seed]) => {
        const target = merge && dims.length >= 2 ? [dims[0] * dims[1], ...dims.slice(2)] : dims;
        if (inferAt !== null && target.length > 0) target[inferAt % target.length] = -1;
        return gradCheck((t) => reshape(t, target), [x], seed);
      },
    ));

  it('transpose of any two dims', () =>
    holds(
      shapeArb({ minRank: 1, maxSize: 48 }).chain((s) => fc.tuple(inputArb(s), axisArb(s.length), axisArb(s.length), seedArb)),
      ([x, d0, d1, seed]) => gradCheck((t) => transpose(t, d0, d1), [x], seed),
    ));

  it('permute', () =>
    holds(
      shapeArb({ minRank: 1, maxSize: 48 }).chain((s) => {
        const axes = s.map((_, i) => i);
        return fc.tuple(inputArb(s), fc.shuffledSubarray(axes, { minLength: s.length, maxLength: s.length }), seedArb);
      }),
      ([x, perm, seed]) => gradCheck((t) => permute(t, perm), [x], seed),
    ));

  it('slice (negative indices, omitted trailing axes and ends, empty ranges)', () =>
    holds(
      shapeArb({ minRank: 1, maxRank: 3, maxDim: 5, maxSize: 48 }).chain((s) =>
        fc.tuple(
          inputArb(s),
          fc.integer({ min: 0, max: s.length }),
          fc.tuple(...s.map((d) => fc.tuple(fc.integer({ min: 0, max: d }), fc.integer({ min: 0, max: d }), fc.boolean()))),
          fc.boolean(),
          seedArb,
        )),
      ([x, given, ranges, withEnds, seed]) => {
        const picked = ranges.slice(0, given).map(([a, b, negative]) => {
          const [lo, hi] = a <= b ? [a, b] : [b, a];
          return { lo, hi, negative };
        });
        // negative spellings only where they mean the same index (−0 is 0)
        const starts = picked.map(({ lo, negative }, i) => (negative && lo < x.shape[i] ? lo - x.shape[i] : lo));
        const ends = picked.map(({ hi, negative }, i) => (negative && hi < x.shape[i] ? hi - x.shape[i] : hi));
        const fullEnds = withEnds || picked.every(({ hi }, i) => hi === x.shape[i]);
        return gradCheck((t) => (fullEnds && !withEnds ? slice(t, starts) : slice(t, starts, ends)), [x], seed);
      },
    ));

  it('concat along any axis (empty parts included)', () =>
    holds(
      fc
        .tuple(shapeArb({ minRank: 1, maxRank: 3, maxSize: 12 }), fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 3 }))
        .chain(([s, sizes]) =>
          axisArb(s.length).chain((axis) => {
            const ax = axis < 0 ? axis + s.length : axis;
            const shapes = sizes.map((n) => s.map((d, i) => (i === ax ? n : d)));
            return fc.tuple(fc.tuple(...shapes.map((sh) => inputArb(sh))), fc.constant(axis), seedArb);
          })),
      ([parts, axis, seed]) => gradCheck((...xs) => concat(xs, axis), parts, seed),
    ));

  it('split into equal pieces or listed sizes (pieces recombined in reverse order)', () =>
    holds(
      shapeArb({ minRank: 1, maxRank: 3, maxDim: 5, maxSize: 48 }).chain((s) =>
        axisArb(s.length).chain((axis) => {
          const d = s[axis < 0 ? axis + s.length : axis];
          const listed = fc
            .array(fc.integer({ min: 0, max: d }), { maxLength: 3 })
            .map((cuts) => {
              const points = [0, ...cuts.sort((a, b) => a - b), d];
              return points.slice(1).map((p, i) => p - points[i]);
            });
          return fc.tuple(inputArb(s), fc.constant(axis), fc.oneof(fc.integer({ min: 1, max: d }), listed), seedArb);
        })),
      ([x, axis, sizes, seed]) =>
        gradCheck((t) => concat(split(t, sizes, axis).reverse().map((p) => p.reshape([-1])), 0), [x], seed),
    ));

  it('slices of one tensor along an axis, tiling it or not, in any order, alone or beside x itself (gradient blocks joined)', () =>
    holds(
      shapeArb({ minRank: 1, maxRank: 3, maxDim: 5, maxSize: 48 }).chain((s) =>
        axisArb(s.length).chain((axis) => {
          const d = s[axis < 0 ? axis + s.length : axis];
          // a partition of the axis (its blocks join in one concatenation), or ranges that may overlap or leave gaps
          const partition = fc.array(fc.integer({ min: 0, max: d }), { maxLength: 3 }).map((cuts) => {
            const points = [0, ...cuts.sort((a, b) => a - b), d];
            return points.slice(1).map((p, i) => [points[i], p] as [number, number]);
          });
          const ranges = fc.array(fc.tuple(fc.integer({ min: 0, max: d }), fc.integer({ min: 0, max: d })).map(([a, b]) => [Math.min(a, b), Math.max(a, b)] as [number, number]), { minLength: 1, maxLength: 3 });
          return fc.tuple(inputArb(s), fc.constant(axis), fc.oneof(partition, ranges), fc.boolean(), fc.boolean(), seedArb);
        })),
      ([x, axis, pieces, reversed, withWhole, seed]) =>
        gradCheck((t) => {
          const ax = axis < 0 ? axis + t.ndim : axis;
          const parts = pieces.map(([lo, hi]) => slice(t, t.shape.map((_, k) => (k === ax ? lo : 0)), t.shape.map((dk, k) => (k === ax ? hi : dk))).reshape([-1]));
          if (reversed) parts.reverse();
          return concat(withWhole ? [...parts, t.reshape([-1])] : parts, 0);
        }, [x], seed),
    ));

  it('one gradient handed to a slice of x and to x itself (add\'s dy): joined, not freed while still used, either order', async () => {
    for (const sliceFirst of [true, false]) {
      const x = tensor([[1, 2], [3, 4]], { requiresGrad: true });
      const s = x.slice([0, 0], [2, 2]);
      const e = x.expand([2, 2]);
      (sliceFirst ? s.add(e) : e.add(s)).sum().backward();
      expect(Array.from(await x.grad!.data()), `slice ${sliceFirst ? 'first' : 'second'}`).toEqual([2, 2, 2, 2]);
      x.grad!.dispose();
      x.dispose();
    }
  });

  it('expand (new leading dims and size-1 dims)', () =>
    holds(
      shapeArb({ maxSize: 36 }).chain((target) =>
        fc
          .tuple(fc.integer({ min: 0, max: target.length }), fc.array(fc.boolean(), { minLength: target.length, maxLength: target.length }))
          .chain(([drop, ones]) => {
            const small = target.slice(drop).map((d, i) => (ones[i + drop] ? 1 : d));
            return fc.tuple(inputArb(small), fc.constant(target), seedArb);
          })),
      ([x, target, seed]) => gradCheck((t) => expand(t, target), [x], seed),
    ));
});

describe('indexing and selection', () => {
  it('gather (embedding lookup; repeated indices accumulate)', () =>
    holds(
      fc
        .tuple(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 4 }), fc.boolean())
        .chain(([rows, cols, n0, n1, nested]) =>
          fc.tuple(
            inputArb([rows, cols]),
            fc.array(fc.array(fc.integer({ min: 0, max: rows - 1 }), { minLength: n1, maxLength: n1 }), { minLength: n0, maxLength: n0 }),
            fc.constant(nested),
            seedArb,
          )),
      ([table, idx, nested, seed]) => gradCheck((t) => gather(t, nested ? idx : idx.flat()), [table], seed),
    ));

  it('where (condition, a and b broadcast together)', () =>
    holds(
      broadcastableShapesArb(3, { maxSize: 24 }).chain(([sc, sa, sb]) =>
        fc.tuple(
          fc.array(fc.constantFrom(0, 1), { minLength: sizeOf(sc), maxLength: sizeOf(sc) }).map((c) => ({ shape: sc, data: Float64Array.from(c), grad: false })),
          inputArb(sa),
          inputArb(sb),
          seedArb,
        )),
      ([cond, a, b, seed]) => gradCheck((c, x, y) => where(c, x, y), [cond, a, b], seed),
    ));

  it('maskedFill', () =>
    holds(
      broadcastableShapesArb(2, { maxSize: 24 }).chain(([sx, sm]) =>
        fc.tuple(
          inputArb(sx),
          fc.array(fc.constantFrom(0, 1), { minLength: sizeOf(sm), maxLength: sizeOf(sm) }).map((m) => ({ shape: sm, data: Float64Array.from(m), grad: false })),
          fc.double({ min: -1e4, max: 1e4, noNaN: true }),
          seedArb,
        )),
      ([x, mask, value, seed]) => gradCheck((t, m) => maskedFill(t, m, value), [x, mask], seed),
    ));
});

describe('neural-network functions', () => {
  const withAxis = shapeArb({ minRank: 1, maxSize: 48 }).chain((s) => fc.tuple(inputArb(s), axisArb(s.length), seedArb));
  it('softmax along any axis', () => holds(withAxis, ([x, axis, seed]) => gradCheck((t) => softmax(t, axis), [x], seed)));
  it('logSoftmax along any axis', () => holds(withAxis, ([x, axis, seed]) => gradCheck((t) => logSoftmax(t, axis), [x], seed)));

  it('crossEntropy over any batch shape', () =>
    holds(
      fc.tuple(shapeArb({ maxRank: 2, maxSize: 8 }), fc.integer({ min: 1, max: 5 })).chain(([batch, classes]) =>
        fc.tuple(
          inputArb([...batch, classes], positive(-4, 4)),
          fc.array(fc.integer({ min: 0, max: classes - 1 }), { minLength: sizeOf(batch), maxLength: sizeOf(batch) }),
          seedArb,
        )),
      ([logits, targets, seed]) => gradCheck((t) => crossEntropy(t, Int32Array.from(targets)), [logits], seed),
    ));

  it('layerNorm with and without weight and bias', () =>
    holds(
      fc.tuple(shapeArb({ maxRank: 2, maxSize: 8 }), fc.integer({ min: 1, max: 6 }), fc.boolean(), fc.boolean()).chain(([batch, c, w, b]) =>
        fc.tuple(
          // distinct values keep the variance off 0, where the gradient grows like 1/√eps
          inputArb([...batch, c], distinctValuesArb),
          w ? inputArb([c]).map((i) => [i]) : fc.constant([]),
          b ? inputArb([c]).map((i) => [i]) : fc.constant([]),
          fc.constant([w, b]),
          seedArb,
        )),
      ([x, w, b, [hasW, hasB], seed]) =>
        gradCheck((t, ...p) => layerNorm(t, hasW ? p[0] : undefined, hasB ? p[hasW ? 1 : 0] : undefined), [x, ...w, ...b], seed),
    ));

  it('linear (x Wᵀ + b, one fused matmul) with and without bias', () =>
    holds(
      fc.tuple(shapeArb({ maxRank: 2, maxSize: 6 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 }), fc.boolean())
        .chain(([batch, inF, outF, b]) =>
          fc.tuple(
            inputArb([...batch, inF]), inputArb([outF, inF]),
            b ? inputArb([outF]).map((i) => [i]) : fc.constant([]),
            seedArb,
          )),
      ([x, w, b, seed]) => gradCheck((t, wt, ...p) => linear(t, wt, p[0] ?? null), [x, w, ...b], seed),
    ));

  it('dropout: a fixed seed gives the same mask, and the gradient is that mask times 1/(1−p)', () =>
    holds(
      shapeArb({ maxSize: 48 }).chain((s) =>
        fc.tuple(inputArb(s, nonZero(0.1, 3)), fc.double({ min: 0.05, max: 0.9, noNaN: true }), fc.nat(), seedArb)),
      async ([x, p, dropSeed, seed]) => {
        const run = (t: Tensor): Tensor => {
          manualSeed(dropSeed);
          return dropout(t, p);
        };
        const xt = tensor(x.data, { shape: x.shape, requiresGrad: true });
        const y1 = run(xt);
        const y2 = run(xt);
        const [v1, v2] = [await y1.data64(), await y2.data64()];
        if (v1.join() !== v2.join()) throw new Error('dropout: same seed, different masks');
        const w = weights(y1.size, seed);
        y1.mul(tensor(w, { shape: x.shape })).sum().backward();
        const g = await xt.grad!.data64();
        const scale = 1 / (1 - p);
        for (let i = 0; i < g.length; i++) {
          const mask = v1[i] / x.data[i];
          if (Math.abs(mask) > 1e-12 && Math.abs(mask - scale) > 1e-12 * scale) throw new Error(`dropout: mask value ${mask} is neither 0 nor ${scale}`);
          if (Math.abs(g[i] - mask * w[i]) > 1e-12 * scale) throw new Error(`dropout: gradient ${g[i]} at ${i}, expected ${mask * w[i]}`);
        }
        await gradCheck(run, [x], seed);
      },
    ));
});

describe('composites', () => {
  it('a small attention-like graph (matmul, scale, softmax, matmul, gelu, mean)', () =>
    holds(
      fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 })).chain(([n, d]) =>
        fc.tuple(inputArb([n, d]), inputArb([n, d]), inputArb([n, d]), seedArb)),
      ([q, k, v, seed]) =>
        gradCheck((a, b, c) => softmax(matmulT(a, b, false, true).mul(0.7)).matmul(c).gelu().add(a).mean(-1, true), [q, k, v], seed),
      50,
    ));
});
