/**
 * Reductions, softmax and its backward. One thread owns one output and loops over its reduced
 * elements (gpu.js has no shared memory or atomics). Sums are blocked: a float32 partial over
 * BLOCK elements, partials added into the total, so rounding error grows like BLOCK + R/BLOCK
 * instead of R — 65,536-element sums stay well inside 1e-4 relative error of float64.
 */
import type { ReduceOp, Shape } from '../../device.js';
import { prod, type KernelSpec } from './spec.js';

export const BLOCK = 256;

/**
 * Statements that leave in `acc` the sum (or max) of `R` elements read by `read(p)` at p = `base`,
 * `base + step`, …. Variables are suffixed with `tag` so several loops fit in one kernel.
 */
export function accumulate(op: 'sum' | 'max', acc: string, R: number, base: string, step: number,
  read: (p: string) => string, tag = ''): string {
  const p = `p${tag}`;
  if (op === 'max') {
    // start from the first element: no -Infinity literal needed in every backend
    return `let ${p} = ${base}; let ${acc} = ${read(p)}; ` +
      (R > 1 ? `for (let t${tag} = 1; t${tag} < ${R}; t${tag}++) { ${p} += ${step}; ${acc} = Math.max(${acc}, ${read(p)}); } ` : '');
  }
  if (R <= BLOCK) {
    return `let ${p} = ${base}; let ${acc} = 0.0; ` +
      `for (let t${tag} = 0; t${tag} < ${R}; t${tag}++) { ${acc} += ${read(p)}; ${p} += ${step}; } `;
  }
  const full = Math.floor(R / BLOCK);
  const rem = R - full * BLOCK;
  let code = `let ${p} = ${base}; let ${acc} = 0.0; ` +
    `for (let b${tag} = 0; b${tag} < ${full}; b${tag}++) { let s${tag} = 0.0; ` +
    `for (let t${tag} = 0; t${tag} < ${BLOCK}; t${tag}++) { s${tag} += ${read(p)}; ${p} += ${step}; } ${acc} += s${tag}; } `;
  if (rem > 0) {
    code += `let r${tag} = 0.0; for (let t${tag} = 0; t${tag} < ${rem}; t${tag}++) { r${tag} += ${read(p)}; ${p} += ${step}; } ${acc} += r${tag}; `;
  }
  return code;
}

/** One pass over x viewed as [outer, R, inner]: the result is [outer, inner]. */
export function reducePassSpec(op: ReduceOp, outer: number, R: number, inner: number): KernelSpec {
  const n = outer * inner;
  // thread o = (i, j) with i over outer, j over inner; its elements sit `inner` apart
  const base = inner === 1 ? `this.thread.x * ${R}`
    : outer === 1 ? 'this.thread.x'
      : `Math.floor(this.thread.x / ${inner}) * ${R * inner} + (this.thread.x - Math.floor(this.thread.x / ${inner}) * ${inner})`;
  return {
    key: `reduce:${op}:${outer}:${R}:${inner}`,
    source: `function (x) { ${accumulate(op, 'acc', R, base, inner, (p) => `x[${p}]`)}return acc; }`,
    output: [n],
    outSize: n,
    work: n * R,
  };
}

/**
 * Splits a reduction of `axes` of `shape` into passes over [outer, R, inner] views, one per run
 * of adjacent reduced axes (size-1 axes dropped), last run first. Each pass removes its run, so
 * later passes see the shrunken shape.
 */
export function reducePlan(shape: Shape, axes: readonly number[]): { outer: number; R: number; inner: number }[] {
  for (const a of axes) {
    if (!Number.isInteger(a) || a < 0 || a >= shape.length) throw new Error(`gpujs reduce: axis ${a} out of range for [${shape}]`);
  }
  const runs: { size: number; reduced: boolean }[] = [];
  shape.forEach((d, k) => {
    if (d === 1) return;
    const reduced = axes.includes(k);
    const last = runs[runs.length - 1];
    if (last && last.reduced === reduced) last.size *= d;
    else runs.push({ size: d, reduced });
  });
  const passes: { outer: number; R: number; inner: number }[] = [];
  for (let r = runs.length - 1; r >= 0; r--) {
    if (!runs[r].reduced) continue;
    const outer = prod(runs.slice(0, r).map((x) => x.size));
    const inner = prod(runs.slice(r + 1).map((x) => x.size));
    passes.push({ outer, R: runs[r].size, inner });
    runs[r].size = 1;
  }
  return passes;
}

/** Per row of [rows, cols]: [max, Σ exp(x − max)] as an Array(2), flat [rows, 2]. */
export function softmaxStatsSpec(rows: number, cols: number): KernelSpec {
  const base = `this.thread.x * ${cols}`;
  const source = 'function (x) { ' +
    accumulate('max', 'm', cols, base, 1, (p) => `x[${p}]`, 'M') +
    accumulate('sum', 's', cols, base, 1, (p) => `Math.exp(x[${p}] - m)`, 'S') +
    'return [m, s]; }';
  return {
    key: `softmax.stats:${rows}:${cols}`,
    source,
    output: [rows],
    returnType: 'Array(2)',
    outSize: rows * 2,
    work: rows * cols * 12,
  };
}

/** y = exp(x − max) / sum with the row's stats from softmaxStatsSpec. */
export function softmaxApplySpec(rows: number, cols: number): KernelSpec {
  const n = rows * cols;
  return {
    key: `softmax.apply:${rows}:${cols}`,
    source: `function (x, st) { const r = Math.floor(this.thread.x / ${cols}); ` +
      'return Math.exp(x[this.thread.x] - st[r * 2]) / st[r * 2 + 1]; }',
    output: [n],
    outSize: n,
    work: n * 12,
  };
}

/** Per row: Σ dy ∘ y. */
export function rowDotSpec(rows: number, cols: number): KernelSpec {
  const base = `this.thread.x * ${cols}`;
  return {
    key: `rowdot:${rows}:${cols}`,
    source: `function (y, dy) { ${accumulate('sum', 'acc', cols, base, 1, (p) => `y[${p}] * dy[${p}]`)}return acc; }`,
    output: [rows],
    outSize: rows,
    work: rows * cols * 2,
  };
}

/** dx = y ∘ (dy − dot[row]). */
export function softmaxBackwardApplySpec(rows: number, cols: number): KernelSpec {
  const n = rows * cols;
  return {
    key: `softmax.bwd:${rows}:${cols}`,
    source: `function (y, dy, dot) { const i = this.thread.x; const r = Math.floor(i / ${cols}); ` +
      'return y[i] * (dy[i] - dot[r]); }',
    output: [n],
    outSize: n,
    work: n * 3,
  };
}
