/**
 * FlashAttention-2's backward as two gpu.js workgroup kernels, each with one packed result (a
 * gpu.js kernel writes one buffer; the gradients are views of it, Device.view): dQ with a
 * workgroup per query tile walking the key tiles, then dK and dV together with a workgroup per
 * key tile walking the query tiles. Each recomputes S = τQKᵀ, P = exp(S − L) from the saved L,
 * dP = dO Vᵀ and dS = P ∘ (dP ∘ Z − Δ), with Δ = rowsum(dO ∘ O). Δ is computed by dQ (each
 * row's threads hold its dO in registers already), and written first in its result, which
 * the dK/dV kernel reads like L, one float a row. No atomics: every output element has one
 * writer. Z is the dropout factor, redrawn from the seed. Split (plan.dqSplit, dkvSplit > 1),
 * each kernel writes one partial sum a split, and reduce.ts's kernel adds them.
 *
 * Arguments: q, k, v, dO, and `saved`, the forward's result (O [BH·Nq·d] then L [BH·Nq]); dK/dV
 * also `dqd`, dQ's result (Δ [BH·Nq], then dQ from dqOffset).
 */
import { lit, type ExternalKernelSpec } from '@flashgrad/core';
import { dkvArrays, dqArrays, row4, tableKey, type WorkgroupPlan } from './geometry.js';
import { dkvPart, dqOffset, dvOffset, lseOffset } from './layout.js';
import { accumulators, axpy4, dot4, dropoutFactor, hiddenExpr, ifTileOpen, keyTileEnd, splitRange, stageTile, tableAndSeedArgs, threadLines, unrolled } from './source.js';

const argsOf = (plan: WorkgroupPlan, delta = false): string[] =>
  ['q', 'k', 'v', 'dout', 'saved', ...(delta ? ['dqd'] : []), ...tableAndSeedArgs(plan)];

const keyOf = (plan: WorkgroupPlan): string =>
  `${plan.dims.B * plan.dims.H}:${plan.dims.Nq}:${plan.dims.Nk}:${plan.dims.d}:${plan.scale}:${plan.causal}:${plan.gridKey}:${plan.dropout?.p ?? 0}`;

/**
 * dQ = τ Σ_j dS_j K_j, and Δ: the forward's walk on tiles of its own (plan.dq), lanes a query row,
 * K and V tiles staged (vec4 rows). Result: Δ [BH·Nq], then from dqOffset dQ [BH·Nq·d], or one partial dQ a split.
 */
export function dqSpec(plan: WorkgroupPlan): ExternalKernelSpec {
  const { Nq, Nk, d } = plan.dims;
  const BH = plan.dims.B * plan.dims.H;
  const g = plan.dq;
  const S = plan.dqSplit;
  const dqAt = dqOffset(plan);
  const L = g.lanes;
  const T = g.br * L;
  const { stride } = row4(d, L);
  const ps = g.bc + 1;
  const a = accumulators('a', d, L);
  // two keys at a time: independent chains of multiply-adds
  const score = (h: number) => `const jj${h} = u * ${2 * L} + ${L * h} + c;
          const key${h} = kt * ${g.bc} + jj${h};
          ${dot4(`s${h}`, (x) => `q${x}`, 'kk', `jj${h} * ${stride}`, d, `k${h}_`)}
          ${dot4(`dp${h}`, (x) => `g${x}`, 'vv', `jj${h} * ${stride}`, d, `v${h}_`)}
          ${plan.dropout ? `dp${h} = dp${h} * ${dropoutFactor(plan, 'i', `key${h}`)};` : ''}
          const p${h} = (${hiddenExpr(plan, 'i', `key${h}`)}) ? 0.0 : Math.exp(s${h} - lse);
          ds[r * ${ps} + jj${h}] = p${h} * (dp${h} - delta);`;
  const source = `function (${argsOf(plan).join(', ')}) {
    ${threadLines(plan, 'dq', 'r', 'qt', S)}
    const i = qt * ${g.br} + r;
    const rowBase = (bh * ${Nq} + Math.min(i, ${Nq - 1})) * ${d};
    ${unrolled(d, (x) => `const q${x} = q[rowBase + ${x}] * ${lit(plan.scale)};`)}
    ${unrolled(d, (x) => `const g${x} = dout[rowBase + ${x}];`)}
    let delta = 0.0;
    ${unrolled(d, (x) => `delta += g${x} * saved[rowBase + ${x}];`)}
    const lse = saved[${lseOffset(plan)} + bh * ${Nq} + Math.min(i, ${Nq - 1})];
    ${a.decl}
    const ktEnd = ${keyTileEnd(plan, g)};
    ${splitRange('kt', S, '0', 'ktEnd')}
    // bounded at the causal diagonal: a uniform bound (this.workgroup), so barriers may sit inside
    for (let kt = ktFrom; kt < ktTo; kt++) {
      ${ifTileOpen(plan, 'dq')}
        workgroupBarrier();
        ${stageTile('kk', 'k', `kt * ${g.bc}`, g.bc, Nk, d, L, T)}
        ${stageTile('vv', 'v', `kt * ${g.bc}`, g.bc, Nk, d, L, T)}
        workgroupBarrier();
        for (let u = 0; u < ${g.bc / (2 * L)}; u++) {
          ${score(0)}
          ${score(1)}
        }
        workgroupBarrier();
        for (let jj = 0; jj < ${g.bc}; jj++) {
          const w = ds[r * ${ps} + jj];
          ${axpy4(a.acc, 'w', 'kk', `jj * ${stride}`, d, L, 'kq')}
        }
      }
    }
    if (i < ${Nq}) {
      const oBase = ${dqAt} + (bh * ${Nq} + i) * ${d}${S > 1 ? ` + sp * ${BH * Nq * d}` : ''};
      ${a.store('oBase', (x) => `${x} * ${lit(plan.scale)}`)}
      if (c === 0${S > 1 ? ' && sp === 0' : ''}) {
        storeResult(bh * ${Nq} + i, delta);
      }
    }
  }`;
  return {
    key: `fa2dq:${keyOf(plan)}:${g.br}:${g.bc}:${L}:${S}${tableKey(plan, 'dq')}`,
    source,
    output: [dqAt + S * BH * Nq * d],
    outSize: dqAt + S * BH * Nq * d,
    work: 6 * BH * Nq * Nk * d,
    workgroupSize: [T],
    dispatch: [BH, g.qt * S],
    workgroupArrays: dqArrays(g),
  };
}

/**
 * dK = Σ_i dS_i (τ q_i) and dV = Σ_i (P ∘ Z)_i dO_i in one kernel, for a workgroup's Bc keys
 * (lanes a key, its k and v in registers, both accumulators too), walking query tiles of Br rows
 * staged (vec4 rows) with their L and Δ. S and dP are computed once a tile for both (separate
 * kernels recomputed S for dV: 8·N²·d of work instead of 10). P ∘ Z and dS take turns in one
 * transposed tile `st` (two would pass 32 KiB at Bc = 64, d = 64): a lane keeps its dS values
 * in registers while the dV step reads P ∘ Z. Result: dK [BH·Nk·d], then dV from dvOffset; split,
 * one such part (dkvPart) of partial sums a split.
 */
export function dkvSpec(plan: WorkgroupPlan): ExternalKernelSpec {
  const { Nq, Nk, d } = plan.dims;
  const BH = plan.dims.B * plan.dims.H;
  const g = plan.bwd;
  const S = plan.dkvSplit;
  const L = g.lanes;
  const T = g.bc * L;
  const { stride } = row4(d, L);
  const ps = g.br + 1;
  const dvAt = dvOffset(plan);
  const a = accumulators('a', d, L); // dK
  const b = accumulators('b', d, L); // dV
  // the first query tile whose last row sees this key tile's first key: row ≥ key − offset
  const qtStart = plan.causal
    ? `Math.max(0, Math.floor((kt * ${g.bc} - ${plan.offset}) / ${g.br}))`
    : '0';
  // a lane's rows of the tile: rr = L·n + c for n < Br/L, unrolled so that each row's dS has a
  // register of its own (and the rows' chains of multiply-adds are independent)
  const rows = Array.from({ length: g.br / L }, (_, n) => n);
  const score = (n: number) => `const rr${n} = ${L * n} + c;
          const row${n} = qt * ${g.br} + rr${n};
          ${dot4(`s${n}`, (x) => `k${x}`, 'qs', `rr${n} * ${stride}`, d, `q${n}_`)}
          ${dot4(`dp${n}`, (x) => `v${x}`, 'gs', `rr${n} * ${stride}`, d, `g${n}_`)}
          const p${n} = (${hiddenExpr(plan, `row${n}`, 'key')}) ? 0.0 : Math.exp(s${n} - lr[rr${n}]);
          ${plan.dropout ? `const z${n} = ${dropoutFactor(plan, `row${n}`, 'key')};` : `const z${n} = 1.0;`}
          const ds${n} = p${n} * (dp${n} * z${n} - dl[rr${n}]);
          st[jl * ${ps} + rr${n}] = p${n} * z${n};`;
  const source = `function (${argsOf(plan, true).join(', ')}) {
    ${threadLines(plan, 'bwd', 'jl', 'kt', S)}
    const key = kt * ${g.bc} + jl;
    const keyBase = (bh * ${Nk} + Math.min(key, ${Nk - 1})) * ${d};
    ${unrolled(d, (x) => `const k${x} = k[keyBase + ${x}];`)}
    ${unrolled(d, (x) => `const v${x} = v[keyBase + ${x}];`)}
    ${a.decl}
    ${b.decl}
    const qtStart = ${qtStart};
    ${splitRange('qt', S, 'qtStart', String(g.qt))}
    // starts at the causal diagonal: a uniform bound (this.workgroup), so barriers may sit inside
    for (let qt = qtFrom; qt < qtTo; qt++) {
      ${ifTileOpen(plan, 'bwd')}
        workgroupBarrier();
        ${stageTile('qs', 'q', `qt * ${g.br}`, g.br, Nq, d, L, T, ` * ${lit(plan.scale)}`)}
        ${stageTile('gs', 'dout', `qt * ${g.br}`, g.br, Nq, d, L, T)}
        if (t < ${g.br}) {
          const row = Math.min(qt * ${g.br} + t, ${Nq - 1});
          lr[t] = saved[${lseOffset(plan)} + bh * ${Nq} + row];
          dl[t] = dqd[bh * ${Nq} + row];
        }
        workgroupBarrier();
        ${rows.map(score).join('\n          ')}
        workgroupBarrier();
        for (let rv = 0; rv < ${g.br}; rv++) {
          const w = st[jl * ${ps} + rv];
          ${axpy4(b.acc, 'w', 'gs', `rv * ${stride}`, d, L, 'xv')}
        }
        workgroupBarrier();
        ${rows.map((n) => `st[jl * ${ps} + rr${n}] = ds${n};`).join('\n        ')}
        workgroupBarrier();
        for (let rk = 0; rk < ${g.br}; rk++) {
          const w = st[jl * ${ps} + rk];
          ${axpy4(a.acc, 'w', 'qs', `rk * ${stride}`, d, L, 'xk')}
        }
      }
    }
    if (key < ${Nk}) {
      const oBase = (bh * ${Nk} + key) * ${d}${S > 1 ? ` + sp * ${dkvPart(plan)}` : ''};
      ${a.store('oBase', (x) => x)}
      ${b.store(`${dvAt} + oBase`, (x) => x)}
    }
  }`;
  return {
    key: `fa2dkv:${keyOf(plan)}:${g.br}:${g.bc}:${L}:${S}${tableKey(plan, 'bwd')}`,
    source,
    output: [S * dkvPart(plan)],
    outSize: S * dkvPart(plan),
    work: 8 * BH * Nq * Nk * d,
    workgroupSize: [T],
    dispatch: [BH, g.kt * S],
    workgroupArrays: dkvArrays(g),
  };
}
