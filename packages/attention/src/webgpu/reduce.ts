/**
 * The backward's third kernel where the plan splits dQ or dK/dV over several workgroups a tile
 * (split-KV, geometry.ts): one thread an output float, adding that float's partial sums. Run only
 * for the gradients that were split; its result packs them: dQ [BH·Nq·d] (aligned), then dK and
 * dV in the dK/dV kernel's own layout (dV from dvOffset), so the gradients are views of it.
 */
import type { ExternalKernelSpec } from '@flashgrad/core';
import type { WorkgroupPlan } from './geometry.js';
import { dkvPart, dqOffset, dqRegion } from './layout.js';

/** Sums dQ's partials (argument `dqd`, when `dq`) and dK/dV's (`dkv`, when `dkv`). */
export function splitSumSpec(plan: WorkgroupPlan, dq: boolean, dkv: boolean): ExternalKernelSpec {
  if ((!dq && !dkv) || (dq && plan.dqSplit === 1) || (dkv && plan.dkvSplit === 1)) {
    throw new Error(`flashAttention splitSum: sums only split gradients (dQ split ${plan.dqSplit}, dK/dV split ${plan.dkvSplit}; asked dQ ${dq}, dK/dV ${dkv})`);
  }
  const { B, H, Nq, d } = plan.dims;
  const dqFloats = B * H * Nq * d;
  const head = dqRegion(plan, dq);
  const part = dkvPart(plan);
  const sum = (src: string, at: string, parts: number, stride: number) =>
    Array.from({ length: parts }, (_, s) => `${src}[${at}${s ? ` + ${s * stride}` : ''}]`).join(' + ');
  const dqSum = `if (x < ${dqFloats}) { v = ${sum('dqd', `${dqOffset(plan)} + x`, plan.dqSplit, dqFloats)}; }`;
  const dkvSum = `v = ${sum('dkv', `x - ${head}`, plan.dkvSplit, part)};`;
  const body = dq && dkv ? `if (x < ${head}) { ${dqSum} } else { ${dkvSum} }` : dq ? dqSum : dkvSum;
  const n = head + (dkv ? part : 0);
  return {
    key: `fa2sum:${B * H}:${Nq}:${plan.dims.Nk}:${d}:${dq ? plan.dqSplit : 0}:${dkv ? plan.dkvSplit : 0}`,
    source: `function (${[...(dq ? ['dqd'] : []), ...(dkv ? ['dkv'] : [])].join(', ')}) { const x = this.thread.x; let v = 0.0; ${body} return v; }`,
    output: [n],
    outSize: n,
    work: n * ((dq ? plan.dqSplit : 0) + (dkv ? plan.dkvSplit : 0)),
  };
}
