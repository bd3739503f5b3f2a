/**
 * webgpu: layer norm's forward with a workgroup per row (patches/WORKGROUP-API.md). fused.ts's
 * GPU kernel has one thread per element recompute its whole row's moments — cols² reads a row,
 * 1.5 ms for GPT-2's [4096, 768] on the H200 where the bytes take microseconds. Here the LN_WG
 * threads of a row each sum the columns c ≡ tid (mod LN_WG), a tree in workgroup memory adds the
 * partials (for the mean, then for the centred squares: the same two-pass moments as fused.ts),
 * and each thread writes its columns.
 */
import { lit, type KernelSpec } from './spec.js';

/** Threads per row. */
const LN_WG = 128;

/** Statements leaving in `acc[0]` the sum of every thread's `acc[tid]`, all threads past the barrier. */
function treeSum(acc: string): string {
  let code = '';
  for (let h = LN_WG / 2; h >= 1; h /= 2) code += `if (tid < ${h}) { ${acc}[tid] = ${acc}[tid] + ${acc}[tid + ${h}]; } workgroupBarrier(); `;
  return code;
}

/** y = (x − mean)·rstd (· w) (+ b) per row of x [rows, cols], rstd = 1/√(var + eps), var biased. */
export function layerNormWorkgroupSpec(rows: number, cols: number, eps: number, hasW: boolean, hasB: boolean): KernelSpec {
  if (!(Number.isInteger(rows) && rows >= 1 && Number.isInteger(cols) && cols >= 1)) {
    throw new Error(`gpujs layerNormWorkgroup: rows ${rows} and cols ${cols} must be integers ≥ 1`);
  }
  const iters = Math.ceil(cols / LN_WG);
  // rows past one grid row (32,768 workgroups) go to y; a workgroup past the last row recomputes
  // row rows − 1 and its stores fall past the output (storeResult drops them)
  const gx = Math.min(rows, 32768);
  const gy = Math.ceil(rows / gx);
  const each = (body: string) => `for (let k = 0; k < ${iters}; k++) { const c = k * ${LN_WG} + tid; if (c < ${cols}) { ${body} } } `;
  const args = ['x', ...(hasW ? ['w'] : []), ...(hasB ? ['b'] : [])].join(', ');
  const source = `function (${args}) { const tid = this.localThread.x; ` +
    `const row = this.workgroup.y * ${gx} + this.workgroup.x; const r = Math.min(row, ${rows - 1}); const base = r * ${cols}; ` +
    'let s = 0.0; ' + each('s += x[base + c];') + 'acc[tid] = s; workgroupBarrier(); ' + treeSum('acc') +
    `const mean = acc[0] / ${lit(cols)}; workgroupBarrier(); ` +
    'let q = 0.0; ' + each('const d = x[base + c] - mean; q += d * d;') + 'acc[tid] = q; workgroupBarrier(); ' + treeSum('acc') +
    `const rstd = 1.0 / Math.sqrt(acc[0] / ${lit(cols)} + ${lit(eps)}); ` +
    each(`storeResult(row * ${cols} + c, (x[base + c] - mean) * rstd${hasW ? ' * w[c]' : ''}${hasB ? ' + b[c]' : ''});`) + '}';
  return {
    key: `layernorm.wg:${rows}:${cols}:${eps}:${hasW}:${hasB}`,
    source,
    output: [rows * cols],
    outSize: rows * cols,
    work: rows * cols * 6,
    workgroupSize: [LN_WG],
    dispatch: [gx, gy],
    workgroupArrays: { acc: LN_WG },
  };
}
