/**
 * Kernels the wasm device runs as hand-emitted WebAssembly SIMD — gelu and its derivative, the
 * online softmax's expShift and block stats, same-shape add/sub/mul/div, layer norm, masks' where, sums, AdamW, strided rows, two of flash attention's row ops — over the wasm device's arena (../wasm-arena): a
 * tensor's view is read and its result written where they are. An array from outside the arena,
 * or a view whose block is shorter than what the kernel touches (a row's last group of 4 reads,
 * and expShift writes, up to 3 floats past the array), goes through working space in the arena
 * instead: copied in, the loop, copied out (2 × 1.5 MiB for the GPT step's 393K floats of gelu,
 * ~0.3 ms; every call, before the arena).
 */
import type { AdamWHyper } from '../device.js';
import { adamwConstants } from '../host-ops/adamw.js';
import { ARENA_MAX_PAGES, WasmArena } from '../wasm-arena/arena.js';
import { adamwModuleBytes } from './adamw-module.js';
import { copyModuleBytes } from './copy-module.js';
import { binaryModuleBytes, scalarName, type SimdBinaryOp } from './binary-module.js';
import { geluModuleBytes } from './gelu-module.js';
import { backwardName, forwardName, layerNormModuleBytes } from './layer-norm-module.js';
import { onlineSoftmaxModuleBytes } from './online-softmax-module.js';
import { rowsModuleBytes } from './rows-module.js';
import { sumModuleBytes } from './sum-module.js';
import { whereModuleBytes } from './where-module.js';

export { simdBinaryOps, type SimdBinaryOp } from './binary-module.js';

type Kernel = (src: number, dst: number, n4: number) => void;
type BinaryKernel = (a: number, b: number, dst: number, bytes: number) => void;
type NormKernel = (...args: number[]) => void;
type RowKernel = (src: number, aux: number, dst: number, rows: number, cols: number, groups: number, extra: number) => void;

/**
 * Bytes a row kernel may touch from an array of n floats in rows of `cols`: whole groups of 4,
 * and 16 bytes for the last row's group read past its end; rows of a multiple of 4 floats end on
 * a group and touch exactly their n floats (the GPT step's blocks of 64 keys: their exact-size
 * blocks were copied into working space, 12 MB a step, before session 6).
 */
const rowReach = (n: number, cols: number): number => (cols % 4 === 0 ? 4 * n : Math.ceil(n / 4) * 16 + 16);

/** An array a kernel reads (`out` false) or writes, and the bytes from its start it may touch; null: an argument the kernel will not read (address 0). */
interface Operand {
  array: Float32Array | null;
  reach: number;
  out?: boolean;
  /** An output the kernel writes only in part: copied into working space first too (its other floats kept). */
  whole?: boolean;
}

/**
 * The form copy-module.ts copies: a view's innermost axes merged into rows of `inner`
 * contiguous floats (a multiple of 4), the rest merged where they walk alike and left with at
 * most three axes (`dims`, their strides `steps` in floats; leading 1s pad). Null otherwise.
 */
export function rowPlan(shape: readonly number[], strides: readonly number[]): { dims: number[]; steps: number[]; inner: number } | null {
  const axes = shape.map((d, k) => ({ d, s: strides[k] })).filter(({ d }) => d !== 1);
  let inner = 1;
  while (axes.length > 0 && axes[axes.length - 1].s === inner) inner *= axes.pop()!.d;
  if (inner % 4 !== 0 || inner === 0) return null;
  const outer: { d: number; s: number }[] = [];
  for (const a of axes) {
    const last = outer[outer.length - 1];
    if (last && last.s === a.s * a.d) outer[outer.length - 1] = { d: last.d * a.d, s: a.s };
    else outer.push({ ...a });
  }
  if (outer.length > 3) return null;
  while (outer.length < 3) outer.unshift({ d: 1, s: 0 });
  return { dims: outer.map((a) => a.d), steps: outer.map((a) => a.s), inner };
}

export class WasmElementwise {
  private readonly gelu: { gelu: Kernel; geluDeriv: Kernel };
  private readonly online: { expShift: RowKernel; stats: RowKernel };
  private readonly binaryOps: Record<string, BinaryKernel>;
  private readonly norm: Record<string, NormKernel>;
  private readonly whereOps: { whereNumberA: NormKernel; whereNumberB: NormKernel };
  private readonly optimizer: { adamw: NormKernel };
  private readonly copies: { gather: NormKernel; place: NormKernel };
  private readonly rowOps: { rowShiftedProduct: NormKernel; onlineNormalize: NormKernel };
  private readonly sums: { columns: NormKernel; rows: NormKernel; rowsSquared: NormKernel };
  /** Bytes copied in and out of the working space, since start. */
  bytesCopied = 0;

  constructor(private readonly arena: WasmArena = new WasmArena({ tensorLimit: 0 })) {
    const env = { env: { memory: arena.memory } };
    const instance = (bytes: Uint8Array<ArrayBuffer>) => new WebAssembly.Instance(new WebAssembly.Module(bytes), env).exports;
    this.gelu = instance(geluModuleBytes(ARENA_MAX_PAGES)) as unknown as WasmElementwise['gelu'];
    this.online = instance(onlineSoftmaxModuleBytes(ARENA_MAX_PAGES)) as unknown as WasmElementwise['online'];
    this.binaryOps = instance(binaryModuleBytes(ARENA_MAX_PAGES)) as unknown as WasmElementwise['binaryOps'];
    this.norm = instance(layerNormModuleBytes(ARENA_MAX_PAGES)) as unknown as WasmElementwise['norm'];
    this.whereOps = instance(whereModuleBytes(ARENA_MAX_PAGES)) as unknown as WasmElementwise['whereOps'];
    this.sums = instance(sumModuleBytes(ARENA_MAX_PAGES)) as unknown as WasmElementwise['sums'];
    this.optimizer = instance(adamwModuleBytes(ARENA_MAX_PAGES)) as unknown as WasmElementwise['optimizer'];
    this.copies = instance(copyModuleBytes(ARENA_MAX_PAGES)) as unknown as WasmElementwise['copies'];
    this.rowOps = instance(rowsModuleBytes(ARENA_MAX_PAGES)) as unknown as WasmElementwise['rowOps'];
  }

  /** y ∘ (dy − c[row]) for y, dy [rows, cols] (cols even), c [rows], into out (rows-module.ts). */
  rowShiftedProduct(y: Float32Array, dy: Float32Array, c: Float32Array, rows: number, cols: number, out: Float32Array): Float32Array {
    const n = rows * cols;
    if (cols % 2 !== 0 || y.length !== n || dy.length !== n || c.length !== rows || out.length !== n) {
      throw new Error(`wasm rowShiftedProduct: y of ${y.length}, dy of ${dy.length}, c of ${c.length}, output of ${out.length} floats for [${rows}, ${cols}] (cols even)`);
    }
    if (n === 0) return out;
    this.inArena('rowShiftedProduct', [{ array: y, reach: 4 * n }, { array: dy, reach: 4 * n }, { array: c, reach: 4 * rows }, { array: out, reach: 4 * n, out: true }],
      ([a, b, sh, dst]) => this.rowOps.rowShiftedProduct(a, b, sh, dst, rows, cols));
    return out;
  }

  /** o / l[row] for o [rows, cols] (cols a multiple of 4) and (m, l) stats [rows, 2], into out (rows-module.ts). */
  onlineNormalize(o: Float32Array, stats: Float32Array, rows: number, cols: number, out: Float32Array): Float32Array {
    const n = rows * cols;
    if (cols % 4 !== 0 || o.length !== n || stats.length !== 2 * rows || out.length !== n) {
      throw new Error(`wasm onlineNormalize: o of ${o.length}, stats of ${stats.length}, output of ${out.length} floats for [${rows}, ${cols}] (cols a multiple of 4)`);
    }
    if (n === 0) return out;
    this.inArena('onlineNormalize', [{ array: o, reach: 4 * n }, { array: stats, reach: 8 * rows }, { array: out, reach: 4 * n, out: true }],
      ([a, st, dst]) => this.rowOps.onlineNormalize(a, st, dst, rows, cols));
    return out;
  }

  /**
   * Copies the rows of a view of `shape` and `strides` (floats) starting at float `start` of
   * `strided` to or from the contiguous `flat` (`place`: flat's rows written into strided) with
   * copy-module.ts, when rowPlan finds its form; false (nothing done) otherwise. The caller has
   * checked that the view lies inside `strided`.
   */
  copyRows(place: boolean, flat: Float32Array, strided: Float32Array, shape: readonly number[], strides: readonly number[], start: number): boolean {
    const plan = rowPlan(shape, strides);
    if (!plan) return false;
    const { dims, steps, inner } = plan;
    const [src, dst] = place ? [flat, strided] : [strided, flat];
    this.inArena(place ? 'pad' : 'strided', [{ array: src, reach: src.length * 4 }, { array: dst, reach: dst.length * 4, out: true, whole: place }],
      ([s, d]) => {
        const [from, to] = place ? [s, d + start * 4] : [s + start * 4, d];
        (place ? this.copies.place : this.copies.gather)(from, to, dims[0], dims[1], dims[2], steps[0] * 4, steps[1] * 4, steps[2] * 4, inner * 4);
      });
    return true;
  }

  /** One AdamW step (adamw-module.ts) of p with gradient g times gradScale (the clip's factor) and packed moments mv into outP, outMV. */
  adamw(p: Float32Array, g: Float32Array, mv: Float32Array, h: AdamWHyper, outP: Float32Array, outMV: Float32Array, gradScale = 1): { param: Float32Array; moments: Float32Array } {
    const n = p.length;
    if (g.length !== n || mv.length !== 2 * n || outP.length !== n || outMV.length !== 2 * n) {
      throw new Error(`wasm adamw: param of ${n}, grad of ${g.length}, moments of ${mv.length} (want ${2 * n}), outputs of ${outP.length} and ${outMV.length}`);
    }
    if (n === 0) return { param: outP, moments: outMV };
    const { beta1, beta2, lr, eps } = h;
    const { decay, c1, c2, rest1, rest2 } = adamwConstants(h);
    const operands = [
      { array: p, reach: 4 * n }, { array: g, reach: 4 * n }, { array: mv, reach: 8 * n },
      { array: outP, reach: 4 * n, out: true }, { array: outMV, reach: 8 * n, out: true },
    ];
    this.inArena('adamw', operands, ([P, G, MV, OP, OMV]) =>
      this.optimizer.adamw(P, G, MV, OP, OMV, n, beta1, beta2, rest1, rest2, lr, decay, c1, c2, eps, gradScale));
    return { param: outP, moments: outMV };
  }

  /**
   * x viewed as [outer, R, inner] summed over R into out [outer, inner] (of x² with `squared`,
   * inner 1 only), in float64 (sum-module.ts): inner must be 1 or even.
   */
  sum(x: Float32Array, outer: number, R: number, inner: number, squared: boolean, out: Float32Array): Float32Array {
    if (x.length !== outer * R * inner || out.length !== outer * inner || (inner !== 1 && inner % 2 !== 0) || (squared && inner !== 1)) {
      throw new Error(`wasm sum: [${outer}, ${R}, ${inner}] (inner 1 or even; squares with inner 1) from ${x.length} floats into ${out.length}`);
    }
    if (out.length === 0) return out;
    const kernel = inner === 1 ? (squared ? this.sums.rowsSquared : this.sums.rows) : this.sums.columns;
    this.inArena('sum', [{ array: x, reach: x.length * 4 }, { array: out, reach: out.length * 4, out: true }],
      ([src, dst]) => (inner === 1 ? kernel(src, dst, outer, R) : kernel(src, dst, outer, R, inner)));
    return out;
  }

  /**
   * where(cond, t, s) (or where(cond, s, t) with `numberIsA`) into out (t's size): cond's
   * `cond.length` floats, a multiple of 4 dividing t's size, repeat over t's leading axes.
   */
  whereNumber(cond: Float32Array, t: Float32Array, s: number, numberIsA: boolean, out: Float32Array): Float32Array {
    const n = t.length;
    const inner = cond.length;
    if (out.length !== n || inner === 0 || inner % 4 !== 0 || n % inner !== 0) {
      throw new Error(`wasm where: cond of ${inner} floats (a nonzero multiple of 4 dividing the rest), a tensor of ${n}, output of ${out.length}`);
    }
    if (n === 0) return out;
    const kernel = numberIsA ? this.whereOps.whereNumberA : this.whereOps.whereNumberB;
    this.inArena('where', [{ array: cond, reach: inner * 4 }, { array: t, reach: n * 4 }, { array: out, reach: n * 4, out: true }],
      ([c, x, dst]) => kernel(c, x, s, dst, n * 4, inner * 4));
    return out;
  }

  /** a op s (or s op a with `scalarFirst`), s a number read as float32, into out (a's size). */
  binaryScalar(op: SimdBinaryOp, a: Float32Array, s: number, scalarFirst: boolean, out: Float32Array): Float32Array {
    const n = a.length;
    if (out.length !== n) throw new Error(`wasm binary ${op}: an operand of ${n} elements into ${out.length}`);
    if (n === 0) return out;
    const bytes = Math.ceil(n / 4) * 16;
    const kernel = this.binaryOps[scalarName(op, scalarFirst)];
    this.inArena(op, [{ array: a, reach: bytes }, { array: out, reach: bytes, out: true }], ([x, dst]) => kernel(x, s, dst, bytes));
    return out;
  }

  /** Layer norm of x [rows, cols] (cols even: layer-norm-module.ts) into out; weight and bias [cols] or null. */
  layerNorm(x: Float32Array, weight: Float32Array | null, bias: Float32Array | null, rows: number, cols: number, eps: number, out: Float32Array): Float32Array {
    this.checkNorm('layerNorm', rows, cols, [x, out], [weight, bias]);
    const bytes = rows * cols * 4;
    const operands = [{ array: x, reach: bytes }, { array: weight, reach: cols * 4 }, { array: bias, reach: cols * 4 }, { array: out, reach: bytes, out: true }];
    const kernel = this.norm[forwardName(weight !== null, bias !== null)];
    this.inArena('layerNorm', operands, ([src, w, b, dst]) => kernel(src, w, b, dst, rows, cols, eps));
    return out;
  }

  /**
   * Layer norm's dx (into `dx`, x's size) and/or dweight (a new [cols] array) from dy and x
   * [rows, cols] (cols even), as host-ops' layerNormBackwardHost.
   */
  layerNormBackward(
    dy: Float32Array, x: Float32Array, weight: Float32Array | null, rows: number, cols: number, eps: number, dx: Float32Array | null, wantDweight: boolean,
  ): Float32Array | null {
    this.checkNorm('layerNormBackward', rows, cols, dx ? [dy, x, dx] : [dy, x], [weight]);
    if (!dx && !wantDweight) throw new Error('wasm layerNormBackward: neither dx nor dweight asked for');
    const bytes = rows * cols * 4;
    // dweight's float64 sums live in working space, zeroed here, rounded into float32 after the rows
    const sums = wantDweight ? this.arena.allocWorking(cols * 8) : 0;
    if (sums < 0) throw new Error(`wasm layerNormBackward: no room in the wasm memory for ${cols * 8} bytes of dweight sums`);
    try {
      if (wantDweight) new Float64Array(this.arena.memory.buffer, sums, cols).fill(0);
      const operands = [{ array: dy, reach: bytes }, { array: x, reach: bytes }, { array: weight, reach: cols * 4 }, { array: dx, reach: bytes, out: true }];
      const kernel = this.norm[backwardName(weight !== null, dx !== null, wantDweight)];
      this.inArena('layerNormBackward', operands, ([d, v, w, out]) => kernel(d, v, w, out, sums, rows, cols, eps));
      return wantDweight ? Float32Array.from(new Float64Array(this.arena.memory.buffer, sums, cols)) : null;
    } finally {
      if (wantDweight) this.arena.release(sums);
    }
  }

  private checkNorm(op: string, rows: number, cols: number, full: Float32Array[], perColumn: (Float32Array | null)[]): void {
    if (cols % 2 !== 0 || cols === 0) throw new Error(`wasm ${op}: [${rows}, ${cols}]: the SIMD rows take an even, nonzero number of columns`);
    if (full.some((a) => a.length !== rows * cols) || perColumn.some((a) => a !== null && a.length !== cols)) {
      throw new Error(`wasm ${op}: arrays of ${[...full, ...perColumn].map((a) => a?.length ?? 'none')} floats for [${rows}, ${cols}]`);
    }
  }

  /** a op b of one size into out (a's size). */
  binary(op: SimdBinaryOp, a: Float32Array, b: Float32Array, out: Float32Array): Float32Array {
    const n = a.length;
    if (b.length !== n || out.length !== n) throw new Error(`wasm binary ${op}: operands of ${n} and ${b.length} elements into ${out.length}`);
    if (n === 0) return out;
    // whole f32x4 groups: the tail lanes compute on stale floats inside the blocks, never read
    const bytes = Math.ceil(n / 4) * 16;
    this.inArena(op, [{ array: a, reach: bytes }, { array: b, reach: bytes }, { array: out, reach: bytes, out: true }],
      ([x, y, dst]) => this.binaryOps[op](x, y, dst, bytes));
    return out;
  }

  /** gelu or its derivative of x into out (x's size). */
  run(op: 'gelu' | 'geluDeriv', x: Float32Array, out: Float32Array): Float32Array {
    const n = x.length;
    if (out.length !== n) throw new Error(`wasm ${op}: output of ${out.length} floats for an input of ${n}`);
    if (n === 0) return out;
    // whole f32x4 groups: the tail lanes compute on stale floats inside the block, never read
    const n4 = Math.ceil(n / 4);
    this.inArena(op, [{ array: x, reach: n4 * 16 }, { array: out, reach: n4 * 16, out: true }], ([src, dst]) => this.gelu[op](src, dst, n4));
    return out;
  }

  /** e^(x − shift[r·stride]) for x [rows, cols] into out (x's size). */
  expShift(x: Float32Array, shift: Float32Array, stride: number, rows: number, cols: number, out: Float32Array): Float32Array {
    const n = rows * cols;
    if (x.length !== n || out.length !== n) throw new Error(`wasm expShift: input of ${x.length} and output of ${out.length} floats for [${rows}, ${cols}]`);
    if (n === 0) return out;
    if (!(stride >= 1) || shift.length < (rows - 1) * stride + 1) {
      throw new Error(`wasm expShift: shift of ${shift.length} floats read at stride ${stride} for ${rows} rows`);
    }
    const operands = [{ array: x, reach: rowReach(n, cols) }, { array: shift, reach: 4 * shift.length }, { array: out, reach: rowReach(n, cols), out: true }];
    this.inArena('expShift', operands, ([src, sh, dst]) => this.online.expShift(src, sh, dst, rows, cols, Math.ceil(cols / 4), stride));
    return out;
  }

  /** The (m′, l′) pairs [rows, 2] of the block s [rows, cols], carrying `prev` [rows, 2] when given, into out. */
  softmaxStats(s: Float32Array, prev: Float32Array | null, rows: number, cols: number, out: Float32Array): Float32Array {
    if (cols === 0) throw new Error(`wasm onlineSoftmaxStats: a block with no columns ([${rows}, 0])`);
    if (s.length !== rows * cols || out.length !== 2 * rows || (prev && prev.length !== 2 * rows)) {
      throw new Error(`wasm onlineSoftmaxStats: block of ${s.length}, stats of ${prev?.length ?? 'none'}, output of ${out.length} floats for [${rows}, ${cols}]`);
    }
    if (rows === 0) return out;
    const operands = [{ array: s, reach: rowReach(s.length, cols) }, { array: prev, reach: 8 * rows }, { array: out, reach: 8 * rows, out: true }];
    this.inArena('onlineSoftmaxStats', operands, ([src, pr, dst]) => this.online.stats(src, pr, dst, rows, cols, Math.ceil(cols / 4), prev ? 1 : 0));
    return out;
  }

  /**
   * Calls `kernel` with a byte address for each operand: where it is when it is a tensor's view of
   * the arena whose block holds its reach, else in working space (an input copied in first, an
   * output copied out after).
   */
  private inArena(op: string, operands: Operand[], kernel: (at: number[]) => void): void {
    const arena = this.arena;
    // blockBytes is 0 unless the array is a live block's own view, whose address is its byteOffset
    const inPlace = operands.map(({ array, reach }) => (array === null ? 0 : arena.blockBytes(array) >= reach ? array.byteOffset : -1));
    const copied = operands.map((o, i) => (inPlace[i] < 0 ? o.reach : 0));
    const workBytes = copied.reduce((a, b) => a + b, 0);
    const work = workBytes > 0 ? arena.allocWorking(workBytes) : -1;
    if (workBytes > 0 && work < 0) throw new Error(`wasm ${op}: no room in the wasm memory for ${workBytes} bytes of working space`);
    try {
      let next = work;
      const at = inPlace.map((a, i) => {
        if (a >= 0) return a;
        const here = next;
        next += copied[i];
        return here;
      });
      const floats = arena.floats();
      operands.forEach(({ array, out, whole }, i) => {
        if (inPlace[i] >= 0 || (out && !whole) || !array) return;
        floats.set(array, at[i] / 4);
        this.bytesCopied += array.byteLength;
      });
      kernel(at);
      operands.forEach(({ array, out }, i) => {
        if (inPlace[i] >= 0 || !out || !array) return;
        array.set(floats.subarray(at[i] / 4, at[i] / 4 + array.length));
        this.bytesCopied += array.byteLength;
      });
    } finally {
      if (work >= 0) arena.release(work);
    }
  }
}
