/**
 * The core's clock, estimated for benchmarks: a wasm loop of 32 dependent i32.add a trip (one
 * cycle each on every x86 and Arm core the GEMM targets, the loop's own counter running beside
 * them), timed best-of-many so that a time slice lost to another process does not count. GEMM
 * figures divided by it give FLOP per cycle, which a shared machine's changing turbo clock does
 * not move: SIMD128 with FMA peaks at 2 FMA × 4 lanes × 2 = 16 FLOP/cycle per core on this x86.
 */
import { I32, add, brIf, get, i32, loop, set, sub, wasmModule } from './wasm-bytes.js';

const CHAIN = 32;

let spin: ((trips: number) => void) | null = null;

function spinner(): (trips: number) => void {
  const [trips, x] = [0, 1];
  // i32.store 0, x: keeps the chain live
  const keep = [i32(0), get(x), 0x36, 2, 0];
  const body = [loop(Array.from({ length: CHAIN }, () => set(x, add(get(x), get(trips)))), set(trips, sub(get(trips), i32(1))), brIf(0, get(trips))), keep];
  const bytes = wasmModule([{ params: [I32], locals: [I32], body, exportAs: 'spin' }], 1, 1);
  const memory = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
  const { spin: f } = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } }).exports as { spin: (n: number) => void };
  return f;
}

/** GHz of the core this thread runs on, best of `trials` runs of ~0.2 ms each. */
export function estimateClockGHz(trials = 200): number {
  spin ??= spinner();
  const trips = 20000;
  spin(trips);
  let best = Infinity;
  for (let t = 0; t < trials; t++) {
    const t0 = performance.now();
    spin(trips);
    best = Math.min(best, performance.now() - t0);
  }
  return (trips * CHAIN) / (best * 1e6);
}
