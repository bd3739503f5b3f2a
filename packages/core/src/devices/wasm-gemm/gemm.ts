/**
 * The wasm device's matmul: the emitted GEMM module (kernel-module.ts) run over bands of C's rows
 * on the main thread and the workers (pool.ts), all of them over the arena's shared
 * WebAssembly.Memory (../wasm-arena). Operands that are views of the arena (the wasm device's
 * tensors) are read where they are, and a result array from the arena is written in place;
 * anything else (a plain Float32Array: a gpu.js kernel's result, a tensor past the arena's limit)
 * is copied into the call's working space and the result copied out, as before the arena.
 * Memory, in bytes, all blocks of the arena:
 *
 *   the GEMM's own block   control block (chunk-loop.ts), then per thread: packed A block
 *                          (MC × KC), edge tile (MR × NR), a small B a task packs itself
 *   per call, working      table of (A, C, packed B) addresses per matrix, a flag per band of C,
 *                          table of (B, packed B) per distinct B, copies of the operands from
 *                          outside the arena, C when it is not written in place, packed B (per
 *                          distinct B: ⌈N/NR⌉ panels × K × NR); released when the call returns
 *
 * The memory grows when a call needs more (workers see the growth: their code reads through the
 * module, and the claiming loop takes a fresh view per job; views made before stay valid).
 */
import { availableParallelism } from 'node:os';
import { broadcastStrides, sizeOf } from '../../shape.js';
import type { Shape } from '../device.js';
import { matmulGeometry } from '../gpujs/kernels/matmul.js';
import { WasmArena } from '../wasm-arena/arena.js';
import { planBands } from './bands.js';
import { CTL, CTL_BYTES, OWN_B_FLOATS, TRACE_HEAD } from './chunk-loop.js';
import { KC, MC, PLAIN, RELAXED, RELAXED_4X8, gemmModuleBytes, type KernelVariant } from './kernel-module.js';
import { GemmPool, type Scratch } from './pool.js';
import { relaxedSimdAvailable } from './relaxed.js';

const align = (n: number) => Math.ceil(n / 64) * 64;

/**
 * Multiply-adds below which a call stays on the main thread: waking a worker and waiting for it
 * costs tens of microseconds, a 64×64×64 product about as much.
 */
export const THREADED_MACS = 1 << 18;

/** A call's geometry and byte addresses, as matmul decided them for run. */
interface CallPlan {
  M: number;
  K: number;
  N: number;
  count: number;
  sizeA: number;
  sizeB: number;
  sizeC: number;
  /** When the call started (performance.now). */
  t0: number;
  kernel: number;
  panels: number;
  packedBytes: number;
  /** Per matrix: its A's and its B's first element (in matrices of A and of B). */
  aOf: number[];
  bOf: number[];
  /** B's first element → its index among the distinct Bs. */
  distinctB: Map<number, number>;
  table: number;
  flagsAt: number;
  /** One Int32 per pack task, set once its group of B is packed. */
  packDoneAt: number;
  /** Threads the call runs on, and its compute tasks: (matrix, first row, rows) per band (bands.ts), at byte bandsAt. */
  use: number;
  bands: Int32Array;
  bandsAt: number;
  btable: number;
  aAt: number;
  bAt: number;
  biasAt: number;
  cAt: number;
  packedAt: number;
  /** Which operands are outside the arena (copied in), and whether C is copied out. */
  copyA: boolean;
  copyB: boolean;
  copyBias: boolean;
  copyC: boolean;
}

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
  /** Tests only: the thread that claims B's first pack task stalls until another has packed it (chunk-loop.ts, CTL.stallPack). */
  stallFirstPack?: boolean;
  /**
   * The memory to work in and whose views it reads and writes in place (the wasm device's
   * arena); default: an arena of its own that holds no tensors, so every operand is copied.
   */
  arena?: WasmArena;
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
  /**
   * Where C goes ([...batch, M, N] floats, any contents): written in place when it is a view of
   * the GEMM's arena, else filled by a copy; default a new Float32Array.
   */
  out?: Float32Array | null;
}

/** Where a GEMM's time went since the last reset: copies into the shared memory, the kernel, the copy out. */
export interface GemmTimes {
  calls: number;
  /** Copying operands from outside the arena in (and C's initial terms: residual, zeros). */
  copyInMs: number;
  /** The rest of the calls: the job (pack and compute tasks), its setup, the waits for workers. */
  kernelMs: number;
  /** Copying C out of the working space. */
  copyOutMs: number;
  /** Bytes copied into the working space (operands from outside the arena) and out of it (C). */
  bytesIn: number;
  bytesOut: number;
  /** Bytes of operands read and of results written in place (views of the arena), not copied. */
  bytesInPlace: number;
  /** Tasks of all calls, and how many the main thread ran (the thread split). */
  tasks: number;
  mainTasks: number;
  /** Time the main thread, out of tasks, waited for the workers' last ones. */
  mainIdleMs: number;
  /** Pack tasks a thread at the barrier packed for another that had claimed them and not finished. */
  packsHelped: number;
}

/**
 * One call's timeline (WasmGemm.trace), in ms from the call's start: when the job was published,
 * when each thread entered it (NaN: it never did), each task's thread, claim, start (a compute
 * task: after the barrier) and end, and when the call returned. Benchmarks read it to say where a
 * call's wall time went (waking the workers, packing B, the barrier, the tail).
 */
export interface GemmTrace {
  threads: number;
  publishedMs: number;
  joinedMs: number[];
  tasks: { thread: number; kind: 'pack' | 'compute'; claimedMs: number; startMs: number; endMs: number }[];
  returnedMs: number;
}

export const noTimes = (): GemmTimes => ({ calls: 0, copyInMs: 0, kernelMs: 0, copyOutMs: 0, bytesIn: 0, bytesOut: 0, bytesInPlace: 0, tasks: 0, mainTasks: 0, mainIdleMs: 0, packsHelped: 0 });

export class WasmGemm {
  /** The main micro-tile (relaxed: 3 × 12, with 4 × 8 for the shapes it pads less; see kernelFor). */
  readonly variant: KernelVariant;
  /** Every tile this GEMM has a module for, `variant` first. */
  readonly variants: KernelVariant[];
  /** Running totals (benchmarks read and reset them: `times = noTimes()`). */
  times: GemmTimes = noTimes();
  /** Benchmarks: record each call's timeline into `lastTrace` (off by default: it costs a few timer reads a task). */
  trace = false;
  lastTrace: GemmTrace | null = null;
  readonly threads: number;
  /** The memory the GEMM works in; its views are read and written in place. */
  readonly arena: WasmArena;
  private readonly threadedMacs: number;
  private readonly stallFirstPack: boolean;
  private readonly memory: WebAssembly.Memory;
  private readonly pool: GemmPool;
  private readonly addRows: (c: number, rows: number, n: number, v: number) => void;
  /** The GEMM's own block of the arena: the control block, then each thread's scratch. */
  private readonly own: number;

  constructor(options: WasmGemmOptions = {}) {
    this.threads = Math.max(1, Math.floor(options.threads ?? defaultThreads()));
    // the control block counts chunks per thread in 15 slots
    if (this.threads > 15) throw new Error(`wasm gemm: threads must be at most 15, got ${this.threads}`);
    this.threadedMacs = options.threadedMacs ?? THREADED_MACS;
    this.stallFirstPack = options.stallFirstPack ?? false;
    const relaxed = options.relaxed ?? 'auto';
    this.variant = options.variant ?? ((relaxed === 'auto' ? relaxedSimdAvailable() : relaxed) ? RELAXED : PLAIN);
    if (this.variant.relaxed && !relaxedSimdAvailable()) throw new Error('wasm gemm: relaxed SIMD asked for, but this engine does not validate it');
    this.variants = options.variant ? [options.variant] : this.variant === RELAXED ? [RELAXED, RELAXED_4X8] : [this.variant];
    const edgeBytes = Math.max(...this.variants.map((v) => align(v.mr * v.nr * 4)));
    const scratchBytes = align(MC * KC * 4) + edgeBytes + OWN_B_FLOATS * 4;
    this.arena = options.arena ?? new WasmArena({ tensorLimit: 0 });
    this.own = this.arena.allocWorking(CTL_BYTES + this.threads * scratchBytes);
    if (this.own < 0) throw new Error(`wasm gemm: no room in the wasm memory for ${this.threads} threads' scratch`);
    this.memory = this.arena.memory;
    // the control block's slots start at 0 (a block is handed out as it was left)
    new Int32Array(this.memory.buffer, this.own, CTL_BYTES / 4).fill(0);
    const modules = this.variants.map((v) => new WebAssembly.Module(gemmModuleBytes(v)));
    const kernels = modules.map((module) => new WebAssembly.Instance(module, { env: { memory: this.memory } }).exports as unknown as {
      chunk: (...args: number[]) => void;
      packB: (...args: number[]) => void;
      addRows: (c: number, rows: number, n: number, v: number) => void;
    });
    this.addRows = kernels[0].addRows;
    const scratch: Scratch[] = Array.from({ length: this.threads }, (_, t) => {
      const packA = this.own + CTL_BYTES + t * scratchBytes;
      const edge = packA + align(MC * KC * 4);
      return { packA, edge, ownB: edge + edgeBytes };
    });
    this.pool = new GemmPool(this.memory, this.own, modules, kernels, scratch, options.workersOnly);
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

  /** [...batch, M, N] = op(A) · op(B) (+ bias [N]) (+ residual [...batch, M, N]), in float32. */
  matmul(o: MatmulOperands): Float32Array {
    const { M, K, N, count } = matmulGeometry(o.aShape, o.bShape, o.transA, o.transB, o.batch);
    const sizeA = sizeOf(o.aShape);
    const sizeB = sizeOf(o.bShape);
    const sizeC = count * M * N;
    if (o.a.length !== sizeA || o.b.length !== sizeB) {
      throw new Error(`wasm gemm: operands of [${o.aShape}] and [${o.bShape}] given ${o.a.length} and ${o.b.length} elements`);
    }
    if (o.bias && o.bias.length !== N) throw new Error(`wasm gemm: bias of ${o.bias.length} elements for ${N} columns`);
    if (o.residual && o.residual.length !== sizeC) throw new Error(`wasm gemm: residual of ${o.residual.length} elements for a [${count}, ${M}, ${N}] result`);
    if (o.out && o.out.length !== sizeC) throw new Error(`wasm gemm: out of ${o.out.length} elements for a [${count}, ${M}, ${N}] result`);
    if (sizeC === 0) return o.out ?? new Float32Array(0);
    const t0 = performance.now();
    // where each operand already is in the arena (-1: outside, so copied into the working space)
    const arena = this.arena;
    const inA = arena.addressOf(o.a);
    const inB = arena.addressOf(o.b);
    const inBias = o.bias ? arena.addressOf(o.bias) : -1;
    const inC = o.out ? arena.addressOf(o.out) : -1;
    if (inC >= 0) {
      const overlaps = (x: Float32Array | null | undefined, at: number) => x && at >= 0 && at < inC + 4 * sizeC && inC < at + 4 * x.length;
      if (overlaps(o.a, inA) || overlaps(o.b, inB) || overlaps(o.bias, inBias)) throw new Error('wasm gemm: out overlaps an operand');
    }
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
    const use = count * M * N * K >= this.threadedMacs ? this.threads : 1;
    const bands = planBands(M, count, use, mr, Math.floor(MC / mr) * mr);
    // the call's working space: offsets inside one block, then the block's address added
    let end = 0;
    const place = (bytes: number) => {
      const at = end;
      end = align(end + bytes);
      return at;
    };
    const table = place(count * 12);
    const flagsAt = place((bands.length / 3) * 4);
    // a flag per pack task (at most one per distinct B's panel)
    const packDoneAt = place(distinctB.size * panels * 4);
    const bandsAt = place(bands.length * 4);
    const btable = place(distinctB.size * 8);
    const aWork = inA < 0 && K > 0 ? place(sizeA * 4) : -1;
    const bWork = inB < 0 && K > 0 ? place(sizeB * 4) : -1;
    const biasWork = o.bias && inBias < 0 ? place(N * 4) : -1;
    const cWork = inC < 0 ? place(sizeC * 4) : -1;
    const packedWork = place(distinctB.size * packedBytes);
    const work = arena.allocWorking(end);
    if (work < 0) {
      throw new Error(`wasm gemm: a matmul of [${o.aShape}] by [${o.bShape}] needs ${end} bytes of working memory, more than the ${arena.maxBytes} bytes of wasm memory have free`);
    }
    try {
      return this.run(o, {
        M, K, N, count, sizeA, sizeB, sizeC, t0, kernel, panels, packedBytes, aOf, bOf, distinctB,
        table: work + table, flagsAt: work + flagsAt, packDoneAt: work + packDoneAt, use, bands, bandsAt: work + bandsAt, btable: work + btable,
        aAt: inA >= 0 ? inA : work + aWork, bAt: inB >= 0 ? inB : work + bWork,
        biasAt: inBias >= 0 ? inBias : work + biasWork, cAt: inC >= 0 ? inC : work + cWork, packedAt: work + packedWork,
        copyA: inA < 0, copyB: inB < 0, copyBias: inBias < 0, copyC: inC < 0,
      });
    } finally {
      arena.release(work);
    }
  }

  /** One call, its addresses decided (matmul): copies in what is outside, runs the job, copies C out unless it is in place. */
  private run(o: MatmulOperands, p: CallPlan): Float32Array {
    const { M, K, N, count, sizeA, sizeB, sizeC, t0, kernel, panels, table, flagsAt, btable, aAt, bAt, biasAt, cAt, packedAt, packedBytes } = p;
    const { nr } = this.variants[kernel];
    const f32 = this.arena.floats();
    const i32 = new Int32Array(this.memory.buffer);
    const t = this.times;
    t.calls++;
    const tIn = performance.now();
    // C starts as the epilogue's terms and the kernel adds A·B into it; with none, it stores
    const beta = o.residual || o.bias || K === 0 ? 1 : 0;
    if (o.residual) f32.set(o.residual, cAt / 4);
    else if (beta) f32.fill(0, cAt / 4, cAt / 4 + sizeC);
    if (o.bias) {
      if (p.copyBias) f32.set(o.bias, biasAt / 4);
      this.addRows(cAt, count * M, N, biasAt);
    }
    t.bytesIn += 4 * ((o.bias && p.copyBias ? N : 0) + (o.residual ? sizeC : 0));
    t.bytesInPlace += 4 * ((o.bias && !p.copyBias ? N : 0) + (p.copyC ? 0 : sizeC));
    if (p.copyC) t.bytesOut += 4 * sizeC;
    if (K === 0) {
      const tOut = performance.now();
      t.copyInMs += tOut - tIn;
      const values = f32.subarray(cAt / 4, cAt / 4 + sizeC);
      const c = !p.copyC ? o.out! : o.out ? (o.out.set(values), o.out) : values.slice();
      t.copyOutMs += performance.now() - tOut;
      t.kernelMs += tIn - t0;
      return c;
    }
    // B now: the pack tasks read it; A once the workers are woken (pool.run's main.start)
    if (p.copyB) f32.set(o.b, bAt / 4);
    let copyInMs = performance.now() - tIn;
    t.bytesIn += 4 * ((p.copyA ? sizeA : 0) + (p.copyB ? sizeB : 0));
    t.bytesInPlace += 4 * ((p.copyA ? 0 : sizeA) + (p.copyB ? 0 : sizeB));
    for (const [ib, u] of p.distinctB) {
      i32[btable / 4 + 2 * u] = bAt + ib * K * N * 4;
      i32[btable / 4 + 2 * u + 1] = packedAt + u * packedBytes;
    }
    for (let z = 0; z < count; z++) {
      i32[table / 4 + 3 * z] = aAt + p.aOf[z] * M * K * 4;
      i32[table / 4 + 3 * z + 1] = cAt + z * M * N * 4;
      i32[table / 4 + 3 * z + 2] = packedAt + p.distinctB.get(p.bOf[z])! * packedBytes;
    }
    const use = p.use;
    const bands = p.bands.length / 3;
    i32.set(p.bands, p.bandsAt / 4);
    i32.fill(0, flagsAt / 4, flagsAt / 4 + bands);
    const oneBandPerMatrix = bands === count;
    // pack tasks: B's panels in groups, about four per thread over all distinct Bs
    const distinct = p.distinctB.size;
    const ownB = oneBandPerMatrix && distinct === count && count > 1 && panels * nr * K <= OWN_B_FLOATS;
    const groups = use === 1 || ownB ? 1 : Math.min(panels, Math.ceil((4 * use) / distinct));
    const packCols = Math.ceil(panels / groups) * nr;
    const packGroups = Math.ceil(N / packCols);
    const packTasks = ownB ? 0 : distinct * packGroups;
    i32.fill(0, p.packDoneAt / 4, p.packDoneAt / 4 + packTasks);
    // C outside the arena: bands of C are copied out in order once their flags are set, a run of
    // finished bands (adjacent in C) by one copy, and between tasks only once 64 KiB are ready
    // (small bands: one copy at the end)
    let copied = 0;
    let copyOutMs = 0;
    let out: Float32Array | null = p.copyC ? (o.out ?? null) : o.out!;
    // bands are in C's order: a band's first element, or C's end
    const bandStart = (band: number) => (band === bands ? sizeC : p.bands[3 * band] * M * N + p.bands[3 * band + 1] * N);
    // made once: a view of a shared memory stays valid as it grows
    const flags = new Int32Array(this.memory.buffer, flagsAt, bands);
    const copyOut = (atEnd: boolean) => {
      if (!p.copyC) return;
      const t3 = performance.now();
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
    const traceAt = this.trace ? this.arena.allocWorking(8 * (TRACE_HEAD + 4 * (packTasks + bands))) : 0;
    if (traceAt < 0) throw new Error('wasm gemm: no room for the trace');
    const job = this.pool.run(packTasks + bands, use, (ctl) => {
      ctl[CTL.bands] = p.bandsAt;
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
      ctl[CTL.trace] = traceAt;
      ctl[CTL.packDone] = p.packDoneAt;
      ctl[CTL.stallPack] = this.stallFirstPack ? 1 : 0;
      // NaN until written: a task or thread that never records reads as NaN, not a stale time
      if (traceAt) new Float64Array(this.memory.buffer, traceAt, TRACE_HEAD + 4 * (packTasks + bands)).fill(NaN)[0] = performance.timeOrigin + performance.now();
    }, {
      start: () => {
        if (!p.copyA) return;
        const tA = performance.now();
        this.arena.floats().set(o.a, aAt / 4);
        copyInMs += performance.now() - tA;
      },
      afterTask: () => copyOut(false),
      end: () => copyOut(true),
    });
    t.tasks += packTasks + bands;
    t.mainTasks += job.mainTasks;
    t.mainIdleMs += job.mainIdleMs;
    t.packsHelped += job.packsHelped;
    const tEnd = performance.now();
    if (traceAt) {
      this.lastTrace = readTrace(new Float64Array(this.memory.buffer, traceAt, TRACE_HEAD + 4 * (packTasks + bands)), performance.timeOrigin + t0, packTasks, use, tEnd - t0);
      this.arena.release(traceAt);
    }
    t.copyInMs += copyInMs;
    t.copyOutMs += copyOutMs;
    t.kernelMs += tEnd - t0 - copyInMs - copyOutMs;
    return out!;
  }

  /** Chunks each thread has run so far (index 0: the main thread), for benchmarks. */
  chunksRun(): number[] {
    return this.pool.chunksRun();
  }

  destroy(): void {
    this.pool.destroy();
    this.arena.release(this.own);
  }
}

/** A trace's Float64 slots (chunk-loop.ts, CTL.trace) as times from the call's start (epoch ms `origin`). */
function readTrace(f64: Float64Array, origin: number, packTasks: number, threads: number, returnedMs: number): GemmTrace {
  const tasks: GemmTrace['tasks'] = [];
  for (let c = 0; TRACE_HEAD + 4 * c < f64.length; c++) {
    const at = TRACE_HEAD + 4 * c;
    tasks.push({ thread: f64[at], kind: c < packTasks ? 'pack' : 'compute', claimedMs: f64[at + 1] - origin, startMs: f64[at + 2] - origin, endMs: f64[at + 3] - origin });
  }
  return { threads, publishedMs: f64[0] - origin, joinedMs: Array.from({ length: threads }, (_, t) => f64[1 + t] - origin), tasks, returnedMs };
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
