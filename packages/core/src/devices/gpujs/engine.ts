/**
 * The machinery under every gpu.js device: buffers and their books (live bytes, buffers, peak),
 * the compile-once kernel cache, and launching through the in-order queue. Results stay where
 * gpu.js put them (pipeline: true, immutable: true): host Float32Arrays on cpu/wasm, GPU buffers
 * on webgpu, textures on headlessgl. The ops themselves live in device.ts.
 */
import type { DeviceBuffer, DeviceStats, MemoryInfo } from '../device.js';
import { DEFAULT_TENSOR_LIMIT, WasmArena } from '../wasm-arena/arena.js';
import { copySpec } from './kernels/elementwise.js';
import type { KernelSpec } from './kernels/spec.js';
import { flatten, flattenHost, hostResident, viewPayload } from './payload.js';
import { GpujsBuffer, KernelQueue, isPromise } from './queue.js';
import type { GpujsKernel, Runtime } from './runtime.js';

/**
 * Work (in scalar ops, KernelSpec.work) above which a wasm kernel runs on gpu.js's worker pool.
 * Measured on 2 cores: matmuls gain 1.4–2× (512²: 97 ms against 153 ms sync), while a plain add
 * of 1M floats is slower threaded (copies in and out dominate: 12.9 ms vs 6.6 ms) and so is the
 * in-kernel exp of math.ts up to 1M floats (10.9 ms either way); below this the worker round trip
 * (~0.2 ms) costs more than it saves.
 */
export const THREAD_WORK = 1_500_000;

/**
 * Idle output memory a webgpu device keeps for reuse (see Prepared.idle), at most; past it the
 * longest-idle instances free their output buffers (and stay compiled). Buffers are per kernel key, so a training
 * step's transients must all fit: with 512 MiB the `small` GPT step (6L/384, 16×256 tokens)
 * evicted and rebuilt instances every step and ran at 1,377 ms. A real GPU gets 4 GiB, a software
 * rasterizer (host memory) 256 MiB, or as much as the most memory live at once so far when that is
 * more (the `grows` flag); FLASHGRAD_GPU_CACHE_MB sets a fixed cap instead.
 *
 * Why it grows: a training step frees and reallocates the same working set every step, the access
 * pattern least-recently-used eviction serves worst. Under a cap below it, every step evicted the
 * buffers of the once-a-step kernels (the longest idle: the embedding lookup, clipping's g² of
 * wte's gradient, AdamW on wte) and reallocated them at their next call, and the evicted buffers'
 * destroys landed on the first kernel after each tidy (GPT-2 B4 T1024: 7.35 GiB live at peak; in
 * the profiled step on the H200 those single calls took 9–82 ms each against floors of µs). An
 * idle pool as large as the live peak holds the step's transients, so total device memory stays
 * within about twice the step's peak.
 */
export function webgpuCacheBytes(software: boolean): { bytes: number; grows: boolean } {
  const env = process.env.FLASHGRAD_GPU_CACHE_MB;
  const mb = Number(env ?? (software ? 256 : 4096));
  if (!Number.isFinite(mb) || mb < 0) throw new Error(`FLASHGRAD_GPU_CACHE_MB must be a number of MiB ≥ 0, got '${env}'`);
  return { bytes: mb * 2 ** 20, grows: env === undefined };
}

/**
 * Bytes of the wasm device's tensors that live in its arena (../wasm-arena), at most:
 * FLASHGRAD_WASM_ARENA_MB, default all of its 2 GiB but 512 MiB of working space for the GEMM.
 * 0 keeps every tensor a plain Float32Array, copied into the GEMM's memory at each matmul (the
 * device before the arena, kept to measure the two side by side).
 */
export function wasmArenaTensorBytes(): number {
  const env = process.env.FLASHGRAD_WASM_ARENA_MB;
  if (env === undefined) return DEFAULT_TENSOR_LIMIT;
  const mb = Number(env);
  if (!Number.isFinite(mb) || mb < 0) throw new Error(`FLASHGRAD_WASM_ARENA_MB must be a number of MiB ≥ 0, got '${env}'`);
  return mb * 2 ** 20;
}

/**
 * Idle host memory the wasm device keeps for its host loops' results when they are plain arrays
 * (past the arena's limit, or with the arena off; see GpujsEngine.hostArray), at most. A fresh Float32Array of 1 MiB cost ~1 ms here to write the first time (page faults of
 * new memory: `new Float32Array(294912)` plus one add loop 1.6 ms, the same loop into a used
 * array 0.4 ms), more than the loop itself; a GPT step's transients are a few tens of MiB.
 */
export const HOST_POOL_BYTES = 256 * 2 ** 20;

/**
 * Where a view (GpujsEngine.view) may start, in elements: 256 bytes, the largest
 * minStorageBufferOffsetAlignment WebGPU allows an adapter (webgpu binds a view at its offset),
 * and the same everywhere so that code tested on one mode runs on every other.
 */
export const VIEW_ALIGN = 64;

/** A compiled kernel with the spec it came from. */
interface Prepared {
  spec: KernelSpec;
  /** gpu.js settings, kept to build more instances of the kernel. */
  settings: Record<string, unknown>;
  kernel: GpujsKernel;
  /**
   * webgpu only: instances of this kernel whose output buffer is free. gpu.js's immutable mode
   * allocates a fresh GPU buffer at every call, which measured 0.35 ms at 4 MiB and 1.9 ms at
   * 64 MiB on an H100 against 0.03 and 0.18 ms for the kernel writing a reused one (exp, 1M and
   * 16M floats). So each instance owns one output buffer, a result keeps its instance until the
   * result is disposed, and the next call of the same key takes an idle instance, like a caching
   * allocator's free list.
   */
  idle: GpujsKernel[];
  /** Every live instance (the first is `kernel`), to destroy with the device. */
  instances: Set<GpujsKernel>;
  /** Whether its first run confirmed gpu.js kept it on the requested backend. */
  checked: boolean;
  /** The op's name for stats: the spec key's op field (and its sub-op for unary, binary, reduce). */
  label: string;
}

/** Launches per op label, and with `profile` on, the host time spent in them (wasm, cpu: the kernels' time). */
type OpStats = DeviceStats['byOp'][string];
type KeyStats = NonNullable<DeviceStats['byKey']>[string];

/**
 * webgpu: one-dimensional grids of at least this many threads run in workgroups of GRID_WORKGROUP
 * threads, not gpu.js's 64. An add of 6.3 M floats took 0.084 ms in workgroups of 64 and 0.044 in
 * 256s on the H200, 25 M floats 0.255 and 0.109 (examples/bench-elementwise-webgpu.js, BENCHMARKS.md
 * session 6); smaller grids keep 64, which spreads their few threads over more of the chip.
 */
export const WIDE_GRID = 65536;
export const GRID_WORKGROUP = 256;

/** The workgroup size the engine gives a kernel gpu.js would lay out itself, or null to leave it to gpu.js. */
export function gridWorkgroupSize(spec: KernelSpec, maxWorkgroupX: number | undefined): number[] | null {
  if (spec.workgroupSize || spec.dispatch || spec.output.length !== 1 || spec.output[0] < WIDE_GRID) return null;
  return maxWorkgroupX !== undefined && maxWorkgroupX >= GRID_WORKGROUP ? [GRID_WORKGROUP] : null;
}

function labelOf(key: string): string {
  const f = key.split(':');
  return f[0] === 'unary' || f[0] === 'binary' || f[0] === 'reduce' ? `${f[0]}.${f[1]}` : f[0];
}

/** A kernel argument: a buffer of this device, a host array (indices), or a scalar. */
export type Arg = GpujsBuffer | Float32Array | number;

const gpujsModeOf: Record<string, string> = { wasm: 'webasm', webgpu: 'webgpu', cpu: 'cpu', headlessgl: 'headlessgl' };

export class GpujsEngine {
  readonly name: string;
  readonly maxElements: number;
  /** Kernels compiled so far; a training loop with static shapes stops growing it after step 1. */
  compiledKernels = 0;
  /**
   * webgpu: kernel instances built so far, the first of each kernel included. A kernel gets another
   * instance when all of its outputs are still in use; after the first steps of a static loop it
   * stops growing (an instance whose buffer the idle cap frees is kept, not rebuilt).
   */
  kernelInstances = 0;
  /** Kernel launches since start or resetStats(): one counter increment per launch. */
  kernelCalls = 0;
  /**
   * Times every kernel on the host when set (benchmarks' breakdown); off by default. On webgpu each
   * kernel then waits for the GPU to finish it (serialising the queue), so the times are the kernels'.
   */
  profile = false;
  /**
   * webgpu, with `profile` on: each kernel call is run this many more times back to back after its
   * timed run, with one wait for the GPU at the end, and their mean goes to byKey's `replayMs`.
   * A lone call waited for pays a submit and a round trip to the host (0.1–0.6 ms on the H200)
   * and runs on a GPU that idles between calls (its clocks drop), so its time is not what the
   * kernel costs inside a step; replays queued behind each other are (inputs warm in the L2
   * excepted). A replay rewrites the call's own output from the same inputs: the same values.
   */
  profileReplays = 0;
  private byOp = new Map<string, OpStats>();
  /** Per spec key (kernel and shapes), filled only while profiling. */
  private byKey = new Map<string, KeyStats>();
  private readonly prepared = new Map<string, Prepared>();
  private readonly queue = new KernelQueue();
  protected readonly host: boolean;
  /** Kernel instances whose output buffers are reused (webgpu); see Prepared.idle. */
  private readonly pooled: boolean;
  /**
   * Idle pooled instances holding an output buffer (not the first of each key before its first
   * call, nor one whose buffer was released), longest idle first.
   */
  private readonly idleOrder = new Map<GpujsKernel, Prepared>();
  private idleBytes = 0;
  /** The idle cap; raised to liveHighWater when cacheGrows (see webgpuCacheBytes). */
  private cacheBytes: number;
  private readonly cacheGrows: boolean;
  /**
   * ArrayBuffers of disposed host-loop results, free for reuse, by byte length; only buffers
   * hostArray made (pooledMemory) come back here, never gpu.js's or the GEMM's arrays.
   */
  private readonly hostPool = new Map<number, ArrayBuffer[]>();
  private readonly pooledMemory = new WeakSet<ArrayBuffer>();
  private hostPoolBytes = 0;
  /** wasm: the shared memory its tensors, the GEMM and the SIMD kernels live in; made at first use. */
  private arenaInstance: WasmArena | null = null;
  private bytes = 0;
  private buffers = 0;
  private peakBytes = 0;
  /** The most bytes ever live at once (peakBytes, but never reset). */
  private liveHighWater = 0;

  constructor(protected readonly runtime: Runtime) {
    this.name = runtime.mode;
    this.maxElements = runtime.maxElements;
    this.host = hostResident(runtime.mode);
    this.pooled = runtime.mode === 'webgpu';
    const cache = this.pooled ? webgpuCacheBytes(runtime.software ?? false) : { bytes: 0, grows: false };
    this.cacheBytes = cache.bytes;
    this.cacheGrows = cache.grows;
  }

  get description(): string {
    return this.runtime.description;
  }

  /** The wasm device's arena (tests and benchmarks read its stats; poison), made at first use. */
  get wasmArena(): WasmArena {
    if (this.runtime.mode !== 'wasm') throw new Error(`gpujs ${this.name}: only the wasm device has an arena`);
    return (this.arenaInstance ??= new WasmArena({ tensorLimit: wasmArenaTensorBytes() }));
  }

  // ---------------------------------------------------------------- buffers and bookkeeping

  protected checkSize(n: number, what: string): void {
    if (!Number.isInteger(n) || n < 0) throw new Error(`gpujs ${this.name}: invalid buffer size ${n} (${what})`);
    if (n > this.maxElements) {
      throw new Error(`gpujs ${this.name}: ${what} needs a buffer of ${n} elements (${n * 4} bytes), over this device's ` +
        `limit of ${this.maxElements} elements (${this.maxElements * 4} bytes)`);
    }
  }

  private track(buf: GpujsBuffer): GpujsBuffer {
    this.bytes += buf.size * 4;
    this.buffers++;
    if (this.bytes > this.peakBytes) this.peakBytes = this.bytes;
    if (this.bytes > this.liveHighWater) {
      this.liveHighWater = this.bytes;
      if (this.cacheGrows && this.bytes > this.cacheBytes) this.cacheBytes = this.bytes;
    }
    return buf;
  }

  protected own(buf: DeviceBuffer): GpujsBuffer {
    if (!(buf instanceof GpujsBuffer) || buf.owner !== this) throw new Error(`gpujs ${this.name}: buffer belongs to another device`);
    if (buf.disposed) throw new Error(`gpujs ${this.name}: buffer used after dispose`);
    return buf;
  }

  protected hostBuffer(data: Float32Array): GpujsBuffer {
    const buf = new GpujsBuffer(data.length, this);
    buf.payload = data;
    return this.track(buf);
  }

  upload(data: ArrayLike<number>): DeviceBuffer {
    this.checkSize(data.length, 'upload');
    if (this.runtime.mode === 'wasm') {
      const values = this.hostArray(data.length);
      values.set(data);
      return this.hostBuffer(values);
    }
    const values = Float32Array.from(data);
    if (this.host || values.length === 0) return this.hostBuffer(values);
    return this.launch(`copy|${values.length}`, () => copySpec(values.length), [values]);
  }

  async read(buf: DeviceBuffer): Promise<Float32Array> {
    const b = this.own(buf);
    if (b.ready) await b.ready;
    if (b.error) throw b.error;
    const payload = b.payload;
    if (payload === null) throw new Error(`gpujs ${this.name}: buffer was freed before it was read`);
    if (payload instanceof Float32Array) return payload.slice();
    return flattenHost(await payload.toArray(), b.size);
  }

  async read64(buf: DeviceBuffer): Promise<Float64Array> {
    return Float64Array.from(await this.read(buf));
  }

  /**
   * Elements [offset, offset + size) of `buf` as a buffer of their own, without a copy or a kernel
   * call (Device.view): how a kernel with a packed result (the FlashAttention forward's O then L,
   * its dK/dV kernel's dK then dV) hands out its parts as tensors. `buf` stays allocated (and on
   * webgpu its kernel instance out of the pool, whose next call would overwrite it) until every
   * view of it is disposed too; a view adds a buffer to memory()'s count but no bytes.
   */
  view(buf: DeviceBuffer, offset: number, size: number): DeviceBuffer {
    const b = this.own(buf);
    if (!Number.isInteger(offset) || offset < 0 || offset % VIEW_ALIGN !== 0 || !Number.isInteger(size) || size < 1 || offset + size > b.size) {
      throw new Error(`gpujs ${this.name}: view of elements [${offset}, ${offset + size}) of a buffer of ${b.size}; ` +
        `it takes 1 or more elements inside the buffer, from an offset that is a multiple of ${VIEW_ALIGN}`);
    }
    if (this.runtime.mode === 'headlessgl') throw new Error(`gpujs ${this.name}: views of GL textures are not supported`);
    const view = new GpujsBuffer(size, this);
    view.parent = b;
    b.views++;
    this.buffers++;
    // behind the kernel that writes b, so its payload is there
    view.ready = this.queue.run(() => {
      if (b.error !== null) view.error = b.error;
      else view.payload = viewPayload(b.payload!, offset, size);
    });
    return view;
  }

  dispose(buf: DeviceBuffer): void {
    const b = this.own(buf);
    b.disposed = true;
    // a buffer with live views is freed by the last view's dispose
    if (b.views === 0) this.release(b);
  }

  private release(b: GpujsBuffer): void {
    this.buffers--;
    const parent = b.parent;
    if (parent) {
      // a view owns no memory: drop its handle behind the kernels that read it, then its parent
      this.queue.run(() => {
        if (b.payload && !(b.payload instanceof Float32Array)) b.payload.delete();
        b.payload = null;
      }, { essential: true });
      if (--parent.views === 0 && parent.disposed) this.release(parent);
      return;
    }
    this.bytes -= b.size * 4;
    // every kernel that reads b was launched before this call, so a kernel launched after it may
    // take b's instance and overwrite its buffer: the queue (and the GPU's) runs them in order
    if (b.recycle) {
      b.recycle();
      b.recycle = null;
    }
    // kernels queued before this call may still read it: free after them
    this.queue.run(() => this.free(b), { essential: true });
  }

  private free(b: GpujsBuffer): void {
    const payload = b.payload;
    b.payload = null;
    if (payload === null) return;
    if (!(payload instanceof Float32Array)) {
      payload.delete();
      return;
    }
    const arena = this.arenaInstance;
    if (arena && arena.addressOf(payload) >= 0) {
      // only the very view the arena made for a live block releases it: a stale one (its block
      // since handed to another tensor) is not that view, so it can never free a live tensor's memory
      arena.release(payload);
      return;
    }
    const mem = payload.buffer;
    if (!(mem instanceof ArrayBuffer) || !this.pooledMemory.has(mem) || this.hostPoolBytes + mem.byteLength > HOST_POOL_BYTES) return;
    let list = this.hostPool.get(mem.byteLength);
    if (!list) this.hostPool.set(mem.byteLength, (list = []));
    list.push(mem);
    this.hostPoolBytes += mem.byteLength;
  }

  /**
   * A Float32Array of n floats for a tensor's values on a host device (a host loop's result, the
   * GEMM's, an upload): on wasm a block of its arena, where the GEMM and the SIMD kernels read
   * and write it in place; past the arena's limit (or on cpu) a plain array, over the memory of
   * a disposed plain result of the same size where one is free. Contents are stale either way,
   * so a loop that does not write every element must clear it. Always a new array object:
   * gpu.js's immutableArguments skips the copy of an argument it has seen by object identity,
   * so a reused object would read as unchanged, while a new view over reused memory is copied
   * like any other.
   */
  protected hostArray(n: number): Float32Array {
    const inArena = this.runtime.mode === 'wasm' && n > 0 ? this.wasmArena.alloc(n) : null;
    if (inArena) return inArena;
    const mem = this.hostPool.get(n * 4)?.pop();
    if (mem) {
      this.hostPoolBytes -= mem.byteLength;
      return new Float32Array(mem);
    }
    const out = new Float32Array(n);
    this.pooledMemory.add(out.buffer as ArrayBuffer);
    return out;
  }

  /** Gives back an array from hostArray that no buffer took (its launch failed). */
  protected releaseHostArray(values: Float32Array): void {
    if (this.arenaInstance && this.arenaInstance.addressOf(values) >= 0) this.arenaInstance.release(values);
  }

  memory(): MemoryInfo {
    const arenaFree = this.arenaInstance?.stats().freeBytes ?? 0;
    return { bytes: this.bytes, buffers: this.buffers, peakBytes: this.peakBytes, cachedBytes: this.idleBytes + this.hostPoolBytes + arenaFree };
  }

  resetPeakMemory(): void {
    this.peakBytes = this.bytes;
  }

  stats(): DeviceStats {
    const byOp: Record<string, OpStats> = {};
    for (const [k, v] of [...this.byOp].sort((a, b) => b[1].calls - a[1].calls)) byOp[k] = { ...v };
    const stats: DeviceStats = { kernelCalls: this.kernelCalls, compiledKernels: this.compiledKernels, byOp };
    if (this.byKey.size > 0) {
      stats.byKey = {};
      for (const [k, v] of [...this.byKey].sort((a, b) => b[1].ms - a[1].ms)) stats.byKey[k] = { ...v };
    }
    return stats;
  }

  resetStats(): void {
    this.kernelCalls = 0;
    this.byOp.clear();
    this.byKey.clear();
  }

  async sync(): Promise<void> {
    await this.queue.drain();
    if (this.runtime.drain) await this.runtime.drain();
  }

  // ---------------------------------------------------------------- compiling and launching

  /**
   * The compiled kernel for `key`, building its spec and compiling it on first use only: the
   * steady state of a training loop is one Map lookup per op, no source strings.
   */
  private prepare(key: string, make: () => KernelSpec): Prepared {
    let p = this.prepared.get(key);
    if (p) return p;
    const spec = make();
    // shapes are part of the key, so one check per key covers every later call
    this.checkSize(spec.outSize, spec.key.split(':')[0]);
    const threaded = this.runtime.mode === 'wasm' && spec.work >= THREAD_WORK && spec.outSize >= 4096;
    const settings: Record<string, unknown> = {
      output: spec.output,
      pipeline: true,
      immutable: true,
      precision: 'single',
      // literal loop bounds everywhere; this only lifts GL's cap on data-dependent ones (scatter)
      loopMaxIterations: 1 << 24,
    };
    if (spec.returnType) settings.returnType = spec.returnType;
    if (spec.constants) settings.constants = spec.constants;
    // the workgroup settings go to gpu.js as they are; its non-webgpu modes refuse them by name
    if (spec.workgroupSize) settings.workgroupSize = spec.workgroupSize;
    const grid = this.runtime.mode === 'webgpu' ? gridWorkgroupSize(spec, this.runtime.maxWorkgroupX) : null;
    if (grid) settings.workgroupSize = grid;
    if (spec.dispatch) settings.dispatch = spec.dispatch;
    if (spec.workgroupArrays) settings.workgroupArrays = spec.workgroupArrays;
    if (spec.vec4Arguments) settings.vec4Arguments = spec.vec4Arguments;
    if (threaded) settings.asyncMode = true;
    // wasm: a weight or activation read by the same kernel call after call is not copied into
    // the kernel's memory again (gpu.js's immutableArguments). Exact because no host payload is
    // ever written after it is settled: kernel results are fresh arrays, uploads and fills copy,
    // per-call host arrays (indices) are new objects, and read() hands out copies. Code that
    // writes into a payload in place (a pooled output, a view of a shared memory) breaks this.
    if (this.runtime.mode === 'wasm') settings.immutableArguments = true;
    // pooled instances keep their output buffer from call to call (Prepared.idle)
    if (this.pooled) settings.immutable = false;
    const kernel = this.compile(spec, settings);
    p = { spec, settings, kernel, idle: [kernel], instances: new Set([kernel]), checked: false, label: labelOf(spec.key) };
    this.prepared.set(key, p);
    this.compiledKernels++;
    if (this.pooled) this.kernelInstances++;
    return p;
  }

  private compile(spec: KernelSpec, settings: Record<string, unknown>): GpujsKernel {
    try {
      return this.runtime.gpu.createKernel(spec.source, settings);
    } catch (err) {
      throw new Error(`gpujs ${this.name}: kernel ${spec.key} did not compile: ${(err as Error).message}\n${spec.source}`);
    }
  }

  /** An idle instance of `p` for one call, built when every instance's buffer is in use. */
  private takeInstance(p: Prepared): GpujsKernel {
    let kernel = p.idle.pop();
    if (!kernel) {
      kernel = this.compile(p.spec, p.settings);
      p.instances.add(kernel);
      this.kernelInstances++;
      return kernel;
    }
    if (this.idleOrder.delete(kernel)) this.idleBytes -= p.spec.outSize * 4;
    return kernel;
  }

  /**
   * Back to the free list once its result is disposed. Past cacheBytes the longest-idle instances
   * let go of their output buffers but stay compiled and on the free list: their next call only
   * allocates a buffer. (Destroying them instead meant recompiling the shader at that call: GPT-2's
   * step, whose 50257-wide logits overflow 4 GiB of idle buffers, rebuilt its once-a-step kernels
   * every step, a fifth of a second each at the largest.)
   */
  private giveBack(p: Prepared, kernel: GpujsKernel): void {
    p.idle.push(kernel);
    this.idleOrder.set(kernel, p);
    this.idleBytes += p.spec.outSize * 4;
    for (const [k, owner] of this.idleOrder) {
      if (this.idleBytes <= this.cacheBytes) break;
      this.idleOrder.delete(k);
      this.idleBytes -= owner.spec.outSize * 4;
      // released behind every queued kernel, which may still read the buffer; a call queued later
      // (this instance taken again) runs after it and allocates a fresh one
      this.queue.run(() => releaseOutput(k), { essential: true });
    }
  }

  /** gpu.js degrades some kernels to its cpu backend with only a console warning: refuse that. */
  private checkBackend(p: Prepared, kernel: GpujsKernel): void {
    const { spec } = p;
    const ran = kernel.kernel?.constructor?.mode;
    if (ran !== gpujsModeOf[this.name]) {
      throw new Error(`gpujs ${this.name}: kernel ${spec.key} fell back to gpu.js mode '${ran}'` +
        `${kernel.kernel?.fallbackReason ? ` (${kernel.kernel.fallbackReason})` : ''}; refusing a silent fallback`);
    }
    p.checked = true;
  }

  /** A disposed output is still stored: its free is queued behind every kernel that reads it. */
  private settle(out: GpujsBuffer, raw: unknown): void {
    out.payload = flatten(raw, out.size, this.host);
  }

  /** A profiled launch's clock: adds its time to its op label's books and its key's. */
  private profiled(op: OpStats, key: string): (ms: number) => void {
    const keyStats = this.keyStats(key);
    keyStats.calls++;
    return (ms) => {
      op.ms += ms;
      keyStats.ms += ms;
    };
  }

  private keyStats(key: string): KeyStats {
    let k = this.byKey.get(key);
    if (!k) this.byKey.set(key, (k = { calls: 0, ms: 0 }));
    return k;
  }

  /** profileReplays more runs of a built webgpu kernel on the same inputs, timed together (see profileReplays). */
  private async replay(kernel: GpujsKernel, key: string, values: unknown[]): Promise<void> {
    const inner = kernel.kernel;
    const drain = this.runtime.drain;
    if (this.profileReplays <= 0 || !drain || inner.runSync === undefined || inner.built !== true) return;
    const t0 = performance.now();
    for (let i = 0; i < this.profileReplays; i++) {
      // each run hands out another reference to the same output buffer: drop it at once
      (inner.runSync(...values) as { delete(): void }).delete();
    }
    await drain();
    const k = this.keyStats(key);
    k.replayMs = (k.replayMs ?? 0) + (performance.now() - t0) / this.profileReplays;
  }

  /**
   * Runs `spec` on `args` and returns its output handle at once. When the queue is idle and
   * gpu.js answers synchronously, the kernel has already run when this returns.
   */
  protected launch(key: string, make: () => KernelSpec, args: Arg[]): GpujsBuffer {
    const p = this.prepare(key, make);
    const { spec } = p;
    if (spec.outSize === 0) return this.hostBuffer(new Float32Array(0));
    const kernel = this.pooled ? this.takeInstance(p) : p.kernel;
    this.kernelCalls++;
    let op = this.byOp.get(p.label);
    if (!op) this.byOp.set(p.label, (op = { calls: 0, ms: 0 }));
    op.calls++;
    const profile = this.profile;
    const addTime = profile ? this.profiled(op, spec.key) : null;
    const inputs = args.filter((a): a is GpujsBuffer => a instanceof GpujsBuffer);
    const out = new GpujsBuffer(spec.outSize, this);
    if (this.pooled) out.recycle = () => this.giveBack(p, kernel);
    const task = (): void | Promise<void> => {
      const failed = inputs.find((b) => b.error !== null);
      if (failed) {
        out.error = failed.error;
        return;
      }
      const t0 = profile ? performance.now() : 0;
      const values = args.map((a) => (a instanceof GpujsBuffer ? a.payload : a));
      // a built webgpu kernel answers at once: no Promise, so the queue stays on its synchronous
      // path (except when profiling, which waits for the GPU after each kernel)
      const inner = kernel.kernel;
      const sync = !profile && inner.built === true && inner.runSync !== undefined;
      const raw = sync ? inner.runSync!(...values) : kernel(...values);
      if (!p.checked) this.checkBackend(p, kernel);
      if (isPromise(raw)) {
        // webgpu answers at submit: when profiling, wait for the GPU so the time is the kernel's
        const drain = profile ? this.runtime.drain : undefined;
        const done = drain ? raw.then(async (r) => (await drain(), r)) : raw;
        return done.then(async (r) => {
          this.settle(out, r);
          addTime?.(performance.now() - t0);
          if (profile) await this.replay(kernel, spec.key, values);
        }, (err: unknown) => {
          out.error = err;
        });
      }
      this.settle(out, raw);
      addTime?.(performance.now() - t0);
    };
    if (this.queue.idle && !profile) {
      // run now: errors surface at the call that caused them (not when profiling: a kernel run now
      // would be timed until the host next yields, that is over the building of the whole step)
      out.ready = this.queue.run(task);
    } else {
      out.ready = this.queue.run(() => {
        try {
          return task();
        } catch (err) {
          out.error = err;
        }
      }, { deferred: profile });
    }
    return this.track(out);
  }

  /**
   * Runs `compute` on the host payloads of `inputs` through the same in-order queue as the
   * kernels (host modes only: cpu, wasm): the wasm device's GEMM goes this way. `compute` returns
   * the output's `outSize` floats.
   */
  protected launchHost(label: string, outSize: number, inputs: GpujsBuffer[], compute: (payloads: Float32Array[]) => Float32Array): GpujsBuffer {
    if (!this.host) throw new Error(`gpujs ${this.name}: ${label} runs on the host, and this device's buffers are not host memory`);
    this.checkSize(outSize, label);
    this.kernelCalls++;
    let op = this.byOp.get(label);
    if (!op) this.byOp.set(label, (op = { calls: 0, ms: 0 }));
    op.calls++;
    const opStats = op;
    const profile = this.profile;
    const out = new GpujsBuffer(outSize, this);
    const task = (): void => {
      const failed = inputs.find((b) => b.error !== null);
      if (failed) {
        out.error = failed.error;
        return;
      }
      const t0 = profile ? performance.now() : 0;
      const result = compute(inputs.map((b) => b.payload as Float32Array));
      if (result.length !== outSize) throw new Error(`gpujs ${this.name}: ${label} returned ${result.length} values where ${outSize} were expected`);
      out.payload = result;
      if (profile) opStats.ms += performance.now() - t0;
    };
    out.ready = this.queue.idle ? this.queue.run(task) : this.queue.run(() => {
      try {
        task();
      } catch (err) {
        out.error = err;
      }
    });
    return this.track(out);
  }

  /** Frees every compiled kernel and the gpu.js instance (worker threads included). */
  async destroy(): Promise<void> {
    await this.sync();
    for (const p of this.prepared.values()) for (const k of p.instances) k.destroy();
    this.prepared.clear();
    this.idleOrder.clear();
    this.idleBytes = 0;
    this.hostPool.clear();
    this.hostPoolBytes = 0;
    await this.runtime.gpu.destroy();
  }
}

/** Frees a webgpu kernel's output buffer and keeps it compiled (the patched gpu.js's releaseOutputBuffer). */
function releaseOutput(kernel: GpujsKernel): void {
  const release = kernel.kernel.releaseOutputBuffer;
  if (!release) throw new Error('gpujs webgpu: this gpu.js has no releaseOutputBuffer (the patched gpu.js is required)');
  release.call(kernel.kernel);
}

