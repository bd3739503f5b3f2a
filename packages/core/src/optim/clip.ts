/** Gradient clipping by global norm, computed on the device (no readback, as PyTorch). */
import { Tensor, keep, tidy } from '../tensor.js';
import { noGrad } from '../autograd.js';
import { minimum } from '../ops/elementwise.js';
import { fusion } from '../ops/common.js';

/**
 * Scales all gradients so that their joint L2 norm is at most maxNorm. Returns the norm before
 * clipping as a scalar tensor (read it with `await norm.item()` when you want to log it).
 */
export function clipGradNorm(params: Tensor[], maxNorm: number): Tensor {
  if (!(maxNorm > 0)) throw new Error(`clipGradNorm: maxNorm must be positive, got ${maxNorm}`);
  return noGrad(() => tidy(() => {
    const grads = params.map((p) => p.grad).filter((g): g is Tensor => g !== null);
    if (grads.length === 0) throw new Error('clipGradNorm: no parameter has a gradient; call backward() first');
    // one reduction a gradient where the device squares in its first pass (gpu.js devices), else x·x then a sum
    const squares = grads.map((g) => (fusion.enabled && g.device.sumOfSquares ? new Tensor(g.device.sumOfSquares(g.buffer('clipGradNorm')), [], g.device) : g.mul(g).sum()));
    const norm = squares.reduce((a, b) => a.add(b)).sqrt();
    const scale = minimum(norm.add(1e-6).pow(-1).mul(maxNorm), 1);
    for (const p of params) if (p.grad) p.grad = p.grad.mul(scale);
    return keep(norm);
  }));
}
