/**
 * Source emitters the FlashAttention kernels share (forward.ts, backward.ts): unrolled lines over
 * d, a tile staged into workgroup memory, dot products and multiply-adds over its vec4 rows, a
 * lane's accumulators, a kernel's opening lines (the tile and split a workgroup takes), the tile
 * loop's bounds, and the masks (causal, block-sparse cells, dropout) as expressions. Each returns
 * gpu.js kernel source (JavaScript that gpu.js translates to WGSL), sized by the plan (geometry.ts).
 */
import { dropoutThreshold, hash24Expr, lit } from '@flashgrad/core';
import { row4, type Kernel, type KernelGeometry, type WorkgroupPlan } from './geometry.js';

/** Lines `let q0 = q[base + 0] * scale; …` and similar: registers are named, so loops over d are unrolled. */
export const unrolled = (count: number, line: (x: number) => string): string =>
  Array.from({ length: count }, (_, x) => line(x)).join('\n');

/**
 * Source lines that stage rows [first, first + rows) of `src` (an [BH·n, d] input) into the vec4
 * workgroup array `dst` (layout row4(d)): zeros past d and past row n.
 */
export function stageTile(dst: string, src: string, first: string, rows: number, n: number, d: number, lanes: number, threads: number, scale = ''): string {
  const { d4, quads, stride } = row4(d, lanes);
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
      const ${base} = (bh * ${n} + Math.min(${row}, ${n - 1})) * ${d} + Math.min(${w} * 4, ${4 * (d4 - 1)});
      if (${w} < ${d4}) {
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

/**
 * A kernel's opening lines: thread t is lane `c` of row `own` within tile `tile` (the one the
 * workgroup's y takes, tileOfWorkgroup: query tiles for the forward and dQ, key tiles for dK/dV)
 * of (batch, head) `bh` (its x), the kernel's lanes a row; then the dropout seed's two halves.
 * With `split` > 1 the workgroups y = tile·split + sp share a tile, `sp` naming this one's part
 * (splitRange); a tile's parts are neighbours, so the heaviest tile's parts still start first.
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
  return `(${draw} >= ${dropoutThreshold(p)} ? ${lit(1 / (1 - p))} : 0.0)`;
}

/** The condition, as source, under which element (i, key) of a partial tile is hidden by its block cell. */
function cellHidden(plan: WorkgroupPlan, i: string, key: string): string {
  const g = plan.grid!;
  return `sparse[${plan.cellsOffset} + Math.floor(${i} / ${g.rowsPerBlock}) * ${g.Mk} + Math.floor(${key} / ${g.keysPerBlock})] < 0.5`;
}

/**
 * The tile a workgroup takes, as kernel source: the heaviest first, so that the last workgroups
 * the GPU starts are short ones instead of a few long ones running on an otherwise idle chip
 * (flash-attn reverses its query tiles for the same reason). The kernels dispatch (batch·head,
 * tile): x is the head, so every head's heaviest tile starts before any head's next one (the GPU
 * starts workgroups in order of their linear id, x fastest). Forward and dQ: causal query
 * tiles see more keys the later they are, so they run last to first; dK/dV: causal key tiles see
 * more queries the earlier they are, first to last. Block-sparse: the order the table lists (by
 * open tiles, descending). Reads of `this.workgroup` and of the read-only table at an index built
 * from it alone are uniform, so barriers may follow.
 */
function tileOfWorkgroup(plan: WorkgroupPlan, kernel: Kernel, y: string): string {
  if (plan.grid) return `Math.floor(sparse[${plan[`${kernel}OrderOffset`]} + ${y}])`;
  return kernel !== 'bwd' && plan.causal ? `${plan[kernel].qt - 1} - ${y}` : y;
}

/** A kernel's tile code (0 hidden, 1 open, 2 partly open) of tile (qt, kt), as source: 1 without a grid. */
const tileCode = (plan: WorkgroupPlan, kernel: Kernel): string =>
  (plan.grid ? `sparse[${plan[`${kernel}TableOffset`]} + qt * ${plan[kernel].kt} + kt]` : '1.0');

/**
 * Source lines for a split kernel's share of its tile loop: `${name}From` and `${name}To` bound
 * split `sp` of `split` (threadLines) to its part of [from, to), parts of ⌈(to − from)/split⌉
 * tiles, so that a causal tile's shorter range splits evenly too. Uniform when from and to are.
 */
export function splitRange(name: string, split: number, from: string, to: string): string {
  if (split === 1) return `const ${name}From = ${from};\n    const ${name}To = ${to};`;
  return `const ${name}Chunk = Math.floor((${to} - (${from}) + ${split - 1}) / ${split});
    const ${name}From = ${from} + sp * ${name}Chunk;
    const ${name}To = Math.min(${to}, ${name}From + ${name}Chunk);`;
}

/** Whether element (row, key) is hidden, as source (rows and keys past the ends included). */
export function hiddenExpr(plan: WorkgroupPlan, row: string, key: string): string {
  return [
    `${key} >= ${plan.dims.Nk}`,
    `${row} >= ${plan.dims.Nq}`,
    ...(plan.causal ? [`${key} > ${row} + ${plan.offset}`] : []),
    ...(plan.grid ? [`(code > 1.5 && ${cellHidden(plan, row, key)})`] : []),
  ].join(' || ');
}

/**
 * The tile loop's guard, as source: it opens the block of an open tile's work, which the caller
 * closes. Reads the tile's code at (qt, kt).
 */
export const ifTileOpen = (plan: WorkgroupPlan, kernel: Kernel): string => `const code = ${tileCode(plan, kernel)};
      // a hidden tile (code 0) is skipped whole: the code is read from a read-only buffer at a
      // uniform index, so it is uniform and the barriers inside stay in uniform control flow (no
      // continue: gpu.js puts the increment of a loop with a computed start at the body's end)
      if (code > 0.5) {`;

/**
 * The end of a forward or dQ tile loop over key tiles (of `g`), as source: causal, one past the
 * last key tile some row of query tile `qt` sees (key ≤ i + offset for the tile's last row), so
 * the tiles past it cost nothing; else all of them.
 */
export function keyTileEnd(plan: WorkgroupPlan, g: KernelGeometry): string {
  if (!plan.causal) return `${g.kt}`;
  return `Math.min(${g.kt}, Math.max(0, Math.floor((qt * ${g.br} + ${g.br - 1 + plan.offset} + ${g.bc}) / ${g.bc})))`;
}

/** The kernel arguments after the tensors, in the order index.ts passes them: the tile table (block-sparse), the dropout seed's halves. */
export const tableAndSeedArgs = (plan: WorkgroupPlan): string[] =>
  [...(plan.grid ? ['sparse'] : []), ...(plan.dropout ? ['seedHi', 'seedLo'] : [])];
