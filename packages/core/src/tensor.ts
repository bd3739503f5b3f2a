/**
 * Tensor: a shape, a reference-counted device buffer, and (when it was computed from tensors that
 * need gradients) the node that made it. Ops are synchronous and return new tensors; only reading
 * values back is async, because a GPU device computes behind an in-order queue. The chained op
 * methods (`a.add(b)`, `x.sum()`, …) are the op functions, attached by ops/methods.ts.
 */
import type { Device, DeviceBuffer, Shape } from './devices/device.js';
import { getDevice, startDevice, type DeviceName } from './devices/registry.js';
import { fmt, sizeOf } from './shape.js';
import { show } from './show.js';
import type { Node } from './autograd.js';

/**
 * Run before any value is read back (anomaly.ts sets it: a NaN's source is found before the value
 * is handed out). A hook, not an import, so that tensor.ts depends on nothing that uses Tensor.
 */
let beforeRead: (() => Promise<void>) | null = null;

export function setBeforeRead(hook: (() => Promise<void>) | null): void {
  beforeRead = hook;
}

/** One device buffer, shared by a tensor and its views (reshape); freed when the last one lets go. */
class Storage {
  private refs = 1;
  constructor(readonly device: Device, readonly buf: DeviceBuffer) {}
  retain(): this {
    this.refs++;
    return this;
  }
  release(): void {
    if (--this.refs === 0) this.device.dispose(this.buf);
  }
}

/** The safety net: a tensor that is garbage collected without dispose() still frees its buffer. */
const collected = new FinalizationRegistry<Storage>((storage) => storage.release());

/** tidy() scopes: every tensor made inside is disposed at the end unless returned or kept. */
const scopes: Set<Tensor>[] = [];

export type NestedArray = number | NestedArray[];

export class Tensor {
  readonly shape: readonly number[];
  readonly size: number;
  requiresGrad: boolean;
  /** Set by autograd when this tensor took part in a graph; null for leaves and constants. */
  node: Node | null = null;
  private storage: Storage | null;
  private gradient: Tensor | null = null;

  /** Wraps a buffer the device just produced (the tensor takes ownership), or shares a storage. */
  constructor(source: DeviceBuffer | Storage, shape: Shape, device: Device = getDevice(), requiresGrad = false) {
    this.shape = Object.freeze([...shape]);
    this.size = sizeOf(shape);
    this.storage = source instanceof Storage ? source.retain() : new Storage(device, source);
    if (this.storage.buf.size !== this.size) {
      throw new Error(`Tensor: buffer of ${this.storage.buf.size} elements cannot have shape ${fmt(shape)}`);
    }
    this.requiresGrad = requiresGrad;
    collected.register(this, this.storage, this);
    scopes.at(-1)?.add(this);
  }

  get device(): Device {
    return this.live('device').device;
  }

  get ndim(): number {
    return this.shape.length;
  }

  get isDisposed(): boolean {
    return this.storage === null;
  }

  /** The device buffer; throws naming `op` if this tensor was disposed. */
  buffer(op = 'buffer'): DeviceBuffer {
    return this.live(op).buf;
  }

  private live(op: string): Storage {
    if (!this.storage) throw new Error(`${op}: tensor of shape ${fmt(this.shape)} was used after dispose()`);
    return this.storage;
  }

  /** A tensor of another shape over the same buffer (reshape of contiguous data is free). */
  shareStorage(shape: Shape): Tensor {
    return new Tensor(this.live('reshape'), shape);
  }

  get grad(): Tensor | null {
    return this.gradient;
  }

  set grad(g: Tensor | null) {
    if (g !== null && !(g instanceof Tensor)) throw new Error(`grad: a gradient must be a Tensor or null, got ${show(g)}`);
    if (g && g.shape.join() !== this.shape.join()) {
      throw new Error(`grad: gradient of shape ${fmt(g.shape)} does not match tensor of shape ${fmt(this.shape)}`);
    }
    if (this.gradient && this.gradient !== g) this.gradient.dispose();
    this.gradient = g ? keep(g) : null;
  }

  /**
   * Replaces this tensor's values with src's (shapes must match), keeping its identity: how
   * optimizers update parameters and checkpoints load them, since buffers are immutable.
   */
  assign(src: Tensor): this {
    if (src.shape.join() !== this.shape.join()) {
      throw new Error(`assign: source of shape ${fmt(src.shape)} does not match tensor of shape ${fmt(this.shape)}`);
    }
    const next = src.live('assign');
    if (next.device !== this.live('assign').device) throw new Error(`assign: source lives on ${next.device.name}, tensor on ${this.device.name}`);
    collected.unregister(this);
    this.storage!.release();
    this.storage = next.retain();
    collected.register(this, this.storage, this);
    return this;
  }

  /** Frees the buffer now. Later use is an error; disposing twice is a no-op. */
  dispose(): void {
    if (!this.storage) return;
    collected.unregister(this);
    this.storage.release();
    this.storage = null;
    this.node = null;
  }

  async data(): Promise<Float32Array> {
    if (beforeRead) await beforeRead();
    const s = this.live('data');
    return s.device.read(s.buf);
  }

  /** Values at the device's own precision: float64 on the reference device. */
  async data64(): Promise<Float64Array> {
    if (beforeRead) await beforeRead();
    const s = this.live('data64');
    return s.device.read64(s.buf);
  }

  async item(): Promise<number> {
    if (this.size !== 1) throw new Error(`item: tensor of shape ${fmt(this.shape)} has ${this.size} elements, not 1`);
    return (await this.data())[0];
  }

  async toArray(): Promise<NestedArray> {
    const flat = Array.from(await this.data());
    const build = (dim: number, offset: number): NestedArray => {
      if (dim === this.shape.length) return flat[offset];
      const step = sizeOf(this.shape.slice(dim + 1));
      return Array.from({ length: this.shape[dim] }, (_, i) => build(dim + 1, offset + i * step));
    };
    return build(0, 0);
  }

  /** A copy on another device (values cross as float32). */
  async to(name: DeviceName): Promise<Tensor> {
    const values = await this.data();
    const device = await startDevice(name);
    return new Tensor(device.upload(values), this.shape, device, this.requiresGrad);
  }

  /** Same values, cut from the graph. */
  detach(): Tensor {
    return this.shareStorage(this.shape);
  }

  toString(): string {
    return `Tensor(shape=${fmt(this.shape)}, device=${this.storage?.device.name ?? 'disposed'}${this.requiresGrad ? ', requiresGrad' : ''})`;
  }
}

/** Marks a tensor to survive the tidy() scopes it was made in. */
export function keep<T extends Tensor>(t: T): T {
  for (const scope of scopes) scope.delete(t);
  return t;
}

/**
 * Runs fn and disposes every tensor it made, except those it returns (a tensor, or an array or
 * object of them) and those passed to keep(). Gradients assigned to `.grad` are kept. If fn
 * throws, everything it made (and did not keep) is disposed before the error propagates.
 */
export function tidy<T>(fn: () => T): T {
  if (typeof fn !== 'function') throw new Error(`tidy: expected a function, got ${show(fn)}`);
  const scope = new Set<Tensor>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (err) {
    // a failed scope frees what it made too, or a loop that catches errors leaks every pass
    scopes.pop();
    for (const t of scope) t.dispose();
    throw err;
  }
  scopes.pop();
  if (result instanceof Promise) {
    // what it made before its first await is freed now, and its rest fails later with 'used after
    // dispose()': say so here (its own rejection is then only that consequence, silenced)
    result.catch(() => {});
    for (const t of scope) t.dispose();
    throw new Error('tidy: fn returned a Promise; tidy is synchronous (await outside it, and tidy each synchronous part)');
  }
  const survivors = new Set<Tensor>();
  collectTensors(result, survivors);
  for (const t of scope) {
    if (survivors.has(t)) scopes.at(-1)?.add(t);
    else t.dispose();
  }
  return result;
}

function collectTensors(value: unknown, into: Set<Tensor>): void {
  if (value instanceof Tensor) into.add(value);
  else if (Array.isArray(value)) value.forEach((v) => collectTensors(v, into));
  else if (value && typeof value === 'object' && !(value instanceof Promise)) {
    Object.values(value).forEach((v) => collectTensors(v, into));
  }
}

export { Storage };
