/**
 * FlashAttention-2 on webgpu (gpu.js workgroup kernels): forward one kernel (O and L packed in its
 * one result, since a gpu.js kernel writes one buffer; the output tensor is a view of it,
 * Device.view, no copy), backward two (dQ with Δ before it, then dK and dV together, which
 * read that Δ; the gradients are views of the two results), three where the plan splits them
 * over more workgroups (a sum of the partials). Block-sparse reads a tile table, uploaded once
 * per device and grid. Chosen by flashAttention where the device runs workgroup kernels.
 */
import { Tensor, keep, noGrad, splitSeed, tidy, type Device, type DeviceBuffer, type ExternalKernelSpec, type Grads } from '@flashgrad/core';
import { callerLse, type AttentionMask } from '../masks.js';
import { dkvSpec, dqSpec } from './backward.js';
import { forwardSpec } from './forward.js';
import { dqOffset, dqRegion, dvOffset, lseOffset } from './layout.js';
import { splitSumSpec } from './reduce.js';
import { workgroupPlan, type WorkgroupPlan } from './geometry.js';
import { sparseTable } from './sparse-table.js';

/** Whether flashAttention runs these kernels on `device`: workgroup kernels and buffer views available, d ≤ 128. */
export function runsWorkgroupKernels(device: Device, d: number): boolean {
  return device.workgroupKernels === true && typeof device.runKernel === 'function' && typeof device.view === 'function' && d <= 128;
}

export interface WorkgroupAttention {
  /** O: a prefix view of `saved`. */
  out: Tensor;
  /** The forward's result, O then L (HUGE where a row sees no key): [BH·Nq·(d + 1)]. */
  saved: Tensor;
  /** The table block-sparse kernels read (shared by every call with this plan and grid: never dispose it), or null. */
  sparse: Tensor | null;
  plan: WorkgroupPlan;
  /** What the kernels' source depends on (planKey): the backward's specs are looked up by it. */
  key: string;
}

/**
 * What a plan's kernel source depends on: everything in it but the dropout seed (a kernel
 * argument) and the grid's cells (read from the tile table). Built once a call (a JSON of the
 * plan, ~15 µs) and shared by the forward's and the backward's lookups.
 */
const planKey = (plan: WorkgroupPlan): string => JSON.stringify({ ...plan, dropout: plan.dropout?.p ?? null, grid: plan.gridKey });

/**
 * Specs by plan, so a training step's repeated calls do not rebuild kilobytes of unrolled source
 * (the four specs of a d = 64 call took ~0.65 ms of host time to build, every call).
 */
const specs = new Map<string, ExternalKernelSpec>();

function cachedSpec(kind: string, planKey: string, build: () => ExternalKernelSpec): ExternalKernelSpec {
  const key = `${kind}|${planKey}`;
  let spec = specs.get(key);
  if (!spec) {
    if (specs.size >= 256) specs.clear(); // shapes of one model are few; a sweep of many just rebuilds
    specs.set(key, (spec = build()));
  }
  return spec;
}

/**
 * Tile tables by plan and grid cells, planned once and uploaded once per device: a training loop
 * passes the same blockMask every step, planning the table costs milliseconds of host time at
 * N = 4096 (session 6: 32K tiles over two geometries; 41K over the three now, at B·H = 8 and
 * 64-long blocks), more than the kernels at one head, and uploading its 37K floats (now 45K) again
 * every call cost 0.15 ms (llvmpipe's host, session 6). The device copy is kept
 * out of any tidy() and never disposed here: a graph that still reads an evicted one holds it, and
 * the finalizer frees it after.
 */
const tables = new Map<string, { table: Float32Array; onDevice: WeakMap<Device, Tensor> }>();

function cachedTable(device: Device, mask: AttentionMask, plan: WorkgroupPlan, planKey: string): Tensor | null {
  if (!mask.grid) return null;
  const key = `${planKey}|${Buffer.from(mask.grid.cells).toString('latin1')}`;
  let entry = tables.get(key);
  if (!entry) {
    if (tables.size >= 16) tables.clear(); // a model's grids are few; a sweep of many just replans
    tables.set(key, (entry = { table: sparseTable(mask, plan)!, onDevice: new WeakMap() }));
  }
  let uploaded = entry.onDevice.get(device);
  if (!uploaded || uploaded.isDisposed) {
    uploaded = keep(new Tensor(device.upload(entry.table), [entry.table.length], device));
    entry.onDevice.set(device, uploaded);
  }
  return uploaded;
}

/** The values of the kernel arguments after the tensors (source.ts's tableAndSeedArgs): the tile table, the seed's halves. */
const tableAndSeed = (sparse: Tensor | null, plan: WorkgroupPlan): (DeviceBuffer | number)[] =>
  [...(sparse ? [sparse.buffer()] : []), ...(plan.dropout ? splitSeed(plan.dropout.seed) : [])];

export function workgroupForward(q: Tensor, k: Tensor, v: Tensor, mask: AttentionMask, scale: number,
  dropout: { p: number; seed: number } | null): WorkgroupAttention {
  const device = q.device;
  const plan = workgroupPlan(mask, scale, dropout, device.workgroupBytes);
  const { B, H, Nq, d } = plan.dims;
  const key = planKey(plan);
  const sparse = cachedTable(device, mask, plan, key);
  const args = [q.buffer(), k.buffer(), v.buffer(), ...tableAndSeed(sparse, plan)];
  const spec = cachedSpec('fwd', key, () => forwardSpec(plan));
  const saved = new Tensor(device.runKernel!(spec, args), [spec.outSize], device);
  const out = new Tensor(device.view!(saved.buffer(), 0, B * H * Nq * d), [B, H, Nq, d], device);
  return { out, saved, sparse, plan, key };
}

/** L [B, H, Nq] from the forward's result, −∞ where a row sees no key (the kernels write HUGE there, for the backward). */
export function workgroupLse({ saved, plan }: WorkgroupAttention): Tensor {
  const { B, H, Nq } = plan.dims;
  return noGrad(() => tidy(() => {
    const raw = saved.slice([lseOffset(plan)], [lseOffset(plan) + B * H * Nq]).reshape([B, H, Nq]); // (B, H, Nq)
    return callerLse(raw);
  }));
}

/**
 * dq, then dk and dv: two kernels, each run only when one of its gradients is needed, except that
 * dQ's kernel also runs when only dk or dv is: it computes the Δ the dK/dV kernel reads. A plan
 * that splits either adds a third, which sums the split gradients' partials.
 */
export function workgroupBackward(dout: Tensor, q: Tensor, k: Tensor, v: Tensor, fwd: WorkgroupAttention, needs: boolean[]): Grads {
  const device = q.device;
  const { plan, key } = fwd;
  const { B, H, d } = plan.dims;
  const head = [q.buffer(), k.buffer(), v.buffer(), dout.buffer(), fwd.saved.buffer()];
  const tail = tableAndSeed(fwd.sparse, plan);
  const packed = (spec: ExternalKernelSpec, args: (DeviceBuffer | number)[]) => new Tensor(device.runKernel!(spec, args), [spec.outSize], device);
  const part = (of: Tensor, offset: number, like: Tensor) => new Tensor(device.view!(of.buffer(), offset, B * H * like.shape[2] * d), like.shape, device);
  const kv = needs[1] || needs[2];
  // Δ [BH·Nq], then dQ from dqOffset (one partial a split)
  const dqd = needs.some(Boolean) ? packed(cachedSpec('dq', key, () => dqSpec(plan)), [...head, ...tail]) : null;
  // dK [BH·Nk·d], then dV from dvOffset (one such part a split)
  const dkv = kv ? packed(cachedSpec('dkv', key, () => dkvSpec(plan)), [...head, dqd!.buffer(), ...tail]) : null;
  const sumDq = needs[0] && plan.dqSplit > 1;
  const sumDkv = kv && plan.dkvSplit > 1;
  const sums = sumDq || sumDkv
    ? packed(cachedSpec(`sum${+sumDq}${+sumDkv}`, key, () => splitSumSpec(plan, sumDq, sumDkv)), [...(sumDq ? [dqd!.buffer()] : []), ...(sumDkv ? [dkv!.buffer()] : [])])
    : null;
  const dq = needs[0] ? (sumDq ? part(sums!, 0, q) : part(dqd!, dqOffset(plan), q)) : null;
  const [kvOf, kvAt] = sumDkv ? [sums!, dqRegion(plan, sumDq)] : [dkv, 0];
  const dk = needs[1] ? part(kvOf!, kvAt, k) : null;
  const dv = needs[2] ? part(kvOf!, kvAt + dvOffset(plan), v) : null;
  // the views keep the memory they need
  dqd?.dispose();
  dkv?.dispose();
  sums?.dispose();
  return [dq, dk, dv];
}
