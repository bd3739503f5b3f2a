/**
 * What a kernel builder hands the device: gpu.js source with every shape baked in as literals
 * (so one compiled kernel serves one (op, shapes) key and index arithmetic folds into constants),
 * plus how to launch it. Builders are pure functions of shapes: they never see data.
 */
import type { GpujsMode } from '../runtime.js';
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
  /**
   * webgpu only (the patched gpu.js's workgroup features, patches/WORKGROUP-API.md): threads per
   * workgroup, [x, y, z].
   */
  workgroupSize?: number[];
  /**
   * webgpu only: workgroups to launch, [gx, gy, gz]. The thread grid is then separate from
   * `output`: the kernel returns nothing and writes with `storeResult(index, value)`.
   */
  dispatch?: number[];
  /** webgpu only: workgroup-shared arrays, name → length (floats) or { type: 'vec4', length }. */
  workgroupArrays?: Record<string, number | { type: 'vec4'; length: number }>;
  /** webgpu only: arguments read as 4-vectors (`b[i]` in vec4 units; length a multiple of 4). */
  vec4Arguments?: string[];
}

/** A JS number as a literal gpu.js parses back to the same float (always with a decimal point). */
export function lit(x: number): string {
  if (!Number.isFinite(x)) throw new Error(`gpujs: cannot bake non-finite constant ${x}`);
  // 1e300 rounds to ∞ in float32, which would bake as 'Infinity.0' and fail in gpu.js's parser
  if (!Number.isFinite(Math.fround(x))) throw new Error(`gpujs: cannot bake constant ${x}: it overflows float32 (|x| ≤ 3.4e38)`);
  const s = String(Math.fround(x) === x ? x : Math.fround(x));
  return /[.eE]/.test(s) ? s : `${s}.0`;
}

/**
 * A row id read from a float array (token ids, gather/scatter orders) as an integer-typed index
 * term. Times a row width it passes 2^24 (wte: 50257 × 768), where a float32 product rounds; on
 * wasm and webgpu `| 0` truncates it to i32 first (exact: the id is an integer below 2^24), so the
 * whole index is i32 arithmetic. The cpu mode indexes in float64, exact anyway; GL has no `|`.
 */
export function rowIndex(x: string, mode: GpujsMode): string {
  return mode === 'wasm' || mode === 'webgpu' ? `(${x} | 0)` : x;
}

/** Modes whose `Math.floor(a / d)` of integers is exact without floorDiv's correction (and past 2^24). */
export const exactFloorMode = (mode?: GpujsMode): boolean => mode === 'wasm' || mode === 'cpu';

/**
 * ⌊a / d⌋ as gpu.js source, for an integer-valued expression a ≥ 0 and a positive integer
 * constant d, exact on every backend. The patched gpu.js divides an integer by a literal in i32
 * on webgpu and wasm (exact for any i32 a; the correction below is then integer arithmetic that is
 * always 0), and the cpu mode in float64. Float division elsewhere need not be correctly rounded
 * (Vulkan allows 2.5 ulp; NVIDIA computes a·(1/d)), so ⌊a/d⌋ could come out one low at an exact
 * multiple — on an H100, rows of 47 columns put element 47 in row 0. The remainder a − q·d then
 * lies outside [0, d), and one step corrects q.
 */
export function floorDiv(a: string, d: number, mode?: GpujsMode): string {
  if (!(Number.isInteger(d) && d > 0)) throw new Error(`gpujs: floorDiv by ${d}, not a positive integer`);
  if (d === 1) return `(${a})`;
  // exact as it stands where the division is: i32 on wasm, float64 on cpu (one division, not three)
  if (exactFloorMode(mode)) return `Math.floor((${a}) / ${d})`;
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
 * index expression of each operand. Divisions are i32 on webgpu and float32 in gpu.js's other
 * translations (exact below 2^24, where those buffers are capped); an operand that walks the
 * output contiguously needs none.
 */
export function indexCode(flat: string, dims: readonly number[], strides: readonly (readonly number[])[], prefix = 'c',
  forceCoords = false, mode?: GpujsMode): { lines: string; exprs: string[] } {
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
      lines += `const ${nq} = ${floorDiv(q, dims[k], mode)}; const ${prefix}${k} = ${q} - ${nq} * ${dims[k]}; `;
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
