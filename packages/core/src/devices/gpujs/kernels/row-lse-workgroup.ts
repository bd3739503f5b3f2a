/**
 * webgpu: the logsumexp of long rows (GPT-2's 50,257 logits) with a workgroup per row, through the
 * patched gpu.js's workgroup features (patches/WORKGROUP-API.md). One thread per row, as
 * fused.ts's row kernels do, walks 50K elements alone and leaves the GPU idle at 4,096 rows; the
 * composite path instead writes a dozen [rows, cols] temporaries. Here each of WG threads keeps an
 * online (max m, sum s of e^(x − m)) over the columns c ≡ tid (mod WG) — consecutive threads read
 * consecutive columns — then the pairs are merged in a tree in workgroup memory:
 * m = max(ma, mb), s = sa·e^(ma − m) + sb·e^(mb − m). One read of the row, nothing else written.
 */
import { rowIndex, type KernelSpec } from './spec.js';

/** Threads per row. */
const LSE_WG = 256;

/** Below any float32 logit but finite: WGSL has no −∞ literal, and e^(LOW − m) is 0 for any real m. */
const LOW = '-3.0e38';

/**
 * Per row of x [rows, cols]: logsumexp(row), or, with `targets`, logsumexp(row) − row[t[row]] (the
 * cross-entropy of fused.ts's crossEntropySpec). Result [rows].
 */
export function rowLseWorkgroupSpec(rows: number, cols: number, targets: boolean): KernelSpec {
  if (!(Number.isInteger(rows) && rows >= 1 && Number.isInteger(cols) && cols >= 1)) {
    throw new Error(`gpujs rowLseWorkgroup: rows ${rows} and cols ${cols} must be integers ≥ 1`);
  }
  const iters = Math.ceil(cols / LSE_WG);
  // rows past the grid's 65,535 per dimension go to y; a workgroup past the last row reads row
  // rows − 1 (its store is dropped: storeResult ignores indices past the output)
  const gx = Math.min(rows, 32768);
  const gy = Math.ceil(rows / gx);
  let tree = '';
  for (let h = LSE_WG / 2; h >= 1; h /= 2) {
    tree += `if (tid < ${h}) { const ma = sm[tid]; const mb = sm[tid + ${h}]; const mm = Math.max(ma, mb); ` +
      `ss[tid] = ss[tid] * Math.exp(ma - mm) + ss[tid + ${h}] * Math.exp(mb - mm); sm[tid] = mm; } workgroupBarrier(); `;
  }
  const result = targets ? `lse - x[base + ${rowIndex('t[r]', 'webgpu')}]` : 'lse';
  const source = `function (x${targets ? ', t' : ''}) { const tid = this.localThread.x; ` +
    `const row = this.workgroup.y * ${gx} + this.workgroup.x; const r = Math.min(row, ${rows - 1}); const base = r * ${cols}; ` +
    `let m = ${LOW}; let s = 0.0; ` +
    `for (let k = 0; k < ${iters}; k++) { const c = k * ${LSE_WG} + tid; ` +
    `if (c < ${cols}) { const v = x[base + c]; if (v > m) { s = s * Math.exp(m - v) + 1.0; m = v; } else { s += Math.exp(v - m); } } } ` +
    'sm[tid] = m; ss[tid] = s; workgroupBarrier(); ' +
    tree +
    // a row of −∞ (every class masked) has s = 0: lse = −∞, as logsumexp gives
    `if (tid == 0) { const lse = sm[0] + Math.log(ss[0]); storeResult(row, ${result}); } }`;
  return {
    key: `rowlse.wg:${rows}:${cols}:${targets ? 1 : 0}`,
    source,
    output: [rows],
    outSize: rows,
    work: rows * cols * 4,
    workgroupSize: [LSE_WG],
    dispatch: [gx, gy],
    workgroupArrays: { sm: LSE_WG, ss: LSE_WG },
  };
}
