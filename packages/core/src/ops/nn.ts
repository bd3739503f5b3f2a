/** Neural-network functions: softmax family, cross-entropy, layer norm, dropout. */
import { Tensor } from '../tensor.js';
import { record } from '../autograd.js';
import { fmt, normalizeAxis } from '../shape.js';
import { fillUniform } from '../random.js';
import { deviceOf } from './common.js';
import { where } from './elementwise.js';
import { logsumexp, mean, sum } from './reduce.js';
import { transpose } from './movement.js';
import { oneHot, toIndices, type IndicesLike } from './indexing.js';

/** Softmax along `axis`, one fused kernel over the last axis (others are transposed there). */
export function softmax(x: Tensor, axis = -1): Tensor {
  const ax = normalizeAxis('softmax', axis, x.ndim);
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
 * Mean cross-entropy of `logits` [..., C] against integer `targets` [...] (PyTorch's
 * F.cross_entropy with mean reduction).
 */
export function crossEntropy(logits: Tensor, targets: IndicesLike): Tensor {
  const classes = logits.shape[logits.ndim - 1];
  const t = toIndices('crossEntropy', targets, classes, 'target');
  if (t.data.length * classes !== logits.size) {
    throw new Error(`crossEntropy: ${t.data.length} targets for logits of shape ${fmt(logits.shape)}`);
  }
  // select, not multiply: a −∞ logit (a masked class) times its one-hot 0 would make the loss NaN
  const picked = sum(where(oneHot(t.data, classes).reshape([...logits.shape]), logSoftmax(logits), 0), -1);
  return mean(picked).neg();
}

/** Normalises the last axis to zero mean and unit variance, then scales and shifts. */
export function layerNorm(x: Tensor, weight?: Tensor, bias?: Tensor, eps = 1e-5): Tensor {
  const c = x.shape[x.ndim - 1];
  for (const [name, p] of [['weight', weight], ['bias', bias]] as const) {
    if (p && (p.ndim !== 1 || p.shape[0] !== c)) {
      throw new Error(`layerNorm: ${name} of shape ${fmt(p.shape)} does not match last dim ${c} of ${fmt(x.shape)}`);
    }
  }
  const centered = x.sub(mean(x, -1, true));
  const variance = mean(centered.mul(centered), -1, true);
  let y = centered.div(variance.add(eps).sqrt());
  if (weight) y = y.mul(weight);
  if (bias) y = y.add(bias);
  return y;
}

/** Zeroes each element with probability p and scales the rest by 1/(1−p); identity in eval. */
export function dropout(x: Tensor, p: number, training = true): Tensor {
  if (!(p >= 0 && p < 1)) throw new Error(`dropout: p must be in [0, 1), got ${p}`);
  if (!training || p === 0) return x;
  const device = deviceOf('dropout', x);
  const keepScale = 1 / (1 - p);
  // a float64 mask: 1/(1−p) rounded to float32 here would scale by the wrong factor on the reference device
  const mask = Float64Array.from(fillUniform(new Float32Array(x.size)), (u) => (u >= p ? keepScale : 0));
  const maskTensor = new Tensor(device.upload(mask), x.shape, device);
  return x.mul(maskTensor);
}
