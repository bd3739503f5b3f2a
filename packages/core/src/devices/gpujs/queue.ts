/**
 * Buffer handles and the in-order kernel queue. Device ops are synchronous and return a handle at
 * once; gpu.js answers some calls with a Promise (every webgpu call, the first build of a webgpu
 * kernel, threaded webasm runs). While nothing is pending a kernel runs on the spot, with no
 * Promise in sight — the common case on cpu and single-threaded wasm, and the cheapest. Once
 * something is pending, later work chains behind it, so kernels always see their inputs written.
 */
import type { DeviceBuffer } from '../device.js';

/** A GPU-resident gpu.js result (webgpu buffer handle or GL texture). */
export interface ResidentPayload {
  delete(): void;
  toArray(): unknown;
}

/** What a buffer holds once written: host memory (cpu, wasm) or a resident handle. */
export type Payload = Float32Array | ResidentPayload;

export class GpujsBuffer implements DeviceBuffer {
  /** Set when the producing kernel has run; null while queued and after the buffer is freed. */
  payload: Payload | null = null;
  /** Settles once the producing kernel has run; null when it ran synchronously. */
  ready: Promise<void> | null = null;
  /** Why the producing kernel (or one of its inputs) failed; read() rethrows it. */
  error: unknown = null;
  disposed = false;
  /** webgpu: hands the producing kernel instance back to its pool, at dispose. */
  recycle: (() => void) | null = null;
  /** A view (GpujsEngine.view) holds the buffer it views: freed after the view. */
  parent: GpujsBuffer | null = null;
  /** Live views of this buffer: its dispose waits for the last one's. */
  views = 0;

  constructor(readonly size: number, readonly owner: object) {}
}

export const isPromise = (x: unknown): x is Promise<unknown> =>
  typeof x === 'object' && x !== null && typeof (x as { then?: unknown }).then === 'function';

/**
 * Tasks that may wait in the queue. Work only runs when the caller yields to the event loop (a
 * GPU's answer arrives as a Promise), and a synchronous loop cannot be made to wait for it without
 * deadlocking, so instead of growing the heap without bound (each waiting task holds its closure)
 * the queue refuses more, saying why. A GPT-2 training step queues a few thousand kernels.
 */
export const MAX_WAITING = maxWaitingFromEnv(process.env.FLASHGRAD_MAX_QUEUED);

export function maxWaitingFromEnv(value: string | undefined): number {
  const n = Number(value ?? 50_000);
  // NaN would compare false and switch the limit off without a word
  if (!Number.isInteger(n) || n < 1) throw new Error(`FLASHGRAD_MAX_QUEUED must be an integer ≥ 1, got '${value}'`);
  return n;
}

export class KernelQueue {
  private tail: Promise<void> | null = null;
  /** Tasks chained but not started yet. */
  private waiting = 0;

  constructor(private readonly maxWaiting = MAX_WAITING) {}

  get idle(): boolean {
    return this.tail === null;
  }

  get length(): number {
    return this.waiting;
  }

  /**
   * Runs `task` after everything queued so far; synchronously when the queue is idle. A task
   * that returns a Promise keeps the queue busy until it settles. Errors thrown by a queued task
   * are the task's to record (on its output buffer); the queue itself never rejects.
   * Returns the Promise the task's completion is tied to, or null when it ran synchronously.
   * Throws when MAX_WAITING tasks already wait, unless the task is `essential` (a free).
   * A `deferred` task never runs synchronously: on an idle queue it starts once the caller's
   * synchronous code has finished (a microtask).
   */
  run(task: () => void | Promise<void>, options: { essential?: boolean; deferred?: boolean } = {}): Promise<void> | null {
    if (this.tail === null && options.deferred) return this.chain(Promise.resolve().then(task));
    if (this.tail === null) {
      const r = task();
      if (!isPromise(r)) return null;
      return this.chain(r);
    }
    // frees are never refused: refusing one would leak the buffer it frees
    if (this.waiting >= this.maxWaiting && !options.essential) {
      throw new Error(
        `gpujs: ${this.waiting} kernels are waiting to run: a loop that never yields to the event loop cannot let the device ` +
          'catch up; await a read (await loss.item()) or await sync() inside the loop (limit: FLASHGRAD_MAX_QUEUED)',
      );
    }
    this.waiting++;
    return this.chain(this.tail.then(() => {
      this.waiting--;
      return task();
    }));
  }

  private chain(p: Promise<void>): Promise<void> {
    const settled = p.then(noop, noop);
    this.tail = settled;
    // back to the synchronous fast path as soon as the last queued task is done
    void settled.then(() => {
      if (this.tail === settled) this.tail = null;
    });
    return settled;
  }

  /** Resolves when everything queued so far (and anything queued meanwhile) has run. */
  async drain(): Promise<void> {
    while (this.tail !== null) await this.tail;
  }
}

function noop(): void {}
