/**
 * FlashAttention-2's forward as one gpu.js workgroup kernel (webgpu; patches/WORKGROUP-API.md).
 * A workgroup owns Br query rows of one (batch, head): L threads a row (lanes, 2, 4 or 8: the
 * plan's), each holding the row's q (scaled by τ) in registers and 1/L of its output columns. It
 * walks the key tiles of Bc keys: K's tile is staged in workgroup memory, each thread scores Bc/L
 * keys of its row into `pt`, the row max and sum are combined across the L lanes through
 * `red`/`red2`, the scores become P̃ = exp(S − m') in place, V's tile replaces K's, and
 * O = e^(m − m')·O + P̃ V. S and P̃
 * never leave the chip. It writes O [BH·Nq·d] followed by L [BH·Nq] (m + log l; HUGE where a row
 * saw no key) in its one result buffer.
 *
 * Causal: the key-tile loop stops at the last tile a row of the workgroup can see (the tiles
 * past it cost nothing), the diagonal is masked element by element. Block-sparse: a per-tile code (0 hidden,
 * 1 open, 2 partly open) from the uploaded tile table; hidden tiles skip all arithmetic and
 * loads, partial ones look up the element's block cell. Rows outside [0, Nq) and keys outside
 * [0, Nk) are masked, so any N works.
 */
import { hash24Expr, lit, type ExternalKernelSpec } from '@flashgrad/core';
import { HUGE, MASKED, forwardArrays, row4, tileCode, tileOfWorkgroup, type Kernel, type WorkgroupPlan } from './geometry.js';

/** Lines `let q0 = q[base + 0] * scale; …` and similar: registers are named, so loops over d are unrolled. */
export const unrolled = (count: number, line: (x: number) => string): string =>
  Array.from({ length: count }, (_, x) => line(x)).join('\n');

/**
 * Source lines that stage rows [first, first + rows) of `src` (an [BH·n, d] input) into the vec4
 * workgroup array `dst` (layout row4(d)): zeros past d and past row n.
 */
export function stageTile(dst: string, src: string, first: string, rows: number, n: number, d: number, lanes: number, threads: number, scale = ''): string {
  const { quads, stride } = row4(d, lanes);
  // names suffixed by tile and source: gpu.js declares a for loop's counter in the enclosing block
  const [e, jj, w, row, base] = ['e', 'j', 'w', 'r', 'b'].map((n) => `${n}${dst}_${src}`);
  const comp = (i: number) => {
    const cond = [`${row} < ${n}`, ...(d % 4 === 0 ? [] : [`${w} * 4 + ${i} < ${d}`])].join(' && ');
    return `${cond} ? ${src}[${base} + ${i}]${scale} : 0.0`;
  };
  return `for (let ${e} = t; ${e} < ${rows * quads}; ${e} += ${threads}) {
      const ${jj} = ${quads & (quads - 1) ? `Math.floor(${e} / ${quads})` : `${e} >> ${Math.log2(quads)}`};
      const ${w} = ${e} - ${jj} * ${quads};
      const ${row} = ${first} + ${jj};
      const ${base} = (bh * ${n} + Math.min(${row}, ${n - 1})) * ${d} + Math.min(${w} * 4, ${4 * (Math.ceil(d / 4) - 1)});
      if (${w} < ${Math.ceil(d / 4)}) {
        ${dst}[${jj} * ${stride} + ${w}] = [${[0, 1, 2, 3].map(comp).join(', ')}];
      } else {
        ${dst}[${jj} * ${stride} + ${w}] = [0.0, 0.0, 0.0, 0.0];
      }
    }`;
}

/**
 * `let acc = Σ_x reg(x) · tile[at][x]` over x < d, as source: one vec4 read of the staged row per 4
 * multiply-adds (`v` names the read's local; unique per call site), summed in four partial sums
 * by component (`acc_p0` … `acc_p3`) combined at the end. Written as one sum a vec4
 * (`acc += r0·v[0] + … + r3·v[3]`) it compiles to a multiply, three fused multiply-adds and an add
 * per 4 products: 80 instructions for d = 64 where 64 fused multiply-adds and 3 adds do.
 */
export function dot4(acc: string, reg: (x: number) => string, tile: string, at: string, d: number, v: string): string {
  const part = (i: number) => `${acc}_p${i}`;
  const lines = unrolled(Math.ceil(d / 4), (w) => {
    const terms = [0, 1, 2, 3].filter((i) => 4 * w + i < d)
      .map((i) => (w === 0 ? `let ${part(i)} = ${reg(i)} * ${v}${w}[${i}];` : `${part(i)} += ${reg(4 * w + i)} * ${v}${w}[${i}];`));
    return `const ${v}${w} = ${tile}[${at} + ${w}];\n          ${terms.join(' ')}`;
  });
  const parts = Math.min(4, d);
  const sum = parts === 4 ? `(${part(0)} + ${part(1)}) + (${part(2)} + ${part(3)})` : Array.from({ length: parts }, (_, i) => part(i)).join(' + ');
  return `${lines}\n          let ${acc} = ${sum};`;
}

/**
 * `acc(m, i) += weight · tile[at + c + L·m][i]` for the vec4s c + L·m (m < quads/L) lane c of L
 * owns: its part of a row of the output, named by `acc`.
 */
export function axpy4(acc: (m: number, i: number) => string, weight: string, tile: string, at: string, d: number, lanes: number, v: string): string {
  const { quads } = row4(d, lanes);
  return unrolled(quads / lanes, (m) => `const ${v}${m} = ${tile}[${at} + c + ${lanes * m}];\n          ` +
    [0, 1, 2, 3].map((i) => `${acc(m, i)} += ${weight} * ${v}${m}[${i}];`).join(' '));
}

/** Declarations `let a0_0 = 0.0; …` of a lane's output accumulators, and their stores (columns 4(c + L·m) + i < d). */
export function accumulators(name: string, d: number, lanes: number): { decl: string; acc: (m: number, i: number) => string; store: (base: string, value: (a: string) => string) => string } {
  const { quads } = row4(d, lanes);
  const acc = (m: number, i: number) => `${name}${m}_${i}`;
  const all: [number, number][] = [];
  for (let m = 0; m < quads / lanes; m++) for (let i = 0; i < 4; i++) all.push([m, i]);
  return {
    decl: all.map(([m, i]) => `let ${acc(m, i)} = 0.0;`).join(' '),
    acc,
    // column of (m, i) for lane c: 4·(c + L·m) + i
    store: (base, value) => all.map(([m, i]) => `if (c * 4 + ${4 * lanes * m + i} < ${d}) { storeResult(${base} + c * 4 + ${4 * lanes * m + i}, ${value(acc(m, i))}); }`).join('\n      '),
  };
}

/** A balanced tree `op(op(x0, x1), op(x2, x3))…` over x(0 … n − 1), n a power of 2, as source. */
function tree(x: (i: number) => string, n: number, op: (a: string, b: string) => string): string {
  let level = Array.from({ length: n }, (_, i) => x(i));
  while (level.length > 1) level = level.filter((_, i) => i % 2 === 0).map((a, i) => op(a, level[2 * i + 1]));
  return level[0];
}

/**
 * A kernel's opening lines: thread t is lane `c` of row `own` within tile `tile` (the one the
 * workgroup's y takes, tileOfWorkgroup: query tiles for the forward and dQ, key tiles for dK/dV)
 * of (batch, head) `bh` (its x), the kernel's lanes a row; then the dropout seed's two halves. With `split` > 1 the
 * workgroups y = tile·split + sp share a tile, `sp` naming this one's part (splitRange); a tile's
 * parts are neighbours, so the heaviest tile's parts still start first.
 */
export function threadLines(plan: WorkgroupPlan, kernel: Kernel, own: string, tile: string, split = 1): string {
  const g = plan[kernel];
  const y = split === 1 ? 'this.workgroup.y' : `Math.floor(this.workgroup.y / ${split})`;
  return `const t = this.localThread.x;
    const ${own} = t >> ${Math.log2(g.lanes)};
    const c = t & ${g.lanes - 1};${split === 1 ? '' : `\n    const sp = this.workgroup.y - ${y} * ${split};`}
    const ${tile} = ${tileOfWorkgroup(plan, kernel, y)};
    const bh = this.workgroup.x;${plan.dropout ? '\n    const seedHi32 = Math.floor(seedHi) | 0;\n    const seedLo32 = Math.floor(seedLo) | 0;' : ''}`;
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
  const L = g.lanes;
  const T = g.br * L;
  const { stride, quads } = row4(d, L);
  const ps = g.bc + 1; // pt row stride (padded against bank conflicts)
  const sparse = plan.grid !== null;
  const drop = plan.dropout !== null;
  const args = ['q', 'k', 'v', ...(sparse ? ['sparse'] : []), ...(drop ? ['seedHi', 'seedLo'] : [])];
  const o = accumulators('o', d, L);
  // the last key tile some row of this workgroup sees: key ≤ i + offset for the tile's last row
  const ktEnd = causal
    ? `Math.min(${g.kt}, Math.max(0, Math.floor((qt * ${g.br} + ${g.br - 1 + offset} + ${g.bc}) / ${g.bc})))`
    : `${g.kt}`;
  const hidden = (key: string) => [
    `${key} >= ${Nk}`,
    `i >= ${Nq}`,
    ...(causal ? [`${key} > i + ${offset}`] : []),
    ...(sparse ? [`(code > 1.5 && ${cellHidden(plan, 'i', key)})`] : []),
  ].join(' || ');
  // a lane scores keys c, c + L, …: two at a time, so two independent chains of multiply-adds
  const score = (h: number) => `const jj${h} = u * ${2 * L} + ${L * h} + c;
          const key${h} = kt * ${g.bc} + jj${h};
          ${dot4(`s${h}`, (x) => `q${x}`, 'kv', `jj${h} * ${stride}`, d, `k${h}_`)}
          if (${hidden(`key${h}`)}) {
            s${h} = ${lit(MASKED)};
          }
          pt[r * ${ps} + jj${h}] = s${h};
          mx = Math.max(mx, s${h});`;
  const source = `function (${args.join(', ')}) {
    ${threadLines(plan, 'fwd', 'r', 'qt')}
    const i = qt * ${g.br} + r;
    const qBase = (bh * ${Nq} + Math.min(i, ${Nq - 1})) * ${d};
    ${unrolled(d, (x) => `const q${x} = q[qBase + ${x}] * ${lit(plan.scale)};`)}
    let m = ${lit(MASKED)};
    let l = 0.0;
    ${o.decl}
    const ktEnd = ${ktEnd};
    // the loop stops at the causal diagonal: its bound comes from this.workgroup, uniform across
    // the workgroup, so the barriers inside stay in uniform control flow (Dawn requires it)
    for (let kt = 0; kt < ktEnd; kt++) {
      const code = ${tileCode(plan, 'fwd')};
      // a hidden tile (code 0) is skipped whole: the code is read from a read-only buffer at a
      // uniform index, so it is uniform and the barriers inside stay in uniform control flow (no
      // continue: gpu.js puts the increment of a loop with a computed start at the body's end)
      if (code > 0.5) {
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
        storeResult(${BH * Nq * d} + bh * ${Nq} + i, l === 0.0 ? ${lit(HUGE)} : m + Math.log(l));
      }
    }
  }`;
  return {
    key: `fa2f:${BH}:${Nq}:${Nk}:${d}:${plan.scale}:${causal}:${g.br}:${g.bc}:${L}:${plan.gridKey}:${plan.dropout?.p ?? 0}`,
    source,
    output: [BH * Nq * (d + 1)],
    outSize: BH * Nq * (d + 1),
    work: 4 * BH * Nq * Nk * d,
    workgroupSize: [T],
    dispatch: [BH, g.qt],
    workgroupArrays: forwardArrays(g),
  };
}
