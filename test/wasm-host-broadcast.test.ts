/**
 * The wasm device's broadcasting host loops (host-ops/broadcast.ts, reduce.ts) against the
 * reference device: every binary op and where over shapes that broadcast together (rank
 * differences, size-1 axes on either side, 0-size axes, constants on either side), and sums and
 * maxima over any set of axes (adjacent or not, size-1 ones, all, none). Each property checks
 * the wasm device took the host path (its label in the stats).
 *
 * Tolerances: none for the elementwise ops. Both devices compute each element in float64 from
 * the same float32 inputs and float64 constants; wasm stores it rounded to float32, so its result
 * must be exactly fround(reference). Sums: float64 accumulation in a different order, rounded
 * once: within 2⁻²³ of the sum of magnitudes. Maxima: exact.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { BinaryOp, Operand } from '../packages/core/src/devices/device.js';
import { broadcastableShapesArb, runs, shapeArb, sizeOf } from './helpers/arbitraries.js';
import { both, values, wasm } from './helpers/wasm-vs-reference.js';

const OPS: BinaryOp[] = ['add', 'sub', 'mul', 'div', 'pow', 'max', 'min', 'gt', 'ge', 'lt', 'eq'];

/** The broadcast result shape of `shapes` (right-aligned, the larger of each axis; 0 wins over 1). */
const resultShape = (shapes: number[][]): number[] => {
  const r = Math.max(0, ...shapes.map((s) => s.length));
  return Array.from({ length: r }, (_, k) => {
    const ds = shapes.map((s) => s[s.length - r + k] ?? 1);
    return ds.includes(0) ? 0 : Math.max(...ds);
  });
};

/** Shapes that broadcast together, sometimes with a 0-size axis in all of them. */
const shapesArb = (count: number) => fc.tuple(broadcastableShapesArb(count, { maxRank: 4, maxDim: 5, maxSize: 200 }), fc.boolean())
  .map(([shapes, empty]) => (empty && shapes[0].length > 0 ? shapes.map((s) => (s.length > 0 ? [...s.slice(0, -1), 0] : s)) : shapes));

/** Values with repeats (so eq and ge see equal operands) and some integers (pow of a negative base). */
const operandValues = (n: number, seed: number) => values(n, seed).map((v, i) => (i % 3 === 0 ? Math.round(v) : v));

const exactlyRounded = (got: Float32Array, want: Float64Array) => expect(Array.from(got)).toEqual(Array.from(want, Math.fround));

describe('wasm broadcasting host loops ≡ reference', () => {
  it('binary ops broadcast both operands (or a constant on either side) and round once to float32', async () => {
    const arb = fc.record({ shapes: shapesArb(2), op: fc.constantFrom(...OPS), constant: fc.constantFrom('none', 'a', 'b' as const), c: fc.double({ min: -3, max: 3, noNaN: true }), seed: fc.integer({ min: 0, max: 1e9 }) });
    await fc.assert(fc.asyncProperty(arb, async ({ shapes: [sa, sb], op, constant, c, seed }) => {
      const outShape = resultShape(constant === 'a' ? [sb] : constant === 'b' ? [sa] : [sa, sb]);
      const { got, want, labels } = await both([operandValues(sizeOf(sa), seed), operandValues(sizeOf(sb), seed + 1)], (d, [a, b]) => {
        const A: Operand = constant === 'a' ? c : { buf: a, shape: sa };
        const B: Operand = constant === 'b' ? c : { buf: b, shape: sb };
        return [d.binary(op, A, B, outShape)];
      });
      expect(labels).toContain(`host.${op}`);
      exactlyRounded(got[0], want[0]);
    }), runs(80));
  });

  it('where broadcasts its condition and both branches', async () => {
    const arb = fc.record({ shapes: shapesArb(3), constant: fc.boolean(), seed: fc.integer({ min: 0, max: 1e9 }) });
    await fc.assert(fc.asyncProperty(arb, async ({ shapes: [sc, sa, sb], constant, seed }) => {
      const outShape = resultShape(constant ? [sc, sa] : [sc, sa, sb]);
      const cond = values(sizeOf(sc), seed).map((v) => (v > 1.5 ? 0.5 : v > 0 ? 1 : v < -1.5 ? -2 : 0)); // ≠ 0 is true, 0.5 and −2 included
      const { got, want, labels } = await both([cond, values(sizeOf(sa), seed + 1), values(sizeOf(sb), seed + 2)], (d, [c, a, b]) =>
        [d.where({ buf: c, shape: sc }, { buf: a, shape: sa }, constant ? -1e30 : { buf: b, shape: sb }, outShape)]);
      expect(labels).toContain('host.where');
      exactlyRounded(got[0], want[0]);
    }), runs(60));
  });

  it('an operand that does not broadcast is an error naming the op and the shapes', () => {
    const x = wasm.upload(new Float32Array(6));
    expect(() => wasm.binary('add', { buf: x, shape: [2, 3] }, { buf: x, shape: [6] }, [2, 3])).toThrow(/binary add: operand of shape \[6\] does not broadcast to \[2,3\]/);
    wasm.dispose(x);
  });

  it('sum and max over any axes (adjacent or not), within float64 summation error', async () => {
    const arb = shapeArb({ minRank: 0, maxRank: 4, maxDim: 6, maxSize: 300 }).chain((shape) => fc.record({
      shape: fc.constant(shape),
      axes: fc.subarray(shape.map((_, k) => k)),
      op: fc.constantFrom('sum', 'max' as const),
      seed: fc.integer({ min: 0, max: 1e9 }),
    }));
    await fc.assert(fc.asyncProperty(arb, async ({ shape, axes, op, seed }) => {
      const x = values(sizeOf(shape), seed).map((v) => v * 10);
      const { got, want, labels } = await both([x], (d, [b]) => [d.reduce(op, b, shape, axes)]);
      if (sizeOf(shape) > 0) expect(labels).toContain('host.reduce');
      if (op === 'max') {
        exactlyRounded(got[0], want[0]);
        return;
      }
      // each output sums at most every element: bound by the total magnitude
      const mag = x.reduce((a, v) => a + Math.abs(v), 0);
      got[0].forEach((g, i) => expect(Math.abs(g - want[0][i])).toBeLessThanOrEqual(2 ** -23 * mag));
    }), runs(60));
  });
});
