/**
 * Elementwise kernels the wasm device runs as hand-emitted WebAssembly SIMD (gelu and its
 * derivative), over the wasm device's arena (../wasm-arena): a tensor's view is read and its
 * result written where they are (a whole block: its last group of 4 floats stays inside the
 * block's 64-byte granules). An array from outside the arena goes through working space
 * in the arena instead: copied in, the loop, copied out (2 × 1.5 MiB for the GPT step's 393K
 * floats, ~0.3 ms; every call, before the arena).
 */
import { ARENA_MAX_PAGES, WasmArena } from '../wasm-arena/arena.js';
import { geluModuleBytes } from './gelu-module.js';

type Kernel = (src: number, dst: number, n4: number) => void;

export class WasmElementwise {
  private readonly kernels: { gelu: Kernel; geluDeriv: Kernel };
  /** Bytes copied in and out of the working space, since start. */
  bytesCopied = 0;

  constructor(private readonly arena: WasmArena = new WasmArena({ tensorLimit: 0 })) {
    const module = new WebAssembly.Module(geluModuleBytes(ARENA_MAX_PAGES));
    const instance = new WebAssembly.Instance(module, { env: { memory: arena.memory } });
    this.kernels = instance.exports as unknown as { gelu: Kernel; geluDeriv: Kernel };
  }

  /** gelu or its derivative of x into out (x's size). */
  run(op: 'gelu' | 'geluDeriv', x: Float32Array, out: Float32Array): Float32Array {
    const n = x.length;
    if (out.length !== n) throw new Error(`wasm ${op}: output of ${out.length} floats for an input of ${n}`);
    if (n === 0) return out;
    // whole f32x4 groups: the tail lanes compute on stale floats inside the block, never read
    const n4 = Math.ceil(n / 4);
    const arena = this.arena;
    const src = arena.addressOf(x);
    const dst = arena.addressOf(out);
    const work = src < 0 || dst < 0 ? arena.allocWorking(n4 * 16 * ((src < 0 ? 1 : 0) + (dst < 0 ? 1 : 0))) : -1;
    if ((src < 0 || dst < 0) && work < 0) throw new Error(`wasm ${op}: no room in the wasm memory for ${n} floats of working space`);
    try {
      const from = src >= 0 ? src : work;
      const to = dst >= 0 ? dst : src >= 0 ? work : work + n4 * 16;
      if (src < 0) {
        arena.floats().set(x, from / 4);
        this.bytesCopied += 4 * n;
      }
      this.kernels[op](from, to, n4);
      if (dst < 0) {
        out.set(arena.floats().subarray(to / 4, to / 4 + n));
        this.bytesCopied += 4 * n;
      }
    } finally {
      if (work >= 0) arena.release(work);
    }
    return out;
  }
}
