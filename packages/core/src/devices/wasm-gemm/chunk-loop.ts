/**
 * How threads share one GEMM call. The job is a list of tasks that every thread, the main one
 * included, claims with an atomic add until none is left (a thread whose core is busy with another
 * process simply does fewer): first the pack tasks (a group of B's NR-column panels over all of K,
 * packed once into memory every thread reads), then the compute tasks (a band of rows of one
 * matrix of the batch, all of N; bands.ts cuts them, tall first and short last). A compute task starts only once every pack task is done and the
 * main thread has copied A in (it copies B before it publishes the job, A while the workers start
 * packing): the job's one barrier, which waits only while another thread is still packing. Each
 * compute task flags its band of C when done, so the main thread copies finished bands out between
 * its own tasks (while they are still in its cache) as the workers go on computing. The job lives in a
 * control block in the shared memory (CTL, Int32 slots at byte ctlAt: the GEMM's first block of the arena) and three tables: per matrix
 * its (A, C, packed B) byte addresses, per distinct B its (B, packed B) ones, per band its
 * (matrix, first row, rows).
 *
 * The claiming loop is one JavaScript source text that the main thread and every worker evaluate,
 * so both run the same code (a worker cannot import a TypeScript module of this package).
 */

import { KC } from './kernel-module.js';

/** Int32 slots of the control block. */
export const CTL = {
  /** Job generation, a seqlock: odd while the main thread writes a job, even once it is ready. */
  gen: 0,
  /** The next task to claim. */
  next: 1,
  /** Tasks finished. */
  done: 2,
  /** Tasks in the job: packTasks, then the compute tasks. */
  total: 3,
  /** Workers inside a job (the main thread waits for 0 before writing the next one). */
  busy: 4,
  /** Byte address of the compute tasks: per band, its matrix, first row and rows (Int32; bands.ts). */
  bands: 5,
  N: 8,
  K: 9,
  rsA: 10,
  csA: 11,
  rsB: 12,
  csB: 13,
  /** Byte address of the matrix table: per matrix, A's, C's and its packed B's byte addresses. */
  table: 14,
  /** Set to 1 to end the workers. */
  exit: 15,
  /** Slot 16 + t (t < 15) counts the tasks thread t has run (0: the main thread). */
  ran: 16,
  /** 1 when C already holds the epilogue's terms (the kernel adds into it), 0 when it stores. */
  beta: 31,
  /** Pack tasks at the head of the job. */
  packTasks: 32,
  /** Pack tasks per distinct B. */
  packGroups: 33,
  /** Columns of B per pack task (a multiple of NR). */
  packCols: 34,
  /** Pack tasks finished (the barrier before the compute tasks). */
  packed: 35,
  /** Byte address of the B table: per distinct B, its byte address and its packed copy's. */
  btable: 36,
  /** Bytes of one row of packed B: N rounded up to whole NR-column panels, × 4. */
  ldb: 37,
  /** Byte address of one Int32 flag per compute task, set to 1 when its band of C is final. */
  flags: 38,
  /** Which of the GEMM's modules (micro-tiles) runs this job: an index into runChunks's `kernels`. */
  kernel: 39,
  /**
   * 1 when every matrix is one compute task with a small B of its own (attention's batched
   * products): that task packs its B itself into its thread's scratch (OWN_B_FLOATS, where it stays
   * in cache), and the job has no pack tasks.
   */
  ownB: 40,
  /**
   * Byte address of the call's trace (0: none; WasmGemm.trace): Float64 milliseconds since the
   * epoch (performance.timeOrigin + now(), comparable across threads). Slot 1 + t: when thread t
   * entered the job; then per task c, at TRACE_HEAD + 4c: the thread that ran it, when it claimed
   * it, when it started (a compute task, after the barrier), when it ended.
   */
  trace: 41,
  /**
   * Byte address of one Int32 per pack task: 1 once its group of B is packed (by whichever thread
   * finished it first; see the barrier in runChunks).
   */
  packDone: 42,
  /** Pack tasks a thread packed at the barrier for another (GemmTimes.packsHelped). */
  helped: 43,
  /**
   * Tests only: 1 makes the thread that claims pack task 0 wait (up to 5 s) until another thread
   * has packed that group at the barrier, as if its core had been taken; then it packs it too.
   */
  stallPack: 44,
} as const;

/** Float64 slots of a trace before the tasks' (slot 0: when the main thread published the job). */
export const TRACE_HEAD = 16;

/** Floats of a thread's scratch for a B its compute task packs itself (CTL.ownB): 64 KiB. */
export const OWN_B_FLOATS = 16384;

/** Bytes the control block takes. */
export const CTL_BYTES = 256;

/**
 * runChunks(memory, ctlAt, kernels, packA, edge, ownB, thread, afterTask): claims and runs tasks of
 * the current job (its control block at byte ctlAt) until none is left; `kernels` are the modules' exports ({ chunk, packB } per micro-tile,
 * the job's CTL.kernel picks one), packA, edge and ownB this thread's scratch addresses; afterTask (the main
 * thread's, undefined on workers) runs after each.
 */
export const RUN_CHUNKS_SOURCE = `function runChunks(memory, ctlAt, kernels, packA, edge, ownBAt, thread, afterTask) {
  const i32 = new Int32Array(memory.buffer);
  const ctl = new Int32Array(memory.buffer, ctlAt, ${CTL_BYTES / 4});
  const { chunk, packB } = kernels[ctl[${CTL.kernel}]];
  const total = ctl[${CTL.total}], bands = ctl[${CTL.bands}] >> 2;
  const N = ctl[${CTL.N}], K = ctl[${CTL.K}];
  const rsA = ctl[${CTL.rsA}], csA = ctl[${CTL.csA}], rsB = ctl[${CTL.rsB}], csB = ctl[${CTL.csB}];
  const table = ctl[${CTL.table}] >> 2, beta = ctl[${CTL.beta}];
  const packTasks = ctl[${CTL.packTasks}], groups = ctl[${CTL.packGroups}], cols = ctl[${CTL.packCols}];
  const btable = ctl[${CTL.btable}] >> 2, ldb = ctl[${CTL.ldb}], flags = ctl[${CTL.flags}] >> 2;
  const ownB = ctl[${CTL.ownB}], packDone = ctl[${CTL.packDone}] >> 2;
  const trace = ctl[${CTL.trace}] >> 3, f64 = trace ? new Float64Array(memory.buffer) : null;
  const now = () => performance.timeOrigin + performance.now();
  if (trace) f64[trace + 1 + thread] = now();
  // group g of distinct B u; packed B is K block by K block, each block's panels side by side
  // (kernel-module.ts, chunk)
  const pack = (u, g, dst) => {
    const j0 = g * cols;
    const src = i32[btable + 2 * u] + j0 * csB, lines = Math.min(cols, N - j0);
    for (let pc = 0; pc < K; pc += ${KC}) {
      const kc = Math.min(${KC}, K - pc);
      packB(src + pc * rsB, csB, rsB, lines, kc, dst + pc * ldb + j0 * kc * 4);
    }
  };
  // pack task h: its group packed; counted once, by the first thread to finish it
  const packTask = (h, claimed) => {
    if (claimed && h === 0 && ctl[${CTL.stallPack}] === 1) Atomics.wait(i32, packDone, 0, 5000);
    const u = (h / groups) | 0;
    pack(u, h - u * groups, i32[btable + 2 * u + 1]);
    if (Atomics.compareExchange(i32, packDone + h, 0, 1) === 0 && Atomics.add(ctl, ${CTL.packed}, 1) === packTasks) Atomics.notify(ctl, ${CTL.packed});
    if (ctl[${CTL.stallPack}] === 1) Atomics.notify(i32, packDone + h);
  };
  for (;;) {
    const c = Atomics.add(ctl, ${CTL.next}, 1);
    if (c >= total) return;
    const claimed = trace ? now() : 0;
    let started = claimed;
    if (c < packTasks) {
      packTask(c, true);
    } else {
      // the barrier: every pack task is claimed by now, but a thread that claimed one may have
      // lost its core to another process; rather than wait for it, pack its group too. Packing
      // is deterministic, so both write the same bytes, and the task counts once (packDone).
      // Then wait for packTasks + 1: the pack tasks and the main thread's copy of A
      for (let h = 0; h < packTasks; h++) {
        if (Atomics.load(i32, packDone + h) === 0) {
          packTask(h, false);
          Atomics.add(ctl, ${CTL.helped}, 1);
        }
      }
      for (let p = Atomics.load(ctl, ${CTL.packed}); p !== packTasks + 1; p = Atomics.load(ctl, ${CTL.packed})) {
        Atomics.wait(ctl, ${CTL.packed}, p, 50);
      }
      if (trace) started = now();
      const b = c - packTasks;
      const z = i32[bands + 3 * b], r0 = i32[bands + 3 * b + 1], rows = i32[bands + 3 * b + 2];
      const t = table + 3 * z;
      if (ownB) pack(z, 0, ownBAt);
      chunk(i32[t] + r0 * rsA, i32[t + 1] + r0 * N * 4, rsA, csA, N * 4, N, K, rows,
        packA, ownB ? ownBAt : i32[t + 2], ldb, edge, beta);
      Atomics.store(i32, flags + b, 1);
    }
    if (trace) {
      const at = trace + ${TRACE_HEAD} + 4 * c;
      f64[at] = thread;
      f64[at + 1] = claimed;
      f64[at + 2] = started;
      f64[at + 3] = now();
    }
    Atomics.add(ctl, ${CTL.ran} + thread, 1);
    // a worker's every task: the main thread, once out of tasks, copies bands out as they are done
    // (the main thread itself never waits on its own tasks, so it skips the notify's cost)
    Atomics.add(ctl, ${CTL.done}, 1);
    if (thread !== 0) Atomics.notify(ctl, ${CTL.done});
    if (afterTask) afterTask();
  }
}`;

export type ChunkExport = (...args: number[]) => void;
/** One module's entry points. */
export interface KernelExports {
  chunk: ChunkExport;
  packB: ChunkExport;
}
export type RunChunks = (memory: WebAssembly.Memory, ctlAt: number, kernels: KernelExports[], packA: number, edge: number, ownB: number, thread: number, afterTask?: () => void) => void;

export const runChunks = new Function(`return ${RUN_CHUNKS_SOURCE}`)() as RunChunks;

/**
 * A worker: instantiates the module over the shared memory, then sleeps on the generation slot;
 * at each new even generation it joins the job (counted in `busy`, re-checking the generation so
 * it never reads a job the main thread is still writing) and claims chunks.
 */
export const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { memory, ctlAt, modules, packA, edge, ownB, thread } = workerData;
const kernels = modules.map((module) => new WebAssembly.Instance(module, { env: { memory } }).exports);
const runChunks = (${RUN_CHUNKS_SOURCE});
const ctl = new Int32Array(memory.buffer, ctlAt, ${CTL_BYTES / 4});
let seen = 0;
for (;;) {
  let g = Atomics.load(ctl, ${CTL.gen});
  while (g === seen || (g & 1) === 1) {
    Atomics.wait(ctl, ${CTL.gen}, g);
    g = Atomics.load(ctl, ${CTL.gen});
  }
  if (Atomics.load(ctl, ${CTL.exit}) === 1) break;
  Atomics.add(ctl, ${CTL.busy}, 1);
  if (Atomics.load(ctl, ${CTL.gen}) === g) runChunks(memory, ctlAt, kernels, packA, edge, ownB, thread);
  Atomics.sub(ctl, ${CTL.busy}, 1);
  Atomics.notify(ctl, ${CTL.busy});
  seen = g;
}
`;
