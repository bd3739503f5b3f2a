/**
 * Batched matmul. Each thread computes four adjacent columns of one output row and returns them
 * as an Array(4), which gpu.js stores as four consecutive floats: exactly row-major [.., M, N].
 * Four outputs per thread read each A element once for four multiply-adds; in the webasm
 * backend, SIMD runs four such threads side by side (16 outputs per step of k), with A's element
 * a uniform scalar load because the row is thread.y. Shapes, transposes and batch strides are
 * baked in, so all index arithmetic is constant-folded.
 */
import type { Shape } from '../../device.js';
import { BLOCK } from './reduce.js';
import { broadcastStrides } from './elementwise.js';
import { coalesce, indexCode, prod, type KernelSpec } from './spec.js';

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
  return { M, K, N, count: prod(batch) };
}

/**
 * Statements accumulating `accs[c] += av * read_c` over k, blocked like reductions so long dot
 * products keep float32 error small: partial sums of BLOCK terms, added into the totals.
 */
function dotLoop(K: number, accs: string[], step: (acc: string[]) => string): string {
  const declare = accs.map((s) => `let ${s} = 0.0;`).join(' ');
  if (K <= BLOCK) {
    return `${declare} for (let k = 0; k < ${K}; k++) { ${step(accs)} } `;
  }
  const parts = accs.map((s) => `${s}b`);
  const zero = parts.map((s) => `let ${s} = 0.0;`).join(' ');
  const flush = accs.map((s, c) => `${s} += ${parts[c]};`).join(' ');
  const full = Math.floor(K / BLOCK);
  const rem = K - full * BLOCK;
  let code = `${declare} for (let kb = 0; kb < ${full}; kb++) { ${zero} ` +
    `for (let k = 0; k < ${BLOCK}; k++) { ${step(parts)} } ${flush} } `;
  if (rem > 0) code += `for (let k = 0; k < ${rem}; k++) { ${step(accs)} } `;
  return code;
}

/** `kSlice` = [k0, length]: the partial product over that slice of K (split-K for long dots). */
export function matmulSpec(aShape: Shape, bShape: Shape, transA: boolean, transB: boolean, batch: Shape,
  kSlice?: [number, number]): KernelSpec {
  const { M, K: fullK, N, count } = matmulGeometry(aShape, bShape, transA, transB, batch);
  const [k0, K] = kSlice ?? [0, fullK];
  const aRow = transA ? 1 : fullK;
  const aCol = transA ? M : 1;
  const bRow = transB ? 1 : N;
  const bCol = transB ? fullK : 1;
  // batch offsets: broadcast strides of each operand's batch dims, in elements
  const sa = broadcastStrides(aShape.slice(0, -2), batch).map((s) => s * M * fullK);
  const sb = broadcastStrides(bShape.slice(0, -2), batch).map((s) => s * fullK * N);
  const { dims, strides } = coalesce(batch, [sa, sb]);
  let offsets = 'const offA = 0; const offB = 0; ';
  if (dims.length > 0) {
    const { lines, exprs } = indexCode('this.thread.z', dims, strides, 'z');
    offsets = `${lines}const offA = ${exprs[0]}; const offB = ${exprs[1]}; `;
  }
  const wide = N % 4 === 0;
  const X = wide ? N / 4 : N;
  const key = `matmul:${aShape.join(',')}:${bShape.join(',')}:${transA ? 1 : 0}${transB ? 1 : 0}:${batch.join(',')}:${k0}:${K}`;
  const head = `function (a, b) { ${offsets}let pa = offA + this.thread.y * ${aRow} + ${k0 * aCol}; `;
  let source: string;
  if (wide) {
    source = head + `let pb = offB + this.thread.x * ${4 * bCol} + ${k0 * bRow}; ` +
      dotLoop(K, ['s0', 's1', 's2', 's3'], (s) =>
        `const av = a[pa]; ${s[0]} += av * b[pb]; ${s[1]} += av * b[pb + ${bCol}]; ` +
        `${s[2]} += av * b[pb + ${2 * bCol}]; ${s[3]} += av * b[pb + ${3 * bCol}]; pa += ${aCol}; pb += ${bRow};`) +
      'return [s0, s1, s2, s3]; }';
  } else {
    source = head + `let pb = offB + this.thread.x * ${bCol} + ${k0 * bRow}; ` +
      dotLoop(K, ['s0'], (s) => `${s[0]} += a[pa] * b[pb]; pa += ${aCol}; pb += ${bRow};`) +
      'return s0; }';
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
  kSlice?: [number, number]): KernelSpec {
  const { M, K: fullK, N, count } = matmulGeometry(aShape, bShape, transA, transB, batch);
  const [k0, K] = kSlice ?? [0, fullK];
  const aRow = transA ? 1 : fullK;
  const aCol = transA ? M : 1;
  const bRow = transB ? 1 : N;
  const bCol = transB ? fullK : 1;
  const sa = broadcastStrides(aShape.slice(0, -2), batch).map((s) => s * M * fullK);
  const sb = broadcastStrides(bShape.slice(0, -2), batch).map((s) => s * fullK * N);
  const { dims, strides } = coalesce(batch, [sa, sb]);
  let offsets = 'const offA = 0; const offB = 0; ';
  if (dims.length > 0) {
    const { lines, exprs } = indexCode('this.thread.z', dims, strides, 'z');
    offsets = `${lines}const offA = ${exprs[0]}; const offB = ${exprs[1]}; `;
  }
  const M4 = Math.ceil(M / 4);
  // rows past M (when M % 4 ≠ 0) re-read row M−1: always in bounds, dropped by the unpack
  const row = (c: number) => (c === 0 ? 'i0' : `Math.min(i0 + ${c}, ${M - 1})`);
  const source = `function (a, b) { ${offsets}const i0 = this.thread.y * 4; ` +
    [0, 1, 2, 3].map((c) => `let pa${c} = offA + ${row(c)} * ${aRow} + ${k0 * aCol}; `).join('') +
    `let pb = offB + this.thread.x * ${bCol} + ${k0 * bRow}; ` +
    dotLoop(K, ['s0', 's1', 's2', 's3'], (s) =>
      `const bv = b[pb]; ${s[0]} += a[pa0] * bv; ${s[1]} += a[pa1] * bv; ${s[2]} += a[pa2] * bv; ${s[3]} += a[pa3] * bv; ` +
      `pa0 += ${aCol}; pa1 += ${aCol}; pa2 += ${aCol}; pa3 += ${aCol}; pb += ${bRow};`) +
    'return [s0, s1, s2, s3]; }';
  return {
    key: `matmul.rows4:${aShape.join(',')}:${bShape.join(',')}:${transA ? 1 : 0}${transB ? 1 : 0}:${batch.join(',')}:${k0}:${K}`,
    source,
    output: count > 1 ? [N, M4, count] : [N, M4],
    returnType: 'Array(4)',
    outSize: count * M4 * N * 4,
    work: 2 * count * M4 * 4 * N * K,
  };
}

/** [count, ⌈M/4⌉, N, 4] (matmulRows4Spec's packing) to row-major [count, M, N]. */
export function unpackRows4Spec(count: number, M: number, N: number): KernelSpec {
  const n = count * M * N;
  const M4 = Math.ceil(M / 4);
  return {
    key: `matmul.unpack:${count}:${M}:${N}`,
    source: `function (p) { const t = Math.floor(this.thread.x / ${N}); const j = this.thread.x - t * ${N}; ` +
      `const z = Math.floor(t / ${M}); const i = t - z * ${M}; const i4 = Math.floor(i * 0.25); ` +
      `return p[((z * ${M4} + i4) * ${N} + j) * 4 + i - i4 * 4]; }`,
    output: [n],
    outSize: n,
    work: n,
  };
}
