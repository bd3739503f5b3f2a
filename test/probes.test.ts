/**
 * The hostile-user probes of issue 11 against the public API, each with the clear error (naming
 * the op and the value) or the right answer it must get; property-based where the input space is
 * large (ragged arrays, non-integer ids). Reference device, plus wasm where a kernel is involved.
 */
import fc from 'fast-check';
import ndarray from 'ndarray';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  arange, concat, dropout, fromNdarray, full, gather, getDevice, getRngState, layerNorm, lit, noGrad, ones, tidy, manualSeed, matmulT, Mulberry32, nn, optim, pad, rand, randn, reshape, setDevice, setRngState, softmax, tensor, zeros, type Tensor,
} from '@flashgrad/core';
import { flashAttention, naiveAttention } from '@flashgrad/attention';
import { ConfigError, GPT, pickToken, readSafetensors, sample, writeSafetensors, type GPTConfig } from '@flashgrad/models';
import { runs } from './helpers/arbitraries.js';

const micro: GPTConfig = { vocabSize: 11, blockSize: 8, nLayer: 1, nHead: 2, nEmbd: 8, dropout: 0, bias: true, attention: 'flash' };
const noStack = (f: () => unknown): Error => {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error, got none');
};
/** The error must be ours (an Error, not a raw TypeError/RangeError from deep inside) and match. */
function expectClear(f: () => unknown, message: RegExp): void {
  const e = noStack(f);
  expect(e.constructor.name === 'TypeError' || e.constructor.name === 'RangeError', `${e.constructor.name}: ${e.message}`).toBe(false);
  expect(e.message).toMatch(message);
}

beforeAll(async () => {
  await setDevice('reference');
});

describe('token ids and indices', () => {
  it('gpt.forward refuses non-integer, non-finite, negative and out-of-range ids, naming the value', () => {
    manualSeed(1);
    const gpt = new GPT(micro);
    const cases: [unknown, RegExp][] = [
      [[[1.9]], /GPT\.forward: token id 1\.9 at position 0 is not an integer/],
      [[[NaN]], /GPT\.forward: token id NaN at position 0 is not an integer/],
      [[[Infinity]], /token id Infinity at position 0 is not an integer/],
      [[[2 ** 32 + 3]], /token id 4294967299 at position 0 is out of range \[0, 11\)/],
      [[[0, -1]], /token id -1 at position 1 is out of range \[0, 11\)/],
      [[[11]], /token id 11 at position 0 is out of range \[0, 11\)/],
      [[['3']], /GPT\.forward: values must be numbers, got "3" at \[0\]\[0\]/],
      [{ data: Float64Array.from([1.5]), shape: [1, 1] }, /token id 1\.5 at position 0 is not an integer/],
      [Int32Array.from([1, 2]), /GPT\.forward: idx must be \[B, T\] \(nested rows, or \{ data, shape: \[B, T\] \}\), got shape \[2\]/],
      [[[1, 2], [3]], /GPT\.forward: ragged nested array/],
      [[[]], /GPT\.forward: idx must hold at least one token, got shape \[1,0\]/],
      [[], /GPT\.forward: idx must be \[B, T\].*got shape \[0\]/],
      [undefined, /GPT\.forward: token id values must be host integers.*got undefined/],
    ];
    for (const [idx, message] of cases) expectClear(() => gpt.forward(idx as number[][]), message);
    expectClear(() => gpt.forward([[1, 2]], [[1, 2.5]]), /GPT\.forward: target 2\.5 at position 1 is not an integer/);
  });

  it('gather refuses every non-integer or out-of-range index (property), a tensor and a Float32Array of fractions', () => {
    const table = tensor([[1, 2], [3, 4], [5, 6]]);
    fc.assert(
      fc.property(fc.oneof(fc.double(), fc.integer({ min: -(2 ** 40), max: 2 ** 40 })), (v) => {
        const valid = Number.isInteger(v) && v >= 0 && v < 3;
        if (valid) return;
        expectClear(() => gather(table, [0, v]), new RegExp(`gather: index ${Object.is(v, -0) ? '-?0' : String(v).replace(/[.+]/g, '\\$&')} at position 1 is (not an integer|out of range \\[0, 3\\))`));
      }),
      runs(200),
    );
    expectClear(() => gather(table, [2 ** 32 + 1]), /gather: index 4294967297 at position 0 is out of range \[0, 3\)/);
    expectClear(() => gather(table, Float64Array.from([1.5]) as unknown as Int32Array), /gather: index 1\.5 at position 0 is not an integer/);
    expectClear(() => gather(table, Float32Array.from([0.5]) as unknown as Int32Array), /gather: index 0\.5 at position 0 is not an integer/);
    expectClear(() => gather(table, tensor([1]) as unknown as Int32Array), /gather: index values must be host integers.*got a Tensor; read a tensor with await t\.data\(\) first/);
  });

  it('gather of valid indices still gives the rows (typed arrays, nested arrays, { data, shape })', async () => {
    const table = tensor([[1, 2], [3, 4], [5, 6]]);
    expect(await gather(table, Float64Array.from([2, 0]) as unknown as Int32Array).toArray()).toEqual([[5, 6], [1, 2]]);
    expect(await gather(table, [[1], [2]]).toArray()).toEqual([[[3, 4]], [[5, 6]]]);
    expect(await gather(table, { data: Int32Array.from([1, 1]), shape: [2] }).toArray()).toEqual([[3, 4], [3, 4]]);
  });
});

describe('tensor() and the creation ops', () => {
  it('accepts exactly the rectangular arrays of numbers (property), and names where a ragged one breaks', () => {
    // an independent oracle: the structure signature of a value, null when its rows disagree
    const signature = (v: unknown): string | null => {
      if (typeof v === 'number') return '';
      if (!Array.isArray(v)) return null;
      const inner = v.map(signature);
      if (inner.some((x) => x === null) || new Set(inner).size > 1) return null;
      return `${v.length}(${inner[0] ?? ''})`;
    };
    // rectangular arrays with one element (at a random depth) replaced by something else
    const damaged = fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 3 }).chain((shape) => {
      const build = (d: number): unknown => (d === shape.length ? 1 : Array.from({ length: shape[d] }, () => build(d + 1)));
      return fc.tuple(fc.constant(shape), fc.constant(build(0)), fc.array(fc.nat(), { minLength: shape.length + 1, maxLength: shape.length + 1 }),
        fc.constantFrom<unknown>([4], 7, [], [[1]], [1, 2], 'x', null, undefined, NaN, {}));
    });
    fc.assert(
      fc.property(damaged, ([shape, value, path, replacement]) => {
        const copy = structuredClone(value) as unknown[];
        const depth = 1 + (path[shape.length] % shape.length);
        let parent = copy;
        for (let d = 0; d < depth - 1; d++) parent = parent[path[d] % shape[d]] as unknown[];
        parent[path[depth - 1] % shape[depth - 1]] = replacement;
        if (signature(copy) !== null) {
          const t = tensor(copy as number[]);
          expect(t.size).toBe((copy as unknown[]).flat(Infinity).length);
        } else {
          expectClear(() => tensor(copy as number[]), /^tensor: (ragged nested array: .* is .*, expected an array of \d+|values must be numbers, got .* at \[)/);
        }
      }),
      runs(300),
    );
    expectClear(() => tensor([[1, 2], [3, [4]]] as unknown as number[]), /tensor: values must be numbers, got an array of 1 at \[1\]\[1\] \(ragged: expected shape \[2, 2\]\)/);
    expectClear(() => tensor([[1, 2], [3]]), /tensor: ragged nested array: \[1\] is an array of 1, expected an array of 2 \(shape \[2, 2\]\)/);
  });

  it('refuses strings, undefined and other non-numbers', () => {
    expectClear(() => tensor('abc' as unknown as number[]), /tensor: values must be a number, nested arrays of numbers or a typed array, got "abc"/);
    expectClear(() => tensor(undefined as unknown as number[]), /tensor: values must be .* got undefined/);
    expectClear(() => tensor({ length: 2 } as unknown as number[]), /tensor: values must be .* got an object/);
    expectClear(() => tensor([1, '2'] as unknown as number[]), /tensor: values must be numbers, got "2" at \[1\]/);
    expectClear(() => tensor([1, 2], { shape: ['2'] as unknown as number[] }), /tensor: dimension 0 of the shape must be a non-negative integer, got "2"/);
    expectClear(() => full([2], 'x' as unknown as number), /full: value must be a number, got "x"/);
    expectClear(() => full([2], undefined as unknown as number), /full: value must be a number, got undefined/);
    expectClear(() => zeros('3' as unknown as number[]), /zeros|full: shape must be an array of non-negative integers, got "3"/);
    expectClear(() => zeros([2, -1]), /full: dimension 1 of the shape must be a non-negative integer, got -1/);
    expectClear(() => zeros([1.5]), /full: dimension 0 of the shape must be a non-negative integer, got 1\.5/);
    expectClear(() => arange(0, Infinity), /arange: end must be a finite number, got Infinity/);
    expectClear(() => arange(NaN), /arange: end must be a finite number, got NaN/);
    expectClear(() => randn([2], { std: -1 }), /randn: std must be a finite number ≥ 0, got -1/);
  });

  it('keeps NaN and ±Infinity as values (they are numbers)', async () => {
    expect(Array.from(await full([2], NaN).data())).toEqual([NaN, NaN]);
    expect(Array.from(await tensor([Infinity, -Infinity, NaN]).data())).toEqual([Infinity, -Infinity, NaN]);
  });

  it('checks sizes against the device before allocating anything', () => {
    const limit = getDevice().maxElements;
    const started = Date.now();
    expectClear(() => zeros([2 ** 31]), new RegExp(`full: shape \\[2147483648\\] has 2147483648 elements, more than the reference device's limit of ${limit}`));
    expectClear(() => randn([2 ** 31]), /randn: shape \[2147483648\] has 2147483648 elements, more than/);
    expectClear(() => rand([2 ** 16, 2 ** 16]), /rand: shape \[65536, 65536\] has 4294967296 elements/);
    expectClear(() => arange(0, 2 ** 32), /arange: shape \[4294967296\] has 4294967296 elements/);
    expectClear(() => new GPT({ ...micro, vocabSize: 5e8 }), /GPT config: the token embedding \(vocabSize × nEmbd\) would have 4000000000 elements, more than the reference device's limit/);
    expect(noStack(() => new GPT({ ...micro, vocabSize: 5e8 }))).toBeInstanceOf(ConfigError);
    // not a timing assertion on the work, only a guard that nothing of 16 GiB was allocated and filled first
    expect(Date.now() - started).toBeLessThan(30_000);
  });
});

describe('movement, attention and optimizer arguments', () => {
  it('reshape with -1 next to a 0-size dim is ambiguous, as PyTorch says', () => {
    const empty = zeros([0, 3]);
    expectClear(() => reshape(empty, [-1, 0]), /reshape: cannot view tensor of shape \[0, 3\] \(0 elements\) as \[-1, 0\]: the -1 is ambiguous/);
    expect(reshape(empty, [3, -1]).shape).toEqual([3, 0]); // PyTorch: [3, 0]
    expect(reshape(empty, [0, 1, 3]).shape).toEqual([0, 1, 3]);
    expectClear(() => reshape(empty, [-1, -1]), /reshape: only one dimension may be -1/);
    expectClear(() => reshape(zeros([6]), [-2, 3]), /reshape: dimension 0 of \[-2, 3\] must be an integer ≥ 0 or -1, got -2/);
    expectClear(() => reshape(zeros([6]), [2.5, 2]), /reshape: dimension 0 .* got 2\.5/);
    expectClear(() => reshape(zeros([6]), '6' as unknown as number[]), /reshape: shape must be an array of integers, got "6"/);
  });

  it('concat names the element that is not a tensor', () => {
    const t = tensor([1, 2]);
    expectClear(() => concat([t, 3 as unknown as Tensor]), /concat: tensors\[1\] must be a Tensor, got 3/);
    expectClear(() => concat(t as unknown as Tensor[]), /concat: needs an array of at least one tensor, got a Tensor/);
  });

  it("attention options are booleans and known keys: causal: 'no' is an error, not causal", () => {
    manualSeed(2);
    const q = randn([1, 1, 3, 4]);
    for (const attend of [naiveAttention, flashAttention] as const) {
      const name = attend === naiveAttention ? 'naiveAttention' : 'flashAttention';
      expectClear(() => attend(q, q, q, { causal: 'no' as unknown as boolean }), new RegExp(`${name}: causal must be true or false, got "no"`));
      expectClear(() => attend(q, q, q, { casual: true } as never), new RegExp(`${name}: unknown option "casual"`));
      expectClear(() => attend(q, q, q, null as never), new RegExp(`${name}: options must be an object, got null`));
    }
  });

  it('optimizers validate every hyperparameter', () => {
    const p = zeros([2], { requiresGrad: true });
    expectClear(() => new optim.AdamW([p], { lr: 1e-3, weightDecay: NaN }), /AdamW: weightDecay must be a finite number ≥ 0, got NaN/);
    expectClear(() => new optim.AdamW([p], { lr: 1e-3, eps: -1 }), /AdamW: eps must be a finite number ≥ 0, got -1/);
    expectClear(() => new optim.AdamW([p], { lr: Infinity }), /AdamW: lr must be a finite number ≥ 0, got Infinity/);
    expectClear(() => new optim.AdamW([p], { lr: '1' as unknown as number }), /AdamW: lr must be a finite number ≥ 0, got "1"/);
    expectClear(() => new optim.AdamW([p], { lr: 1e-3, betas: [2, 2] }), /AdamW: betas must be two numbers in \[0, 1\)/);
    expectClear(() => new optim.AdamW([{ params: [p], weightDecay: -1 }], { lr: 1e-3 }), /AdamW: group 0's weightDecay must be a finite number ≥ 0, got -1/);
    expectClear(() => new optim.AdamW([p, 3 as unknown as Tensor], { lr: 1e-3 }), /AdamW: group 0's params\[1\] must be a Tensor, got 3/);
    expectClear(() => new optim.SGD([p], { lr: 0.1, momentum: NaN }), /SGD: momentum must be a finite number ≥ 0, got NaN/);
  });

  it('GPT(undefined) is a ConfigError, not a TypeError', () => {
    const e = noStack(() => new GPT(undefined as unknown as GPTConfig));
    expect(e).toBeInstanceOf(ConfigError);
    expect(e.message).toMatch(/GPT config must be an object .* got undefined/);
  });
});

describe('empty tensors', () => {
  it('softmax of a [2, 0] tensor is the [2, 0] tensor on every device', async () => {
    for (const device of ['reference', 'wasm'] as const) {
      await setDevice(device);
      const y = softmax(zeros([2, 0]));
      expect(y.shape, device).toEqual([2, 0]);
      expect((await y.data()).length).toBe(0);
      const x = zeros([0, 3], { requiresGrad: true });
      softmax(x, 0).sum().backward();
      expect(x.grad!.shape).toEqual([0, 3]);
    }
    await setDevice('reference');
  });

  it('a layer on an empty batch gives an empty answer', async () => {
    manualSeed(3);
    const layer = new nn.Linear(3, 2);
    expect(layer.forward(zeros([0, 3])).shape).toEqual([0, 2]);
  });
});

describe('backward() twice', () => {
  it('is refused on the same graph (PyTorch semantics), also through flash; retainGraph allows it and accumulates', async () => {
    const x = tensor([1, 2, 3], { requiresGrad: true });
    const y = x.mul(x).sum();
    y.backward();
    expect(Array.from(await x.grad!.data())).toEqual([2, 4, 6]);
    expectClear(() => y.backward(), /backward: the graph through (sum|mul).*was already walked by an earlier backward\(\); pass \{ retainGraph: true \}/);
    expect(Array.from(await x.grad!.data()), 'the refused call added nothing').toEqual([2, 4, 6]);

    const z = x.mul(2).sum();
    z.backward({ retainGraph: true });
    z.backward();
    expect(Array.from(await x.grad!.data())).toEqual([2 + 4, 4 + 4, 6 + 4]);
    expectClear(() => z.backward(), /already walked/);

    manualSeed(4);
    const q = randn([1, 1, 4, 8], { requiresGrad: true });
    const out = flashAttention(q, q, q, { causal: true }).sum();
    out.backward();
    expectClear(() => out.backward(), /backward: the graph through (flashAttention|sum).*already walked/);
    expectClear(() => x.mul(3).sum().backward({ retainGraph: 'yes' } as never), /backward: retainGraph must be true or false, got "yes"/);
  });

  it('two losses sharing a forward: the second backward is refused unless the first retained the graph', () => {
    const x = tensor([1, 2], { requiresGrad: true });
    const h = x.exp();
    h.sum().backward();
    expectClear(() => h.mul(2).sum().backward(), /the graph through exp .*already walked/);
    const k = x.exp();
    k.sum().backward({ retainGraph: true });
    expect(() => k.mul(2).sum().backward()).not.toThrow();
  });
});

describe('round 2: optimizers', () => {
  const stepped = () => {
    const p = tensor([1, -2, 3], { requiresGrad: true });
    p.mul(p).sum().backward();
    return p;
  };

  it('an optimizer without options names them, not a TypeError reading lr', () => {
    const p = zeros([2], { requiresGrad: true });
    expectClear(() => new optim.AdamW([p], undefined as never), /AdamW: options must be an object with at least \{ lr \}, got undefined/);
    expectClear(() => new optim.SGD([p], 0.1 as never), /SGD: options must be an object with at least \{ lr \}, got 0\.1/);
  });

  it('step() refuses a learning rate set to NaN, negative or a string after construction, leaving parameters and state as they were', async () => {
    for (const make of [(p: Tensor) => new optim.AdamW([p], { lr: 0.1 }), (p: Tensor) => new optim.SGD([p], { lr: 0.1, momentum: 0.9 })]) {
      for (const bad of [NaN, -1, '0.1']) {
        const p = stepped();
        const opt = make(p);
        const name = opt.constructor.name;
        opt.lr = bad as number;
        expectClear(() => opt.step(), new RegExp(`${name}\\.step: lr must be a finite number ≥ 0, got ${bad === '0.1' ? '"0\\.1"' : bad}`));
        expect(Array.from(await p.data())).toEqual([1, -2, 3]);
        opt.lr = 0.1;
        opt.step(); // the same optimizer steps once the rate is fixed
        expect(Array.from(await p.data()).every(Number.isFinite)).toBe(true);
      }
    }
    const p = stepped();
    const q = stepped();
    const groups = [{ params: [p] }, { params: [q], lr: 0.1 }];
    const opt = new optim.AdamW(groups, { lr: 0.1 });
    groups[1].lr = Infinity;
    expectClear(() => opt.step(), /AdamW\.step: group 1's lr must be a finite number ≥ 0, got Infinity/);
    expect(opt.stepCount).toBe(0);
    expect(Array.from(await p.data())).toEqual([1, -2, 3]); // group 0 did not move either
  });

  it('clipGradNorm names a params argument that is no array of tensors and a maxNorm that is no number', () => {
    const p = stepped();
    const opt = new optim.AdamW([p], { lr: 0.1 });
    for (const [name, clip] of [['clipGradNorm', optim.clipGradNorm], ['AdamW.clipGradNorm', opt.clipGradNorm.bind(opt)]] as const) {
      const op = name.replace('.', '\\.');
      expectClear(() => clip(p as unknown as Tensor[], 1), new RegExp(`^${op}: params must be an array of tensors, got a Tensor`));
      expectClear(() => clip([p, 3 as unknown as Tensor], 1), new RegExp(`^${op}: params\\[1\\] must be a Tensor, got 3`));
      expectClear(() => clip([p], '1' as unknown as number), new RegExp(`^${op}: maxNorm must be positive, got "1"`));
      expectClear(() => clip([p], NaN), new RegExp(`^${op}: maxNorm must be positive, got NaN`));
    }
  });

  it('loadState refuses a step count that is NaN, negative or fractional and moments that are not tensors, loading nothing', async () => {
    const p = stepped();
    const opt = new optim.AdamW([p], { lr: 0.1 });
    opt.step();
    const before = Array.from(await p.data());
    const good = { step: 1, m: [zeros([3])], v: [zeros([3])] };
    const cases: [unknown, RegExp][] = [
      [undefined, /^AdamW\.loadState: state must be \{ step, m, v \}, got undefined/],
      [{ ...good, step: NaN }, /^AdamW\.loadState: step must be an integer ≥ 0, got NaN/],
      [{ ...good, step: -1 }, /^AdamW\.loadState: step must be an integer ≥ 0, got -1/],
      [{ ...good, step: 1.5 }, /^AdamW\.loadState: step must be an integer ≥ 0, got 1\.5/],
      [{ ...good, m: 'x' }, /^AdamW\.loadState: m must be an array of tensors, got "x"/],
      [{ ...good, v: [3] }, /^AdamW\.loadState: v\[0\] must be a Tensor, got 3/],
      [{ ...good, v: [zeros([4])] }, /^AdamW\.loadState: v\[0\] has 4 elements for a parameter of shape \[3\]/],
    ];
    for (const [state, message] of cases) expectClear(() => opt.loadState(state as never), message);
    expect(opt.stepCount).toBe(1);
    opt.step(); // the moments and count of the first step are still there: the second step is finite
    const after = Array.from(await p.data());
    expect(after.every(Number.isFinite) && after.some((x, i) => x !== before[i])).toBe(true);
  });
  it("AdamW's folded clip refuses a gradient that changed after clipGradNorm (the factor scaled all of it; the reference scaled only the old part)", async (ctx) => {
    try {
      await setDevice('wasm');
    } catch {
      ctx.skip();
    }
    try {
      expect(getDevice().adamwPackedClipped, 'wasm folds the clip into the update').toBeDefined();
      for (const change of ['backward', 'assign'] as const) {
        const p = tensor([3, 4], { requiresGrad: true });
        const opt = new optim.AdamW([p], { lr: 0.1, weightDecay: 0, eps: 100 });
        p.mul(p).sum().backward(); // gradient [6, 8], norm 10
        opt.clipGradNorm([p], 1).dispose();
        if (change === 'backward') p.mul(p).sum().backward();
        else p.grad = tensor([600, 800]);
        expectClear(() => opt.step(), /^AdamW\.step: the gradient of a parameter of shape \[2\] changed after clipGradNorm \(a backward\(\) or a \.grad assignment in between\); clip after the last backward\(\), just before step\(\)/);
        expect(Array.from(await p.data())).toEqual([3, 4]);
        expect(opt.stepCount).toBe(0);
        opt.clipGradNorm([p], 1).dispose(); // clipped after the last backward: the step runs
        opt.step();
        expect(Array.from(await p.data()).every((x, i) => x < [3, 4][i])).toBe(true);
      }
    } finally {
      await setDevice('reference');
    }
  });
});

describe('round 2: movement and matmul arguments', () => {
  it('expand and pad refuse fractional sizes (they made tensors of shape [2.5, 4]), pad fractional starts', () => {
    const x = zeros([1, 4]);
    expectClear(() => x.expand([2.5, 4]), /^expand: dimension 0 of the shape must be a non-negative integer, got 2\.5/);
    expectClear(() => x.expand([NaN, 4]), /^expand: dimension 0 of the shape must be a non-negative integer, got NaN/);
    expectClear(() => pad(x, [4.5, 4], [0, 0]), /^pad: dimension 0 of the shape must be a non-negative integer, got 4\.5/);
    expectClear(() => pad(x, [3, 4], [0.5, 0]), /^pad: dimension 0 of the starts must be a non-negative integer, got 0\.5/);
    expect(x.expand([3, 4]).shape).toEqual([3, 4]);
    expect(pad(x, [3, 5], [2, 1]).shape).toEqual([3, 5]);
  });

  it('slice and permute name arguments that are no arrays: slice(0, 2) was the whole tensor', async () => {
    const t = arange(0, 12).reshape([3, 4]);
    expectClear(() => t.slice(1 as unknown as number[], 2 as unknown as number[]), /^slice: starts must be an array of indices, one per axis, got 1/);
    expectClear(() => t.slice([1], 2 as unknown as number[]), /^slice: ends must be an array of indices, one per axis, got 2/);
    expectClear(() => t.permute(1 as unknown as number[]), /^permute: perm must be an array of axes, got 1/);
    expect(await t.slice([1], [2]).toArray()).toEqual([[4, 5, 6, 7]]);
  });

  it('an axis given as a string or a fraction is named as such, not printed as the valid axis it looks like', () => {
    const t = zeros([3, 4]);
    expectClear(() => concat([t, t], '0' as unknown as number), /^concat: axis "0" is not an integer axis for a tensor of rank 2/);
    expectClear(() => t.sum(0.5), /^sum: axis 0\.5 is not an integer axis for a tensor of rank 2/);
    expectClear(() => t.softmax(2), /^softmax: axis 2 is out of range for a tensor of rank 2/);
  });

  it('matmul with a number says matmul needs a tensor, not a TypeError reading NaN', () => {
    const t = zeros([2, 2]);
    expectClear(() => t.matmul(3 as unknown as Tensor), /^matmul: b must be a Tensor, got 3/);
    expectClear(() => matmulT(2 as unknown as Tensor, t, false, false), /^matmul: a must be a Tensor, got 2/);
  });
});

describe('round 2: creation options', () => {
  it('an unknown option is an error: { requiresgrad: true } made a tensor that needs no gradient', () => {
    expectClear(() => zeros([2], { requiresgrad: true } as never), /^full: unknown option "requiresgrad"; the options are requiresGrad/);
    expectClear(() => tensor([1, 2], { shap: [2, 1] } as never), /^tensor: unknown option "shap"; the options are shape, requiresGrad/);
    expectClear(() => randn([2], { sd: 2 } as never), /^randn: unknown option "sd"/);
    expectClear(() => rand([2], { min: 0, max: 2 } as never), /^rand: unknown option "min"/);
    expectClear(() => full([2], 1, { requiresGrad: 'yes' } as never), /^full: requiresGrad must be true or false, got "yes"/);
    // fromNdarray checked its keys but not the flag: requiresGrad was the string 'yes'
    expectClear(() => fromNdarray(ndarray([1, 2]), { requiresGrad: 'yes' } as never), /^fromNdarray: requiresGrad must be true or false, got "yes"/);
    expectClear(() => rand([2], 3 as never), /^rand: options must be an object, got 3/);
    expect(zeros([2], { requiresGrad: true }).requiresGrad).toBe(true);
  });

  it('rand refuses low above high (it drew from (high, low]); low = high is the constant', async () => {
    expectClear(() => rand([2], { low: 2, high: 1 }), /^rand: low 2 is above high 1/);
    expectClear(() => rand([2], { low: 3 }), /^rand: low 3 is above high 1/);
    expect(Array.from(await rand([3], { low: 2, high: 2 }).data())).toEqual([2, 2, 2]);
  });
});

describe('round 2: layers', () => {
  it('layer constructors name their own argument, not the shape rand or randn was given', () => {
    expectClear(() => new nn.Linear(0, 3), /^Linear: inFeatures must be an integer ≥ 1, got 0/);
    expectClear(() => new nn.Linear(2, NaN), /^Linear: outFeatures must be an integer ≥ 1, got NaN/);
    expectClear(() => new nn.Linear(2, 3, { bias: 'no' as unknown as boolean }), /^Linear: bias must be true or false, got "no"/);
    expectClear(() => new nn.Embedding(-1, 3), /^Embedding: numEmbeddings must be an integer ≥ 1, got -1/);
    expectClear(() => new nn.LayerNorm(2.5), /^LayerNorm: normalizedShape must be an integer ≥ 1, got 2\.5/);
    expectClear(() => new nn.LayerNorm(4, { eps: NaN }), /^LayerNorm: eps must be a finite number ≥ 0, got NaN/);
  });

  it('layerNorm refuses a NaN or negative eps (a NaN made every output NaN)', () => {
    const x = randn([2, 4]);
    expectClear(() => layerNorm(x, undefined, undefined, NaN), /^layerNorm: eps must be a finite number ≥ 0, got NaN/);
    expectClear(() => layerNorm(x, undefined, undefined, -1), /^layerNorm: eps must be a finite number ≥ 0, got -1/);
  });
});

describe('round 2: attention options', () => {
  it('a blockMask whose last blocks would hold no query or key is refused: its row or column of the grid was ignored', async () => {
    manualSeed(3);
    const q = randn([1, 1, 4, 8]);
    const k6 = randn([1, 1, 6, 8]);
    for (const attend of [naiveAttention, flashAttention] as const) {
      const name = attend === naiveAttention ? 'naiveAttention' : 'flashAttention';
      // Nq 4 over 3 blocks of ⌈4/3⌉ = 2 rows: rows 0–1, 2–3, and a third block of none
      expectClear(() => attend(q, q, q, { blockMask: [[true, false], [false, true], [true, true]] }),
        new RegExp(`^${name}: blockMask \\[3, 2\\] splits 4 queries into blocks of ⌈4/3⌉ = 2, which leaves query block 2 empty \\(only 2 hold any\\)`));
      // Nk 6 over 5 blocks of 2 keys: the fourth and fifth hold none
      expectClear(() => attend(q, k6, k6, { blockMask: [[true, true, true, true, false]] }),
        new RegExp(`^${name}: blockMask \\[1, 5\\] splits 6 keys into blocks of ⌈6/5⌉ = 2, which leaves key block 4 empty \\(only 3 hold any\\)`));
    }
    // 2 × 3 blocks over Nq 4, Nk 6 (none empty) still run, flash as naive
    const out = flashAttention(q, k6, k6, { blockMask: [[true, false, false], [false, false, true]] });
    const ref = naiveAttention(q, k6, k6, { blockMask: [[true, false, false], [false, false, true]] });
    const [a, b] = [await out.data(), await ref.data()];
    expect(Math.max(...Array.from(a, (x, i) => Math.abs(x - b[i])))).toBeLessThan(1e-9);
  });

  it('a scale that overflows float32 is refused on a float32 device (1e300 gave NaN on wasm, a SyntaxError compiling the webgpu kernel)', async () => {
    await setDevice('wasm');
    try {
      manualSeed(4);
      const q = randn([1, 1, 3, 8]);
      for (const attend of [naiveAttention, flashAttention] as const) {
        const name = attend === naiveAttention ? 'naiveAttention' : 'flashAttention';
        expectClear(() => attend(q, q, q, { scale: 1e300 }), new RegExp(`^${name}: scale 1e\\+300 overflows float32 \\(\\|scale\\| ≤ 3\\.4e38 on this device\\)`));
        expectClear(() => attend(q, q, q, { scale: '1' as unknown as number }), new RegExp(`^${name}: scale must be a finite number, got "1"`));
        const out = await attend(q, q, q, { scale: -1e30 }).data(); // large but a float32 (scores stay below its max): a peaked softmax, finite
        expect(Array.from(out).every(Number.isFinite)).toBe(true);
      }
    } finally {
      await setDevice('reference');
    }
    // float64 holds 1e300: the reference device computes with it
    const q = randn([1, 1, 3, 8]);
    expect(Array.from(await flashAttention(q, q, q, { scale: 1e300 }).data()).some(Number.isNaN)).toBe(false);
  });
  it('naiveAttention checks the tile options it ignores, so swapping attentions keeps the errors; an object is named, not [object Object]', () => {
    const q = randn([1, 1, 3, 8]);
    for (const attend of [naiveAttention, flashAttention] as const) {
      const name = attend === naiveAttention ? 'naiveAttention' : 'flashAttention';
      expectClear(() => attend(q, q, q, { blockSize: 0 } as never), new RegExp(`^${name}: blockSize must be a positive integer, got 0`));
      expectClear(() => attend(q, q, q, { blockSize: '4' } as never), new RegExp(`^${name}: blockSize must be a positive integer, got "4"`));
      expectClear(() => attend(q, q, q, { blockMask: {} as never }), new RegExp(`^${name}: blockMask must be a non-empty \\[Mq\\]\\[Mk\\] array of arrays of booleans, got an object$`));
      expectClear(() => attend(q, q, q, { blockMask: [[new Map()]] as never }), new RegExp(`^${name}: blockMask\\[0\\]\\[0\\] must be a boolean \\(or 0 / 1\\), got a Map`));
    }
  });
  it('a NaN in q is NaN in its row of O, L and dq on every device (the webgpu kernel made the row 0, L −∞: "sees no key")', async (ctx) => {
    const rows = async (t: Tensor, width: number) => {
      const v = await t.data();
      return Array.from({ length: v.length / width }, (_, r) => Array.from(v.slice(r * width, (r + 1) * width)).some(Number.isNaN));
    };
    const started: string[] = [];
    try {
      for (const device of ['wasm', 'webgpu'] as const) {
        try {
          await setDevice(device);
        } catch {
          continue; // no webgpu here: the wasm device still runs the composed flash
        }
        started.push(device);
        manualSeed(7);
        const values = Array.from({ length: 4 * 8 }, (_, e) => (e === 3 ? NaN : Math.sin(e)));
        const q = tensor(values, { shape: [1, 1, 4, 8], requiresGrad: true });
        const k = randn([1, 1, 5, 8]);
        for (const options of [{}, { causal: true }, { blockMask: [[true, false], [false, true]] }]) {
          const { out, lse } = flashAttention(q, k, k, { ...options, returnLse: true });
          const ref = naiveAttention(q, k, k, options);
          const what = `${device} ${JSON.stringify(options)}`;
          expect(await rows(out, 8), what).toEqual([true, false, false, false]);
          expect(Number.isNaN((await lse.data())[0]), `${what}: L of row 0`).toBe(true);
          const [a, b] = [await out.data(), await ref.data()];
          for (let e = 8; e < 32; e++) expect(Math.abs(a[e] - b[e]), what).toBeLessThan(1e-5);
          out.sum().backward();
          expect(await rows(q.grad!, 8), `${what}: dq`).toEqual([true, false, false, false]);
          q.grad = null;
        }
      }
    } finally {
      await setDevice('reference');
    }
    if (!started.includes('webgpu')) ctx.skip();
  });
});


describe('round 2: kernel constants', () => {
  it("lit refuses a finite number that overflows float32 (it baked 'Infinity.0', a SyntaxError in gpu.js's parser far from the caller)", () => {
    expectClear(() => lit(1e300), /^gpujs: cannot bake constant 1e\+300: it overflows float32/);
    expectClear(() => lit(-4e38), /^gpujs: cannot bake constant -4e\+38: it overflows float32/);
    expect(lit(3e38)).toBe(String(Math.fround(3e38)));
    expect(lit(2)).toBe('2.0');
  });
});

describe('round 2: sampling', () => {
  it('sample checks its options object, the seed, onToken, the prompt and the model, naming each', async () => {
    manualSeed(5);
    const gpt = new GPT(micro);
    const cases: [() => Promise<unknown>, RegExp][] = [
      [() => sample(gpt, [1], undefined as never), /^sample: options must be an object \{ maxNewTokens, .* got undefined/],
      [() => sample(gpt, [1], { maxNewTokens: 2, top_k: 3 } as never), /^sample: unknown option "top_k"; the options are maxNewTokens, temperature, topK, seed, onToken/],
      [() => sample(gpt, [1], { maxNewTokens: 2, seed: 'x' as never }), /^sample: seed must be an integer, got "x"/],
      [() => sample(gpt, [1], { maxNewTokens: 2, seed: NaN }), /^sample: seed must be an integer, got NaN/],
      [() => sample(gpt, [1], { maxNewTokens: 2, seed: 1.5 }), /^sample: seed must be an integer, got 1\.5/],
      [() => sample(gpt, [1], { maxNewTokens: 2, onToken: 3 as never }), /^sample: onToken must be a function, got 3/],
      [() => sample(gpt, 'abc' as never, { maxNewTokens: 2 }), /^sample: prompt must be an array of token ids \(for text, use sampleText with a tokenizer\), got "abc"/],
      [() => sample(gpt, 3 as never, { maxNewTokens: 2 }), /^sample: prompt must be an array of token ids, got 3/],
      [() => sample({} as never, [1], { maxNewTokens: 2 }), /^sample: model must be a GPT, got an object/],
    ];
    for (const [f, message] of cases) {
      const e = await f().then(() => null, (err: Error) => err);
      expect(e, String(message)).not.toBeNull();
      expect(e!.constructor.name).toBe('Error');
      expect(e!.message).toMatch(message);
    }
    expect((await sample(gpt, [1], { maxNewTokens: 2, seed: -5, topK: 3 })).length).toBe(3);
  });

  it('pickToken refuses NaN and +∞ logits (it returned the last token, whatever the draw); −∞ rules a token out', () => {
    const rng = new Mulberry32(1);
    expectClear(() => pickToken(Float32Array.from([0, NaN, 1]), 1, undefined, rng), /^sample: the model's logit for token 1 is NaN; its weights or activations are not finite/);
    expectClear(() => pickToken(Float32Array.from([0, 1, Infinity]), 0, undefined, rng), /^sample: the model's logit for token 2 is Infinity/);
    for (let n = 0; n < 20; n++) expect(pickToken(Float32Array.from([-Infinity, 0, -Infinity]), 1, undefined, rng)).toBe(1);
  });
});

describe('round 2: GPT config', () => {
  it('a config field that is unknown (a typo) or a dropout that is no number is a ConfigError', () => {
    for (const [config, message] of [
      [{ ...micro, nHeads: 4 }, /^GPT config: unknown field "nHeads"; the fields are vocabSize, blockSize, nLayer, nHead, nEmbd, dropout, bias, attention/],
      [{ ...micro, dropout: '0.1' }, /^GPT config: dropout must be a number in \[0, 1\), got "0\.1"/],
    ] as const) {
      const e = noStack(() => new GPT(config as unknown as GPTConfig));
      expect(e).toBeInstanceOf(ConfigError);
      expect(e.message).toMatch(message);
    }
  });
});

describe('round 2: GPT forward options', () => {
  it('GPT.forward refuses unknown options ({ lastonly: true } returned every position) and a lastOnly that is no boolean', () => {
    manualSeed(6);
    const gpt = new GPT(micro);
    expectClear(() => gpt.forward([[1, 2]], undefined, { lastonly: true } as never), /^GPT\.forward: unknown option "lastonly"; the options are lastOnly/);
    expectClear(() => gpt.forward([[1, 2]], undefined, { lastOnly: 1 } as never), /^GPT\.forward: lastOnly must be true or false, got 1/);
    expect(gpt.forward([[1, 2]], undefined, { lastOnly: true }).logits.shape).toEqual([1, 1, 11]);
  });
});

describe('round 2: safetensors input', () => {
  it('readSafetensors names input that is no bytes: a string read as "truncated file: 3 bytes", a Promise as a TypeError from DataView', () => {
    expectClear(() => readSafetensors('abc' as never), /^readSafetensors: expected the file's bytes as a Uint8Array \(or Buffer\), got string$/);
    expectClear(() => readSafetensors(Promise.resolve(new Uint8Array(8)) as never), /^readSafetensors: expected .* got a Promise \(await it first\)/);
    expectClear(() => readSafetensors(undefined as never), /^readSafetensors: expected .* got undefined/);
    expectClear(() => readSafetensors(new ArrayBuffer(16) as never), /^readSafetensors: expected .* got an ArrayBuffer/);
    expectClear(() => readSafetensors(new Uint16Array(8) as never), /^readSafetensors: expected .* got a Uint16Array$/);
    expect(Object.keys(readSafetensors(writeSafetensors({ a: { shape: [1], data: Float32Array.from([1]) } })).tensors)).toEqual(['a']);
  });
});

describe('round 2: flags that must be booleans, options that must be known', () => {
  it("keepDims, dropout's training and p, nn.Dropout's p and backward's options refuse what is truthy but no boolean, or a typo", async () => {
    const x = ones([2, 2]);
    expectClear(() => x.sum(0, 'no' as unknown as boolean), /^sum: keepDims must be true or false, got "no"/);
    expectClear(() => x.max(0, 1 as unknown as boolean), /^max: keepDims must be true or false, got 1/);
    expectClear(() => x.mean(0, 'yes' as unknown as boolean), /^mean: keepDims must be true or false, got "yes"/);
    expectClear(() => x.logsumexp(0, 'yes' as unknown as boolean), /^logsumexp: keepDims must be true or false, got "yes"/);
    expectClear(() => dropout(x, 0.5, 'no' as unknown as boolean), /^dropout: training must be true or false, got "no"/);
    expectClear(() => dropout(x, '0.5' as unknown as number), /^dropout: p must be a number in \[0, 1\), got "0\.5"/);
    expectClear(() => new nn.Dropout('0.1' as unknown as number), /^Dropout: p must be a number in \[0, 1\), got "0\.1"/);
    const p = ones([2], { requiresGrad: true });
    expectClear(() => p.sum().backward({ retaingraph: true } as never), /^backward: unknown option "retaingraph"; the options are retainGraph/);
    expect(x.sum(0, true).shape).toEqual([1, 2]);
    const y = p.mul(p).sum();
    y.backward({ retainGraph: true });
    y.backward();
    expect(Array.from(await p.grad!.data())).toEqual([4, 4]);
  });
});

describe('round 2: scopes, gradients and layer inputs', () => {
  it('tidy and noGrad name an argument that is no function, and tidy an async one (it freed its tensors mid-flight)', () => {
    expectClear(() => tidy(3 as never), /^tidy: expected a function, got 3/);
    expectClear(() => noGrad(undefined as never), /^noGrad: expected a function, got undefined/);
    expectClear(() => tidy(async () => ones([2]).mul(2)), /^tidy: fn returned a Promise; tidy is synchronous/);
  });

  it('.grad takes a Tensor or null (3 was a TypeError reading join); Linear names an input that is no tensor', () => {
    const p = ones([2], { requiresGrad: true });
    expectClear(() => { p.grad = 3 as never; }, /^grad: a gradient must be a Tensor or null, got 3/);
    expectClear(() => { p.grad = undefined as never; }, /^grad: a gradient must be a Tensor or null, got undefined/);
    expectClear(() => new nn.Linear(2, 3).forward(3 as never), /^Linear\(2, 3\): input must be a Tensor, got 3/);
    p.grad = ones([2]);
    p.grad = null;
    expect(p.grad).toBeNull();
  });
});

describe('round 2: the RNG state', () => {
  it("setRngState takes only what getRngState returns ('x', NaN, 1.5, -1 and 2^40 were silently other states)", async () => {
    for (const [bad, shown] of [['x', '"x"'], [NaN, 'NaN'], [1.5, '1\\.5'], [-1, '-1'], [2 ** 40, '1099511627776'], [undefined, 'undefined']] as const) {
      expectClear(() => setRngState(bad as never), new RegExp(`^setRngState: state must be an integer in \\[0, 2\\^32\\) as getRngState returns it, got ${shown}`));
    }
    manualSeed(8);
    const state = getRngState();
    const a = Array.from(await randn([3]).data());
    setRngState(state);
    expect(Array.from(await randn([3]).data())).toEqual(a);
  });
});

describe('round 2: parameters listed twice', () => {
  it('an optimizer refuses a parameter that appears twice, in one group or two (it was stepped twice a step)', () => {
    const p = zeros([2], { requiresGrad: true });
    const q = zeros([3], { requiresGrad: true });
    expectClear(() => new optim.AdamW([p, q, p], { lr: 0.1 }), /^AdamW: group 0's params\[2\] \(shape \[2\]\) is group 0's params\[0\] again; each parameter may appear once/);
    expectClear(() => new optim.SGD([{ params: [q] }, { params: [p, q] }], { lr: 0.1 }), /^SGD: group 1's params\[1\] \(shape \[3\]\) is group 0's params\[0\] again/);
    expect(new optim.AdamW([{ params: [p] }, { params: [q] }], { lr: 0.1 }).groups.length).toBe(2);
  });
});
