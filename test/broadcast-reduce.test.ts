/**
 * Property: broadcasting binary ops (and where/expand) and reductions (sum/mean/max over any axes,
 * keepDims both ways) agree with the ndarray oracle of helpers/oracle.ts over random shapes —
 * rank 0 to 4, size-1 and size-0 dims — and random values, ties included.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  add, div, equal, expand, greater, greaterEqual, less, max, maximum, mean, minimum, mul, pow, sub, sum, tensor, where,
  type Tensor,
} from '@flashgrad/core';
import { axesArb, broadcastableShapesArb, resolveAxes, runs, shapeArb, sizeOf } from './helpers/arbitraries.js';
import * as oracle from './helpers/oracle.js';

/** Values with many ties and zeros (integers in ±4), or arbitrary doubles. */
const valuesArb = (n: number): fc.Arbitrary<number[]> =>
  fc.oneof(
    fc.array(fc.integer({ min: -4, max: 4 }), { minLength: n, maxLength: n }),
    fc.array(fc.double({ min: -1e3, max: 1e3, noNaN: true }), { minLength: n, maxLength: n }),
  );

const operandArb = (shape: number[]) => valuesArb(sizeOf(shape)).map((data) => ({ shape, data }));

/**
 * Exact agreement (rtol 0) or within rtol·scale; NaN matches NaN and +0 matches −0 (max of −0
 * and 0 may pick either).
 */
function expectAgree(actual: Float64Array, expected: readonly number[], rtol = 0, scale: readonly number[] = []): void {
  expect(actual.length).toBe(expected.length);
  expected.forEach((e, i) => {
    const a = actual[i];
    if (Number.isNaN(e) && Number.isNaN(a)) return;
    if (a === e) return;
    const tol = rtol * (scale[i] ?? Math.abs(e));
    if (!(Math.abs(a - e) <= tol)) throw new Error(`element ${i}: got ${a}, oracle ${e}`);
  });
}

async function check(t: Tensor, expected: oracle.Nd, rtol = 0, scale?: oracle.Nd): Promise<void> {
  expect([...t.shape]).toEqual(expected.shape);
  expectAgree(await t.data64(), oracle.values(expected), rtol, scale ? oracle.values(scale) : []);
}

describe('binary ops broadcast as NumPy does', () => {
  const ops: [string, (a: Tensor | number, b: Tensor | number) => Tensor, (x: number, y: number) => number][] = [
    ['add', add, (x, y) => x + y],
    ['sub', sub, (x, y) => x - y],
    ['mul', mul, (x, y) => x * y],
    ['div', div, (x, y) => x / y],
    ['pow', pow, (x, y) => x ** y],
    ['maximum', maximum, (x, y) => Math.max(x, y)],
    ['minimum', minimum, (x, y) => Math.min(x, y)],
    ['equal', equal, (x, y) => Number(x === y)],
    ['greater', greater, (x, y) => Number(x > y)],
    ['greaterEqual', greaterEqual, (x, y) => Number(x >= y)],
    ['less', less, (x, y) => Number(x < y)],
  ];

  it('every binary op, over broadcastable shapes (size-0 dims included)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: ops.length - 1 }),
        broadcastableShapesArb(2, { minDim: 0, maxDim: 4, maxSize: 96 }).chain(([sa, sb]) => fc.tuple(operandArb(sa), operandArb(sb))),
        async (k, [a, b]) => {
          const [, op, f] = ops[k];
          const expected = oracle.binary(oracle.nd(a.data, a.shape), oracle.nd(b.data, b.shape), f);
          await check(op(tensor(a.data, { shape: a.shape }), tensor(b.data, { shape: b.shape })), expected);
        },
      ),
      runs(400),
    );
  });

  it('a number operand broadcasts as a rank-0 tensor, on either side', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: ops.length - 1 }),
        shapeArb({ minDim: 0 }).chain(operandArb),
        fc.integer({ min: -3, max: 3 }),
        fc.boolean(),
        async (k, a, c, numberFirst) => {
          const [, op, f] = ops[k];
          const x = tensor(a.data, { shape: a.shape });
          const [nx, nc] = [oracle.nd(a.data, a.shape), oracle.nd([c], [])];
          const got = numberFirst ? op(c, x) : op(x, c);
          await check(got, numberFirst ? oracle.binary(nc, nx, f) : oracle.binary(nx, nc, f));
        },
      ),
      runs(200),
    );
  });

  it('shapes that do not broadcast are an error naming the op and both shapes', () => {
    fc.assert(
      fc.property(shapeArb({ maxRank: 3, minDim: 0 }), shapeArb({ maxRank: 3, minDim: 0 }), fc.integer({ min: 0, max: ops.length - 1 }), (sa, sb, k) => {
        const [name, op] = ops[k];
        const [a, b] = [tensor(new Float64Array(sizeOf(sa)), { shape: sa }), tensor(new Float64Array(sizeOf(sb)), { shape: sb })];
        const expected = oracle.broadcastShape(sa, sb);
        // the device's op name (eq, gt, ge, lt, max, min) for the comparison and extremum ops
        const kernel = { maximum: 'max', minimum: 'min', equal: 'eq', greater: 'gt', greaterEqual: 'ge', less: 'lt' }[name] ?? name;
        if (expected) expect([...op(a, b).shape]).toEqual(expected);
        else expect(() => op(a, b)).toThrow(new RegExp(`^${kernel}: shapes \\[${sa.join(', ')}\\] and \\[${sb.join(', ')}\\] cannot be broadcast`));
      }),
      runs(300),
    );
  });

  it('where broadcasts condition and both branches together', async () => {
    await fc.assert(
      fc.asyncProperty(
        broadcastableShapesArb(3, { minDim: 0, maxSize: 96 }).chain(([sc, sa, sb]) => fc.tuple(operandArb(sc), operandArb(sa), operandArb(sb))),
        async ([c, a, b]) => {
          const expected = oracle.ternary(oracle.nd(c.data, c.shape), oracle.nd(a.data, a.shape), oracle.nd(b.data, b.shape), (x, y, z) => (x !== 0 ? y : z));
          const got = where(tensor(c.data, { shape: c.shape }), tensor(a.data, { shape: a.shape }), tensor(b.data, { shape: b.shape }));
          await check(got, expected);
        },
      ),
      runs(200),
    );
  });

  it('expand materialises the broadcast view', async () => {
    await fc.assert(
      fc.asyncProperty(
        broadcastableShapesArb(2, { minDim: 0, maxSize: 96 }).chain(([small, other]) => fc.tuple(operandArb(small), fc.constant(other))),
        async ([x, other]) => {
          const target = oracle.broadcastShape(x.shape, other)!;
          await check(expand(tensor(x.data, { shape: x.shape }), target), oracle.broadcastView(oracle.nd(x.data, x.shape), target));
        },
      ),
      runs(200),
    );
  });
});

describe('reductions over any axes, keepDims both ways', () => {
  const reductionArb = (minDim: number) =>
    shapeArb({ minDim, maxDim: 4, maxSize: 128 }).chain((shape) => fc.tuple(operandArb(shape), axesArb(shape.length), fc.boolean()));

  it('sum and mean (empty axes sum to 0; their mean is NaN)', async () => {
    await fc.assert(
      fc.asyncProperty(reductionArb(0), async ([x, axes, keepDims]) => {
        const list = resolveAxes(axes, x.shape.length);
        const n = oracle.nd(x.data, x.shape);
        const absSum = oracle.sum(oracle.nd(x.data.map(Math.abs), x.shape), list, keepDims);
        const t = tensor(x.data, { shape: x.shape });
        // summation order may differ: allow float64 rounding relative to Σ|x|
        await check(sum(t, axes, keepDims), oracle.sum(n, list, keepDims), 1e-13, absSum);
        const count = list.reduce((c, a) => c * x.shape[a], 1);
        await check(mean(t, axes, keepDims), oracle.mean(n, list, keepDims), 1e-13, oracle.nd(oracle.values(absSum).map((v) => v / count), absSum.shape));
      }),
      runs(300),
    );
  });

  it('max (ties included; exact)', async () => {
    await fc.assert(
      fc.asyncProperty(
        reductionArb(0).filter(([x, axes]) => resolveAxes(axes, x.shape.length).every((a) => x.shape[a] > 0)),
        async ([x, axes, keepDims]) => {
          const list = resolveAxes(axes, x.shape.length);
          await check(max(tensor(x.data, { shape: x.shape }), axes, keepDims), oracle.max(oracle.nd(x.data, x.shape), list, keepDims));
        },
      ),
      runs(300),
    );
  });

  it('reducing a broadcast result equals reducing the oracle broadcast', async () => {
    await fc.assert(
      fc.asyncProperty(
        broadcastableShapesArb(2, { maxSize: 96 }).chain(([sa, sb]) => {
          const rank = Math.max(sa.length, sb.length);
          return fc.tuple(operandArb(sa), operandArb(sb), axesArb(rank), fc.boolean());
        }),
        async ([a, b, axes, keepDims]) => {
          const prod = oracle.binary(oracle.nd(a.data, a.shape), oracle.nd(b.data, b.shape), (x, y) => x * y);
          const list = resolveAxes(axes, prod.shape.length);
          const scale = oracle.sum(oracle.nd(oracle.values(prod).map(Math.abs), prod.shape), list, keepDims);
          const got = sum(mul(tensor(a.data, { shape: a.shape }), tensor(b.data, { shape: b.shape })), axes, keepDims);
          await check(got, oracle.sum(prod, list, keepDims), 1e-13, scale);
        },
      ),
      runs(200),
    );
  });
});
