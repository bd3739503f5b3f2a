/**
 * The Device contract over gpu.js: turns each op into a kernel spec (kernels/*.ts), compiles it
 * once per spec key, launches it through the in-order queue, and keeps the books (live bytes,
 * buffers, peak). Results stay where gpu.js put them (pipeline: true, immutable: true): host
 * Float32Arrays on cpu/wasm, GPU buffers on webgpu, textures on headlessgl.
 */
import type {
  AdamWHyper, BinaryOp, Device, DeviceBuffer, MemoryInfo, Operand, ReduceOp, Shape, UnaryOp,
} from '../device.js';
import { adamwSpecs, binarySpec, copySpec, fillSpec, unarySpec, whereSpec, type OperandShape } from './kernels/elementwise.js';
import {
  WASM_COLS4_UNROLL, WASM_ROWS4_UNROLL, matmulGeometry, matmulRows4Spec, matmulSpec, preferRows4, unpackRows4Spec,
} from './kernels/matmul.js';
import { gatherRowsSpec, oneHotSpec, padSpec, scatterAddRowsSpec, scatterRuns, stridedSpec } from './kernels/movement.js';
import {
  MAX_SERIAL, reducePassSpec, reducePlan, rowDotSpec, softmaxApplySpec, softmaxBackwardApplySpec, softmaxStatsSpec,
} from './kernels/reduce.js';
import { prod, type KernelSpec } from './kernels/spec.js';
import { flatten, flattenHost, hostResident } from './payload.js';
import { GpujsBuffer, KernelQueue, isPromise, type Payload } from './queue.js';
import type { GpujsKernel, Runtime } from './runtime.js';

/**
 * Work (in scalar ops, KernelSpec.work) above which a wasm kernel runs on gpu.js's worker pool.
 * Measured on 2 cores: a plain add of 1M floats is slower threaded (copies dominate: 12.9 ms vs
 * 6.6 ms) while exp over 65K floats already gains (1.6 ms vs 2.1 ms) and a 512² matmul gains
 * ~1.4×; below this the postMessage round trip (~0.2 ms) costs more than it saves.
 */
export const THREAD_WORK = 1_500_000;

/** A compiled kernel with the spec it came from. */
interface Prepared {
  spec: KernelSpec;
  kernel: GpujsKernel;
  /** Whether its first run confirmed gpu.js kept it on the requested backend. */
  checked: boolean;
}

/** A kernel argument: a buffer of this device, a host array (indices), or a scalar. */
type Arg = GpujsBuffer | Float32Array | number;

const gpujsModeOf: Record<string, string> = { wasm: 'webasm', webgpu: 'webgpu', cpu: 'cpu', headlessgl: 'headlessgl' };

export class GpujsDevice implements Device {
  readonly name: string;
  readonly maxElements: number;
  /** Kernels compiled so far; a training loop with static shapes stops growing it after step 1. */
  compiledKernels = 0;
  private readonly prepared = new Map<string, Prepared>();
  private readonly queue = new KernelQueue();
  private readonly host: boolean;
  private bytes = 0;
  private buffers = 0;
  private peakBytes = 0;

  constructor(private readonly runtime: Runtime) {
    this.name = runtime.mode;
    this.maxElements = runtime.maxElements;
    this.host = hostResident(runtime.mode);
  }

  get description(): string {
    return this.runtime.description;
  }

  // ---------------------------------------------------------------- buffers and bookkeeping

  private checkSize(n: number, what: string): void {
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
    return buf;
  }

  private own(buf: DeviceBuffer): GpujsBuffer {
    if (!(buf instanceof GpujsBuffer) || buf.owner !== this) throw new Error(`gpujs ${this.name}: buffer belongs to another device`);
    if (buf.disposed) throw new Error(`gpujs ${this.name}: buffer used after dispose`);
    return buf;
  }

  private hostBuffer(data: Float32Array): GpujsBuffer {
    const buf = new GpujsBuffer(data.length, this);
    buf.payload = data;
    return this.track(buf);
  }

  upload(data: ArrayLike<number>): DeviceBuffer {
    this.checkSize(data.length, 'upload');
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

  dispose(buf: DeviceBuffer): void {
    const b = this.own(buf);
    b.disposed = true;
    this.bytes -= b.size * 4;
    this.buffers--;
    // kernels queued before this call may still read it: free after them
    this.queue.run(() => free(b));
  }

  memory(): MemoryInfo {
    return { bytes: this.bytes, buffers: this.buffers, peakBytes: this.peakBytes };
  }

  resetPeakMemory(): void {
    this.peakBytes = this.bytes;
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
    if (threaded) settings.asyncMode = true;
    let kernel: GpujsKernel;
    try {
      kernel = this.runtime.gpu.createKernel(spec.source, settings);
    } catch (err) {
      throw new Error(`gpujs ${this.name}: kernel ${spec.key} did not compile: ${(err as Error).message}\n${spec.source}`);
    }
    p = { spec, kernel, checked: false };
    this.prepared.set(key, p);
    this.compiledKernels++;
    return p;
  }

  /** gpu.js degrades some kernels to its cpu backend with only a console warning: refuse that. */
  private checkBackend(p: Prepared): void {
    const { spec, kernel } = p;
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

  /**
   * Runs `spec` on `args` and returns its output handle at once. When the queue is idle and
   * gpu.js answers synchronously, the kernel has already run when this returns.
   */
  private launch(key: string, make: () => KernelSpec, args: Arg[]): GpujsBuffer {
    const p = this.prepare(key, make);
    const { spec, kernel } = p;
    if (spec.outSize === 0) return this.hostBuffer(new Float32Array(0));
    const inputs = args.filter((a): a is GpujsBuffer => a instanceof GpujsBuffer);
    const out = new GpujsBuffer(spec.outSize, this);
    const task = (): void | Promise<void> => {
      const failed = inputs.find((b) => b.error !== null);
      if (failed) {
        out.error = failed.error;
        return;
      }
      const raw = kernel(...args.map((a) => (a instanceof GpujsBuffer ? a.payload : a)));
      if (!p.checked) this.checkBackend(p);
      if (isPromise(raw)) {
        return raw.then((r) => this.settle(out, r), (err: unknown) => {
          out.error = err;
        });
      }
      this.settle(out, raw);
    };
    if (this.queue.idle) {
      // run now: errors surface at the call that caused them
      out.ready = this.queue.run(task);
    } else {
      out.ready = this.queue.run(() => {
        try {
          return task();
        } catch (err) {
          out.error = err;
        }
      });
    }
    return this.track(out);
  }

  private operand(o: Operand): { shape: OperandShape; arg: Arg; key: string } {
    if (typeof o === 'number') return { shape: 'scalar', arg: o, key: 's' };
    const b = this.own(o.buf);
    if (b.size !== prod(o.shape)) throw new Error(`gpujs ${this.name}: operand of shape [${o.shape}] has ${b.size} elements`);
    return { shape: o.shape, arg: b, key: `[${o.shape}]` };
  }

  // ---------------------------------------------------------------- the ops

  fill(size: number, value: number): DeviceBuffer {
    this.checkSize(size, 'fill');
    if (this.host || size === 0) return this.hostBuffer(new Float32Array(size).fill(value));
    return this.launch(`fill|${size}`, () => fillSpec(size), [value]);
  }

  unary(op: UnaryOp, x: DeviceBuffer): DeviceBuffer {
    const b = this.own(x);
    return this.launch(`u|${op}|${b.size}`, () => unarySpec(op, b.size, this.runtime.mode), [b]);
  }

  binary(op: BinaryOp, a: Operand, b: Operand, outShape: Shape): DeviceBuffer {
    const A = this.operand(a);
    const B = this.operand(b);
    return this.launch(`b|${op}|${A.key}|${B.key}|${outShape}`, () => binarySpec(op, A.shape, B.shape, outShape), [A.arg, B.arg]);
  }

  where(cond: Operand, a: Operand, b: Operand, outShape: Shape): DeviceBuffer {
    const C = this.operand(cond);
    const A = this.operand(a);
    const B = this.operand(b);
    return this.launch(`w|${C.key}|${A.key}|${B.key}|${outShape}`, () => whereSpec(C.shape, A.shape, B.shape, outShape), [C.arg, A.arg, B.arg]);
  }

  reduce(op: ReduceOp, x: DeviceBuffer, shape: Shape, axes: readonly number[]): DeviceBuffer {
    const b = this.own(x);
    if (b.size !== prod(shape)) throw new Error(`gpujs ${this.name}: reduce of [${shape}] given ${b.size} elements`);
    const outSize = prod(shape.map((d, k) => (axes.includes(k) ? 1 : d)));
    if (b.size === 0) return this.fill(outSize, op === 'sum' ? 0 : -Infinity);
    const passes = reducePlan(shape, axes);
    // nothing to reduce (only size-1 axes): the result is a copy, as every op returns a new buffer
    if (passes.length === 0) return this.binary('add', { buf: b, shape: [b.size] }, 0, [b.size]);
    let cur = b;
    for (const p of passes) {
      const next = this.launch(`r|${op}|${p.outer}|${p.R}|${p.inner}|${p.chunk}`, () => reducePassSpec(op, p), [cur]);
      if (cur !== b) this.dispose(cur);
      cur = next;
    }
    return cur;
  }

  matmul(
    a: DeviceBuffer, aShape: Shape, b: DeviceBuffer, bShape: Shape,
    transA: boolean, transB: boolean, batch: Shape,
  ): DeviceBuffer {
    const A = this.own(a);
    const B = this.own(b);
    const { M, K, N, count } = matmulGeometry(aShape, bShape, transA, transB, batch);
    if (K === 0) return this.fill(count * M * N, 0);
    if (K <= MAX_SERIAL) {
      const wasm = this.runtime.mode === 'wasm';
      if (wasm && preferRows4(M)) {
        const packed = this.launch(`m4|${aShape}|${bShape}|${transA}|${transB}|${batch}`,
          () => matmulRows4Spec(aShape, bShape, transA, transB, batch, undefined, WASM_ROWS4_UNROLL), [A, B]);
        const out = this.launch(`m4u|${count}|${M}|${N}`, () => unpackRows4Spec(count, M, N), [packed]);
        this.dispose(packed);
        return out;
      }
      return this.launch(`m|${aShape}|${bShape}|${transA}|${transB}|${batch}`,
        () => matmulSpec(aShape, bShape, transA, transB, batch, undefined, wasm ? WASM_COLS4_UNROLL : 1), [A, B]);
    }
    // split-K: partial products over slices of K, summed pairwise (see MAX_SERIAL for why)
    const slices = Math.ceil(K / MAX_SERIAL);
    const len = Math.ceil(K / slices);
    let parts: GpujsBuffer[] = [];
    for (let k0 = 0; k0 < K; k0 += len) {
      parts.push(this.launch(`mk|${aShape}|${bShape}|${transA}|${transB}|${batch}|${k0}|${len}`, () => matmulSpec(aShape, bShape, transA, transB, batch, [k0, Math.min(len, K - k0)]), [A, B]));
    }
    const shape = [count * M * N];
    while (parts.length > 1) {
      const next: GpujsBuffer[] = [];
      for (let i = 0; i + 1 < parts.length; i += 2) {
        next.push(this.binary('add', { buf: parts[i], shape }, { buf: parts[i + 1], shape }, shape) as GpujsBuffer);
        this.dispose(parts[i]);
        this.dispose(parts[i + 1]);
      }
      if (parts.length % 2 === 1) next.push(parts[parts.length - 1]);
      parts = next;
    }
    return parts[0];
  }

  strided(x: DeviceBuffer, outShape: Shape, strides: readonly number[], offset: number): DeviceBuffer {
    const b = this.own(x);
    return this.launch(`s|${b.size}|${outShape}|${strides}|${offset}`, () => stridedSpec(b.size, outShape, strides, offset), [b]);
  }

  pad(x: DeviceBuffer, shape: Shape, outShape: Shape, starts: readonly number[]): DeviceBuffer {
    const b = this.own(x);
    if (b.size === 0) return this.fill(prod(outShape), 0);
    return this.launch(`p|${shape}|${outShape}|${starts}`, () => padSpec(shape, outShape, starts), [b]);
  }

  gatherRows(table: DeviceBuffer, cols: number, indices: Int32Array): DeviceBuffer {
    const t = this.own(table);
    return this.launch(`g|${t.size}|${cols}|${indices.length}`, () => gatherRowsSpec(t.size, cols, indices.length), [t, Float32Array.from(indices)]);
  }

  scatterAddRows(src: DeviceBuffer, cols: number, indices: Int32Array, rows: number): DeviceBuffer {
    const s = this.own(src);
    if (s.size === 0) return this.fill(rows * cols, 0);
    const { start, order } = scatterRuns(indices, rows);
    return this.launch(`sc|${s.size}|${cols}|${indices.length}|${rows}`, () => scatterAddRowsSpec(s.size, cols, indices.length, rows), [s, start, order]);
  }

  oneHot(indices: Int32Array, depth: number): DeviceBuffer {
    return this.launch(`oh|${indices.length}|${depth}`, () => oneHotSpec(indices.length, depth), [Float32Array.from(indices)]);
  }

  softmax(x: DeviceBuffer, rows: number, cols: number): DeviceBuffer {
    const b = this.own(x);
    if (rows * cols === 0) return this.fill(0, 0);
    // the fused stats kernel loops twice over a row; long rows go through split reductions
    if (2 * cols > MAX_SERIAL) return this.softmaxLongRows(b, rows, cols);
    const stats = this.launch(`sm|${rows}|${cols}`, () => softmaxStatsSpec(rows, cols, this.runtime.mode), [b]);
    const y = this.launch(`sma|${rows}|${cols}`, () => softmaxApplySpec(rows, cols, this.runtime.mode), [b, stats]);
    this.dispose(stats);
    return y;
  }

  softmaxBackward(y: DeviceBuffer, dy: DeviceBuffer, rows: number, cols: number): DeviceBuffer {
    const Y = this.own(y);
    const dY = this.own(dy);
    if (rows * cols === 0) return this.fill(0, 0);
    let dot: GpujsBuffer;
    if (cols <= MAX_SERIAL) {
      dot = this.launch(`rd|${rows}|${cols}`, () => rowDotSpec(rows, cols), [Y, dY]);
    } else {
      const shape = [rows, cols];
      const prodYdY = this.binary('mul', { buf: Y, shape }, { buf: dY, shape }, shape);
      dot = this.reduce('sum', prodYdY, shape, [1]) as GpujsBuffer;
      this.dispose(prodYdY);
    }
    const dx = this.launch(`smb|${rows}|${cols}`, () => softmaxBackwardApplySpec(rows, cols), [Y, dY, dot]);
    this.dispose(dot);
    return dx;
  }

  /** softmax from primitives: max, subtract, exp, sum, divide, each reduction split as needed. */
  private softmaxLongRows(x: GpujsBuffer, rows: number, cols: number): DeviceBuffer {
    const shape = [rows, cols];
    const m = this.reduce('max', x, shape, [1]);
    const shifted = this.binary('sub', { buf: x, shape }, { buf: m, shape: [rows, 1] }, shape);
    const e = this.unary('exp', shifted);
    const s = this.reduce('sum', e, shape, [1]);
    const y = this.binary('div', { buf: e, shape }, { buf: s, shape: [rows, 1] }, shape);
    for (const t of [m, shifted, e, s]) this.dispose(t);
    return y;
  }

  adamw(
    param: DeviceBuffer, grad: DeviceBuffer, m: DeviceBuffer, v: DeviceBuffer, h: AdamWHyper,
  ): { param: DeviceBuffer; m: DeviceBuffer; v: DeviceBuffer } {
    const P = this.own(param);
    const G = this.own(grad);
    const M0 = this.own(m);
    const V0 = this.own(v);
    const n = P.size;
    if (n === 0) return { param: this.fill(0, 0), m: this.fill(0, 0), v: this.fill(0, 0) };
    const m2 = this.launch(`am|${n}`, () => adamwSpecs(n).m, [M0, G, h.beta1]);
    const v2 = this.launch(`av|${n}`, () => adamwSpecs(n).v, [V0, G, h.beta2]);
    // bias corrections in float64 on the host, once per step
    const c1 = 1 - h.beta1 ** h.step;
    const c2 = 1 - h.beta2 ** h.step;
    const p2 = this.launch(`ap|${n}`, () => adamwSpecs(n).param, [P, m2, v2, h.lr, 1 - h.lr * h.weightDecay, c1, c2, h.eps]);
    return { param: p2, m: m2, v: v2 };
  }

  /** Frees every compiled kernel and the gpu.js instance (worker threads included). */
  async destroy(): Promise<void> {
    await this.sync();
    for (const p of this.prepared.values()) p.kernel.destroy();
    this.prepared.clear();
    await this.runtime.gpu.destroy();
  }
}

function release(payload: Payload): void {
  if (!(payload instanceof Float32Array)) payload.delete();
}

function free(b: GpujsBuffer): void {
  if (b.payload !== null) release(b.payload);
  b.payload = null;
}
