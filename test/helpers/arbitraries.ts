/**
 * fast-check arbitraries shared by the property suites: shapes (with size-1 and broadcast dims),
 * axes, and value arrays that keep clear of the points where an op is not differentiable.
 */
import fc from 'fast-check';

/**
 * fast-check options: FC_RUNS scales every suite (`FC_RUNS=500 npx vitest run ...`); FC_SEED (and
 * FC_PATH) replay the failure a run printed (`{ seed: …, path: "…" }`).
 */
export const runs = (n: number): { numRuns: number; seed?: number; path?: string } => ({
  numRuns: Number(process.env.FC_RUNS ?? n),
  ...(process.env.FC_SEED ? { seed: Number(process.env.FC_SEED), path: process.env.FC_PATH } : {}),
});

export const sizeOf = (shape: readonly number[]): number => shape.reduce((n, d) => n * d, 1);

export interface ShapeOptions {
  minRank?: number;
  maxRank?: number;
  minDim?: number;
  maxDim?: number;
  /** Upper bound on the number of elements (finite differences cost two forwards per element). */
  maxSize?: number;
}

export function shapeArb({ minRank = 0, maxRank = 4, minDim = 1, maxDim = 4, maxSize = 64 }: ShapeOptions = {}): fc.Arbitrary<number[]> {
  return fc
    .array(fc.integer({ min: minDim, max: maxDim }), { minLength: minRank, maxLength: maxRank })
    .filter((s) => sizeOf(s) <= maxSize);
}

/**
 * `count` shapes that broadcast together: each is the base shape with some leading dims dropped
 * and some dims set to 1, so rank differences and 1-vs-n in both directions all occur.
 */
export function broadcastableShapesArb(count: number, options: ShapeOptions = {}): fc.Arbitrary<number[][]> {
  return shapeArb(options).chain((base) =>
    fc.array(
      fc
        .tuple(fc.integer({ min: 0, max: base.length }), fc.array(fc.boolean(), { minLength: base.length, maxLength: base.length }))
        .map(([drop, ones]) => base.slice(drop).map((d, i) => (ones[i + drop] ? 1 : d))),
      { minLength: count, maxLength: count },
    ),
  );
}

/** Plain values in [min, max]. */
export function valuesArb(size: number, min = -3, max = 3): fc.Arbitrary<Float64Array> {
  return fc
    .array(fc.double({ min, max, noNaN: true }), { minLength: size, maxLength: size })
    .map((v) => Float64Array.from(v, (x) => x + 0)); // + 0 turns −0 into 0
}

/** Magnitudes in [lo, hi] with random signs: keeps away from the kinks of relu/abs and the pole of 1/x. */
export function awayFromZeroArb(size: number, lo = 0.05, hi = 3): fc.Arbitrary<Float64Array> {
  return fc
    .array(fc.tuple(fc.double({ min: lo, max: hi, noNaN: true }), fc.boolean()), { minLength: size, maxLength: size })
    .map((v) => Float64Array.from(v, ([m, neg]) => (neg ? -m : m)));
}

/** Pairwise distinct values with gaps of at least 0.15 (no ties for max, whatever the axes). */
export function distinctValuesArb(size: number): fc.Arbitrary<Float64Array> {
  const order = Array.from({ length: size }, (_, i) => i);
  return fc
    .tuple(
      size === 0 ? fc.constant([] as number[]) : fc.shuffledSubarray(order, { minLength: size, maxLength: size }),
      fc.array(fc.double({ min: 0, max: 0.1, noNaN: true }), { minLength: size, maxLength: size }),
    )
    .map(([perm, jitter]) => Float64Array.from(perm, (p, i) => (p - size / 2) * 0.25 + jitter[i]));
}

/** Axes to reduce over: undefined (all), one axis, or a list; negative spellings included. */
export function axesArb(rank: number): fc.Arbitrary<number | number[] | undefined> {
  const all = Array.from({ length: rank }, (_, i) => i);
  const spelled = (a: number, negative: boolean): number => (negative ? a - rank : a);
  const options: fc.Arbitrary<number | number[] | undefined>[] = [
    fc.constant(undefined),
    fc.shuffledSubarray(all).chain((axes) =>
      fc.array(fc.boolean(), { minLength: axes.length, maxLength: axes.length }).map((neg) => axes.map((a, i) => spelled(a, neg[i]))),
    ),
  ];
  if (rank > 0) options.push(fc.tuple(fc.integer({ min: 0, max: rank - 1 }), fc.boolean()).map(([a, neg]) => spelled(a, neg)));
  return fc.oneof(...options);
}

/** The sorted, non-negative axes that `axes` names for a tensor of `rank`. */
export function resolveAxes(axes: number | number[] | undefined, rank: number): number[] {
  if (axes === undefined) return Array.from({ length: rank }, (_, i) => i);
  return (typeof axes === 'number' ? [axes] : axes).map((a) => (a < 0 ? a + rank : a)).sort((a, b) => a - b);
}

/** An axis of a tensor of `rank` ≥ 1, sometimes spelled negatively. */
export function axisArb(rank: number): fc.Arbitrary<number> {
  return fc.tuple(fc.integer({ min: 0, max: rank - 1 }), fc.boolean()).map(([a, neg]) => (neg ? a - rank : a));
}

/** A seed for the upstream weights of a gradient check. */
export const seedArb = fc.integer({ min: 0, max: 2 ** 31 - 1 });
