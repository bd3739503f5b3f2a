/** Neural-network functions: softmax family, cross-entropy, layer norm, dropout. */
import { Tensor } from '../tensor.js';
import { record } from '../autograd.js';
import { fmt, normalizeAxis } from '../shape.js';
import { dropoutSeed } from '../random.js';
import type { Device, FusedKernels } from '../devices/device.js';
import { deviceOf, fusion } from './common.js';
import { where } from './elementwise.js';
import { logsumexp, mean, sum } from './reduce.js';
import { reshape, transpose } from './movement.js';
import { oneHot, toIndices, type IndicesLike } from './indexing.js';
import { asTensor, defineOp } from './op.js';
import { checkBoolean, checkDropoutP, checkNumber } from '../validate.js';

// dx = y ∘ (dy − rowsum(dy ∘ y)), one kernel
const softmaxOp = defineOp('softmax', (dy, { out: y }) => {
  const device = deviceOf('softmax backward', y, dy);
  const cols = y.shape[y.ndim - 1];
  return [new Tensor(device.softmaxBackward(y.buffer(), dy.buffer(), y.size / cols, cols), y.shape, device)];
});

/** Softmax along `axis`, one fused kernel over the last axis (others are transposed there). */
export function softmax(x: Tensor, axis = -1): Tensor {
  const ax = normalizeAxis('softmax', axis, x.ndim);
  // no values, nothing to normalise: the answer is the empty tensor (kernels need a row length ≥ 1)
  if (x.size === 0) return reshape(x, [...x.shape]);
  if (ax !== x.ndim - 1) return transpose(softmax(transpose(x, ax, -1)), ax, -1);
  const device = deviceOf('softmax', x);
  const cols = x.shape[ax];
  const buf = device.softmax(x.buffer('softmax'), x.size / cols, cols);
  return record(softmaxOp, new Tensor(buf, x.shape, device), [x], {});
}

export function logSoftmax(x: Tensor, axis = -1): Tensor {
  return x.sub(logsumexp(x, axis, true));
}

/**
 * Rows up to this long go through the fused kernels (one thread loops over a row, three times in
 * layerNorm's backward); longer ones (GPT-2's 50,257-way logits) take the composite path, whose
 * reductions split across threads.
 */
export const FUSED_MAX_COLS = 2048;

/** The device's fused pair `forward`/`backward` when fusion is on and the device has both, else null. */
function fusedPair<F extends keyof FusedKernels, B extends keyof FusedKernels>(
  device: Device, forward: F, backward: B,
): { forward: NonNullable<Device[F]>; backward: NonNullable<Device[B]> } | null {
  const f = device[forward];
  const b = device[backward];
  return fusion.enabled && f && b ? { forward: f, backward: b } : null;
}

// dlogits = dloss[row] · (softmax(row) − onehot(target)), one kernel
const crossEntropyOp = defineOp<{ targets: Int32Array; kernels: Pick<FusedKernels, 'crossEntropyBackward'> }>(
  'crossEntropy',
  (dy, { inputs: [x], attrs: { targets, kernels } }) => {
    const logits = asTensor(x);
    const device = deviceOf('crossEntropy backward', logits, dy);
    const cols = logits.shape[logits.ndim - 1];
    const buf = kernels.crossEntropyBackward.call(device, logits.buffer(), targets, dy.buffer(), targets.length, cols);
    return [new Tensor(buf, logits.shape, device)];
  },
);

/**
 * Mean cross-entropy of `logits` [..., C] against integer `targets` [...] (PyTorch's
 * F.cross_entropy with mean reduction): one fused kernel for every row's logsumexp − logit[target]
 * where the device has it, else the composite.
 */
export function crossEntropy(logits: Tensor, targets: IndicesLike): Tensor {
  const classes = logits.shape[logits.ndim - 1];
  const t = toIndices('crossEntropy', targets, classes, 'target');
  if (t.data.length * classes !== logits.size) {
    throw new Error(`crossEntropy: ${t.data.length} targets for logits of shape ${fmt(logits.shape)}`);
  }
  const device = deviceOf('crossEntropy', logits);
  const fused = fusedPair(device, 'crossEntropy', 'crossEntropyBackward');
  if (!fused || classes > (device.crossEntropyMaxCols ?? FUSED_MAX_COLS)) return crossEntropyComposite(logits, t.data);
  const rows = t.data.length;
  const buf = fused.forward.call(device, logits.buffer('crossEntropy'), t.data, rows, classes);
  const perRow = new Tensor(buf, [rows], device);
  return mean(record(crossEntropyOp, perRow, [logits], { targets: t.data, kernels: { crossEntropyBackward: fused.backward } }));
}

/** The same loss from primitives: the oracle of the fused kernel, and the path of rows too long for it. */
export function crossEntropyComposite(logits: Tensor, targets: Int32Array): Tensor {
  const classes = logits.shape[logits.ndim - 1];
  // select, not multiply: a −∞ logit (a masked class) times its one-hot 0 would make the loss NaN
  const picked = sum(where(oneHot(targets, classes).reshape([...logits.shape]), logSoftmax(logits), 0), -1);
  return mean(picked).neg();
}

/** Inputs are x, then weight and bias where given. Mean and rstd are recomputed from x. */
const layerNormOp = defineOp<{ eps: number; hasWeight: boolean; hasBias: boolean; kernels: Pick<FusedKernels, 'layerNormBackward'> }>(
  'layerNorm',
  (dy, { inputs, attrs: { eps, hasWeight, hasBias, kernels }, needs }) => {
    const x = asTensor(inputs[0]);
    const weight = hasWeight ? asTensor(inputs[1]) : null;
    const want = { dx: needs[0], dweight: hasWeight && needs[1], dbias: hasBias && needs[hasWeight ? 2 : 1] };
    const device = deviceOf('layerNorm backward', dy, x, ...(weight ? [weight] : []));
    const c = x.shape[x.ndim - 1];
    const g = kernels.layerNormBackward.call(device, dy.buffer(), x.buffer(), weight?.buffer() ?? null, x.size / c, c, eps, want);
    const wrap = (b: typeof g.dx, shape: readonly number[]) => (b ? new Tensor(b, shape, device) : null);
    return [wrap(g.dx, x.shape), ...(hasWeight ? [wrap(g.dweight, [c])] : []), ...(hasBias ? [wrap(g.dbias, [c])] : [])];
  },
);

/**
 * Normalises the last axis to zero mean and unit (biased) variance, then scales and shifts: one
 * fused kernel forward (two on cpu/wasm), four backward, where the device has them.
 */
export function layerNorm(x: Tensor, weight?: Tensor, bias?: Tensor, eps = 1e-5): Tensor {
  checkNumber('layerNorm', 'eps', eps, { min: 0 }); // a NaN eps made every output NaN
  const c = x.shape[x.ndim - 1];
  for (const [name, p] of [['weight', weight], ['bias', bias]] as const) {
    if (p && (p.ndim !== 1 || p.shape[0] !== c)) {
      throw new Error(`layerNorm: ${name} of shape ${fmt(p.shape)} does not match last dim ${c} of ${fmt(x.shape)}`);
    }
  }
  const affine = [weight, bias].filter((p): p is Tensor => p !== undefined);
  const device = deviceOf('layerNorm', x, ...affine);
  const fused = fusedPair(device, 'layerNorm', 'layerNormBackward');
  if (!fused || x.ndim === 0 || c === 0 || c > FUSED_MAX_COLS) return layerNormComposite(x, weight, bias, eps);
  const buf = fused.forward.call(device, x.buffer('layerNorm'), weight?.buffer('layerNorm') ?? null, bias?.buffer('layerNorm') ?? null, x.size / c, c, eps);
  return record(layerNormOp, new Tensor(buf, x.shape, device), [x, ...affine], {
    eps, hasWeight: weight !== undefined, hasBias: bias !== undefined, kernels: { layerNormBackward: fused.backward },
  });
}

/** The same function from primitives: the oracle of the fused kernels, and the path of long rows. */
export function layerNormComposite(x: Tensor, weight?: Tensor, bias?: Tensor, eps = 1e-5): Tensor {
  const centered = x.sub(mean(x, -1, true));
  const variance = mean(centered.mul(centered), -1, true);
  let y = centered.div(variance.add(eps).sqrt());
  if (weight) y = y.mul(weight);
  if (bias) y = y.add(bias);
  return y;
}

// dy through the same mask, redrawn from the seed
const dropoutOp = defineOp<{ p: number; seed: number }>('dropout', (dy, { attrs: { p, seed } }) => {
  const device = deviceOf('dropout backward', dy);
  return [new Tensor(device.dropout(dy.buffer(), p, seed), dy.shape, device)];
});

/**
 * Zeroes each element with probability p and scales the rest by 1/(1−p); identity in eval. The
 * mask is drawn on the device from one seed of the global stream (device.dropout) and never
 * stored: the backward redraws it from the seed, as PyTorch's Philox dropout does.
 */
export function dropout(x: Tensor, p: number, training = true): Tensor {
  checkDropoutP('dropout', p);
  checkBoolean('dropout', 'training', training); // 'no' is truthy: it dropped
  if (!training || p === 0) return x;
  const device = deviceOf('dropout', x);
  const seed = dropoutSeed();
  return record(dropoutOp, new Tensor(device.dropout(x.buffer('dropout'), p, seed), x.shape, device), [x], { p, seed });
}

