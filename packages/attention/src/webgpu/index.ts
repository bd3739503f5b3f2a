/**
 * FlashAttention-2 on webgpu (gpu.js workgroup kernels): forward one kernel (O and L packed in its
 * one result; O is then sliced out, since a gpu.js kernel writes one buffer and a tensor owns all
 * of its buffer), backward three (dQ, dK, dV). Block-sparse adds one upload of the tile table a
 * call. Chosen by flashAttention where the device runs workgroup kernels.
 */
import { Tensor, noGrad, type Device, type Grads } from '@flashgrad/core';
import type { AttentionMask } from '../masks.js';
import { dkvSpec, dqSpec } from './backward.js';
import { forwardSpec } from './forward.js';
import { sparseTable, workgroupPlan, type WorkgroupPlan } from './geometry.js';

/** Whether flashAttention runs these kernels on `device`: workgroup kernels available and d ≤ 128. */
export function runsWorkgroupKernels(device: Device, d: number): boolean {
  return device.workgroupKernels === true && typeof device.runKernel === 'function' && d <= 128;
}

export interface WorkgroupAttention {
  out: Tensor;
  /** The forward's result, O then L (HUGE where a row sees no key): [BH·Nq·(d + 1)]. */
  saved: Tensor;
  /** The table block-sparse kernels read, or null. */
  sparse: Tensor | null;
  plan: WorkgroupPlan;
}

const seedArgs = (plan: WorkgroupPlan): number[] =>
  (plan.dropout ? [Math.floor(plan.dropout.seed / 2 ** 24), plan.dropout.seed % 2 ** 24] : []);

export function workgroupForward(q: Tensor, k: Tensor, v: Tensor, mask: AttentionMask, scale: number,
  dropout: { p: number; seed: number } | null): WorkgroupAttention {
  const device = q.device;
  const plan = workgroupPlan(mask, scale, dropout);
  const { B, H, Nq, d } = plan.dims;
  const table = sparseTable(mask, plan);
  const sparse = table ? new Tensor(device.upload(table), [table.length], device) : null;
  const args = [q.buffer(), k.buffer(), v.buffer(), ...(sparse ? [sparse.buffer()] : []), ...seedArgs(plan)];
  const saved = new Tensor(device.runKernel!(forwardSpec(plan), args), [B * H * Nq * (d + 1)], device);
  const out = noGrad(() => saved.slice([0], [B * H * Nq * d]).reshape([B, H, Nq, d])); // (B, H, Nq, d)
  return { out, saved, sparse, plan };
}

/** dq, dk, dv: one kernel each, only for the inputs that need one. */
export function workgroupBackward(dout: Tensor, q: Tensor, k: Tensor, v: Tensor, fwd: WorkgroupAttention, needs: boolean[]): Grads {
  const device = q.device;
  const { plan } = fwd;
  const args = [q.buffer(), k.buffer(), v.buffer(), dout.buffer(), fwd.saved.buffer(), ...(fwd.sparse ? [fwd.sparse.buffer()] : []), ...seedArgs(plan)];
  const grad = (spec: ReturnType<typeof dqSpec>, like: Tensor) => new Tensor(device.runKernel!(spec, args), like.shape, device);
  return [
    needs[0] ? grad(dqSpec(plan), q) : null,
    needs[1] ? grad(dkvSpec(plan, 'dk'), k) : null,
    needs[2] ? grad(dkvSpec(plan, 'dv'), v) : null,
  ];
}
