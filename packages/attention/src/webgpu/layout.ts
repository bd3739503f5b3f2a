/**
 * Where each kernel's one result buffer holds what (a gpu.js kernel writes one buffer; the
 * tensors are views of it, Device.view, whose offsets are multiples of 64 floats):
 * - the forward: O [BH·Nq·d], then L [BH·Nq] (read by the backward, not viewed);
 * - dQ: Δ [BH·Nq], then from dqOffset dQ [BH·Nq·d], one such dQ a split (partial sums);
 * - dK/dV: dK [BH·Nk·d], then from dvOffset dV, one such part (dkvPart) a split;
 * - the split sum (reduce.ts): dQ where summed (dqRegion floats), then the dK/dV part.
 */
import type { WorkgroupPlan } from './geometry.js';

/** n rounded up to the floats a view's offset is a multiple of (Device.view). */
const align = (n: number): number => Math.ceil(n / 64) * 64;

/** Where L starts in the forward's result: after O. */
export const lseOffset = (plan: WorkgroupPlan): number => plan.dims.B * plan.dims.H * plan.dims.Nq * plan.dims.d;

/** Where dQ's partial sums start in its kernel's result, after Δ [BH·Nq] (aligned for a view). */
export const dqOffset = (plan: WorkgroupPlan): number => align(plan.dims.B * plan.dims.H * plan.dims.Nq);

/** Where dV starts in the dK/dV kernel's result (in each split's part): after dK, aligned for a view. */
export const dvOffset = (plan: WorkgroupPlan): number => align(plan.dims.B * plan.dims.H * plan.dims.Nk * plan.dims.d);

/** Floats of one split's part of the dK/dV result: dK, then dV from dvOffset. */
export const dkvPart = (plan: WorkgroupPlan): number => dvOffset(plan) + plan.dims.B * plan.dims.H * plan.dims.Nk * plan.dims.d;

/** Floats of the dQ region of the split sum's result (0 when dQ is not summed); the dK/dV part follows. */
export const dqRegion = (plan: WorkgroupPlan, dq: boolean): number =>
  (dq ? align(plan.dims.B * plan.dims.H * plan.dims.Nq * plan.dims.d) : 0);
