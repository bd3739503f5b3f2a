/**
 * webgpu: layer norm's forward, and the row statistics of its backward, with a workgroup per row
 * (patches/WORKGROUP-API.md). fused.ts's
 * GPU kernel has one thread per element recompute its whole row's moments — cols² reads a row,
 * 1.5 ms for GPT-2's [4096, 768] on the H200 where the bytes take microseconds. Here the LN_WG
 * threads of a row each sum the columns c ≡ tid (mod LN_WG), a tree in workgroup memory adds the
 * partials (for the mean, then for the centred squares: the same two-pass moments as fused.ts),
 * and each thread writes its columns.
 */
import { lit, type KernelSpec } from './spec.js';

/** Threads per row. */
const LN_WG = 128;

/** Statements leaving in each `arrays[0]` the sum of every thread's `arrays[tid]`, all threads past the barrier. */
function treeSum(...arrays: string[]): string {
  let code = '';
  for (let h = LN_WG / 2; h >= 1; h /= 2) {
    code += `if (tid < ${h}) { ${arrays.map((a) => `${a}[tid] = ${a}[tid] + ${a}[tid + ${h}];`).join(' ')} } workgroupBarrier(); `;
  }
  return code;
}

/**
 * The grid (a workgroup a row: rows past one grid row of 32,768 workgroups go to y; a workgroup
 * past the last row recomputes row rows − 1, and its stores fall past the output, which
 * storeResult drops), a loop over the row's columns of each thread, and the source's opening
 * lines, which end with the row's `mean` and `rstd` (the two-pass moments of fused.ts).
 */
function rowGrid(what: string, rows: number, cols: number, eps: number) {
  if (!(Number.isInteger(rows) && rows >= 1 && Number.isInteger(cols) && cols >= 1)) {
    throw new Error(`gpujs ${what}: rows ${rows} and cols ${cols} must be integers ≥ 1`);
  }
  const iters = Math.ceil(cols / LN_WG);
  const gx = Math.min(rows, 32768);
  const gy = Math.ceil(rows / gx);
  const each = (body: string) => `for (let k = 0; k < ${iters}; k++) { const c = k * ${LN_WG} + tid; if (c < ${cols}) { ${body} } } `;
  const moments = 'const tid = this.localThread.x; ' +
    `const row = this.workgroup.y * ${gx} + this.workgroup.x; const r = Math.min(row, ${rows - 1}); const base = r * ${cols}; ` +
    'let s = 0.0; ' + each('s += x[base + c];') + 'acc[tid] = s; workgroupBarrier(); ' + treeSum('acc') +
    `const mean = acc[0] / ${lit(cols)}; workgroupBarrier(); ` +
    'let q = 0.0; ' + each('const d = x[base + c] - mean; q += d * d;') + 'acc[tid] = q; workgroupBarrier(); ' + treeSum('acc') +
    `const rstd = 1.0 / Math.sqrt(acc[0] / ${lit(cols)} + ${lit(eps)}); `;
  return { dispatch: [gx, gy], each, moments };
}

/** y = (x − mean)·rstd (· w) (+ b) per row of x [rows, cols], rstd = 1/√(var + eps), var biased. */
export function layerNormWorkgroupSpec(rows: number, cols: number, eps: number, hasW: boolean, hasB: boolean): KernelSpec {
  const { dispatch, each, moments } = rowGrid('layerNormWorkgroup', rows, cols, eps);
  const args = ['x', ...(hasW ? ['w'] : []), ...(hasB ? ['b'] : [])].join(', ');
  const source = `function (${args}) { ${moments}` +
    each(`storeResult(row * ${cols} + c, (x[base + c] - mean) * rstd${hasW ? ' * w[c]' : ''}${hasB ? ' + b[c]' : ''});`) + '}';
  return {
    key: `layernorm.wg:${rows}:${cols}:${eps}:${hasW}:${hasB}`,
    source,
    output: [rows * cols],
    outSize: rows * cols,
    work: rows * cols * 6,
    workgroupSize: [LN_WG],
    dispatch,
    workgroupArrays: { acc: LN_WG },
  };
}

/**
 * The backward's row statistics, as fused.ts's layerNormBackwardStatsSpec computes them with a
 * thread a row: per row of x, dy [rows, cols], [mean, rstd, mean(g), mean(g ∘ x̂)] with g = dy (∘ w)
 * and x̂ = (x − mean)·rstd; result [rows, 4]. A thread a row walks its row alone, uncoalesced:
 * 0.19 ms a call for GPT-2's [4096, 768] on the H200, where the bytes take microseconds.
 */
export function layerNormBackwardStatsWorkgroupSpec(rows: number, cols: number, eps: number, hasW: boolean): KernelSpec {
  const { dispatch, each, moments } = rowGrid('layerNormBackwardStatsWorkgroup', rows, cols, eps);
  const g = `dy[base + c]${hasW ? ' * w[c]' : ''}`;
  const source = `function (x, dy${hasW ? ', w' : ''}) { ${moments}workgroupBarrier(); ` +
    'let sg = 0.0; let sgx = 0.0; ' + each(`const g = ${g}; sg += g; sgx += g * (x[base + c] - mean) * rstd;`) +
    'acc[tid] = sg; acc2[tid] = sgx; workgroupBarrier(); ' + treeSum('acc', 'acc2') +
    `if (tid == 0) { storeResult(row * 4, mean); storeResult(row * 4 + 1, rstd); ` +
    `storeResult(row * 4 + 2, acc[0] / ${lit(cols)}); storeResult(row * 4 + 3, acc2[0] / ${lit(cols)}); } }`;
  return {
    key: `layernorm.bstats.wg:${rows}:${cols}:${eps}:${hasW}`,
    source,
    output: [rows * 4],
    outSize: rows * 4,
    work: rows * cols * 10,
    workgroupSize: [LN_WG],
    dispatch,
    workgroupArrays: { acc: LN_WG, acc2: LN_WG },
  };
}
