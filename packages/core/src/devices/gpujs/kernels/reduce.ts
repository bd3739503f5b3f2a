/**
 * Reductions, softmax and its backward. One thread owns one output and loops over its reduced
 * elements (gpu.js has no shared memory or atomics). Sums are blocked: a float32 partial over
 * BLOCK elements, partials added into the total, so rounding error grows like BLOCK + R/BLOCK
 * instead of R — 65,536-element sums stay well inside 1e-4 relative error of float64.
 */
import { sizeOf } from '../../../shape.js';
import type { ReduceOp, Shape } from '../../device.js';
import type { GpujsMode } from '../runtime.js';
import { expConstants, expStatements, usesFastExp } from './math.js';
import { floorDiv, indexCode, type KernelSpec } from './spec.js';

export const BLOCK = 256;

/**
 * Longest loop one thread runs in a reduction. Mesa's llvmpipe (webgpu without a GPU) stops a
 * shader invocation after ~65,535 loop iterations and returns a wrong sum silently, and on a real
 * GPU one thread walking 65K elements leaves the chip idle; longer reductions go in two stages
 * (partials over CHUNK-element slices, then a reduction of the partials).
 */
export const MAX_SERIAL = 8192;
export const CHUNK = 2048;

/**
 * Statements that leave in `acc` the sum (or max) of `R` elements read by `read(p)` at p = `base`,
 * `base + step`, …; only the first `limit` of them when given (an expression ≥ 1, the short last
 * chunk of a two-stage reduction). Variables are suffixed with `tag` so several loops fit in one
 * kernel.
 */
export function accumulate(op: 'sum' | 'max', acc: string, R: number, base: string, step: number,
  readElement: (p: string) => string | [string, string], tag = '', limit?: string): string {
  const p = `p${tag}`;
  // a read is an expression, or [statements, expression] when it needs temporaries (fast exp)
  const pre = (q: string) => { const r = readElement(q); return typeof r === 'string' ? '' : r[0]; };
  const read = (q: string) => { const r = readElement(q); return typeof r === 'string' ? r : r[1]; };
  const q = `q${tag}`;
  // the guard counts elements with its own integer, so it works for every loop shape below
  const guarded = (stmt: string) => (limit ? `if (${q} < ${limit}) { ${pre(p)}${stmt} } ${q}++;` : `${pre(p)}${stmt}`);
  const head = `let ${p} = ${base}; ${limit ? `let ${q} = 0; ` : ''}`;
  if (op === 'max') {
    // start from the first element (always valid): no -Infinity literal needed in every backend
    return `${head}${pre(p)}let ${acc} = ${read(p)}; ${limit ? `${q}++; ` : ''}` +
      (R > 1 ? `for (let t${tag} = 1; t${tag} < ${R}; t${tag}++) { ${p} += ${step}; ${guarded(`${acc} = Math.max(${acc}, ${read(p)});`)} } ` : '');
  }
  if (R <= BLOCK) {
    return `${head}let ${acc} = 0.0; ` +
      `for (let t${tag} = 0; t${tag} < ${R}; t${tag}++) { ${guarded(`${acc} += ${read(p)};`)} ${p} += ${step}; } `;
  }
  const full = Math.floor(R / BLOCK);
  const rem = R - full * BLOCK;
  let code = `${head}let ${acc} = 0.0; ` +
    `for (let b${tag} = 0; b${tag} < ${full}; b${tag}++) { let s${tag} = 0.0; ` +
    `for (let t${tag} = 0; t${tag} < ${BLOCK}; t${tag}++) { ${guarded(`s${tag} += ${read(p)};`)} ${p} += ${step}; } ${acc} += s${tag}; } `;
  if (rem > 0) {
    code += `let r${tag} = 0.0; for (let t${tag} = 0; t${tag} < ${rem}; t${tag}++) { ${guarded(`r${tag} += ${read(p)};`)} ${p} += ${step}; } ${acc} += r${tag}; `;
  }
  return code;
}

export interface ReducePass {
  outer: number;
  R: number;
  inner: number;
  /** Elements per thread; R when one thread takes the whole axis, else the result is [outer, ⌈R/chunk⌉, inner]. */
  chunk: number;
}

/**
 * One pass over x viewed as [outer, R, inner]: the result is [outer, ⌈R/chunk⌉, inner]. `square`:
 * sums x² instead of x (the first pass of Device.sumOfSquares; only with op 'sum'). `addend`: the
 * kernel takes a second input, a [1] buffer `addend`, and returns acc + addend[0] (the last pass of
 * sumOfSquares with an addend: the clip's running total).
 */
export function reducePassSpec(op: ReduceOp, { outer, R, inner, chunk }: ReducePass, mode?: GpujsMode, square = false, addend = false): KernelSpec {
  if (square && op !== 'sum') throw new Error(`gpujs reduce: squares are summed, not reduced by ${op}`);
  if (addend && op !== 'sum') throw new Error(`gpujs reduce: an addend is added to a sum, not to a ${op}`);
  const parts = Math.ceil(R / chunk);
  const n = outer * parts * inner;
  const read = square ? (p: string) => `x[${p}] * x[${p}]` : (p: string) => `x[${p}]`;
  const sq = `${square ? 'sq' : ''}${addend ? '+s' : ''}`;
  // not `s`: accumulate's block partials are named s
  const [params, result] = addend ? ['x, addend', 'acc + addend[0]'] : ['x', 'acc'];
  if (mode === 'webgpu' && inner === 1 && parts > 1) return interleavedPassSpec(op, outer, R, parts, read, sq, params, result);
  // thread o = (i, c, j): i over outer, c over chunks, j over inner; its elements sit `inner` apart
  const { lines, exprs } = indexCode('this.thread.x', ...squeeze([outer, parts, inner], [R * inner, chunk * inner, 1]), 'c', false, mode);
  const tail = R % chunk !== 0 && parts > 1;
  // coordinate of the chunk, for the short last one: recomputed here since indexCode squeezes dims
  const limit = tail ? `Math.min(${chunk}, ${R} - (${floorDiv('this.thread.x', inner, mode)} - ${floorDiv('this.thread.x', parts * inner, mode)} * ${parts}) * ${chunk})` : undefined;
  return {
    key: `reduce:${op}${sq}:${outer}:${R}:${inner}:${chunk}`,
    source: `function (${params}) { ${lines}${accumulate(op, 'acc', chunk, exprs[0], inner, read, '', limit)}return ${result}; }`,
    output: [n],
    outSize: n,
    work: outer * R * inner,
  };
}

/**
 * A chunked pass over contiguous rows (inner = 1) on a GPU: part c of row i takes elements c,
 * c + parts, c + 2·parts, … of the row, so neighbouring threads read neighbouring floats. With a
 * contiguous chunk per thread, neighbours sat 4·chunk bytes apart and no load coalesced: the full
 * sum of GPT-2's 38.6 M-element wte gradient ran at 6.7 GB/s on the H200 (BENCHMARKS.md, session 4).
 */
function interleavedPassSpec(
  op: ReduceOp, outer: number, R: number, parts: number, read: (p: string) => string, sq: string, params: string, result: string,
): KernelSpec {
  const longest = Math.ceil(R / parts);
  const part = outer === 1 ? 'this.thread.x' : `(this.thread.x - ${floorDiv('this.thread.x', parts, 'webgpu')} * ${parts})`;
  const row = outer === 1 ? '0' : `${floorDiv('this.thread.x', parts, 'webgpu')} * ${R}`;
  // part c holds ⌈(R − c) / parts⌉ elements: fewer than `longest` for the last parts when R is not a multiple
  const limit = R % parts === 0 ? undefined : floorDiv(`${R + parts - 1} - ${part}`, parts, 'webgpu');
  return {
    key: `reduce.interleaved:${op}${sq}:${outer}:${R}:${parts}`,
    source: `function (${params}) { ${accumulate(op, 'acc', longest, `${row} + ${part}`, parts, read, '', limit)}return ${result}; }`,
    output: [outer * parts],
    outSize: outer * parts,
    work: outer * R,
  };
}

/** Drops size-1 dims (and their strides) before index decomposition. */
function squeeze(dims: number[], strides: number[]): [number[], number[][]] {
  const keep = dims.map((_, k) => k).filter((k) => dims[k] !== 1);
  return [keep.map((k) => dims[k]), [keep.map((k) => strides[k])]];
}

/**
 * Threads a GPU reduction pass should have at least (webgpu): one thread per output leaves an H200
 * nearly idle when there are few outputs — a bias gradient sums 4,096 rows into 768 columns, and
 * its 768 threads took 1.2 ms for 12 MB (BENCHMARKS.md, session 4). Such a reduction is split into
 * chunks first, so the first pass has about this many threads.
 */
export const GPU_MIN_THREADS = 65536;
/** Shortest chunk worth a pass of its own. */
const MIN_CHUNK = 16;

/**
 * The passes of one [outer, R, inner] reduction: one, or two when R is too long for a thread or,
 * with `minThreads`, when one thread per output would give fewer threads than that.
 */
export function splitPass(outer: number, R: number, inner: number, minThreads = 0): ReducePass[] {
  const outputs = outer * inner;
  if (R <= MAX_SERIAL) {
    // chunks of a power of two, so that outputs × ⌈R / chunk⌉ ≥ minThreads
    const chunk = 2 ** Math.ceil(Math.log2(Math.max(1, (outputs * R) / Math.max(minThreads, 1))));
    if (minThreads === 0 || outputs >= minThreads || chunk < MIN_CHUNK || chunk >= R) return [{ outer, R, inner, chunk: R }];
    return [{ outer, R, inner, chunk }, ...splitPass(outer, Math.ceil(R / chunk), inner, minThreads)];
  }
  const parts = Math.ceil(R / CHUNK);
  return [{ outer, R, inner, chunk: CHUNK }, ...splitPass(outer, parts, inner, minThreads)];
}

/**
 * Splits a reduction of `axes` of `shape` into passes over [outer, R, inner] views, one per run
 * of adjacent reduced axes (size-1 axes dropped), last run first (each split further as splitPass
 * says). Each pass removes its run, so later passes see the shrunken shape.
 */
export function reducePlan(shape: Shape, axes: readonly number[], minThreads = 0): ReducePass[] {
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
  const passes: ReducePass[] = [];
  for (let r = runs.length - 1; r >= 0; r--) {
    if (!runs[r].reduced) continue;
    const outer = sizeOf(runs.slice(0, r).map((x) => x.size));
    const inner = sizeOf(runs.slice(r + 1).map((x) => x.size));
    passes.push(...splitPass(outer, runs[r].size, inner, minThreads));
    runs[r].size = 1;
  }
  return passes;
}

/** y = e^(x − m) / l with each row's (m, l) stats from onlineSoftmaxStatsSpec (online-softmax.ts). */
export function softmaxApplySpec(rows: number, cols: number, mode: GpujsMode): KernelSpec {
  const n = rows * cols;
  return {
    key: `softmax.apply:${rows}:${cols}`,
    source: `function (x, st) { const r = ${floorDiv('this.thread.x', cols, mode)}; ` +
      `const d = x[this.thread.x] - st[r * 2]; ${expStatements(mode, 'e', 'd', '')}return e / st[r * 2 + 1]; }`,
    output: [n],
    outSize: n,
    work: n * (usesFastExp(mode) ? 3 : 12),
    constants: expConstants(mode),
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
export function softmaxBackwardApplySpec(rows: number, cols: number, mode?: GpujsMode): KernelSpec {
  const n = rows * cols;
  return {
    key: `softmax.bwd:${rows}:${cols}`,
    source: `function (y, dy, dot) { const i = this.thread.x; const r = ${floorDiv('i', cols, mode)}; ` +
      'return y[i] * (dy[i] - dot[r]); }',
    output: [n],
    outSize: n,
    work: n * 3,
  };
}
