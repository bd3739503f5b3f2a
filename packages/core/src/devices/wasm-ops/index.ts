/**
 * Kernels the wasm device runs as hand-emitted WebAssembly SIMD — gelu and its derivative, the
 * online softmax's expShift and block stats — in one memory of their own: the inputs are copied
 * in, the loop runs, the result is copied out into the caller's array (for the GPT step's 393K
 * floats of gelu 2 × 1.5 MiB, ~0.3 ms). The memory grows to the largest call seen and is freed
 * with the device.
 */
import { geluModuleBytes } from './gelu-module.js';
import { onlineSoftmaxModuleBytes } from './online-softmax-module.js';

const PAGE = 65536;
const MAX_PAGES = 65536; // 4 GiB, what 32-bit wasm addresses

type Kernel = (src: number, dst: number, n4: number) => void;
type RowKernel = (src: number, aux: number, dst: number, rows: number, cols: number, groups: number, extra: number) => void;

/** Bytes of a region of n floats: whole groups of 4, and 16 bytes more for the last group's read past a row. */
const regionBytes = (n: number): number => Math.ceil(n / 4) * 16 + 16;

export class WasmElementwise {
  private readonly memory = new WebAssembly.Memory({ initial: 1, maximum: MAX_PAGES, shared: true });
  private readonly gelu: { gelu: Kernel; geluDeriv: Kernel };
  private readonly online: { expShift: RowKernel; stats: RowKernel };

  constructor() {
    const env = { env: { memory: this.memory } };
    this.gelu = new WebAssembly.Instance(new WebAssembly.Module(geluModuleBytes(MAX_PAGES)), env).exports as unknown as WasmElementwise['gelu'];
    this.online = new WebAssembly.Instance(new WebAssembly.Module(onlineSoftmaxModuleBytes(MAX_PAGES)), env).exports as unknown as WasmElementwise['online'];
  }

  /**
   * Byte offsets of consecutive regions of `sizes` floats (each as regionBytes), the memory grown
   * to hold them, and a Float32Array over it (taken after any growth).
   */
  private layout(op: string, sizes: number[]): { at: number[]; f32: Float32Array } {
    const at: number[] = [];
    let bytes = 0;
    for (const n of sizes) {
      at.push(bytes);
      bytes += regionBytes(n);
    }
    const pages = Math.ceil(bytes / PAGE);
    const have = this.memory.buffer.byteLength / PAGE;
    if (pages > have) {
      if (pages > MAX_PAGES) throw new Error(`wasm ${op}: [${sizes}] floats need ${bytes} bytes of wasm memory, over 4 GiB`);
      this.memory.grow(pages - have);
    }
    return { at, f32: new Float32Array(this.memory.buffer) };
  }

  /** gelu or its derivative of x into out (x's size). */
  run(op: 'gelu' | 'geluDeriv', x: Float32Array, out: Float32Array): Float32Array {
    const n = x.length;
    if (out.length !== n) throw new Error(`wasm ${op}: output of ${out.length} floats for an input of ${n}`);
    if (n === 0) return out;
    // the tail lanes compute on stale floats, never read
    const { at: [src, dst], f32 } = this.layout(op, [n, n]);
    f32.set(x, src / 4);
    this.gelu[op](src, dst, Math.ceil(n / 4));
    out.set(f32.subarray(dst / 4, dst / 4 + n));
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
    const { at: [src, sh, dst], f32 } = this.layout('expShift', [n, shift.length, n]);
    f32.set(x, src / 4);
    f32.set(shift, sh / 4);
    this.online.expShift(src, sh, dst, rows, cols, Math.ceil(cols / 4), stride);
    out.set(f32.subarray(dst / 4, dst / 4 + n));
    return out;
  }

  /** The (m′, l′) pairs [rows, 2] of the block s [rows, cols], carrying `prev` [rows, 2] when given, into out. */
  softmaxStats(s: Float32Array, prev: Float32Array | null, rows: number, cols: number, out: Float32Array): Float32Array {
    if (cols === 0) throw new Error(`wasm onlineSoftmaxStats: a block with no columns ([${rows}, 0])`);
    if (s.length !== rows * cols || out.length !== 2 * rows || (prev && prev.length !== 2 * rows)) {
      throw new Error(`wasm onlineSoftmaxStats: block of ${s.length}, stats of ${prev?.length ?? 'none'}, output of ${out.length} floats for [${rows}, ${cols}]`);
    }
    if (rows === 0) return out;
    const { at: [src, pr, dst], f32 } = this.layout('onlineSoftmaxStats', [s.length, 2 * rows, 2 * rows]);
    f32.set(s, src / 4);
    if (prev) f32.set(prev, pr / 4);
    this.online.stats(src, pr, dst, rows, cols, Math.ceil(cols / 4), prev ? 1 : 0);
    out.set(f32.subarray(dst / 4, dst / 4 + 2 * rows));
    return out;
  }
}
