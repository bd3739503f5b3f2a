/** Gradient clipping by global norm, computed on the device (no readback, as PyTorch). */
import { Tensor, keep, tidy } from '../tensor.js';
import { noGrad } from '../autograd.js';
import { minimum } from '../ops/elementwise.js';
import { fusion } from '../ops/common.js';
import { CLIP_EPS } from '../devices/clip-factor.js';
import { checkTensor, show } from '../validate.js';

/**
 * Scales all gradients so that their joint L2 norm is at most maxNorm. Returns the norm before
 * clipping as a scalar tensor (read it with `await norm.item()` when you want to log it).
 * `AdamW.clipGradNorm` does the same without scaling kernels: the factor is applied inside its
 * next update.
 */
export function clipGradNorm(params: Tensor[], maxNorm: number): Tensor {
  checkClipArgs('clipGradNorm', params, maxNorm);
  return noGrad(() => tidy(() => {
    const norm = sumOfSquaredGrads('clipGradNorm', params).sqrt();
    const scale = minimum(norm.add(CLIP_EPS).pow(-1).mul(maxNorm), 1);
    for (const p of params) if (p.grad) p.grad = p.grad.mul(scale);
    return keep(norm);
  }));
}

/** params an array of tensors, maxNorm a number > 0 (Infinity: no clip, as PyTorch; "1" is no number). */
export function checkClipArgs(op: string, params: unknown, maxNorm: unknown): void {
  if (!Array.isArray(params)) throw new Error(`${op}: params must be an array of tensors, got ${show(params)}`);
  params.forEach((p, i) => checkTensor(op, `params[${i}]`, p));
  if (typeof maxNorm !== 'number' || !(maxNorm > 0)) throw new Error(`${op}: maxNorm must be positive, got ${show(maxNorm)}`);
}

/**
 * Σ g² over the gradients of `params` (those that have one), a scalar tensor. Where the device
 * squares in a reduction's first pass and adds a running total in its last (gpu.js devices, with
 * fusion on), one reduction a gradient and nothing else; else g·g, a sum, and adds.
 */
export function sumOfSquaredGrads(op: string, params: Tensor[]): Tensor {
  return noGrad(() => tidy(() => {
    const grads = params.map((p) => p.grad).filter((g): g is Tensor => g !== null);
    if (grads.length === 0) throw new Error(`${op}: no parameter has a gradient; call backward() first`);
    const device = grads[0].device;
    if (fusion.enabled && device.sumOfSquares && grads.every((g) => g.device === device)) {
      // the total so far is the addend of the next reduction's last pass: (…(s0 + s1) + s2 …), the order of the adds below
      let total: Tensor | null = null;
      for (const g of grads) {
        const buf = device.sumOfSquares(g.buffer(op), total?.buffer(op));
        total = new Tensor(buf, [], device);
      }
      return total!;
    }
    return grads.map((g) => g.mul(g).sum()).reduce((a, b) => a.add(b));
  }));
}
