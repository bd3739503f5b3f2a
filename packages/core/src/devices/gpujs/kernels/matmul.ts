/**
 * Batched matmul. Each thread computes four adjacent columns of one output row and returns them
 * as an Array(4), which gpu.js stores as four consecutive floats: exactly row-major [.., M, N].
 * Four outputs per thread read each A element once for four multiply-adds; in the webasm
 * backend, SIMD runs four such threads side by side (16 outputs per step of k), with A's element
 * a uniform scalar load because the row is thread.y. Shapes, transposes and batch strides are
 * baked in, so all index arithmetic is constant-folded.
 */
import { broadcastStrides, sizeOf } from '../../../shape.js';
import type { Shape } from '../../device.js';
import { BLOCK } from './reduce.js';
import { coalesce, indexCode, type KernelSpec } from './spec.js';

export interface MatmulGeometry {
  M: number;
  K: number;
  N: number;
  /** Number of matrices in the output. */
  count: number;
}

export function matmulGeometry(aShape: Shape, bShape: Shape, transA: boolean, transB: boolean, batch: Shape): MatmulGeometry {
  const ra = aShape.length;
  const rb = bShape.length;
  if (ra < 2 || rb < 2) throw new Error(`gpujs matmul: operands need rank ≥ 2, got [${aShape}] and [${bShape}]`);
  const M = transA ? aShape[ra - 1] : aShape[ra - 2];
  const K = transA ? aShape[ra - 2] : aShape[ra - 1];
  const Kb = transB ? bShape[rb - 1] : bShape[rb - 2];
  const N = transB ? bShape[rb - 2] : bShape[rb - 1];
  if (K !== Kb) throw new Error(`gpujs matmul: inner dims differ: [${aShape}]${transA ? 'ᵀ' : ''} × [${bShape}]${transB ? 'ᵀ' : ''}`);
  return { M, K, N, count: sizeOf(batch) };
}

/**
 * Statements accumulating `accs[c] += av * read_c` over k, blocked like reductions so long dot
 * products keep float32 error small: partial sums of BLOCK terms, added into the totals.
 */
function dotLoop(K: number, accs: string[], step: (acc: string[], u: number) => string, unroll = 1): string {
  const declare = accs.map((s) => `let ${s} = 0.0;`).join(' ');
  // `n` steps of k, the body repeated `unroll` times per trip (constant bounds, so exact)
  const steps = (n: number, into: string[]) => {
    const trips = Math.floor(n / unroll);
    const rest = n - trips * unroll;
    // each copy gets its own temporaries (suffix u): one block cannot declare a const twice
    const body = Array.from({ length: unroll }, (_, u) => step(into, u)).join(' ');
    let code = trips > 0 ? `for (let k = 0; k < ${trips}; k++) { ${body} } ` : '';
    if (rest > 0) code += `for (let k = 0; k < ${rest}; k++) { ${step(into, unroll)} } `;
    return code;
  };
  if (K <= BLOCK) return `${declare} ${steps(K, accs)}`;
  const parts = accs.map((s) => `${s}b`);
  const zero = parts.map((s) => `let ${s} = 0.0;`).join(' ');
  const flush = accs.map((s, c) => `${s} += ${parts[c]};`).join(' ');
  const full = Math.floor(K / BLOCK);
  const rem = K - full * BLOCK;
  let code = `${declare} for (let kb = 0; kb < ${full}; kb++) { ${zero} ${steps(BLOCK, parts)}${flush} } `;
  if (rem > 0) code += steps(rem, accs);
  return code;
}

/**
 * What a matmul may add to its result on the way out (a Linear layer's bias [N], a residual
 * stream of the output's shape): kernel arguments after a and b, named `bias` and `res`.
 */
export interface EpilogueFlags {
  bias: boolean;
  residual: boolean;
}

const NO_EPILOGUE: EpilogueFlags = { bias: false, residual: false };
const epilogueArgs = (e: EpilogueFlags) => `${e.bias ? ', bias' : ''}${e.residual ? ', res' : ''}`;
const epilogueKey = (e: EpilogueFlags) => `${e.bias ? 'b' : ''}${e.residual ? 'r' : ''}`;
/** ` + bias[col] + res[flat]` for the output element at column `col`, flat index `flat`. */
const epilogueTerms = (e: EpilogueFlags, col: string, flat: string) =>
  `${e.bias ? ` + bias[${col}]` : ''}${e.residual ? ` + res[${flat}]` : ''}`;

/**
 * Where one thread's operands live: element strides along (row, k) of A and (k, col) of B with
 * the transposes folded in, and code computing the batch offsets offA/offB from thread.z.
 */
function operandLayout(aShape: Shape, bShape: Shape, transA: boolean, transB: boolean, batch: Shape, kSlice?: [number, number]) {
  const { M, K: fullK, N, count } = matmulGeometry(aShape, bShape, transA, transB, batch);
  const [k0, K] = kSlice ?? [0, fullK];
  // batch offsets: broadcast strides of each operand's batch dims, in elements
  const sa = broadcastStrides(aShape.slice(0, -2), batch).map((s) => s * M * fullK);
  const sb = broadcastStrides(bShape.slice(0, -2), batch).map((s) => s * fullK * N);
  const { dims, strides } = coalesce(batch, [sa, sb]);
  let offsets = 'const offA = 0; const offB = 0; ';
  if (dims.length > 0) {
    const { lines, exprs } = indexCode('this.thread.z', dims, strides, 'z');
    offsets = `${lines}const offA = ${exprs[0]}; const offB = ${exprs[1]}; `;
  }
  return {
    M, K, N, count, k0, offsets,
    aRow: transA ? 1 : fullK, aCol: transA ? M : 1,
    bRow: transB ? 1 : N, bCol: transB ? fullK : 1,
  };
}

/** `kSlice` = [k0, length]: the partial product over that slice of K (split-K for long dots). */
export function matmulSpec(aShape: Shape, bShape: Shape, transA: boolean, transB: boolean, batch: Shape,
  kSlice?: [number, number], unroll = 1, epilogue: EpilogueFlags = NO_EPILOGUE): KernelSpec {
  const { M, K, N, count, k0, aRow, aCol, bRow, bCol, offsets } = operandLayout(aShape, bShape, transA, transB, batch, kSlice);
  const wide = N % 4 === 0;
  const X = wide ? N / 4 : N;
  const key = `matmul:${aShape.join(',')}:${bShape.join(',')}:${transA ? 1 : 0}${transB ? 1 : 0}:${batch.join(',')}:${k0}:${K}:${unroll}:${epilogueKey(epilogue)}`;
  const head = `function (a, b${epilogueArgs(epilogue)}) { ${offsets}let pa = offA + this.thread.y * ${aRow} + ${k0 * aCol}; `;
  // the output element's column and flat index, for the epilogue
  const z = count > 1 ? `this.thread.z * ${M * N} + ` : '';
  const where = epilogue.bias || epilogue.residual
    ? `const col = this.thread.x${wide ? ' * 4' : ''}; const flat = ${z}this.thread.y * ${N} + col; ` : '';
  const plus = (c: number) => epilogueTerms(epilogue, c ? `col + ${c}` : 'col', c ? `flat + ${c}` : 'flat');
  let source: string;
  if (wide) {
    source = head + `let pb = offB + this.thread.x * ${4 * bCol} + ${k0 * bRow}; ` +
      dotLoop(K, ['s0', 's1', 's2', 's3'], (s, u) =>
        `const av${u} = a[pa]; ${s[0]} += av${u} * b[pb]; ${s[1]} += av${u} * b[pb + ${bCol}]; ` +
        `${s[2]} += av${u} * b[pb + ${2 * bCol}]; ${s[3]} += av${u} * b[pb + ${3 * bCol}]; pa += ${aCol}; pb += ${bRow};`, unroll) +
      `${where}return [s0${plus(0)}, s1${plus(1)}, s2${plus(2)}, s3${plus(3)}]; }`;
  } else {
    source = head + `let pb = offB + this.thread.x * ${bCol} + ${k0 * bRow}; ` +
      dotLoop(K, ['s0'], (s) => `${s[0]} += a[pa] * b[pb]; pa += ${aCol}; pb += ${bRow};`) +
      `${where}return s0${plus(0)}; }`;
  }
  return {
    key,
    source,
    output: count > 1 ? [X, M, count] : [X, M],
    returnType: wide ? 'Array(4)' : undefined,
    outSize: count * M * N,
    work: 2 * count * M * N * K,
  };
}

/**
 * The other blocking: each thread computes one column of four adjacent rows. In webasm's SIMD
 * (four threads side by side along x = column) that reads four uniform A elements and one
 * gathered B quad per step of k for 16 multiply-adds, against one A element and four gathered B
 * quads for `matmulSpec`'s layout. Its Array(4) holds a column fragment, so the result comes out
 * packed as [count, ⌈M/4⌉, N, 4] and `unpackRows4Spec` puts it in row-major order.
 */
export function matmulRows4Spec(aShape: Shape, bShape: Shape, transA: boolean, transB: boolean, batch: Shape,
  kSlice?: [number, number], unroll = 1): KernelSpec {
  const { M, K, N, count, k0, aRow, aCol, bRow, bCol, offsets } = operandLayout(aShape, bShape, transA, transB, batch, kSlice);
  const M4 = Math.ceil(M / 4);
  // rows past M (when M % 4 ≠ 0) re-read row M−1: always in bounds, dropped by the unpack
  const row = (c: number) => (c === 0 ? 'i0' : `Math.min(i0 + ${c}, ${M - 1})`);
  const source = `function (a, b) { ${offsets}const i0 = this.thread.y * 4; ` +
    [0, 1, 2, 3].map((c) => `let pa${c} = offA + ${row(c)} * ${aRow} + ${k0 * aCol}; `).join('') +
    `let pb = offB + this.thread.x * ${bCol} + ${k0 * bRow}; ` +
    dotLoop(K, ['s0', 's1', 's2', 's3'], (s, u) =>
      `const bv${u} = b[pb]; ${s[0]} += a[pa0] * bv${u}; ${s[1]} += a[pa1] * bv${u}; ${s[2]} += a[pa2] * bv${u}; ${s[3]} += a[pa3] * bv${u}; ` +
      `pa0 += ${aCol}; pa1 += ${aCol}; pa2 += ${aCol}; pa3 += ${aCol}; pb += ${bRow};`, unroll) +
    'return [s0, s1, s2, s3]; }';
  return {
    key: `matmul.rows4:${aShape.join(',')}:${bShape.join(',')}:${transA ? 1 : 0}${transB ? 1 : 0}:${batch.join(',')}:${k0}:${K}:${unroll}`,
    source,
    output: count > 1 ? [N, M4, count] : [N, M4],
    returnType: 'Array(4)',
    outSize: count * M4 * N * 4,
    work: 2 * count * M4 * 4 * N * K,
  };
}

/**
 * [count, ⌈M/4⌉, N, 4] (matmulRows4Spec's packing) to row-major [count, M, N], adding the
 * epilogue on the way (free: this pass reads and writes every element anyway).
 */
export function unpackRows4Spec(count: number, M: number, N: number, epilogue: EpilogueFlags = NO_EPILOGUE): KernelSpec {
  const n = count * M * N;
  const M4 = Math.ceil(M / 4);
  return {
    key: `matmul.unpack:${count}:${M}:${N}:${epilogueKey(epilogue)}`,
    source: `function (p${epilogueArgs(epilogue)}) { const t = Math.floor(this.thread.x / ${N}); const j = this.thread.x - t * ${N}; ` +
      `const z = Math.floor(t / ${M}); const i = t - z * ${M}; const i4 = Math.floor(i * 0.25); ` +
      `return p[((z * ${M4} + i4) * ${N} + j) * 4 + i - i4 * 4]${epilogueTerms(epilogue, 'j', 'this.thread.x')}; }`,
    output: [n],
    outSize: n,
    work: n,
  };
}

/**
 * The wasm formulation, from measurements on 2 cores (webasm with worker threads, medians of 5,
 * H100 host pinned with `taskset -c 0,1`; GFLOP/s, cols4 → rows4+unpack, k unrolled ×1 / ×2 / ×4):
 *   1024²                      1.78 / 2.42 / 1.99  →  2.45 / 2.69 / 2.92
 *   [512,128]·[128,384]        1.56 / 1.34 / 1.57  →  1.52 / 1.98 / 1.86
 *   [512,512]·[512,128]        1.80 / 1.95 / 1.82  →  1.68 / 2.12 / 2.40
 *   [512,128]ᵀ·[512,512]       1.72 / 2.01 / 1.93  →  1.78 / 2.40 / 2.62
 *   64 × [64,32]·[64,32]ᵀ      1.00 / 1.06 / 0.93  →  1.10 / 1.06 / 1.12
 * rows4 unrolled ×4 wins or ties everywhere; below 8 rows its padding to 4-row groups wastes work.
 */
export const WASM_ROWS4_UNROLL = 4;
export const WASM_COLS4_UNROLL = 2;

export function preferRows4(M: number): boolean {
  return M >= 8;
}
