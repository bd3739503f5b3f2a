/**
 * Kernels that move elements: strided views (permute, slice, expand), pad (the adjoint of slice),
 * and the index ops. Indices are host arrays; they arrive as float arguments (exact below 2^24),
 * uploaded per call, never baked, since they change every batch.
 */
import { sizeOf, stridesOf } from '../../../shape.js';
import type { Shape } from '../../device.js';
import type { GpujsMode } from '../runtime.js';
import { coalesce, floorDiv, indexCode, rowIndex, type KernelSpec } from './spec.js';

export function stridedSpec(inSize: number, outShape: Shape, strides: readonly number[], offset: number, mode?: GpujsMode): KernelSpec {
  if (strides.length !== outShape.length) throw new Error(`gpujs strided: ${strides.length} strides for rank ${outShape.length}`);
  const n = sizeOf(outShape);
  const { dims, strides: cs } = coalesce(outShape, [strides]);
  const { lines, exprs } = indexCode('this.thread.x', dims, cs, 'c', false, mode);
  const index = offset === 0 ? exprs[0] : exprs[0] === '0' ? `${offset}` : `${offset} + ${exprs[0]}`;
  return {
    key: `strided:${inSize}:${outShape.join(',')}:${strides.join(',')}:${offset}`,
    source: `function (x) { ${lines}return x[${index}]; }`,
    output: [n],
    outSize: n,
    work: n,
  };
}

/**
 * Parts [outer, lens[p], inner] joined along the middle axis, for at most CONCAT_PARTS parts (a
 * binding each). Output element e sits at (o, r) with r = e − o·total·inner its offset inside
 * row o; part p owns r in [Σ_{q<p} lens[q]·inner, Σ_{q≤p} lens[q]·inner), where its own element
 * is o·lens[p]·inner + r − (its start): one division an element, none when outer is 1.
 */
export const CONCAT_PARTS = 3;

export function concatSpec(outer: number, lens: readonly number[], inner: number, mode?: GpujsMode): KernelSpec {
  if (lens.length < 1 || lens.length > CONCAT_PARTS) throw new Error(`gpujs concat: ${lens.length} parts in one kernel (1 to ${CONCAT_PARTS})`);
  const total = lens.reduce((a, b) => a + b, 0);
  const row = total * inner;
  const n = outer * row;
  const head = outer === 1 ? 'const o = 0; const r = this.thread.x; ' : `const o = ${floorDiv('this.thread.x', row, mode)}; const r = this.thread.x - o * ${row}; `;
  const names = lens.map((_, p) => `x${p}`);
  let start = 0;
  const reads = lens.map((len, p) => {
    const read = `x${p}[o * ${len * inner} + r${start === 0 ? '' : ` - ${start}`}]`;
    start += len * inner;
    return { read, end: start };
  });
  // the last part takes the rest: no test
  const body = reads.slice(0, -1).map(({ read, end }) => `if (r < ${end}) { v = ${read}; } else `).join('') + `{ v = ${reads[reads.length - 1].read}; }`;
  return {
    key: `concat:${outer}:${lens.join(',')}:${inner}`,
    source: `function (${names.join(', ')}) { ${head}let v = 0.0; ${body} return v; }`,
    output: [n],
    outSize: n,
    work: n,
  };
}

/**
 * Merges dims of a pad whose inner neighbour is copied whole (shape = outShape there), since the
 * pair is then one contiguous run inside the output; size-1 dims in both shapes are dropped.
 */
function coalescePad(shape: Shape, outShape: Shape, starts: readonly number[]) {
  const dims: { size: number; out: number; start: number }[] = [];
  for (let k = 0; k < shape.length; k++) {
    if (shape[k] === 1 && outShape[k] === 1) continue;
    const prev = dims[dims.length - 1];
    const cur = { size: shape[k], out: outShape[k], start: starts[k] };
    if (prev && cur.size === cur.out) {
      prev.size *= cur.out;
      prev.out *= cur.out;
      prev.start *= cur.out;
    } else {
      dims.push(cur);
    }
  }
  return dims;
}

export function padSpec(shape: Shape, outShape: Shape, starts: readonly number[]): KernelSpec {
  if (shape.length !== outShape.length || starts.length !== shape.length) {
    throw new Error(`gpujs pad: ranks differ: [${shape}] into [${outShape}] at [${starts}]`);
  }
  shape.forEach((d, k) => {
    if (starts[k] < 0 || starts[k] + d > outShape[k]) throw new Error(`gpujs pad: [${shape}] at [${starts}] overflows [${outShape}]`);
  });
  const n = sizeOf(outShape);
  const dims = coalescePad(shape, outShape, starts);
  const outDims = dims.map((d) => d.out);
  const { lines } = indexCode('this.thread.x', outDims, [], 'c', true);
  const inStrides = stridesOf(dims.map((d) => d.size));
  const tests: string[] = [];
  const terms: string[] = [];
  dims.forEach((d, k) => {
    const c = dims.length === 1 ? 'this.thread.x' : `c${k}`;
    if (d.size !== d.out) tests.push(`${c} >= ${d.start} && ${c} < ${d.start + d.size}`);
    const rel = d.start === 0 ? c : `(${c} - ${d.start})`;
    terms.push(inStrides[k] === 1 ? rel : `${rel} * ${inStrides[k]}`);
  });
  const src = terms.length ? terms.join(' + ') : '0';
  const body = tests.length ? `let v = 0.0; if (${tests.join(' && ')}) { v = x[${src}]; } return v;` : `return x[${src}];`;
  return {
    key: `pad:${shape.join(',')}:${outShape.join(',')}:${starts.join(',')}`,
    source: `function (x) { ${dims.length === 1 ? '' : lines}${body} }`,
    output: [n],
    outSize: n,
    work: n,
  };
}

export function gatherRowsSpec(tableSize: number, cols: number, n: number, mode: GpujsMode): KernelSpec {
  return {
    key: `gather:${tableSize}:${cols}:${n}`,
    source: `function (table, idx) { const r = ${floorDiv('this.thread.x', cols, mode)}; const c = this.thread.x - r * ${cols}; ` +
      `return table[${rowIndex('idx[r]', mode)} * ${cols} + c]; }`,
    output: [n * cols],
    outSize: n * cols,
    work: n * cols,
  };
}

/**
 * The adjoint of gatherRows without atomics: the host sorts source rows by destination (indices
 * are host data anyway) into `order`, with `start[r]..start[r+1]` the sources of row r; each
 * output thread sums its own run. Work is n·cols + rows·cols, not rows·cols·n.
 */
export function scatterAddRowsSpec(srcSize: number, cols: number, n: number, rows: number, mode: GpujsMode): KernelSpec {
  return {
    key: `scatter:${srcSize}:${cols}:${n}:${rows}`,
    source: `function (src, start, order) { const r = ${floorDiv('this.thread.x', cols, mode)}; const c = this.thread.x - r * ${cols}; ` +
      // an integer counter with a break: WGSL cannot increment the float loaded from `start`
      `const lo = ${rowIndex('start[r]', mode)}; const hi = ${rowIndex('start[r + 1]', mode)}; let acc = 0.0; ` +
      `for (let t = 0; t < ${n}; t++) { const q = lo + t; if (q >= hi) { break; } acc += src[${rowIndex('order[q]', mode)} * ${cols} + c]; } return acc; }`,
    output: [rows * cols],
    outSize: rows * cols,
    work: rows * cols + n * cols,
  };
}

/** Counting sort of `indices` by value: the run layout scatterAddRowsSpec reads. */
export function scatterRuns(indices: Int32Array, rows: number): { start: Float32Array; order: Float32Array } {
  const start = new Float32Array(rows + 1);
  for (const r of indices) {
    if (!(r >= 0 && r < rows)) throw new Error(`gpujs scatterAddRows: index ${r} outside [0, ${rows})`);
    start[r + 1]++;
  }
  for (let r = 0; r < rows; r++) start[r + 1] += start[r];
  const fill = Float32Array.from(start.subarray(0, rows));
  // `order` never empty: gpu.js cannot take zero-length arrays
  const order = new Float32Array(Math.max(indices.length, 1));
  indices.forEach((r, i) => (order[fill[r]++] = i));
  return { start, order };
}

export function oneHotSpec(n: number, depth: number): KernelSpec {
  return {
    key: `onehot:${n}:${depth}`,
    source: `function (idx) { const r = ${floorDiv('this.thread.x', depth)}; const c = this.thread.x - r * ${depth}; ` +
      'return idx[r] == c ? 1.0 : 0.0; }',
    output: [n * depth],
    outSize: n * depth,
    work: n * depth,
  };
}
