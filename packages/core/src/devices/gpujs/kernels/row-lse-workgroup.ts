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
/**
 * The grid (rows past the grid's 65,535 per dimension go to y; a workgroup past the last row reads
 * row rows − 1, and its stores are dropped: storeResult ignores indices past the output) and the
 * source's opening lines, which leave the row's logsumexp in `sm[0] + Math.log(ss[0])` for every
 * thread, and a loop over the thread's columns.
 */
function rowLseGrid(what: string, rows: number, cols: number) {
  if (!(Number.isInteger(rows) && rows >= 1 && Number.isInteger(cols) && cols >= 1)) {
    throw new Error(`gpujs ${what}: rows ${rows} and cols ${cols} must be integers ≥ 1`);
  }
  const iters = Math.ceil(cols / LSE_WG);
  const gx = Math.min(rows, 32768);
  const gy = Math.ceil(rows / gx);
  const each = (body: string) => `for (let k = 0; k < ${iters}; k++) { const c = k * ${LSE_WG} + tid; if (c < ${cols}) { ${body} } } `;
  let tree = '';
  for (let h = LSE_WG / 2; h >= 1; h /= 2) {
    tree += `if (tid < ${h}) { const ma = sm[tid]; const mb = sm[tid + ${h}]; const mm = Math.max(ma, mb); ` +
      `ss[tid] = ss[tid] * Math.exp(ma - mm) + ss[tid + ${h}] * Math.exp(mb - mm); sm[tid] = mm; } workgroupBarrier(); `;
  }
  const lse = 'const tid = this.localThread.x; ' +
    `const row = this.workgroup.y * ${gx} + this.workgroup.x; const r = Math.min(row, ${rows - 1}); const base = r * ${cols}; ` +
    `let m = ${LOW}; let s = 0.0; ` +
    each('const v = x[base + c]; if (v > m) { s = s * Math.exp(m - v) + 1.0; m = v; } else { s += Math.exp(v - m); }') +
    'sm[tid] = m; ss[tid] = s; workgroupBarrier(); ' + tree;
  return { dispatch: [gx, gy], each, lse };
}

export function rowLseWorkgroupSpec(rows: number, cols: number, targets: boolean): KernelSpec {
  const { dispatch, lse } = rowLseGrid('rowLseWorkgroup', rows, cols);
  const result = targets ? `lse - x[base + ${rowIndex('t[r]', 'webgpu')}]` : 'lse';
  const source = `function (x${targets ? ', t' : ''}) { ${lse}` +
    // a row of −∞ (every class masked) has s = 0: lse = −∞, as logsumexp gives
    `if (tid == 0) { const lse = sm[0] + Math.log(ss[0]); storeResult(row, ${result}); } }`;
  return {
    key: `rowlse.wg:${rows}:${cols}:${targets ? 1 : 0}`,
    source,
    output: [rows],
    outSize: rows,
    work: rows * cols * 4,
    workgroupSize: [LSE_WG],
    dispatch,
    workgroupArrays: { sm: LSE_WG, ss: LSE_WG },
  };
}

/**
 * The cross-entropy's gradient in one kernel: per row of logits x [rows, cols] with target t[r]
 * and upstream dl[r], dx = dl[r] · (softmax(x) − onehot(t)); the row's logsumexp as above, then
 * each thread writes its columns. The lse kernel and a thread per logit took 0.45 + 2.2 ms for
 * GPT-2's [4096, 50257] on the H200 (the second divides every index by 50,257), against 0.5 ms
 * for the bytes (two reads of the row and a write) at 4.8 TB/s.
 */
export function crossEntropyBackwardWorkgroupSpec(rows: number, cols: number): KernelSpec {
  const { dispatch, each, lse } = rowLseGrid('crossEntropyBackwardWorkgroup', rows, cols);
  const source = `function (x, t, dl) { ${lse}const lse = sm[0] + Math.log(ss[0]); ` +
    `const target = ${rowIndex('t[r]', 'webgpu')}; const g = dl[r]; ` +
    each(`storeResult(row * ${cols} + c, g * (Math.exp(x[base + c] - lse) - (c == target ? 1.0 : 0.0)));`) + '}';
  return {
    key: `crossentropy.bwd.wg:${rows}:${cols}`,
    source,
    output: [rows * cols],
    outSize: rows * cols,
    work: rows * cols * 8,
    workgroupSize: [LSE_WG],
    dispatch,
    workgroupArrays: { sm: LSE_WG, ss: LSE_WG },
  };
}
