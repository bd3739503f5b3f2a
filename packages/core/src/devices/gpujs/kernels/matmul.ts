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

export function matmulSpec(aShape: Shape, bShape: Shape, transA: boolean, transB: boolean, batch: Shape): KernelSpec {
  const { M, K, N, count } = matmulGeometry(aShape, bShape, transA, transB, batch);
  const aRow = transA ? 1 : K;
  const aCol = transA ? M : 1;
  const bRow = transB ? 1 : N;
  const bCol = transB ? K : 1;
  // batch offsets: broadcast strides of each operand's batch dims, in elements
  const sa = broadcastStrides(aShape.slice(0, -2), batch).map((s) => s * M * K);
  const sb = broadcastStrides(bShape.slice(0, -2), batch).map((s) => s * K * N);
  const { dims, strides } = coalesce(batch, [sa, sb]);
  let offsets = 'const offA = 0; const offB = 0; ';
  if (dims.length > 0) {
    const { lines, exprs } = indexCode('this.thread.z', dims, strides, 'z');
    offsets = `${lines}const offA = ${exprs[0]}; const offB = ${exprs[1]}; `;
  }
  const wide = N % 4 === 0;
  const X = wide ? N / 4 : N;
  const key = `matmul:${aShape.join(',')}:${bShape.join(',')}:${transA ? 1 : 0}${transB ? 1 : 0}:${batch.join(',')}`;
  const head = `function (a, b) { ${offsets}let pa = offA + this.thread.y * ${aRow}; `;
  let source: string;
  if (wide) {
    source = head + `let pb = offB + this.thread.x * ${4 * bCol}; ` +
      dotLoop(K, ['s0', 's1', 's2', 's3'], (s) =>
        `const av = a[pa]; ${s[0]} += av * b[pb]; ${s[1]} += av * b[pb + ${bCol}]; ` +
        `${s[2]} += av * b[pb + ${2 * bCol}]; ${s[3]} += av * b[pb + ${3 * bCol}]; pa += ${aCol}; pb += ${bRow};`) +
      'return [s0, s1, s2, s3]; }';
  } else {
    source = head + `let pb = offB + this.thread.x * ${bCol}; ` +
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
