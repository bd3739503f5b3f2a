/**
 * Fused row kernels (layer norm, cross-entropy, forward and backward) and the packed AdamW update.
 * Each replaces a chain of elementwise kernels and reductions: a training step is hundreds of
 * kernel calls, and on a GPU each call costs ~0.2 ms whatever it computes. A row is short (the
 * model width, the vocabulary: the ops fall back to the composite beyond FUSED_MAX_COLS), so one
 * thread loops over it; where a thread per element would have to loop over its whole row to learn
 * the row's statistics, host modes (cpu, wasm: calls are cheap, arithmetic is not) get a stats
 * kernel and an apply kernel, GPU modes one kernel that recomputes.
 */
import type { GpujsMode } from '../runtime.js';
import { expConstants, expStatements, usesFastExp } from './math.js';
import { BLOCK, accumulate } from './reduce.js';
import { exactFloorMode, floorDiv, lit, rowIndex, type KernelSpec } from './spec.js';

/** Statements declaring `mean` and `rstd` = 1/√(var + eps) of the row starting at `base`. */
function rowMoments(cols: number, eps: number, base: string): string {
  return accumulate('sum', 'sx', cols, base, 1, (p) => `x[${p}]`, 'A') +
    `const mean = sx / ${lit(cols)}; ` +
    accumulate('sum', 'sq', cols, base, 1, (p) => [`const dA = x[${p}] - mean; `, 'dA * dA'], 'B') +
    `const rstd = 1.0 / Math.sqrt(sq / ${lit(cols)} + ${lit(eps)}); `;
}

/** Kernel arguments of a layer norm: x, then weight and bias where present. */
const lnArgs = (hasW: boolean, hasB: boolean) => ['x', ...(hasW ? ['w'] : []), ...(hasB ? ['b'] : [])].join(', ');
const affine = (hasW: boolean, hasB: boolean, c: string) => `${hasW ? ` * w[${c}]` : ''}${hasB ? ` + b[${c}]` : ''}`;

/** Per row: [mean, rstd] as an Array(2), flat [rows, 2] (host modes' layer norm forward). */
export function layerNormStatsSpec(rows: number, cols: number, eps: number): KernelSpec {
  return {
    key: `layernorm.stats:${rows}:${cols}:${eps}`,
    source: `function (x) { const base = this.thread.x * ${cols}; ${rowMoments(cols, eps, 'base')}return [mean, rstd]; }`,
    output: [rows],
    returnType: 'Array(2)',
    outSize: rows * 2,
    work: rows * cols * 4,
  };
}

/** y = (x − mean)·rstd·w + b with the row's stats from layerNormStatsSpec. */
export function layerNormApplySpec(rows: number, cols: number, hasW: boolean, hasB: boolean, mode?: GpujsMode): KernelSpec {
  const n = rows * cols;
  return {
    key: `layernorm.apply:${rows}:${cols}:${hasW}:${hasB}`,
    source: `function (${lnArgs(hasW, hasB)}, st) { const i = this.thread.x; const r = ${floorDiv('i', cols, mode)}; const c = i - r * ${cols}; ` +
      `return (x[i] - st[r * 2]) * st[r * 2 + 1]${affine(hasW, hasB, 'c')}; }`,
    output: [n],
    outSize: n,
    work: n * 4,
  };
}

/** The whole forward in one kernel: each thread recomputes its row's moments (GPU modes). */
export function layerNormOneKernelSpec(rows: number, cols: number, eps: number, hasW: boolean, hasB: boolean): KernelSpec {
  const n = rows * cols;
  return {
    key: `layernorm.one:${rows}:${cols}:${eps}:${hasW}:${hasB}`,
    source: `function (${lnArgs(hasW, hasB)}) { const i = this.thread.x; const r = ${floorDiv('i', cols)}; const c = i - r * ${cols}; ` +
      `const base = r * ${cols}; ${rowMoments(cols, eps, 'base')}return (x[i] - mean) * rstd${affine(hasW, hasB, 'c')}; }`,
    output: [n],
    outSize: n,
    work: n * cols * 4,
  };
}

/**
 * Per row, for the backward: [mean, rstd, mean(g), mean(g ∘ x̂)] with g = dy ∘ w, as an Array(4),
 * flat [rows, 4].
 */
export function layerNormBackwardStatsSpec(rows: number, cols: number, eps: number, hasW: boolean): KernelSpec {
  const g = (p: string) => (hasW ? `dy[${p}] * w[${p} - base]` : `dy[${p}]`);
  return {
    key: `layernorm.bstats:${rows}:${cols}:${eps}:${hasW}`,
    source: `function (x, dy${hasW ? ', w' : ''}) { const base = this.thread.x * ${cols}; ${rowMoments(cols, eps, 'base')}` +
      accumulate('sum', 'sg', cols, 'base', 1, g, 'C') +
      accumulate('sum', 'sgx', cols, 'base', 1, (p) => [`const xC = (x[${p}] - mean) * rstd; `, `${g(p)} * xC`], 'D') +
      `return [mean, rstd, sg / ${lit(cols)}, sgx / ${lit(cols)}]; }`,
    output: [rows],
    returnType: 'Array(4)',
    outSize: rows * 4,
    work: rows * cols * 10,
  };
}

/** dx = rstd · (g − mean(g) − x̂ · mean(g ∘ x̂)) from layerNormBackwardStatsSpec's stats. */
export function layerNormBackwardDxSpec(rows: number, cols: number, hasW: boolean, mode?: GpujsMode): KernelSpec {
  const n = rows * cols;
  return {
    key: `layernorm.dx:${rows}:${cols}:${hasW}`,
    source: `function (x, dy, st${hasW ? ', w' : ''}) { const i = this.thread.x; const r = ${floorDiv('i', cols, mode)}; const c = i - r * ${cols}; ` +
      'const rstd = st[r * 4 + 1]; const xh = (x[i] - st[r * 4]) * rstd; ' +
      `const g = dy[i]${hasW ? ' * w[c]' : ''}; return rstd * (g - st[r * 4 + 2] - xh * st[r * 4 + 3]); }`,
    output: [n],
    outSize: n,
    work: n * 6,
  };
}

/**
 * dweight partials: thread (part, j) sums dy ∘ x̂ down column j over rows [part·chunk, …) of at
 * most `chunk`; the result is [parts, cols] (parts = 1 when one thread takes all rows). Rows are
 * counted with an integer, not recovered by dividing the flat index (float32 division may round
 * up near a row boundary).
 */
export function layerNormBackwardDwSpec(rows: number, cols: number, chunk: number): KernelSpec {
  const parts = Math.ceil(rows / chunk);
  const blocks = Math.ceil(chunk / BLOCK);
  const inner = Math.min(BLOCK, chunk);
  const guard = rows % chunk !== 0 || chunk % BLOCK !== 0;
  const body = 'const p = r * ' + cols + ' + j; s += dy[p] * (x[p] - st[r * 4]) * st[r * 4 + 1];';
  return {
    key: `layernorm.dw:${rows}:${cols}:${chunk}`,
    source: `function (x, dy, st) { const part = ${floorDiv('this.thread.x', cols)}; const j = this.thread.x - part * ${cols}; ` +
      `const r0 = part * ${chunk}; const rEnd = Math.min(r0 + ${chunk}, ${rows}); let acc = 0.0; ` +
      `for (let bb = 0; bb < ${blocks}; bb++) { let s = 0.0; ` +
      `for (let t = 0; t < ${inner}; t++) { const r = r0 + bb * ${inner} + t; ` +
      (guard ? `if (r < rEnd) { ${body} } ` : `${body} `) +
      '} acc += s; } return acc; }',
    output: [parts * cols],
    outSize: parts * cols,
    work: rows * cols * 4,
  };
}

/**
 * Statements declaring `lse` of the row at `base` (shifted by its max, or by 0 when the max is
 * infinite, as ops.logsumexp does).
 */
function rowLse(cols: number, base: string, mode: GpujsMode): string {
  return accumulate('max', 'mx', cols, base, 1, (p) => `x[${p}]`, 'M') +
    'const sh = Math.abs(mx) < 3.0e38 ? mx : 0.0; ' +
    accumulate('sum', 'se', cols, base, 1, (p) => [`const dS = x[${p}] - sh; ${expStatements(mode, 'eS', 'dS', 'S')}`, 'eS'], 'S') +
    'const lse = Math.log(se) + sh; ';
}

/** Per row: lse − x[target] (targets as floats, one per row). */
export function crossEntropySpec(rows: number, cols: number, mode: GpujsMode): KernelSpec {
  return {
    key: `crossentropy:${rows}:${cols}`,
    source: `function (x, t) { const base = this.thread.x * ${cols}; ${rowLse(cols, 'base', mode)}` +
      `return lse - x[base + ${rowIndex('t[this.thread.x]', mode)}]; }`,
    output: [rows],
    outSize: rows,
    work: rows * cols * (usesFastExp(mode) ? 5 : 13),
    constants: expConstants(mode),
  };
}

/** Per row: lse (host modes' backward, first kernel). */
export function rowLseSpec(rows: number, cols: number, mode: GpujsMode): KernelSpec {
  return {
    key: `rowlse:${rows}:${cols}`,
    source: `function (x) { const base = this.thread.x * ${cols}; ${rowLse(cols, 'base', mode)}return lse; }`,
    output: [rows],
    outSize: rows,
    work: rows * cols * (usesFastExp(mode) ? 5 : 13),
    constants: expConstants(mode),
  };
}

/**
 * dlogits = dl[r] · (exp(x − lse[r]) − [c = t[r]]); `lse` from rowLseSpec, or recomputed per
 * element (`oneKernel`, GPU modes).
 */
export function crossEntropyBackwardSpec(rows: number, cols: number, mode: GpujsMode, oneKernel: boolean): KernelSpec {
  const n = rows * cols;
  const head = `const i = this.thread.x; const r = ${floorDiv('i', cols, mode)}; const c = i - r * ${cols}; `;
  const lse = oneKernel ? rowLse(cols, `r * ${cols}`, mode) : 'const lse = l[r]; ';
  return {
    key: `crossentropy.bwd:${rows}:${cols}:${oneKernel}`,
    source: `function (x, t, dl${oneKernel ? '' : ', l'}) { ${head}${lse}const d = x[i] - lse; ${expStatements(mode, 'e', 'd', '')}` +
      'return dl[r] * (e - (c == t[r] ? 1.0 : 0.0)); }',
    output: [n],
    outSize: n,
    work: n * (oneKernel ? cols * 5 : 1) * (usesFastExp(mode) ? 3 : 12),
    constants: expConstants(mode),
  };
}

/**
 * AdamW over a parameter whose moments are interleaved [n, 2]: the moments kernel and the
 * parameter kernel, which recomputes the new moments from the old ones and g (four multiply-adds)
 * rather than waiting for and reading them. The moments kernel writes scalars, one thread per
 * element of [n, 2], not an Array(2) per parameter element: webasm hands Array(2) results back as
 * n small arrays, and flattening them cost 10× the kernel (52 GPT parameters: 160 ms against 16).
 */
export function adamwPackedSpecs(n: number, mode?: GpujsMode, clipped = false): { moments: KernelSpec; param: KernelSpec } {
  // clipped: the gradient scaled by the clip's factor, computed per thread from Σ g² (ss[0]) with
  // the steps and float32 roundings of clipGradNorm's kernels (√, + 10⁻⁶, pow −1 by the scalars
  // clipEps and clipExp as its add and pow kernels get them, · maxNorm, min 1): the same factor,
  // bit for bit, as the scaling kernels it replaces
  const clipArgs = clipped ? ', ss, maxNorm, clipEps, clipExp' : '';
  const grad = clipped
    ? 'const gi = g[i] * Math.min(Math.pow(Math.abs(Math.sqrt(ss[0]) + clipEps), clipExp) * maxNorm, 1.0); '
    : 'const gi = g[i]; ';
  const tag = clipped ? ':clip' : '';
  // rest1, rest2 = 1 − β1, 1 − β2 from the host in float64: 1 − β in float32 from a float32 β
  // cancels (β2 = 0.999 gives 1 − β2 off by 1.3e-5, 0.9999 by 1.3e-4); β = 1 − rest is harmless
  const moments = `${grad}` +
    'const m = (1.0 - rest1) * mv[i * 2] + rest1 * gi; const v = (1.0 - rest2) * mv[i * 2 + 1] + rest2 * gi * gi; ';
  return {
    moments: {
      key: `adamw.mv${tag}:${n}`,
      // i = ⌊e/2⌋ in integers on wasm, cpu and webgpu, whose patched gpu.js divides an integer by
      // a literal in i32 (wte's moments are 77M floats, and there e · 0.5 and e − 2i in float32 put
      // m's values in v's slots past 2^24: a negative v, then NaN — GPT-2's loss on the H200 until
      // session 5); on GL e < 2^24 keeps floats exact
      source: `function (mv, g, rest1, rest2${clipArgs}) { const e = this.thread.x; ${exactFloorMode(mode) || mode === 'webgpu'
        ? 'const i = Math.floor(e / 2); const odd = e - i * 2; '
        // `odd` a float, not a bool: gpu.js declares every variable f32 in WGSL
        : 'const i = Math.floor(e * 0.5); const odd = e - i * 2.0; '}` +
        `${grad}const rest = odd == 0.0 ? rest1 : rest2; ` +
        'return (1.0 - rest) * mv[e] + rest * (odd == 0.0 ? gi : gi * gi); }',
      output: [2 * n], outSize: 2 * n, work: 8 * n,
    },
    param: {
      key: `adamw.pp${tag}:${n}`,
      // update = m̂ / (√v̂ + ε) with m̂ = m/c1, v̂ = v/c2; decay = 1 − lr·λ (decoupled weight decay)
      source: `function (p, g, mv, rest1, rest2, lr, decay, c1, c2, eps${clipArgs}) { const i = this.thread.x; ${moments}` +
        'return p[i] * decay - lr * ((m / c1) / (Math.sqrt(v / c2) + eps)); }',
      output: [n], outSize: n, work: 14 * n,
    },
  };
}
