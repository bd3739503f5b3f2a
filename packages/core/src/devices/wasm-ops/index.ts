/**
 * Elementwise kernels the wasm device runs as hand-emitted WebAssembly SIMD (gelu and its
 * derivative), in one memory of their own: the input is copied in, the loop runs, the result is
 * copied out into the caller's array (2 × 1.5 MiB for the GPT step's 393K floats, ~0.3 ms).
 * The memory grows to twice the largest input seen and is freed with the device.
 */
import { geluModuleBytes } from './gelu-module.js';

const PAGE = 65536;
const MAX_PAGES = 65536; // 4 GiB, what 32-bit wasm addresses

type Kernel = (src: number, dst: number, n4: number) => void;

export class WasmElementwise {
  private readonly memory = new WebAssembly.Memory({ initial: 1, maximum: MAX_PAGES, shared: true });
  private readonly kernels: { gelu: Kernel; geluDeriv: Kernel };

  constructor() {
    const module = new WebAssembly.Module(geluModuleBytes(MAX_PAGES));
    const instance = new WebAssembly.Instance(module, { env: { memory: this.memory } });
    this.kernels = instance.exports as unknown as { gelu: Kernel; geluDeriv: Kernel };
  }

  /** gelu or its derivative of x into out (x's size). */
  run(op: 'gelu' | 'geluDeriv', x: Float32Array, out: Float32Array): Float32Array {
    const n = x.length;
    if (out.length !== n) throw new Error(`wasm ${op}: output of ${out.length} floats for an input of ${n}`);
    if (n === 0) return out;
    // input then output, each rounded up to whole f32x4 groups (the tail lanes compute on stale floats, never read)
    const n4 = Math.ceil(n / 4);
    const bytes = n4 * 16 * 2;
    const pages = Math.ceil(bytes / PAGE);
    const have = this.memory.buffer.byteLength / PAGE;
    if (pages > have) {
      if (pages > MAX_PAGES) throw new Error(`wasm ${op}: ${n} floats need ${bytes} bytes of wasm memory, over 4 GiB`);
      this.memory.grow(pages - have);
    }
    const f32 = new Float32Array(this.memory.buffer);
    f32.set(x, 0);
    this.kernels[op](0, n4 * 16, n4);
    out.set(f32.subarray(n4 * 4, n4 * 4 + n));
    return out;
  }
}
