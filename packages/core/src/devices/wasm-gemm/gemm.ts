/**
 * The wasm device's matmul: operands copied into one shared WebAssembly.Memory, the emitted
 * GEMM module (kernel-module.ts) run over bands of C's rows on the main thread and the workers
 * (pool.ts), the result copied out. Memory layout, in bytes:
 *
 *   [0, 256)           control block (chunk-loop.ts)
 *   per thread         packed A block (MC × KC), edge tile (MR × NR)
 *   then, per call     table of (A, C, packed B) addresses per matrix, table of (B, packed B)
 *                      per distinct B, A, B, bias, C, packed B (per distinct B: ⌈N/NR⌉ panels × K × NR)
 *
 * The memory grows when a call needs more (workers see the growth: their code reads through the
 * module, and the claiming loop takes a fresh view per job).
 */
import { availableParallelism } from 'node:os';
import { broadcastStrides, sizeOf } from '../../shape.js';
import type { Shape } from '../device.js';
import { matmulGeometry } from '../gpujs/kernels/matmul.js';
import { CTL, CTL_BYTES, OWN_B_FLOATS } from './chunk-loop.js';
import { KC, MAX_PAGES, MC, PLAIN, RELAXED, RELAXED_4X8, gemmModuleBytes, type KernelVariant } from './kernel-module.js';
import { GemmPool, type Scratch } from './pool.js';
import { relaxedSimdAvailable } from './relaxed.js';

const PAGE = 65536;
const align = (n: number) => Math.ceil(n / 64) * 64;

/**
 * Multiply-adds below which a call stays on the main thread: waking a worker and waiting for it
 * costs tens of microseconds, a 64×64×64 product about as much.
 */
export const THREADED_MACS = 1 << 18;

export interface WasmGemmOptions {
  /** Threads including the main one (default: FLASHGRAD_WASM_THREADS, else the cores, at most 8). */
  threads?: number;
  /** Use the relaxed-madd 6×8 kernel: 'auto' (default) where the engine validates it. */
  relaxed?: boolean | 'auto';
  /** The one micro-kernel, overriding `relaxed` (benchmarks compare tile shapes with it). */
  variant?: KernelVariant;
  /** Multiply-adds from which a call uses the workers (default THREADED_MACS; tests set 0). */
  threadedMacs?: number;
  /** Tests only: the main thread waits while the workers run every chunk. */
  workersOnly?: boolean;
}

export interface MatmulOperands {
  a: Float32Array;
  aShape: Shape;
  b: Float32Array;
  bShape: Shape;
  transA: boolean;
  transB: boolean;
  batch: Shape;
  bias?: Float32Array | null;
  residual?: Float32Array | null;
}

/** Where a GEMM's time went since the last reset: copies into the shared memory, the kernel, the copy out. */
export interface GemmTimes {
  calls: number;
  copyInMs: number;
  kernelMs: number;
  copyOutMs: number;
  bytesIn: number;
  bytesOut: number;
  /** Tasks of all calls, and how many the main thread ran (the thread split). */
  tasks: number;
  mainTasks: number;
  /** Time the main thread, out of tasks, waited for the workers' last ones. */
  mainIdleMs: number;
}

const noTimes = (): GemmTimes => ({ calls: 0, copyInMs: 0, kernelMs: 0, copyOutMs: 0, bytesIn: 0, bytesOut: 0, tasks: 0, mainTasks: 0, mainIdleMs: 0 });

export class WasmGemm {
  /** The main micro-tile (relaxed: 3 × 12, with 4 × 8 for the shapes it pads less; see kernelFor). */
  readonly variant: KernelVariant;
  /** Every tile this GEMM has a module for, `variant` first. */
  readonly variants: KernelVariant[];
  /** Running totals (benchmarks read and reset them: `times = ...`). */
  times: GemmTimes = noTimes();
  readonly threads: number;
  private readonly threadedMacs: number;
  private readonly memory: WebAssembly.Memory;
  private readonly pool: GemmPool;
  private readonly addRows: (c: number, rows: number, n: number, v: number) => void;
  /** First byte after the control block and the scratch. */
  private readonly heap: number;

  constructor(options: WasmGemmOptions = {}) {
    this.threads = Math.max(1, Math.floor(options.threads ?? defaultThreads()));
    // the control block counts chunks per thread in 15 slots
    if (this.threads > 15) throw new Error(`wasm gemm: threads must be at most 15, got ${this.threads}`);
    this.threadedMacs = options.threadedMacs ?? THREADED_MACS;
    const relaxed = options.relaxed ?? 'auto';
    this.variant = options.variant ?? ((relaxed === 'auto' ? relaxedSimdAvailable() : relaxed) ? RELAXED : PLAIN);
    if (this.variant.relaxed && !relaxedSimdAvailable()) throw new Error('wasm gemm: relaxed SIMD asked for, but this engine does not validate it');
    this.variants = options.variant ? [options.variant] : this.variant === RELAXED ? [RELAXED, RELAXED_4X8] : [this.variant];
    const edgeBytes = Math.max(...this.variants.map((v) => align(v.mr * v.nr * 4)));
    const scratchBytes = align(MC * KC * 4) + edgeBytes + OWN_B_FLOATS * 4;
    this.heap = CTL_BYTES + this.threads * scratchBytes;
    this.memory = new WebAssembly.Memory({ initial: Math.ceil(this.heap / PAGE) + 16, maximum: MAX_PAGES, shared: true });
    const modules = this.variants.map((v) => new WebAssembly.Module(gemmModuleBytes(v)));
    const kernels = modules.map((module) => new WebAssembly.Instance(module, { env: { memory: this.memory } }).exports as unknown as {
      chunk: (...args: number[]) => void;
      packB: (...args: number[]) => void;
      addRows: (c: number, rows: number, n: number, v: number) => void;
    });
    this.addRows = kernels[0].addRows;
    const scratch: Scratch[] = Array.from({ length: this.threads }, (_, t) => {
      const packA = CTL_BYTES + t * scratchBytes;
      const edge = packA + align(MC * KC * 4);
      return { packA, edge, ownB: edge + edgeBytes };
    });
    this.pool = new GemmPool(this.memory, modules, kernels, scratch, options.workersOnly);
  }

  get description(): string {
    return `wasm GEMM (SIMD128 ${this.variant.mr}×${this.variant.nr}${this.variant.relaxed ? ' relaxed madd' : ''}, ${this.threads} thread${this.threads > 1 ? 's' : ''})`;
  }

  /**
   * The tile for an M × N product (index into `variants`): the least padded work (M and N rounded
   * up to the tile) per FLOP/cycle its micro-kernel measured. 1024²: 3 × 12; 64 × 64: 4 × 8.
   */
  kernelFor(M: number, N: number): number {
    let best = 0;
    let bestCost = Infinity;
    this.variants.forEach(({ mr, nr, flopPerCycle = 1 }, k) => {
      const cost = (Math.ceil(M / mr) * mr * Math.ceil(N / nr) * nr) / flopPerCycle;
      if (cost < bestCost) [best, bestCost] = [k, cost];
    });
    return best;
  }

  /** Makes the memory at least `bytes` long. */
  private reserve(bytes: number): void {
    const have = this.memory.buffer.byteLength;
    if (bytes <= have) return;
    const pages = Math.ceil((bytes - have) / PAGE);
    if (have / PAGE + pages > MAX_PAGES) {
      throw new Error(`wasm gemm: a matmul needs ${bytes} bytes of working memory, over the ${MAX_PAGES * PAGE} bytes a wasm memory can hold`);
    }
    this.memory.grow(pages);
  }

  /** [...batch, M, N] = op(A) · op(B) (+ bias [N]) (+ residual [...batch, M, N]), in float32. */
  matmul(o: MatmulOperands, threads = this.threads): Float32Array {
    const { M, K, N, count } = matmulGeometry(o.aShape, o.bShape, o.transA, o.transB, o.batch);
    const sizeA = sizeOf(o.aShape);
    const sizeB = sizeOf(o.bShape);
    const sizeC = count * M * N;
    if (o.a.length !== sizeA || o.b.length !== sizeB) {
      throw new Error(`wasm gemm: operands of [${o.aShape}] and [${o.bShape}] given ${o.a.length} and ${o.b.length} elements`);
    }
    if (o.bias && o.bias.length !== N) throw new Error(`wasm gemm: bias of ${o.bias.length} elements for ${N} columns`);
    if (o.residual && o.residual.length !== sizeC) throw new Error(`wasm gemm: residual of ${o.residual.length} elements for a [${count}, ${M}, ${N}] result`);
    if (sizeC === 0) return new Float32Array(0);
    const t0 = performance.now();
    // per matrix of the batch: its A and B (broadcast batch dims have stride 0); a B several
    // matrices share is packed once
    const sa = broadcastStrides(o.aShape.slice(0, -2), o.batch);
    const sb = broadcastStrides(o.bShape.slice(0, -2), o.batch);
    const aOf = new Array<number>(count);
    const bOf = new Array<number>(count);
    const distinctB = new Map<number, number>();
    const index = new Array<number>(o.batch.length).fill(0);
    for (let z = 0; z < count; z++) {
      let ia = 0;
      let ib = 0;
      for (let d = 0; d < index.length; d++) {
        ia += index[d] * sa[d];
        ib += index[d] * sb[d];
      }
      aOf[z] = ia;
      if (!distinctB.has(ib)) distinctB.set(ib, distinctB.size);
      bOf[z] = ib;
      for (let d = index.length - 1; d >= 0 && ++index[d] === o.batch[d]; d--) index[d] = 0;
    }
    const kernel = this.kernelFor(M, N);
    const { mr, nr } = this.variants[kernel];
    const panels = Math.ceil(N / nr);
    const packedBytes = panels * K * nr * 4;
    const table = this.heap;
    const flagsAt = align(table + count * 12);
    const btable = align(flagsAt + count * M * 4);
    const aAt = align(btable + distinctB.size * 8);
    const bAt = align(aAt + sizeA * 4);
    const biasAt = align(bAt + sizeB * 4);
    const cAt = align(biasAt + N * 4);
    const packedAt = align(cAt + sizeC * 4);
    this.reserve(packedAt + distinctB.size * packedBytes);
    const f32 = new Float32Array(this.memory.buffer);
    const i32 = new Int32Array(this.memory.buffer);
    // C starts as the epilogue's terms and the kernel adds A·B into it; with none, it stores
    const beta = o.residual || o.bias || K === 0 ? 1 : 0;
    if (o.residual) f32.set(o.residual, cAt / 4);
    else if (beta) f32.fill(0, cAt / 4, cAt / 4 + sizeC);
    if (o.bias) {
      f32.set(o.bias, biasAt / 4);
      this.addRows(cAt, count * M, N, biasAt);
    }
    const t = this.times;
    t.calls++;
    t.bytesOut += 4 * sizeC;
    if (K === 0) {
      t.copyInMs += performance.now() - t0;
      return f32.slice(cAt / 4, cAt / 4 + sizeC);
    }
    // B now: the pack tasks read it; A once the workers are woken (pool.run's main.start)
    f32.set(o.b, bAt / 4);
    for (const [ib, u] of distinctB) {
      i32[btable / 4 + 2 * u] = bAt + ib * K * N * 4;
      i32[btable / 4 + 2 * u + 1] = packedAt + u * packedBytes;
    }
    for (let z = 0; z < count; z++) {
      i32[table / 4 + 3 * z] = aAt + aOf[z] * M * K * 4;
      i32[table / 4 + 3 * z + 1] = cAt + z * M * N * 4;
      i32[table / 4 + 3 * z + 2] = packedAt + distinctB.get(bOf[z])! * packedBytes;
    }
    t.bytesIn += 4 * (sizeA + sizeB + (o.bias ? N : 0) + (o.residual ? sizeC : 0));
    const use = count * M * N * K >= this.threadedMacs ? Math.min(threads, this.threads) : 1;
    // compute tasks: a band of rows each, about four per thread, whole micro-tiles, at most MC
    // rows (so each of A's elements is packed once); one matrix's bands a multiple of the threads,
    // so that 1024 rows are 2 × 5 bands of 105 rather than 8 of 120 and a ninth of 64
    const mcRows = Math.floor(MC / mr) * mr;
    let bandsPerMatrix = Math.max(Math.ceil((4 * use) / count), Math.ceil(M / mcRows));
    if (count === 1) bandsPerMatrix = Math.ceil(bandsPerMatrix / use) * use;
    const rowsPerChunk = Math.min(M, Math.ceil(Math.ceil(M / bandsPerMatrix) / mr) * mr);
    const chunksPerMatrix = Math.ceil(M / rowsPerChunk);
    const bands = count * chunksPerMatrix;
    i32.fill(0, flagsAt / 4, flagsAt / 4 + bands);
    // pack tasks: B's panels in groups, about four per thread over all distinct Bs
    const ownB = chunksPerMatrix === 1 && distinctB.size === count && count > 1 && panels * nr * K <= OWN_B_FLOATS;
    const groups = use === 1 || ownB ? 1 : Math.min(panels, Math.ceil((4 * use) / distinctB.size));
    const packCols = Math.ceil(panels / groups) * nr;
    const packGroups = Math.ceil(N / packCols);
    const packTasks = ownB ? 0 : distinctB.size * packGroups;
    // bands of C are copied out in order once their flags are set, a run of finished bands (adjacent
    // in C) by one copy, and between tasks only once 64 KiB are ready (small bands: one copy at the end)
    let copied = 0;
    let copyOutMs = 0;
    let out: Float32Array | null = null;
    const bandStart = (band: number) => {
      const z = Math.floor(band / chunksPerMatrix);
      return Math.min(z * M * N + (band - z * chunksPerMatrix) * rowsPerChunk * N, (z + 1) * M * N);
    };
    const copyOut = (atEnd: boolean) => {
      const t3 = performance.now();
      const flags = new Int32Array(this.memory.buffer, flagsAt, bands);
      let ready = copied;
      while (ready < bands && Atomics.load(flags, ready) === 1) ready++;
      const from = bandStart(copied);
      const to = ready === bands ? sizeC : bandStart(ready);
      if (to > from && (atEnd || to - from >= 16384)) {
        const band = new Float32Array(this.memory.buffer, cAt + from * 4, to - from);
        // all of C at once (small bands: the end of the call) is one slice, not a zeroed array filled
        if (!out && to - from === sizeC) out = band.slice();
        else (out ??= new Float32Array(sizeC)).set(band, from);
        copied = ready;
      }
      copyOutMs += performance.now() - t3;
    };
    let t1 = performance.now();
    let t2 = t1;
    const job = this.pool.run(packTasks + bands, use, (ctl) => {
      ctl[CTL.chunksPerMatrix] = chunksPerMatrix;
      ctl[CTL.rowsPerChunk] = rowsPerChunk;
      ctl[CTL.M] = M;
      ctl[CTL.N] = N;
      ctl[CTL.K] = K;
      ctl[CTL.rsA] = o.transA ? 4 : K * 4;
      ctl[CTL.csA] = o.transA ? M * 4 : 4;
      ctl[CTL.rsB] = o.transB ? 4 : N * 4;
      ctl[CTL.csB] = o.transB ? K * 4 : 4;
      ctl[CTL.table] = table;
      ctl[CTL.btable] = btable;
      ctl[CTL.flags] = flagsAt;
      ctl[CTL.beta] = beta;
      ctl[CTL.packTasks] = packTasks;
      ctl[CTL.packGroups] = packGroups;
      ctl[CTL.packCols] = packCols;
      ctl[CTL.ldb] = panels * nr * 4;
      ctl[CTL.kernel] = kernel;
      ctl[CTL.ownB] = ownB ? 1 : 0;
    }, {
      start: () => {
        new Float32Array(this.memory.buffer).set(o.a, aAt / 4);
        t1 = performance.now();
      },
      afterTask: () => copyOut(false),
      end: () => {
        t2 = performance.now();
        copyOut(true);
      },
    });
    t.tasks += packTasks + bands;
    t.mainTasks += job.mainTasks;
    t.mainIdleMs += job.mainIdleMs;
    t.copyInMs += t1 - t0;
    t.kernelMs += t2 - t1 - copyOutMs;
    t.copyOutMs += performance.now() - t2 + copyOutMs;
    return out!;
  }

  /** Chunks each thread has run so far (index 0: the main thread), for benchmarks. */
  chunksRun(): number[] {
    return this.pool.chunksRun();
  }

  destroy(): void {
    this.pool.destroy();
  }
}

function defaultThreads(): number {
  const env = process.env.FLASHGRAD_WASM_THREADS;
  if (env !== undefined) {
    const n = Number(env);
    if (!Number.isInteger(n) || n < 1) throw new Error(`FLASHGRAD_WASM_THREADS must be an integer ≥ 1, got '${env}'`);
    return n;
  }
  return Math.min(8, availableParallelism());
}
