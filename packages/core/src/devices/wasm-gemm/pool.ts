/**
 * The threads of the GEMM: the main thread and `threads − 1` worker_threads over one shared
 * WebAssembly.Memory. A call is synchronous: the main thread publishes the job (chunk-loop.ts's
 * seqlock), wakes the workers, claims chunks itself, then sleeps in Atomics.wait until the last
 * chunk is done. Workers start with the first threaded job; one that is still booting simply
 * finds no chunk left, so no call ever waits for a worker to start.
 */
import { Worker } from 'node:worker_threads';
import { CTL, CTL_BYTES, type KernelExports, WORKER_SOURCE, runChunks } from './chunk-loop.js';

/** One thread's scratch: packed A block, edge tile, a B its own task packs (byte addresses). */
export interface Scratch {
  packA: number;
  edge: number;
  ownB: number;
}

/** The main thread's own part of a job, beside the tasks (gemm.ts: the copies in and out). */
export interface MainWork {
  start(): void;
  afterTask(): void;
  end(): void;
}

/** How a job went on the main thread: tasks it ran, and how long it then waited for the workers'. */
export interface JobStats {
  mainTasks: number;
  mainIdleMs: number;
  /** Pack tasks threads packed at the barrier for another (chunk-loop.ts). */
  packsHelped: number;
}

export class GemmPool {
  private workers: Worker[] = [];
  private readonly ctl: Int32Array;

  constructor(
    private readonly memory: WebAssembly.Memory,
    /** Byte address of the control block (CTL_BYTES). */
    private readonly ctlAt: number,
    /** The GEMM's modules (one per micro-tile) and, in the same order, their exports on this thread. */
    private readonly modules: WebAssembly.Module[],
    private readonly kernels: KernelExports[],
    /** scratch[0] is the main thread's, scratch[t] worker t's. */
    private readonly scratch: Scratch[],
    /** The main thread claims no chunk, so workers run every one (tests of the worker path). */
    private readonly workersOnly = false,
  ) {
    this.ctl = new Int32Array(memory.buffer, ctlAt, CTL_BYTES / 4);
  }

  get threads(): number {
    return this.scratch.length;
  }

  private startWorkers(): void {
    for (let t = 1; t < this.scratch.length; t++) {
      const w = new Worker(WORKER_SOURCE, { eval: true, workerData: { memory: this.memory, ctlAt: this.ctlAt, modules: this.modules, ...this.scratch[t], thread: t } });
      // idle workers sleep in Atomics.wait: they must not keep the process alive
      w.unref();
      w.on('error', (err) => {
        // the main thread does every chunk a dead worker would have claimed
        console.error(`wasm gemm: worker ${t} failed: ${(err as Error).message}`);
      });
      this.workers.push(w);
    }
  }

  /**
   * Runs one job: `write(ctl)` fills the job's slots (M, N, K, strides, tables, task split),
   * then `total` tasks run on up to `threads` threads (1: the main thread alone). The main thread
   * runs `main.start` once the workers are woken (then counts it as the last pack task: the copy of
   * A the compute tasks wait for), `main.afterTask` after each task it runs, and `main.end` once all
   * are done.
   */
  run(total: number, threads: number, write: (ctl: Int32Array) => void, main: MainWork): JobStats {
    const ctl = this.ctl;
    const ranBefore = Atomics.load(ctl, CTL.ran);
    const helpedBefore = Atomics.load(ctl, CTL.helped);
    const gen = Atomics.load(ctl, CTL.gen);
    // odd: writing. A worker still inside the previous job leaves it (its chunks are all claimed)
    Atomics.store(ctl, CTL.gen, gen + 1);
    for (let busy = Atomics.load(ctl, CTL.busy); busy !== 0; busy = Atomics.load(ctl, CTL.busy)) {
      Atomics.wait(ctl, CTL.busy, busy, 50);
    }
    write(ctl);
    ctl[CTL.next] = 0;
    ctl[CTL.done] = 0;
    ctl[CTL.packed] = 0;
    ctl[CTL.total] = total;
    Atomics.store(ctl, CTL.gen, gen + 2);
    if (this.workersOnly && this.scratch.length === 1) throw new Error('wasm gemm: workersOnly needs threads ≥ 2');
    if ((threads > 1 && total > 1) || this.workersOnly) {
      if (this.workers.length === 0) this.startWorkers();
      Atomics.notify(ctl, CTL.gen, this.workersOnly ? this.scratch.length - 1 : threads - 1);
    }
    main.start();
    if (Atomics.add(ctl, CTL.packed, 1) === ctl[CTL.packTasks]) Atomics.notify(ctl, CTL.packed);
    const s = this.scratch[0];
    if (!this.workersOnly) runChunks(this.memory, this.ctlAt, this.kernels, s.packA, s.edge, s.ownB, 0, main.afterTask);
    const idleFrom = performance.now();
    for (let done = Atomics.load(ctl, CTL.done); done !== total; done = Atomics.load(ctl, CTL.done)) {
      main.afterTask();
      Atomics.wait(ctl, CTL.done, done, 50);
    }
    const mainIdleMs = performance.now() - idleFrom;
    main.end();
    return { mainTasks: Atomics.load(ctl, CTL.ran) - ranBefore, mainIdleMs, packsHelped: Atomics.load(ctl, CTL.helped) - helpedBefore };
  }

  /** Chunks each thread has run since the pool started (index 0: the main thread). */
  chunksRun(): number[] {
    return this.scratch.map((_, t) => Atomics.load(this.ctl, CTL.ran + t));
  }

  destroy(): void {
    const ctl = this.ctl;
    Atomics.store(ctl, CTL.exit, 1);
    Atomics.add(ctl, CTL.gen, 2);
    Atomics.notify(ctl, CTL.gen);
    for (const w of this.workers) void w.terminate();
    this.workers = [];
  }
}
