/**
 * The wasm device's memory: one shared WebAssembly.Memory that the GEMM's threads, the SIMD
 * kernels of wasm-ops and the host loops all read and write, and a small allocator over it. A
 * tensor of the wasm device is a Float32Array view of a block here, so the GEMM reads its
 * operands and writes its result where they already are (before: every call copied A and B into
 * the GEMM's memory and C out, 6.4 ms of a 1024² call, 131 MB a GPT step; BENCHMARKS.md "wasm
 * arena, session 5").
 *
 * Why views stay valid: growing a *shared* memory never detaches its buffer (the memory cannot
 * move: V8 reserves its maximum up front). `memory.buffer` is then a new SharedArrayBuffer object
 * over the same bytes, and every view made before keeps reading and writing them at its offset.
 * So a block's view is made once and lives as long as its tensor. The SharedArrayBuffer object
 * is no way to recognize a view of this memory, though: V8 replaces the buffer object of every
 * shared memory of the thread whenever any of them grows (measured, Node 20: a memory that never
 * grew got a new `buffer` after other arenas grew). So `addressOf` knows a view by identity: the
 * one view `alloc` made for each live block.
 *
 * The allocator: size classes, a free list per class, a bump pointer.
 *   - A request is rounded up to its class: four classes per power of two (2^k, 1.25·2^k,
 *     1.5·2^k, 1.75·2^k, in 64-byte granules at least), so a block wastes under 25% (about 12% on
 *     average) and every block starts on a 64-byte boundary (a cache line; v128 loads).
 *   - A freed block goes on its class's list; the next request of that class takes it back, so a
 *     training loop, which frees and reallocates the same sizes every step, stops growing after
 *     its first step and never touches fresh pages (a page fault costs ~1 ms per MiB here).
 *   - Otherwise the bump pointer hands out new space, growing the memory as needed.
 *   Why not exact sizes (the previous host pool) or a general malloc: exact-size lists never
 *   serve a size that differs by one float (a sampler's growing sequence, eval batches), so their
 *   memory could only grow; a coalescing allocator (boundary tags, splitting) is more code than the
 *   workload asks for. Classes bound the waste and keep the code to one screen. A wasm memory
 *   cannot shrink, so memory once used stays with the arena until the device is destroyed.
 *
 * Two kinds of blocks: tensors (`alloc`), which may take at most `tensorLimit` bytes in all, and
 * the GEMM's working space for one call (`allocWorking`: packed panels, tables, copies of
 * operands from outside), which may use everything up to the memory's maximum. The headroom
 * between the two keeps a matmul possible when tensors have filled their share. When a tensor
 * does not fit, `alloc` answers null and the caller uses a plain Float32Array (copied into the
 * GEMM's working space at each use, as before the arena): a large model keeps working, only its
 * tensors past the limit pay the copies.
 *
 * Safety: a block is handed out only while it is free and freed only while it is live (a double
 * free or a foreign view throws), so two live tensors never share memory. The device frees a
 * tensor's block only after every kernel queued before its dispose has run, and drops its own
 * reference to the view then (GpujsBuffer.payload = null): a disposed tensor's data cannot be
 * read through the device. `poison` (tests) fills freed blocks with NaN so that any read through a
 * stale view shows.
 */

import { MAX_PAGES } from '../wasm-gemm/kernel-module.js';

const PAGE = 65536;

/**
 * The largest memory, in pages: what the GEMM's module declares (it addresses memory through
 * signed i32 byte offsets, so 2 GiB less a page; wasm-gemm/kernel-module.ts).
 */
export const ARENA_MAX_PAGES = MAX_PAGES;

/** Memory the arena grows by at least (pages): fewer grows, and untouched pages cost nothing. */
const GROW_PAGES = 256;

/** Default bytes of tensors in the arena: all but 512 MiB of working space for the GEMM. */
export const DEFAULT_TENSOR_LIMIT = ARENA_MAX_PAGES * PAGE - 512 * 2 ** 20;

/** The block size a request of `bytes` gets: four classes per power of two, 64-byte granules. */
export function sizeClass(bytes: number): number {
  if (bytes <= 256) return Math.max(64, Math.ceil(bytes / 64) * 64);
  const granule = 2 ** (Math.floor(Math.log2(bytes)) - 2);
  return Math.ceil(bytes / granule) * granule;
}

export interface ArenaOptions {
  /** Bytes the memory may grow to (rounded down to pages; at most ARENA_MAX_PAGES pages). */
  maxBytes?: number;
  /** Bytes of tensor blocks live at once, at most; 0: every tensor is a plain array. */
  tensorLimit?: number;
}

export interface ArenaStats {
  /** Bytes of the memory now. */
  memoryBytes: number;
  /** Bytes of blocks in use: tensors, and working space of a call in progress. */
  liveBytes: number;
  /** Of which tensors. */
  tensorBytes: number;
  /** Bytes of free blocks, waiting on their class's list. */
  freeBytes: number;
  /** Requests answered from a free list, and by new space. */
  reused: number;
  fresh: number;
  /** Tensor requests refused (the caller used a plain array). */
  refused: number;
}

export class WasmArena {
  readonly memory: WebAssembly.Memory;
  readonly maxBytes: number;
  readonly tensorLimit: number;
  /** Tests: freed blocks are filled with NaN, so a read through a stale view shows. */
  poison = false;
  /**
   * Live blocks: byte offset → block bytes (its class) and, for a tensor's, the one view handed
   * out for it: only that very object releases the block, so a stale view (of a block freed and
   * handed out again) can never free its new owner's memory.
   */
  private readonly live = new Map<number, { bytes: number; view: Float32Array | null }>();
  /** Free blocks by class: byte offsets. */
  private readonly free = new Map<number, number[]>();
  /** The first byte no block has used yet. */
  private top = 0;
  private readonly counts = { liveBytes: 0, tensorBytes: 0, freeBytes: 0, reused: 0, fresh: 0, refused: 0 };

  constructor(options: ArenaOptions = {}) {
    const maxPages = Math.min(ARENA_MAX_PAGES, Math.floor((options.maxBytes ?? ARENA_MAX_PAGES * PAGE) / PAGE));
    this.maxBytes = maxPages * PAGE;
    this.tensorLimit = Math.max(0, Math.min(options.tensorLimit ?? DEFAULT_TENSOR_LIMIT, this.maxBytes));
    if (maxPages < 1) throw new Error(`wasm arena: a maximum of ${options.maxBytes} bytes is less than one 64 KiB page`);
    this.memory = new WebAssembly.Memory({ initial: Math.min(maxPages, 16), maximum: maxPages, shared: true });
  }

  /**
   * A view of `n` floats for a tensor, or null when tensors already hold `tensorLimit` bytes or
   * the memory cannot grow (the caller then uses a plain Float32Array). Contents are stale.
   */
  alloc(n: number): Float32Array | null {
    const bytes = sizeClass(n * 4);
    if (n === 0 || this.counts.tensorBytes + bytes > this.tensorLimit) {
      if (n > 0) this.counts.refused++;
      return null;
    }
    const at = this.take(bytes, true);
    if (at < 0) {
      this.counts.refused++;
      return null;
    }
    const view = new Float32Array(this.memory.buffer, at, n);
    this.live.get(at)!.view = view;
    return view;
  }

  /** A byte offset of `bytes` of working space for one call (free it before the call returns), or -1 if it cannot fit. */
  allocWorking(bytes: number): number {
    return this.take(sizeClass(Math.max(bytes, 1)), false);
  }

  /** Gives a block back: a view `alloc` returned, or an offset from `allocWorking`. */
  release(block: Float32Array | number): void {
    const at = typeof block === 'number' ? block : block.byteOffset;
    const b = this.live.get(at);
    if (!b || (typeof block === 'number' ? b.view !== null : b.view !== block)) {
      throw new Error(`wasm arena: release of a block that is not live at byte ${at} (a double free, or memory the arena did not hand out)`);
    }
    this.live.delete(at);
    this.counts.liveBytes -= b.bytes;
    if (b.view) this.counts.tensorBytes -= b.bytes;
    if (this.poison) new Float32Array(this.memory.buffer, at, b.bytes / 4).fill(Number.NaN);
    let list = this.free.get(b.bytes);
    if (!list) this.free.set(b.bytes, (list = []));
    list.push(at);
    this.counts.freeBytes += b.bytes;
  }

  /**
   * The byte offset of `view` when it is the view `alloc` made for a block that is still live
   * (any growth since), else -1: a plain array, a stale view, a view of part of a block.
   */
  addressOf(view: Float32Array): number {
    return this.live.get(view.byteOffset)?.view === view ? view.byteOffset : -1;
  }

  /** The bytes of the block behind `view` (at least its size class) when addressOf knows it, else 0. */
  blockBytes(view: Float32Array): number {
    const b = this.live.get(view.byteOffset);
    return b?.view === view ? b.bytes : 0;
  }

  /** A Float32Array over the whole memory as it is now (take a new one after any allocation). */
  floats(): Float32Array {
    return new Float32Array(this.memory.buffer);
  }

  stats(): ArenaStats {
    return { memoryBytes: this.memory.buffer.byteLength, ...this.counts };
  }

  /** A block of exactly `bytes` (a class size): a free one of that class, else new space, else any larger free block. */
  private take(bytes: number, tensor: boolean): number {
    let at = this.free.get(bytes)?.pop() ?? -1;
    let size = bytes;
    if (at >= 0) {
      this.counts.reused++;
      this.counts.freeBytes -= bytes;
    } else if (this.grow(this.top + bytes)) {
      at = this.top;
      this.top += bytes;
      this.counts.fresh++;
    } else {
      // out of new space: the smallest larger free block, whole (it keeps its own class)
      for (const [cls, list] of [...this.free].sort((x, y) => x[0] - y[0])) {
        if (cls < bytes || list.length === 0) continue;
        at = list.pop()!;
        size = cls;
        this.counts.reused++;
        this.counts.freeBytes -= cls;
        break;
      }
      if (at < 0) return -1;
    }
    this.live.set(at, { bytes: size, view: null });
    this.counts.liveBytes += size;
    if (tensor) this.counts.tensorBytes += size;
    return at;
  }

  /** Makes the memory at least `end` bytes long; false when that passes the maximum or the engine refuses. */
  private grow(end: number): boolean {
    const have = this.memory.buffer.byteLength;
    if (end <= have) return true;
    if (end > this.maxBytes) return false;
    const need = Math.ceil((end - have) / PAGE);
    const pages = Math.min(Math.max(need, GROW_PAGES), (this.maxBytes - have) / PAGE);
    try {
      this.memory.grow(pages);
    } catch {
      // the engine could not commit that much (RangeError): try the least that serves
      try {
        this.memory.grow(need);
      } catch {
        return false;
      }
    }
    return true;
  }
}
