/**
 * Blocked (online) softmax, the inner loop of FlashAttention, as fused device kernels. Rows are
 * every axis but the last; running stats are (m, l) pairs in a trailing axis of 2. None of these
 * record gradients: blocked attention differentiates itself (its customOp backward).
 */
import { Tensor } from '../tensor.js';
import { fmt } from '../shape.js';
import { deviceOf } from './common.js';

/** [..., R, C] → rows R·… and C, checking `others` have the same rows and the given last dims. */
function rowsOf(op: string, x: Tensor, others: [Tensor, number | null][] = []): [number, number] {
  if (x.ndim < 1) throw new Error(`${op}: expected a tensor of rank ≥ 1, got a scalar`);
  const cols = x.shape[x.ndim - 1];
  const lead = x.shape.slice(0, -1);
  for (const [t, last] of others) {
    const same = t.ndim === x.ndim && t.shape.slice(0, -1).every((d, k) => d === lead[k]);
    if (!same || t.shape[t.ndim - 1] !== (last ?? cols)) {
      throw new Error(`${op}: shape ${fmt(t.shape)} does not match ${fmt(x.shape)} (same leading dims, last dim ${last ?? cols} expected)`);
    }
  }
  return [x.size / Math.max(cols, 1), cols];
}

/**
 * Running row stats after one more block of scores s [..., R, C]: m' = max(m, max s) and
 * l' = l·e^(m − m') + Σ e^(s − m'), as [..., R, 2]; `prev` = null before the first block.
 */
export function onlineSoftmaxStats(s: Tensor, prev: Tensor | null): Tensor {
  const op = 'onlineSoftmaxStats';
  const [rows, cols] = rowsOf(op, s, prev ? [[prev, 2]] : []);
  if (cols === 0) throw new Error(`${op}: a block of scores needs at least one column, got ${fmt(s.shape)}`);
  const device = deviceOf(op, s, ...(prev ? [prev] : []));
  return new Tensor(device.onlineSoftmaxStats(s.buffer(op), prev?.buffer(op) ?? null, rows, cols), [...s.shape.slice(0, -1), 2], device);
}

/** e^(x − m) for x [..., R, C] and m [..., R, 1], or the m of stats [..., R, 2]. */
export function expShift(x: Tensor, shift: Tensor): Tensor {
  const op = 'expShift';
  const stride = shift.shape[shift.ndim - 1];
  if (stride !== 1 && stride !== 2) throw new Error(`${op}: shift must end in 1 (values) or 2 (stats), got ${fmt(shift.shape)}`);
  const [rows, cols] = rowsOf(op, x, [[shift, stride]]);
  const device = deviceOf(op, x, shift);
  return new Tensor(device.expShift(x.buffer(op), shift.buffer(op), stride, rows, cols), x.shape, device);
}

/** The output accumulator after a block: o·e^(m − m') + pv, m from `prev` and m' from `next` stats. */
export function onlineRescale(o: Tensor, pv: Tensor, prev: Tensor, next: Tensor): Tensor {
  const op = 'onlineRescale';
  const [rows, cols] = rowsOf(op, o, [[pv, null], [prev, 2], [next, 2]]);
  const device = deviceOf(op, o, pv, prev, next);
  return new Tensor(device.onlineRescale(o.buffer(op), pv.buffer(op), prev.buffer(op), next.buffer(op), rows, cols), o.shape, device);
}

/** y ∘ (dy − c) for y, dy [..., R, C] and c [..., R, 1]: softmax's backward with its row term c given. */
export function rowShiftedProduct(y: Tensor, dy: Tensor, c: Tensor): Tensor {
  const op = 'rowShiftedProduct';
  const [rows, cols] = rowsOf(op, y, [[dy, null], [c, 1]]);
  const device = deviceOf(op, y, dy, c);
  return new Tensor(device.rowShiftedProduct(y.buffer(op), dy.buffer(op), c.buffer(op), rows, cols), y.shape, device);
}

/** The finished output of blocked softmax: o / l for o [..., R, C] and its (m, l) stats [..., R, 2]. */
export function onlineNormalize(o: Tensor, stats: Tensor): Tensor {
  const op = 'onlineNormalize';
  const [rows, cols] = rowsOf(op, o, [[stats, 2]]);
  const device = deviceOf(op, o, stats);
  return new Tensor(device.onlineNormalize(o.buffer(op), stats.buffer(op), rows, cols), o.shape, device);
}

/** The row logsumexp m + log l of (m, l) stats [..., R, 2], as [..., R, 1]. */
export function onlineLogsumexp(stats: Tensor): Tensor {
  const op = 'onlineLogsumexp';
  const [rows, two] = rowsOf(op, stats);
  if (two !== 2) throw new Error(`${op}: stats must end in 2 (m, l), got ${fmt(stats.shape)}`);
  const device = deviceOf(op, stats);
  return new Tensor(device.onlineLogsumexp(stats.buffer(op), rows), [...stats.shape.slice(0, -1), 1], device);
}

/** Σ a ∘ b along the last axis, keeping it: [..., R, C] × [..., R, C] → [..., R, 1]. */
export function rowDot(a: Tensor, b: Tensor): Tensor {
  const op = 'rowDot';
  const [rows, cols] = rowsOf(op, a, [[b, null]]);
  const device = deviceOf(op, a, b);
  return new Tensor(device.rowDot(a.buffer(op), b.buffer(op), rows, cols), [...a.shape.slice(0, -1), 1], device);
}
