/**
 * FlashAttention-2's backward as three gpu.js workgroup kernels, one output each (a gpu.js kernel
 * writes one buffer): dQ with a workgroup per query tile walking the key tiles, dK and dV with a
 * workgroup per key tile walking the query tiles. Each recomputes S = τQKᵀ and P = exp(S − L)
 * from the saved L; dK and dQ also dP = dO Vᵀ and dS = P ∘ (dP ∘ Z − Δ), with Δ = rowsum(dO ∘ O)
 * computed where it is needed rather than in a kernel of its own. No atomics: every output
 * element has one writer. Z is the dropout factor, redrawn from the seed.
 *
 * Arguments: q, k, v, dO, and `saved`, the forward's result (O [BH·Nq·d] then L [BH·Nq]).
 */
import { lit, type ExternalKernelSpec } from '@flashgrad/core';
import type { WorkgroupPlan } from './geometry.js';
import { cellHidden, dropoutFactor, stageTile, unrolled } from './forward.js';

const argsOf = (plan: WorkgroupPlan): string[] =>
  ['q', 'k', 'v', 'dout', 'saved', ...(plan.grid ? ['sparse'] : []), ...(plan.dropout ? ['seedHi', 'seedLo'] : [])];

const seedLines = (plan: WorkgroupPlan): string =>
  (plan.dropout ? 'const seedHi32 = Math.floor(seedHi) | 0;\n    const seedLo32 = Math.floor(seedLo) | 0;' : '');

/** Whether element (row, key) is hidden, as source (rows and keys past the ends included). */
function hiddenExpr(plan: WorkgroupPlan, row: string, key: string): string {
  return [
    `${key} >= ${plan.dims.Nk}`,
    `${row} >= ${plan.dims.Nq}`,
    ...(plan.causal ? [`${key} > ${row} + ${plan.offset}`] : []),
    ...(plan.grid ? [`(code > 1.5 && ${cellHidden(plan, row, key)})`] : []),
  ].join(' || ');
}

const keyOf = (plan: WorkgroupPlan): string =>
  `${plan.dims.B * plan.dims.H}:${plan.dims.Nq}:${plan.dims.Nk}:${plan.dims.d}:${plan.scale}:${plan.causal}:${plan.gridKey}:${plan.dropout?.p ?? 0}`;

/** dQ = τ Σ_j dS_j K_j: the forward's geometry, 4 lanes a query row, K and V tiles staged. */
export function dqSpec(plan: WorkgroupPlan): ExternalKernelSpec {
  const { Nq, Nk, d } = plan.dims;
  const BH = plan.dims.B * plan.dims.H;
  const g = plan.fwd;
  const T = g.br * 4;
  const cols = Math.ceil(d / 4);
  const ps = g.bc + 1;
  const ktEnd = plan.causal
    ? `Math.min(${g.kt}, Math.max(0, Math.floor((qt * ${g.br} + ${g.br - 1 + plan.offset} + ${g.bc}) / ${g.bc})))`
    : `${g.kt}`;
  const source = `function (${argsOf(plan).join(', ')}) {
    const t = this.localThread.x;
    const r = t >> 2;
    const c = t & 3;
    const qt = this.workgroup.x;
    const bh = this.workgroup.y;
    const i = qt * ${g.br} + r;
    ${seedLines(plan)}
    const rowBase = (bh * ${Nq} + Math.min(i, ${Nq - 1})) * ${d};
    ${unrolled(d, (x) => `const q${x} = q[rowBase + ${x}] * ${lit(plan.scale)};`)}
    ${unrolled(d, (x) => `const g${x} = dout[rowBase + ${x}];`)}
    let delta = 0.0;
    ${unrolled(d, (x) => `delta += g${x} * saved[rowBase + ${x}];`)}
    const lse = saved[${BH * Nq * d} + bh * ${Nq} + Math.min(i, ${Nq - 1})];
    ${unrolled(cols, (u) => `let a${u} = 0.0;`)}
    const ktEnd = ${ktEnd};
    for (let kt = 0; kt < ${g.kt}; kt++) {
      const code = kt < ktEnd ? ${plan.grid ? `sparse[${plan.fwdTableOffset} + qt * ${g.kt} + kt]` : '1.0'} : 0.0;
      workgroupBarrier();
      if (code > 0.5) {
        ${stageTile('kk', 'k', `kt * ${g.bc}`, g.bc, Nk, g, T)}
        ${stageTile('vv', 'v', `kt * ${g.bc}`, g.bc, Nk, g, T)}
      }
      workgroupBarrier();
      if (code > 0.5) {
        for (let u = 0; u < ${g.bc / 4}; u++) {
          const jj = u * 4 + c;
          const key = kt * ${g.bc} + jj;
          const b = jj * ${g.dp};
          let s = 0.0;
          ${unrolled(d, (x) => `s += q${x} * kk[b + ${x}];`)}
          let dp = 0.0;
          ${unrolled(d, (x) => `dp += g${x} * vv[b + ${x}];`)}
          ${plan.dropout ? `dp = dp * ${dropoutFactor(plan, 'i', 'key')};` : ''}
          const p = (${hiddenExpr(plan, 'i', 'key')}) ? 0.0 : Math.exp(s - lse);
          ds[r * ${ps} + jj] = p * (dp - delta);
        }
      }
      workgroupBarrier();
      if (code > 0.5) {
        for (let jj = 0; jj < ${g.bc}; jj++) {
          const w = ds[r * ${ps} + jj];
          const b = jj * ${g.dp} + c;
          ${unrolled(cols, (u) => (4 * u + 3 < d ? `a${u} += w * kk[b + ${4 * u}];` : `if (c + ${4 * u} < ${d}) { a${u} += w * kk[b + ${4 * u}]; }`))}
        }
      }
    }
    if (i < ${Nq}) {
      const oBase = (bh * ${Nq} + i) * ${d} + c;
      ${unrolled(cols, (u) => `if (c + ${4 * u} < ${d}) { storeResult(oBase + ${4 * u}, a${u} * ${lit(plan.scale)}); }`)}
    }
  }`;
  return {
    key: `fa2dq:${keyOf(plan)}:${g.br}:${g.bc}`,
    source,
    output: [BH * Nq * d],
    outSize: BH * Nq * d,
    work: 6 * BH * Nq * Nk * d,
    workgroupSize: [T],
    dispatch: [g.qt, BH],
    workgroupArrays: { kk: g.bc * g.dp, vv: g.bc * g.dp, ds: g.br * ps },
  };
}

/**
 * dK = Σ_i dS_i (τ q_i) or dV = Σ_i (P ∘ Z)_i dO_i for a workgroup's Bc keys (4 lanes a key, its
 * k and v in registers), walking query tiles of Br rows staged with their L and Δ.
 */
export function dkvSpec(plan: WorkgroupPlan, which: 'dk' | 'dv'): ExternalKernelSpec {
  const { Nq, Nk, d } = plan.dims;
  const BH = plan.dims.B * plan.dims.H;
  const g = plan.bwd;
  const T = g.bc * 4;
  const cols = Math.ceil(d / 4);
  const ps = g.br + 1;
  const dk = which === 'dk';
  // the first query tile whose last row sees this key tile's first key: row ≥ key − offset
  const qtStart = plan.causal
    ? `Math.max(0, Math.floor((kt * ${g.bc} - ${plan.offset}) / ${g.br}))`
    : '0';
  const source = `function (${argsOf(plan).join(', ')}) {
    const t = this.localThread.x;
    const jl = t >> 2;
    const c = t & 3;
    const kt = this.workgroup.x;
    const bh = this.workgroup.y;
    const key = kt * ${g.bc} + jl;
    ${seedLines(plan)}
    const keyBase = (bh * ${Nk} + Math.min(key, ${Nk - 1})) * ${d};
    ${unrolled(d, (x) => `const k${x} = k[keyBase + ${x}];`)}
    ${dk ? unrolled(d, (x) => `const v${x} = v[keyBase + ${x}];`) : ''}
    ${unrolled(cols, (u) => `let a${u} = 0.0;`)}
    const qtStart = ${qtStart};
    for (let qt = 0; qt < ${g.qt}; qt++) {
      const code = qt >= qtStart ? ${plan.grid ? `sparse[${plan.bwdTableOffset} + qt * ${g.kt} + kt]` : '1.0'} : 0.0;
      workgroupBarrier();
      if (code > 0.5) {
        ${stageTile('qs', 'q', `qt * ${g.br}`, g.br, Nq, g, T, ` * ${lit(plan.scale)}`)}
        ${stageTile('gs', 'dout', `qt * ${g.br}`, g.br, Nq, g, T)}
        if (t < ${g.br}) {
          const row = Math.min(qt * ${g.br} + t, ${Nq - 1});
          lr[t] = saved[${BH * Nq * d} + bh * ${Nq} + row];
          ${dk ? `let delta = 0.0;
          for (let x = 0; x < ${d}; x++) {
            delta += dout[(bh * ${Nq} + row) * ${d} + x] * saved[(bh * ${Nq} + row) * ${d} + x];
          }
          dl[t] = delta;` : ''}
        }
      }
      workgroupBarrier();
      if (code > 0.5) {
        for (let u = 0; u < ${g.br / 4}; u++) {
          const rr = u * 4 + c;
          const row = qt * ${g.br} + rr;
          const b = rr * ${g.dp};
          let s = 0.0;
          ${unrolled(d, (x) => `s += k${x} * qs[b + ${x}];`)}
          let p = (${hiddenExpr(plan, 'row', 'key')}) ? 0.0 : Math.exp(s - lr[rr]);
          ${dk ? `let dp = 0.0;
          ${unrolled(d, (x) => `dp += v${x} * gs[b + ${x}];`)}
          ${plan.dropout ? `dp = dp * ${dropoutFactor(plan, 'row', 'key')};` : ''}
          st[jl * ${ps} + rr] = p * (dp - dl[rr]);` : `${plan.dropout ? `p = p * ${dropoutFactor(plan, 'row', 'key')};` : ''}
          st[jl * ${ps} + rr] = p;`}
        }
      }
      workgroupBarrier();
      if (code > 0.5) {
        for (let rr = 0; rr < ${g.br}; rr++) {
          const w = st[jl * ${ps} + rr];
          const b = rr * ${g.dp} + c;
          ${unrolled(cols, (u) => (4 * u + 3 < d ? `a${u} += w * ${dk ? 'qs' : 'gs'}[b + ${4 * u}];` : `if (c + ${4 * u} < ${d}) { a${u} += w * ${dk ? 'qs' : 'gs'}[b + ${4 * u}]; }`))}
        }
      }
    }
    if (key < ${Nk}) {
      const oBase = (bh * ${Nk} + key) * ${d} + c;
      ${unrolled(cols, (u) => `if (c + ${4 * u} < ${d}) { storeResult(oBase + ${4 * u}, a${u}); }`)}
    }
  }`;
  return {
    key: `fa2${which}:${keyOf(plan)}:${g.br}:${g.bc}`,
    source,
    output: [BH * Nk * d],
    outSize: BH * Nk * d,
    work: (dk ? 6 : 4) * BH * Nq * Nk * d,
    workgroupSize: [T],
    dispatch: [g.kt, BH],
    workgroupArrays: { qs: g.br * g.dp, gs: g.br * g.dp, st: g.bc * ps, lr: g.br, dl: g.br },
  };
}
