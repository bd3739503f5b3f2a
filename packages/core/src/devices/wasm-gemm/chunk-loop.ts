/**
 * How threads share one GEMM call. The job is cut into chunks (a band of rows of one matrix of
 * the batch); every thread, the main one included, claims the next chunk with an atomic add until
 * none is left, so a thread whose core is busy with another process simply does fewer. The job
 * lives in a control block at the start of the shared memory (CTL, Int32 slots) and a table of
 * (A, B, C) byte addresses per matrix.
 *
 * The claiming loop is one JavaScript source text that the main thread and every worker evaluate,
 * so both run the same code (a worker cannot import a TypeScript module of this package).
 */

/** Int32 slots of the control block. */
export const CTL = {
  /** Job generation, a seqlock: odd while the main thread writes a job, even once it is ready. */
  gen: 0,
  /** The next chunk to claim. */
  next: 1,
  /** Chunks finished. */
  done: 2,
  total: 3,
  /** Workers inside a job (the main thread waits for 0 before writing the next one). */
  busy: 4,
  chunksPerMatrix: 5,
  rowsPerChunk: 6,
  M: 7,
  N: 8,
  K: 9,
  rsA: 10,
  csA: 11,
  rsB: 12,
  csB: 13,
  /** Byte address of the table: per matrix, A's, B's and C's byte addresses. */
  table: 14,
  /** 1 when C already holds the epilogue's terms (the kernel adds into it), 0 when it stores. */
  beta: 31,
  /** Set to 1 to end the workers. */
  exit: 15,
  /** Slot 16 + t (t < 15) counts the chunks thread t has run (0: the main thread). */
  ran: 16,
} as const;

/** Bytes the control block takes. */
export const CTL_BYTES = 256;

/**
 * runChunks(memory, chunk, packA, packB, edge, thread): claims and runs chunks of the current job until
 * none is left; `chunk` is the module's export, the rest this thread's scratch addresses.
 */
export const RUN_CHUNKS_SOURCE = `function runChunks(memory, chunk, packA, packB, edge, thread) {
  const i32 = new Int32Array(memory.buffer);
  const total = i32[${CTL.total}], cpm = i32[${CTL.chunksPerMatrix}], rpc = i32[${CTL.rowsPerChunk}];
  const M = i32[${CTL.M}], N = i32[${CTL.N}], K = i32[${CTL.K}];
  const rsA = i32[${CTL.rsA}], csA = i32[${CTL.csA}], rsB = i32[${CTL.rsB}], csB = i32[${CTL.csB}];
  const table = i32[${CTL.table}] >> 2, beta = i32[${CTL.beta}];
  for (;;) {
    const c = Atomics.add(i32, ${CTL.next}, 1);
    if (c >= total) return;
    const z = (c / cpm) | 0;
    const r0 = (c - z * cpm) * rpc;
    const t = table + 3 * z;
    chunk(i32[t] + r0 * rsA, i32[t + 1], i32[t + 2] + r0 * N * 4, rsA, csA, rsB, csB, N * 4, N, K,
      Math.min(rpc, M - r0), packA, packB, edge, beta);
    Atomics.add(i32, ${CTL.ran} + thread, 1);
    if (Atomics.add(i32, ${CTL.done}, 1) === total - 1) Atomics.notify(i32, ${CTL.done});
  }
}`;

export type ChunkExport = (...args: number[]) => void;
export type RunChunks = (memory: WebAssembly.Memory, chunk: ChunkExport, packA: number, packB: number, edge: number, thread: number) => void;

export const runChunks = new Function(`return ${RUN_CHUNKS_SOURCE}`)() as RunChunks;

/**
 * A worker: instantiates the module over the shared memory, then sleeps on the generation slot;
 * at each new even generation it joins the job (counted in `busy`, re-checking the generation so
 * it never reads a job the main thread is still writing) and claims chunks.
 */
export const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { memory, module, packA, packB, edge, thread } = workerData;
const { chunk } = new WebAssembly.Instance(module, { env: { memory } }).exports;
const runChunks = (${RUN_CHUNKS_SOURCE});
const ctl = new Int32Array(memory.buffer, 0, ${CTL_BYTES / 4});
let seen = 0;
for (;;) {
  let g = Atomics.load(ctl, ${CTL.gen});
  while (g === seen || (g & 1) === 1) {
    Atomics.wait(ctl, ${CTL.gen}, g);
    g = Atomics.load(ctl, ${CTL.gen});
  }
  if (Atomics.load(ctl, ${CTL.exit}) === 1) break;
  Atomics.add(ctl, ${CTL.busy}, 1);
  if (Atomics.load(ctl, ${CTL.gen}) === g) runChunks(memory, chunk, packA, packB, edge, thread);
  Atomics.sub(ctl, ${CTL.busy}, 1);
  Atomics.notify(ctl, ${CTL.busy});
  seen = g;
}
`;
