/**
 * What a kernel builder hands the device: gpu.js source with every shape baked in as literals
 * (so one compiled kernel serves one (op, shapes) key and index arithmetic folds into constants),
 * plus how to launch it. Builders are pure functions of shapes: they never see data.
 */
import { stridesOf } from '../../../shape.js';

export interface KernelSpec {
  /** Cache key: the op and every shape or constant baked into `source`. */
  key: string;
  /** A JavaScript `function (…) { … }` in gpu.js's kernel language. */
  source: string;
  /** gpu.js output dims, x fastest (at most 3). */
  output: number[];
  /** 'Array(2)' | 'Array(4)' when each thread writes that many consecutive elements. */
  returnType?: string;
  /** Elements of the flat result: product of `output` times the components per thread. */
  outSize: number;
  /**
   * Rough work in scalar operations; wasm runs a kernel on its worker threads only when this is
   * large enough to pay for the round trip (see THREAD_WORK in engine.ts).
   */
  work: number;
  /** Constant arrays baked into the kernel (gpu.js `constants`), e.g. the fast exp's table. */
  constants?: Record<string, Float32Array>;
}

/** A JS number as a literal gpu.js parses back to the same float (always with a decimal point). */
export function lit(x: number): string {
  if (!Number.isFinite(x)) throw new Error(`gpujs: cannot bake non-finite constant ${x}`);
  const s = String(Math.fround(x) === x ? x : Math.fround(x));
  return /[.eE]/.test(s) ? s : `${s}.0`;
}

/**
 * ⌊a / d⌋ as gpu.js source, for an integer-valued expression 0 ≤ a < 2^24 and a positive integer
 * constant d, exact on every backend. gpu.js divides in float32 and WGSL's division need not be
 * correctly rounded (Vulkan allows 2.5 ulp; NVIDIA computes a·(1/d)), so ⌊a/d⌋ can come out one
 * low at an exact multiple — on an H100, rows of 47 columns put element 47 in row 0. The remainder
 * a − q·d (exact: integers below 2^24) then lies outside [0, d), and one step corrects q.
 */
export function floorDiv(a: string, d: number): string {
  if (!(Number.isInteger(d) && d > 0)) throw new Error(`gpujs: floorDiv by ${d}, not a positive integer`);
  if (d === 1) return `(${a})`;
  const q = `Math.floor((${a}) / ${d})`;
  const rem = `(${a}) - ${q} * ${d}`;
  return `(${q} + (${rem} >= ${d} ? 1 : 0) - (${rem} < 0 ? 1 : 0))`;
}

/**
 * Merges adjacent dims that every operand walks contiguously (and drops size-1 dims), so a
 * broadcast such as [B, T, C] + [C] becomes [B·T, C]: fewer divisions per element.
 * `strides[p][k]` is operand p's element stride along dim k (0 where it broadcasts).
 */
export function coalesce(dims: readonly number[], strides: readonly (readonly number[])[]):
  { dims: number[]; strides: number[][] } {
  const outDims: number[] = [];
  const outStrides: number[][] = strides.map(() => []);
  for (let k = 0; k < dims.length; k++) {
    if (dims[k] === 1) continue;
    const last = outDims.length - 1;
    const mergeable = last >= 0 && strides.every((s, p) => outStrides[p][last] === s[k] * dims[k]);
    if (mergeable) {
      outDims[last] *= dims[k];
      strides.forEach((s, p) => (outStrides[p][last] = s[k]));
    } else {
      outDims.push(dims[k]);
      strides.forEach((s, p) => outStrides[p].push(s[k]));
    }
  }
  return { dims: outDims, strides: outStrides };
}

/**
 * Source lines that split flat index `flat` over `dims` into coordinates `${prefix}0…`, plus the
 * index expression of each operand. Divisions are float32 in gpu.js (exact below 2^24, which is
 * why buffers are capped there); an operand that walks the output contiguously needs none.
 */
export function indexCode(flat: string, dims: readonly number[], strides: readonly (readonly number[])[], prefix = 'c',
  forceCoords = false): { lines: string; exprs: string[] } {
  const r = dims.length;
  const contiguous = stridesOf(dims);
  const isContig = (s: readonly number[]) => s.every((v, k) => v === contiguous[k]);
  const needsCoords = forceCoords || strides.some((s) => !isContig(s) && s.some((v) => v !== 0));
  let lines = '';
  if (needsCoords && r > 0) {
    // peel dims from the fastest: c_{r-1} = flat mod D_{r-1}, and so on
    let q = flat;
    for (let k = r - 1; k >= 1; k--) {
      const nq = `${prefix}q${k}`;
      lines += `const ${nq} = ${floorDiv(q, dims[k])}; const ${prefix}${k} = ${q} - ${nq} * ${dims[k]}; `;
      q = nq;
    }
    lines += `const ${prefix}0 = ${q}; `;
  }
  const exprs = strides.map((s) => {
    if (s.every((v) => v === 0)) return '0';
    if (isContig(s)) return flat;
    const terms = s.flatMap((v, k) => (v === 0 ? [] : [v === 1 ? `${prefix}${k}` : `${prefix}${k} * ${v}`]));
    return terms.join(' + ');
  });
  return { lines, exprs };
}
