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
import { BLOCK, MAX_SERIAL } from './reduce.js';
import { coalesce, floorDiv, type KernelSpec } from './spec.js';

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
 * Statements accumulating `accs[c] += ...` over k, blocked like reductions so long dot products
 * keep float32 error small: partial sums of BLOCK terms, added into the totals. `step` gets the
 * step's k as an integer expression of loop counters and literals, never a variable: gpu.js
 * declares every `let`/`const` float32 (its int-initialiser decay), so an index kept in a variable
 * pays a float→int conversion at every load, while one built from loop counters, `this.thread`
 * and literals stays i32 from end to end.
 */
function dotLoop(K: number, accs: string[], step: (acc: string[], k: string, u: number) => string, unroll = 1): string {
  const declare = accs.map((s) => `let ${s} = 0.0;`).join(' ');
  // `n` steps of k from `base`, the body repeated `unroll` times per trip (constant bounds)
  const steps = (n: number, base: string, into: string[], counter: string) => {
    const trips = Math.floor(n / unroll);
    const rest = n - trips * unroll;
    const at = (off: string) => (base === '0' ? off : `${base} + ${off}`);
    // each copy gets its own temporaries (suffix u): one block cannot declare a const twice
    const body = Array.from({ length: unroll }, (_, u) =>
      step(into, at(unroll === 1 ? counter : `${counter} * ${unroll}${u ? ` + ${u}` : ''}`), u)).join(' ');
    let code = trips > 0 ? `for (let ${counter} = 0; ${counter} < ${trips}; ${counter}++) { ${body} } ` : '';
    const tail = trips * unroll;
    if (rest > 0) code += `for (let ${counter}r = 0; ${counter}r < ${rest}; ${counter}r++) { ${step(into, at(tail ? `${tail} + ${counter}r` : `${counter}r`), unroll)} } `;
    return code;
  };
  if (K <= BLOCK) return `${declare} ${steps(K, '0', accs, 'k')}`;
  const parts = accs.map((s) => `${s}b`);
  const zero = parts.map((s) => `let ${s} = 0.0;`).join(' ');
  const flush = accs.map((s, c) => `${s} += ${parts[c]};`).join(' ');
  const full = Math.floor(K / BLOCK);
  const rem = K - full * BLOCK;
  let code = `${declare} for (let kb = 0; kb < ${full}; kb++) { ${zero} ${steps(BLOCK, `kb * ${BLOCK}`, parts, 'k')}${flush} } `;
  if (rem > 0) code += steps(rem, String(full * BLOCK), accs, 'j');
  return code;
}

/** Source of a sum, leaving out zero terms. */
function sum(...terms: (string | number)[]): string {
  return terms.filter((t) => t !== 0 && t !== '0').join(' + ') || '0';
}

/** `base + k * stride` as source, dropping zero and unit factors. */
function at(base: string, k: string, stride: number): string {
  return `${base} + ${stride === 1 ? `(${k})` : `(${k}) * ${stride}`}`;
}

/**
 * The batch offsets of A and B for the matrix at `this.thread.z`, inline: coordinate k of z is
 * floor(z / P_k) mod d_k (P_k the product of the later dims), so a single batch dim costs one
 * integer multiply and only broadcast batches divide.
 */
function batchOffsets(dims: readonly number[], strides: readonly (readonly number[])[], z: string): string[] {
  const coord = (k: number) => {
    const P = dims.slice(k + 1).reduce((x, y) => x * y, 1);
    const q = P === 1 ? z : floorDiv(z, P);
    return k === 0 ? q : `(${q} - ${floorDiv(z, P * dims[k])} * ${dims[k]})`;
  };
  return strides.map((s) => {
    const terms = s.flatMap((v, k) => (v === 0 ? [] : [`${coord(k)} * ${v}`]));
    return terms.length ? terms.join(' + ') : '0';
  });
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
 * the transposes folded in, and the batch offsets offA/offB as expressions of this.thread.z.
 */
function operandLayout(aShape: Shape, bShape: Shape, transA: boolean, transB: boolean, batch: Shape, kSlice?: [number, number],
  z = 'this.thread.z') {
  const { M, K: fullK, N, count } = matmulGeometry(aShape, bShape, transA, transB, batch);
  const [k0, K] = kSlice ?? [0, fullK];
  // batch offsets: broadcast strides of each operand's batch dims, in elements
  const sa = broadcastStrides(aShape.slice(0, -2), batch).map((s) => s * M * fullK);
  const sb = broadcastStrides(bShape.slice(0, -2), batch).map((s) => s * fullK * N);
  const { dims, strides } = coalesce(batch, [sa, sb]);
  const [offA, offB] = batchOffsets(dims, strides, z);
  return {
    M, K, N, count, k0, offA, offB,
    aRow: transA ? 1 : fullK, aCol: transA ? M : 1,
    bRow: transB ? 1 : N, bCol: transB ? fullK : 1,
  };
}

/**
 * How a kernel walks its operands along k. 'integer': every load's index is an expression of
 * loop counters, `this.thread` and literals, which gpu.js keeps i32 (GPU compilers fold and
 * strength-reduce it; a float index costs a quarter-rate f32→i32 conversion per load on NVIDIA).
 * 'pointers': float32 variables bumped by their stride each step, one truncation per load, which
 * V8's wasm tiers run faster than the integer expressions they do not hoist. Measured (H100,
 * webgpu, 4096²: 5.4 → 8.1 TFLOP/s; 2 cores, wasm rows4, 1024²: 533 ms pointers, 636 integer).
 */
export type IndexStyle = 'integer' | 'pointers';

/** A dot-loop step for `pointers`: loads at pointer variables, then every pointer moves one k. */
const bump = (ptrs: [string, number][]) => ptrs.map(([p, stride]) => `${p} += ${stride};`).join(' ');

/**
 * `kSlice` = [k0, length]: the partial product over that slice of K (split-K for long dots).
 * `slices` > 1 (integer style, K divisible by it): every slice's partial product in one launch,
 * slice-major along z, [slices, count, M, N] for a reduction over the first axis to finish.
 */
export function matmulSpec(aShape: Shape, bShape: Shape, transA: boolean, transB: boolean, batch: Shape,
  kSlice?: [number, number], unroll = 1, epilogue: EpilogueFlags = NO_EPILOGUE, style: IndexStyle = 'integer', slices = 1): KernelSpec {
  const count0 = sizeOf(batch);
  const split = slices > 1;
  // with slices, z = slice · count + batch index
  const zBatch = !split ? 'this.thread.z' : count0 > 1 ? `(this.thread.z - ${floorDiv('this.thread.z', count0)} * ${count0})` : '0';
  const layout = operandLayout(aShape, bShape, transA, transB, batch, kSlice, zBatch);
  const { M, N, count, k0, aRow, aCol, bRow, bCol, offA, offB } = layout;
  const K = layout.K / slices;
  if (split && (!Number.isInteger(K) || kSlice || style !== 'integer' || epilogue.bias || epilogue.residual)) {
    throw new Error(`gpujs matmul: ${slices} K slices need K (${layout.K}) divisible by them, integer indices and no epilogue`);
  }
  const sliceAt = (stride: number) => (!split ? 0 : `${count0 > 1 ? floorDiv('this.thread.z', count0) : 'this.thread.z'} * ${K * stride}`);
  const wide = N % 4 === 0;
  const X = wide ? N / 4 : N;
  const key = `matmul:${aShape.join(',')}:${bShape.join(',')}:${transA ? 1 : 0}${transB ? 1 : 0}:${batch.join(',')}:${k0}:${K}:${unroll}:${epilogueKey(epilogue)}:${style}:${slices}`;
  // the thread's output column and flat index (for the epilogue), and its operands at k = k0
  const col = wide ? 'this.thread.x * 4' : 'this.thread.x';
  const flat = `${count > 1 ? `this.thread.z * ${M * N} + ` : ''}this.thread.y * ${N} + ${col}`;
  const a0 = sum(offA, `this.thread.y * ${aRow}`, k0 * aCol, sliceAt(aCol));
  const b0 = sum(offB, bCol === 1 ? col : `${col} * ${bCol}`, k0 * bRow, sliceAt(bRow));
  const plus = (c: number) => epilogueTerms(epilogue, c ? `${col} + ${c}` : col, c ? `${flat} + ${c}` : flat);
  const cols = wide ? [0, 1, 2, 3] : [0];
  const accs = cols.map((c) => `s${c}`);
  const bAt = (k: string, c: number) => `${style === 'integer' ? at(b0, k, bRow) : 'pb'}${c ? ` + ${c * bCol}` : ''}`;
  const step = (s: string[], k: string, u: number) =>
    `const av${u} = a[${style === 'integer' ? at(a0, k, aCol) : 'pa'}]; ` +
    cols.map((c) => `${s[c]} += av${u} * b[${bAt(k, c)}];`).join(' ') +
    (style === 'pointers' ? ` ${bump([['pa', aCol], ['pb', bRow]])}` : '');
  const source = `function (a, b${epilogueArgs(epilogue)}) { ` +
    (style === 'pointers' ? `let pa = ${a0}; let pb = ${b0}; ` : '') +
    dotLoop(K, accs, step, unroll) +
    (wide ? `return [${cols.map((c) => `s${c}${plus(c)}`).join(', ')}]; }` : `return s0${plus(0)}; }`);
  const Z = count * slices;
  return {
    key,
    source,
    output: Z > 1 ? [X, M, Z] : [X, M],
    returnType: wide ? 'Array(4)' : undefined,
    outSize: Z * M * N,
    work: 2 * Z * M * N * K,
  };
}

/**
 * The wasm blocking: each thread computes one column of four adjacent rows. In webasm's SIMD
 * (four threads side by side along x = column) that reads four uniform A elements and one
 * gathered B quad per step of k for 16 multiply-adds, against one A element and four gathered B
 * quads for `matmulSpec`'s layout. Its Array(4) holds a column fragment, so the result comes out
 * packed as [count, ⌈M/4⌉, N, 4] and `unpackRows4Spec` puts it in row-major order. Walks its
 * operands with pointers (see IndexStyle).
 */
export function matmulRows4Spec(aShape: Shape, bShape: Shape, transA: boolean, transB: boolean, batch: Shape,
  kSlice?: [number, number], unroll = 1): KernelSpec {
  const { M, K, N, count, k0, aRow, aCol, bRow, bCol, offA, offB } = operandLayout(aShape, bShape, transA, transB, batch, kSlice);
  const M4 = Math.ceil(M / 4);
  // rows past M (when M % 4 ≠ 0) re-read row M−1: always in bounds, dropped by the unpack
  const row = (c: number) => (M % 4 === 0 || c === 0 ? `this.thread.y * 4 + ${c}` : `Math.min(this.thread.y * 4 + ${c}, ${M - 1})`);
  const ptrs: [string, number][] = [['pa0', aCol], ['pa1', aCol], ['pa2', aCol], ['pa3', aCol], ['pb', bRow]];
  const source = 'function (a, b) { ' +
    [0, 1, 2, 3].map((c) => `let pa${c} = ${sum(offA, `(${row(c)}) * ${aRow}`, k0 * aCol)}; `).join('') +
    `let pb = ${sum(offB, `this.thread.x${bCol === 1 ? '' : ` * ${bCol}`}`, k0 * bRow)}; ` +
    dotLoop(K, ['s0', 's1', 's2', 's3'], (s, _k, u) => `const bv${u} = b[pb]; ` +
      [0, 1, 2, 3].map((c) => `${s[c]} += a[pa${c}] * bv${u};`).join(' ') + ` ${bump(ptrs)}`, unroll) +
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
 * epilogue on the way (free: this pass reads and writes every element anyway). A 3D launch over
 * (column, row, matrix), so no index is divided.
 */
export function unpackRows4Spec(count: number, M: number, N: number, epilogue: EpilogueFlags = NO_EPILOGUE): KernelSpec {
  const n = count * M * N;
  const M4 = Math.ceil(M / 4);
  const flat = `this.thread.x + ${N} * (this.thread.y + ${M} * this.thread.z)`;
  return {
    key: `matmul.unpack:${count}:${M}:${N}:${epilogueKey(epilogue)}`,
    source: `function (p${epilogueArgs(epilogue)}) { const i4 = Math.floor(this.thread.y / 4); ` +
      `return p[((this.thread.z * ${M4} + i4) * ${N} + this.thread.x) * 4 + this.thread.y - i4 * 4]` +
      `${epilogueTerms(epilogue, 'this.thread.x', flat)}; }`,
    output: count > 1 ? [N, M, count] : [N, M],
    outSize: n,
    work: n,
  };
}

/**
 * Threads a GPU matmul should launch: an H100 holds 132 SMs × 2048 = 270K resident threads. A
 * product with a narrow output and a long K (attention's P·V and Pᵀ·dO: [4096, 4096]·[4096, 64]
 * is 65K threads of 4,096 steps each) leaves most of the chip idle.
 */
export const GPU_THREADS = 2 ** 18;
/** The shortest K slice worth a partial product. */
export const MIN_K_SLICE = 256;

/**
 * K slices for a GPU matmul of `threads` threads: doubled while the launch stays under
 * GPU_THREADS, the slices divide K, and each keeps MIN_K_SLICE steps; 1 when no split pays or
 * a slice would still pass MAX_SERIAL (the multi-launch split-K takes those).
 */
export function gpuKSlices(threads: number, K: number): number {
  let s = 1;
  while (threads * s * 2 <= GPU_THREADS && K % (2 * s) === 0 && K / (2 * s) >= MIN_K_SLICE) s *= 2;
  return K / s > MAX_SERIAL ? 1 : s;
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
