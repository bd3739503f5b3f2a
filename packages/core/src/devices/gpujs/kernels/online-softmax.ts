/**
 * The online softmax of blocked attention (FlashAttention's forward), fused: per block, one kernel
 * updates each row's running (m, l), one forms P = e^(S − m'), one rescales the output
 * accumulator. Composed from primitives these were nine kernel calls a block.
 */
import type { GpujsMode } from '../runtime.js';
import { expConstants, expStatements, usesFastExp } from './math.js';
import { accumulate } from './reduce.js';
import { floorDiv, type KernelSpec } from './spec.js';

/**
 * One thread per row of s [rows, cols]: m′ = max(m, max_j s), l′ = l·e^(m − m′) + Σ e^(s − m′),
 * returned as the pair (m′, l′). Without `prev`, m = −∞ and l = 0: a plain softmax's row stats,
 * which the device's softmax uses too. Reads the row twice.
 */
export function onlineSoftmaxStatsSpec(rows: number, cols: number, hasPrev: boolean, mode: GpujsMode): KernelSpec {
  const base = `this.thread.x * ${cols}`;
  const carried = hasPrev
    ? 'const m0 = prev[this.thread.x * 2]; const m = Math.max(m0, mb); const dm = m0 - m; ' +
      `${expStatements(mode, 'alpha', 'dm', 'a')}const l0 = prev[this.thread.x * 2 + 1] * alpha; `
    : 'const m = mb; const l0 = 0.0; ';
  const source = `function (s${hasPrev ? ', prev' : ''}) { ` +
    accumulate('max', 'mb', cols, base, 1, (p) => `s[${p}]`, 'M') + carried +
    accumulate('sum', 'l', cols, base, 1, (p) => [`const d = s[${p}] - m; ${expStatements(mode, 'e', 'd', '')}`, 'e'], 'S') +
    'return [m, l0 + l]; }';
  return {
    key: `online.stats:${rows}:${cols}:${hasPrev ? 1 : 0}`,
    source,
    output: [rows],
    returnType: 'Array(2)',
    outSize: rows * 2,
    work: rows * cols * (usesFastExp(mode) ? 4 : 12),
    constants: expConstants(mode),
  };
}

/** e^(x − shift[r·stride]) for x [rows, cols]. */
export function expShiftSpec(rows: number, cols: number, stride: number, mode: GpujsMode): KernelSpec {
  const n = rows * cols;
  return {
    key: `expshift:${rows}:${cols}:${stride}`,
    source: `function (x, sh) { const d = x[this.thread.x] - sh[${floorDiv('this.thread.x', cols, mode)} * ${stride}]; ` +
      `${expStatements(mode, 'e', 'd', '')}return e; }`,
    output: [n],
    outSize: n,
    work: n * (usesFastExp(mode) ? 3 : 12),
    constants: expConstants(mode),
  };
}

/** o·e^(m − m') + pv, m and m' from the (m, l) stats before and after a block. */
export function onlineRescaleSpec(rows: number, cols: number, mode: GpujsMode): KernelSpec {
  const n = rows * cols;
  return {
    key: `online.rescale:${rows}:${cols}`,
    source: `function (o, pv, prev, next) { const r = ${floorDiv('this.thread.x', cols, mode)}; const dm = prev[r * 2] - next[r * 2]; ` +
      `${expStatements(mode, 'alpha', 'dm', '')}return o[this.thread.x] * alpha + pv[this.thread.x]; }`,
    output: [n],
    outSize: n,
    work: n * (usesFastExp(mode) ? 4 : 12),
    constants: expConstants(mode),
  };
}

/** o / l, l the second of each row's (m, l) stats. */
export function onlineNormalizeSpec(rows: number, cols: number, mode?: GpujsMode): KernelSpec {
  const n = rows * cols;
  return {
    key: `online.normalize:${rows}:${cols}`,
    source: `function (o, st) { return o[this.thread.x] / st[${floorDiv('this.thread.x', cols, mode)} * 2 + 1]; }`,
    output: [n],
    outSize: n,
    work: n * 2,
  };
}

/** m + log l per row of (m, l) stats. */
export function onlineLogsumexpSpec(rows: number): KernelSpec {
  return {
    key: `online.lse:${rows}`,
    source: 'function (st) { return st[this.thread.x * 2] + Math.log(st[this.thread.x * 2 + 1]); }',
    output: [rows],
    outSize: rows,
    work: rows * 10,
  };
}
