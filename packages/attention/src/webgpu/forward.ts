/**
 * FlashAttention-2's forward as one gpu.js workgroup kernel (webgpu; patches/WORKGROUP-API.md).
 * A workgroup owns Br query rows of one (batch, head): L threads a row (lanes, 2, 4 or 8: the
 * plan's), each holding the row's q (scaled by τ) in registers and 1/L of its output columns. It
 * walks the key tiles of Bc keys: K's tile is staged in workgroup memory, each thread scores Bc/L
 * keys of its row into `pt`, the row max and sum are combined across the L lanes through
 * `red`/`red2`, the scores become P̃ = exp(S − m') in place, V's tile replaces K's, and
 * O = e^(m − m')·O + P̃ V. S and P̃ never leave the chip. It writes O [BH·Nq·d] followed by L
 * [BH·Nq] (m + log l; HUGE where a row saw no key) in its one result buffer (layout.ts).
 *
 * Causal: the key-tile loop stops at the last tile a row of the workgroup can see (the tiles past
 * it cost nothing), the diagonal is masked element by element. Block-sparse: a per-tile code (0
 * hidden, 1 open, 2 partly open) from the uploaded tile table (sparse-table.ts); hidden tiles skip
 * all arithmetic and loads, partial ones look up the element's block cell. Rows outside [0, Nq) and keys outside
 * [0, Nk) are masked, so any N works.
 */
import { lit, type ExternalKernelSpec } from '@flashgrad/core';
import { HUGE, MASKED } from '../masks.js';
import { forwardArrays, row4, tableKey, type WorkgroupPlan } from './geometry.js';
import { lseOffset } from './layout.js';
import { accumulators, axpy4, dot4, dropoutFactor, hiddenExpr, ifTileOpen, keyTileEnd, stageTile, tableAndSeedArgs, threadLines, unrolled } from './source.js';

/** A balanced tree `op(op(x0, x1), op(x2, x3))…` over x(0 … n − 1), n a power of 2, as source. */
function tree(x: (i: number) => string, n: number, op: (a: string, b: string) => string): string {
  let level = Array.from({ length: n }, (_, i) => x(i));
  while (level.length > 1) level = level.filter((_, i) => i % 2 === 0).map((a, i) => op(a, level[2 * i + 1]));
  return level[0];
}

export function forwardSpec(plan: WorkgroupPlan): ExternalKernelSpec {
  const { dims, causal } = plan;
  const g = plan.fwd;
  const { Nq, Nk, d } = dims;
  const BH = dims.B * dims.H;
  const L = g.lanes;
  const T = g.br * L;
  const { stride, quads } = row4(d, L);
  const ps = g.bc + 1; // pt row stride (padded against bank conflicts)
  const drop = plan.dropout !== null;
  const o = accumulators('o', d, L);
  // a lane scores keys c, c + L, …: two at a time, so two independent chains of multiply-adds
  const score = (h: number) => `const jj${h} = u * ${2 * L} + ${L * h} + c;
          const key${h} = kt * ${g.bc} + jj${h};
          ${dot4(`s${h}`, (x) => `q${x}`, 'kv', `jj${h} * ${stride}`, d, `k${h}_`)}
          if (${hiddenExpr(plan, 'i', `key${h}`)}) {
            s${h} = ${lit(MASKED)};
          }
          pt[r * ${ps} + jj${h}] = s${h};
          mx = Math.max(mx, s${h});`;
  const source = `function (${['q', 'k', 'v', ...tableAndSeedArgs(plan)].join(', ')}) {
    ${threadLines(plan, 'fwd', 'r', 'qt')}
    const i = qt * ${g.br} + r;
    const qBase = (bh * ${Nq} + Math.min(i, ${Nq - 1})) * ${d};
    ${unrolled(d, (x) => `const q${x} = q[qBase + ${x}] * ${lit(plan.scale)};`)}
    let m = ${lit(MASKED)};
    let l = 0.0;
    ${o.decl}
    const ktEnd = ${keyTileEnd(plan, g)};
    // the loop stops at the causal diagonal: its bound comes from this.workgroup, uniform across
    // the workgroup, so the barriers inside stay in uniform control flow (Dawn requires it)
    for (let kt = 0; kt < ktEnd; kt++) {
      ${ifTileOpen(plan, 'fwd')}
        workgroupBarrier();
        ${stageTile('kv', 'k', `kt * ${g.bc}`, g.bc, Nk, d, L, T)}
        workgroupBarrier();
        let mx = ${lit(MASKED)};
        for (let u = 0; u < ${g.bc / (2 * L)}; u++) {
          ${score(0)}
          ${score(1)}
        }
        red[t] = mx;
        workgroupBarrier();
        // every thread is done with K's tile: V's takes its place, visible after the next barrier
        ${stageTile('kv', 'v', `kt * ${g.bc}`, g.bc, Nk, d, L, T)}
        const mNew = Math.max(m, ${tree((x) => `red[r * ${L} + ${x}]`, L, (a, b) => `Math.max(${a}, ${b})`)});
        const alpha = Math.exp(m - mNew);
        let ls = 0.0;
        for (let u = 0; u < ${g.bc / L}; u++) {
          const jj = u * ${L} + c;
          const s = pt[r * ${ps} + jj];
          // hidden (MASKED) scores give 0; a NaN score fails every comparison, so it is tested as the
          // exception and gives NaN, as on every other device (s > MASKED / 2 turned it into 0)
          let p = s < ${lit(MASKED / 2)} ? 0.0 : Math.exp(s - mNew);
          ls += p;
          ${drop ? `const key = kt * ${g.bc} + jj;\n          p = p * ${dropoutFactor(plan, 'i', 'key')};` : ''}
          pt[r * ${ps} + jj] = p;
        }
        red2[t] = ls;
        workgroupBarrier();
        l = alpha * l + ${tree((x) => `red2[r * ${L} + ${x}]`, L, (a, b) => `(${a} + ${b})`)};
        m = mNew;
        ${unrolled(4 * quads / L, (x) => `${o.acc(x >> 2, x & 3)} = ${o.acc(x >> 2, x & 3)} * alpha;`)}
        for (let jj = 0; jj < ${g.bc}; jj++) {
          const p = pt[r * ${ps} + jj];
          ${axpy4(o.acc, 'p', 'kv', `jj * ${stride}`, d, L, 'v')}
        }
      }
    }
    // l is 0 exactly where a row sees no key (it outputs 0); NaN stays NaN (l > 0.0 made it 0)
    const inv = l === 0.0 ? 0.0 : 1.0 / l;
    if (i < ${Nq}) {
      const oBase = (bh * ${Nq} + i) * ${d};
      ${o.store('oBase', (a) => `${a} * inv`)}
      if (c === 0) {
        storeResult(${lseOffset(plan)} + bh * ${Nq} + i, l === 0.0 ? ${lit(HUGE)} : m + Math.log(l));
      }
    }
  }`;
  return {
    key: `fa2f:${BH}:${Nq}:${Nk}:${d}:${plan.scale}:${causal}:${g.br}:${g.bc}:${L}:${plan.gridKey}:${plan.dropout?.p ?? 0}${tableKey(plan, 'fwd')}`,
    source,
    output: [lseOffset(plan) + BH * Nq],
    outSize: lseOffset(plan) + BH * Nq,
    work: 4 * BH * Nq * Nk * d,
    workgroupSize: [T],
    dispatch: [BH, g.qt],
    workgroupArrays: forwardArrays(g),
  };
}
