/** Neural-network functions: softmax family, cross-entropy, layer norm, dropout. */
import { Tensor } from '../tensor.js';
import { record } from '../autograd.js';
import { fmt, normalizeAxis } from '../shape.js';
import { dropoutSeed } from '../random.js';
import { deviceOf, fusion } from './common.js';
import { where } from './elementwise.js';
import { logsumexp, mean, sum } from './reduce.js';
import { reshape, transpose } from './movement.js';
import { oneHot, toIndices, type IndicesLike } from './indexing.js';

/** Softmax along `axis`, one fused kernel over the last axis (others are transposed there). */
export function softmax(x: Tensor, axis = -1): Tensor {
  const ax = normalizeAxis('softmax', axis, x.ndim);
  // no values, nothing to normalise: the answer is the empty tensor (kernels need a row length ≥ 1)
  if (x.size === 0) return reshape(x, [...x.shape]);
  if (ax !== x.ndim - 1) return transpose(softmax(transpose(x, ax, -1)), ax, -1);
  const device = deviceOf('softmax', x);
  const cols = x.shape[ax];
  const buf = device.softmax(x.buffer('softmax'), x.size / cols, cols);
  return record('softmax', new Tensor(buf, x.shape, device), [x], {});
}

/** dx for y = softmax(x) along the last axis (no gradient of its own). */
export function softmaxBackward(y: Tensor, dy: Tensor): Tensor {
  const device = deviceOf('softmaxBackward', y, dy);
  const cols = y.shape[y.ndim - 1];
  return new Tensor(device.softmaxBackward(y.buffer(), dy.buffer(), y.size / cols, cols), y.shape, device);
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

/**
 * Mean cross-entropy of `logits` [..., C] against integer `targets` [...] (PyTorch's
 * F.cross_entropy with mean reduction): one fused kernel for every row's logsumexp − logit[target].
 */
export function crossEntropy(logits: Tensor, targets: IndicesLike): Tensor {
  const classes = logits.shape[logits.ndim - 1];
  const t = toIndices('crossEntropy', targets, classes, 'target');
  if (t.data.length * classes !== logits.size) {
    throw new Error(`crossEntropy: ${t.data.length} targets for logits of shape ${fmt(logits.shape)}`);
  }
  if (classes > FUSED_MAX_COLS || !fusion.enabled) return crossEntropyComposite(logits, t.data);
  const device = deviceOf('crossEntropy', logits);
  const rows = t.data.length;
  const buf = device.crossEntropy(logits.buffer('crossEntropy'), t.data, rows, classes);
  return mean(record('crossEntropy', new Tensor(buf, [rows], device), [logits], { targets: t.data }));
}

/** The same loss from primitives: what the fused kernel computes, for rows too long for it. */
export function crossEntropyComposite(logits: Tensor, targets: Int32Array): Tensor {
  const classes = logits.shape[logits.ndim - 1];
  // select, not multiply: a −∞ logit (a masked class) times its one-hot 0 would make the loss NaN
  const picked = sum(where(oneHot(targets, classes).reshape([...logits.shape]), logSoftmax(logits), 0), -1);
  return mean(picked).neg();
}

/** dlogits = dloss[row] · (softmax(row) − onehot(target)) (no gradient of its own). */
export function crossEntropyBackward(logits: Tensor, targets: Int32Array, dloss: Tensor): Tensor {
  const device = deviceOf('crossEntropyBackward', logits, dloss);
  const cols = logits.shape[logits.ndim - 1];
  const buf = device.crossEntropyBackward(logits.buffer(), targets, dloss.buffer(), targets.length, cols);
  return new Tensor(buf, logits.shape, device);
}

/**
 * Normalises the last axis to zero mean and unit (biased) variance, then scales and shifts: one
 * fused kernel forward (two on cpu/wasm), four backward.
 */
export function layerNorm(x: Tensor, weight?: Tensor, bias?: Tensor, eps = 1e-5): Tensor {
  const c = x.shape[x.ndim - 1];
  for (const [name, p] of [['weight', weight], ['bias', bias]] as const) {
    if (p && (p.ndim !== 1 || p.shape[0] !== c)) {
      throw new Error(`layerNorm: ${name} of shape ${fmt(p.shape)} does not match last dim ${c} of ${fmt(x.shape)}`);
    }
  }
  if (x.ndim === 0 || c === 0 || c > FUSED_MAX_COLS || !fusion.enabled) return layerNormComposite(x, weight, bias, eps);
  const affine = [weight, bias].filter((p): p is Tensor => p !== undefined);
  const device = deviceOf('layerNorm', x, ...affine);
  const buf = device.layerNorm(x.buffer('layerNorm'), weight?.buffer('layerNorm') ?? null, bias?.buffer('layerNorm') ?? null, x.size / c, c, eps);
  return record('layerNorm', new Tensor(buf, x.shape, device), [x, ...affine], { eps, hasWeight: weight !== undefined, hasBias: bias !== undefined });
}

/** The same function from primitives (for rows too long for the fused kernels). */
export function layerNormComposite(x: Tensor, weight?: Tensor, bias?: Tensor, eps = 1e-5): Tensor {
  const centered = x.sub(mean(x, -1, true));
  const variance = mean(centered.mul(centered), -1, true);
  let y = centered.div(variance.add(eps).sqrt());
  if (weight) y = y.mul(weight);
  if (bias) y = y.add(bias);
  return y;
}

/** layerNorm's gradients (no gradient of their own); each is computed only when asked for. */
export function layerNormBackward(dy: Tensor, x: Tensor, weight: Tensor | null, eps: number,
  want: { dx: boolean; dweight: boolean; dbias: boolean }): { dx: Tensor | null; dweight: Tensor | null; dbias: Tensor | null } {
  const device = deviceOf('layerNormBackward', dy, x, ...(weight ? [weight] : []));
  const c = x.shape[x.ndim - 1];
  const g = device.layerNormBackward(dy.buffer(), x.buffer(), weight?.buffer() ?? null, x.size / c, c, eps, want);
  const wrap = (b: typeof g.dx, shape: readonly number[]) => (b ? new Tensor(b, shape, device) : null);
  return { dx: wrap(g.dx, x.shape), dweight: wrap(g.dweight, [c]), dbias: wrap(g.dbias, [c]) };
}

/**
 * Zeroes each element with probability p and scales the rest by 1/(1−p); identity in eval. The
 * mask is drawn on the device from one seed of the global stream (device.dropout) and never
 * stored: the backward redraws it from the seed, as PyTorch's Philox dropout does.
 */
export function dropout(x: Tensor, p: number, training = true): Tensor {
  if (!(p >= 0 && p < 1)) throw new Error(`dropout: p must be in [0, 1), got ${p}`);
  if (!training || p === 0) return x;
  const device = deviceOf('dropout', x);
  const seed = dropoutSeed();
  return record('dropout', new Tensor(device.dropout(x.buffer('dropout'), p, seed), x.shape, device), [x], { p, seed });
}

/** dropout's gradient: dy through the same mask (no gradient of its own). */
export function dropoutBackward(dy: Tensor, p: number, seed: number): Tensor {
  const device = deviceOf('dropoutBackward', dy);
  return new Tensor(device.dropout(dy.buffer(), p, seed), dy.shape, device);
}
