/** Helpers every op file uses: device agreement and turning tensors into kernel operands. */
import type { Device, Operand as KernelOperand } from '../devices/device.js';
import { getDevice } from '../devices/registry.js';
import { Tensor } from '../tensor.js';
import { fmt } from '../shape.js';

export type Scalar = number;
export type TensorOrScalar = Tensor | Scalar;

/** The device all tensor arguments live on; mixing devices is an error naming the op. */
export function deviceOf(op: string, ...xs: TensorOrScalar[]): Device {
  let device: Device | null = null;
  for (const x of xs) {
    if (!(x instanceof Tensor)) {
      if (typeof x !== 'number') throw new Error(`${op}: expected a Tensor or a number, got ${typeof x}`);
      continue;
    }
    if (x.isDisposed) throw new Error(`${op}: tensor of shape ${fmt(x.shape)} was used after dispose()`);
    const d = x.device;
    if (device && d !== device) {
      throw new Error(`${op}: tensors live on different devices (${device.name} and ${d.name}); move one with await t.to(name)`);
    }
    device = d;
  }
  return device ?? getDevice();
}

export function kernelOperand(op: string, x: TensorOrScalar): KernelOperand {
  return x instanceof Tensor ? { buf: x.buffer(op), shape: x.shape } : x;
}

export function shapeOf(x: TensorOrScalar): readonly number[] {
  return x instanceof Tensor ? x.shape : [];
}

/**
 * Whether ops use the fused kernels (layerNorm, crossEntropy, linear's matmul epilogue; AdamW's
 * packed moments are its storage format and do not switch). FLASHGRAD_FUSION=off takes the
 * composite paths instead: same results, more kernel calls; benchmarks flip it to measure what
 * fusion buys in one run, on one machine.
 */
export const fusion = { enabled: typeof process === 'undefined' || process.env.FLASHGRAD_FUSION !== 'off' };
