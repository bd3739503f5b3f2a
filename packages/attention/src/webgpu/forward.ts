/**
 * FlashAttention-2's forward as one gpu.js workgroup kernel (webgpu; patches/WORKGROUP-API.md).
 * A workgroup owns Br query rows of one (batch, head): 4 threads a row, each holding the row's q
 * (scaled by τ) in registers and a quarter of its output columns (x = 4u + lane). It walks the key
 * tiles of Bc keys: K's tile is staged in workgroup memory, each thread scores Bc/4 keys of its row
 * into `pt`, the row max and sum are combined across the 4 lanes through `red`/`red2`, the scores
 * become P̃ = exp(S − m') in place, V's tile replaces K's, and O = e^(m − m')·O + P̃ V. S and P̃
 * never leave the chip. It writes O [BH·Nq·d] followed by L [BH·Nq] (m + log l; HUGE where a row
 * saw no key) in its one result buffer.
 *
 * Causal: the key-tile loop stops at the last tile a row of the workgroup can see (the rest are
 * skipped), the diagonal is masked element by element. Block-sparse: a per-tile code (0 hidden,
 * 1 open, 2 partly open) from the uploaded tile table; hidden tiles skip all arithmetic and
 * loads, partial ones look up the element's block cell. Rows outside [0, Nq) and keys outside
 * [0, Nk) are masked, so any N works.
 */
import { hash24Expr, lit, type ExternalKernelSpec } from '@flashgrad/core';
import { HUGE, MASKED, type KernelGeometry, type WorkgroupPlan } from './geometry.js';

/** Lines `let q0 = q[base + 0] * scale; …` and similar: registers are named, so loops over d are unrolled. */
export const unrolled = (count: number, line: (x: number) => string): string =>
  Array.from({ length: count }, (_, x) => line(x)).join('\n');

/** Source lines that stage rows [first, first + rows) of `src` (an [BH·N, d] input) into workgroup array `dst` (row stride dp). */
export function stageTile(dst: string, src: string, first: string, rows: number, n: number, g: KernelGeometry, threads: number, scale = ''): string {
  // names suffixed by the tile: gpu.js declares a for loop's counter in the enclosing block
  const [e, jj, x, row] = ['e', 'j', 'x', 'r'].map((n) => `${n}${dst}`);
  return `for (let ${e} = t; ${e} < ${rows * g.d}; ${e} += ${threads}) {
      const ${jj} = Math.floor(${e} / ${g.d});
      const ${x} = ${e} - ${jj} * ${g.d};
      const ${row} = ${first} + ${jj};
      ${dst}[${jj} * ${g.dp} + ${x}] = ${row} < ${n} ? ${src}[(bh * ${n} + ${row}) * ${g.d} + ${x}]${scale} : 0.0;
    }`;
}

/** The dropout factor 0 or 1/(1 − p) of element (bh, i, key): core's counter hash over its index in P. */
export function dropoutFactor(plan: WorkgroupPlan, i: string, key: string): string {
  const { Nq, Nk } = plan.dims;
  const p = plan.dropout!.p;
  const draw = hash24Expr(`((bh * ${Nq} + ${i}) * ${Nk} + ${key})`, 'seedHi32', 'seedLo32');
  return `(${draw} >= ${Math.round(p * 2 ** 24)} ? ${lit(1 / (1 - p))} : 0.0)`;
}

/** The condition, as source, under which element (i, key) of a partial tile is hidden by its block cell. */
export function cellHidden(plan: WorkgroupPlan, i: string, key: string): string {
  const g = plan.grid!;
  return `sparse[${plan.cellsOffset} + Math.floor(${i} / ${g.rowsPerBlock}) * ${g.Mk} + Math.floor(${key} / ${g.keysPerBlock})] < 0.5`;
}

export function forwardSpec(plan: WorkgroupPlan): ExternalKernelSpec {
  const { dims, causal, offset } = plan;
  const g = plan.fwd;
  const { Nq, Nk, d } = dims;
  const BH = dims.B * dims.H;
  const T = g.br * 4;
  const cols = Math.ceil(d / 4); // output columns per lane
  const ps = g.bc + 1; // pt row stride (padded against bank conflicts)
  const sparse = plan.grid !== null;
  const drop = plan.dropout !== null;
  const args = ['q', 'k', 'v', ...(sparse ? ['sparse'] : []), ...(drop ? ['seedHi', 'seedLo'] : [])];
  // the last key tile some row of this workgroup sees: key ≤ i + offset for the tile's last row
  const ktEnd = causal
    ? `Math.min(${g.kt}, Math.max(0, Math.floor((qt * ${g.br} + ${g.br - 1 + offset} + ${g.bc}) / ${g.bc})))`
    : `${g.kt}`;
  const hidden = [
    `key >= ${Nk}`,
    `i >= ${Nq}`,
    ...(causal ? [`key > i + ${offset}`] : []),
    ...(sparse ? [`(code > 1.5 && ${cellHidden(plan, 'i', 'key')})`] : []),
  ].join(' || ');
  const source = `function (${args.join(', ')}) {
    const t = this.localThread.x;
    const r = t >> 2;
    const c = t & 3;
    const qt = this.workgroup.x;
    const bh = this.workgroup.y;
    const i = qt * ${g.br} + r;
    ${drop ? 'const seedHi32 = Math.floor(seedHi) | 0;\n    const seedLo32 = Math.floor(seedLo) | 0;' : ''}
    const qBase = (bh * ${Nq} + Math.min(i, ${Nq - 1})) * ${d};
    ${unrolled(d, (x) => `const q${x} = q[qBase + ${x}] * ${lit(plan.scale)};`)}
    let m = ${lit(MASKED)};
    let l = 0.0;
    ${unrolled(cols, (u) => `let o${u} = 0.0;`)}
    const ktEnd = ${ktEnd};
    // a literal trip count with the skipped tiles' work guarded: Dawn wants barriers in uniform
    // control flow, and gpu.js's this.workgroup (a private mirror) does not count as uniform
    for (let kt = 0; kt < ${g.kt}; kt++) {
      const code = kt < ktEnd ? ${sparse ? `sparse[${plan.fwdTableOffset} + qt * ${g.kt} + kt]` : '1.0'} : 0.0;
      workgroupBarrier();
      if (code > 0.5) {
        ${stageTile('kv', 'k', `kt * ${g.bc}`, g.bc, Nk, g, T)}
      }
      workgroupBarrier();
      let mx = ${lit(MASKED)};
      if (code > 0.5) {
        for (let u = 0; u < ${g.bc / 4}; u++) {
          const jj = u * 4 + c;
          const key = kt * ${g.bc} + jj;
          const kb = jj * ${g.dp};
          let s = 0.0;
          ${unrolled(d, (x) => `s += q${x} * kv[kb + ${x}];`)}
          if (${hidden}) {
            s = ${lit(MASKED)};
          }
          pt[r * ${ps} + jj] = s;
          mx = Math.max(mx, s);
        }
      }
      red[t] = mx;
      workgroupBarrier();
      const mNew = Math.max(m, Math.max(Math.max(red[r * 4], red[r * 4 + 1]), Math.max(red[r * 4 + 2], red[r * 4 + 3])));
      const alpha = Math.exp(m - mNew);
      let ls = 0.0;
      if (code > 0.5) {
        for (let u = 0; u < ${g.bc / 4}; u++) {
          const jj = u * 4 + c;
          const s = pt[r * ${ps} + jj];
          let p = s > ${lit(MASKED / 2)} ? Math.exp(s - mNew) : 0.0;
          ls += p;
          ${drop ? `const key = kt * ${g.bc} + jj;\n          p = p * ${dropoutFactor(plan, 'i', 'key')};` : ''}
          pt[r * ${ps} + jj] = p;
        }
      }
      red2[t] = ls;
      workgroupBarrier();
      l = alpha * l + (red2[r * 4] + red2[r * 4 + 1]) + (red2[r * 4 + 2] + red2[r * 4 + 3]);
      m = mNew;
      if (code > 0.5) {
        ${stageTile('kv', 'v', `kt * ${g.bc}`, g.bc, Nk, g, T)}
      }
      workgroupBarrier();
      if (code > 0.5) {
        ${unrolled(cols, (u) => `o${u} = o${u} * alpha;`)}
        for (let jj = 0; jj < ${g.bc}; jj++) {
          const p = pt[r * ${ps} + jj];
          const vb = jj * ${g.dp} + c;
          ${unrolled(cols, (u) => (4 * u + 3 < d ? `o${u} += p * kv[vb + ${4 * u}];` : `if (c + ${4 * u} < ${d}) { o${u} += p * kv[vb + ${4 * u}]; }`))}
        }
      }
    }
    const inv = l > 0.0 ? 1.0 / l : 0.0;
    if (i < ${Nq}) {
      const oBase = (bh * ${Nq} + i) * ${d} + c;
      ${unrolled(cols, (u) => `if (c + ${4 * u} < ${d}) { storeResult(oBase + ${4 * u}, o${u} * inv); }`)}
      if (c === 0) {
        storeResult(${BH * Nq * d} + bh * ${Nq} + i, l > 0.0 ? m + Math.log(l) : ${lit(HUGE)});
      }
    }
  }`;
  return {
    key: `fa2f:${BH}:${Nq}:${Nk}:${d}:${plan.scale}:${causal}:${g.br}:${g.bc}:${plan.gridKey}:${plan.dropout?.p ?? 0}`,
    source,
    output: [BH * Nq * (d + 1)],
    outSize: BH * Nq * (d + 1),
    work: 4 * BH * Nq * Nk * d,
    workgroupSize: [T],
    dispatch: [g.qt, BH],
    workgroupArrays: { kv: g.bc * g.dp, pt: g.br * ps, red: T, red2: T },
  };
}
