/** Making tensors: from values, constants, ranges, random draws, and ndarray interop. */
import ndarray, { type NdArray } from 'ndarray';
import { Tensor, type NestedArray } from './tensor.js';
import { getDevice } from './devices/registry.js';
import { fmt, sizeOf, stridesOf } from './shape.js';
import { checkBoolean, checkNumber, checkOptions, checkShape, checkSize, nestedShape, show } from './validate.js';
import { fillNormal, fillUniform } from './random.js';

export interface TensorOptions {
  shape?: readonly number[];
  requiresGrad?: boolean;
}

function make(values: ArrayLike<number>, shape: readonly number[], requiresGrad = false): Tensor {
  const device = getDevice();
  if (values.length > device.maxElements) {
    throw new Error(`tensor: ${values.length} elements (${fmt(shape)}) exceed the ${device.name} device's limit of ${device.maxElements}`);
  }
  return new Tensor(device.upload(values), shape, device, requiresGrad);
}

/**
 * A creation op's options: known keys only (`{ requiresgrad: true }` would make a tensor that needs
 * no gradient) and requiresGrad a boolean; returns requiresGrad.
 */
function creationOptions(op: string, options: { requiresGrad?: boolean } | undefined, keys: readonly string[]): boolean {
  checkOptions(op, options, [...keys, 'requiresGrad']);
  return checkBoolean(op, 'requiresGrad', options?.requiresGrad) ?? false;
}

/** The shape argument of a creation op, and its size checked against the device before any allocation. */
function creationShape(op: string, shape: unknown): number[] {
  const dims = checkShape(op, shape);
  const device = getDevice();
  checkSize(op, dims, device.maxElements, device.name);
  return dims;
}

/** A tensor from nested arrays or a flat typed array (with `shape`, else 1-D). */
export function tensor(values: NestedArray | ArrayLike<number>, options: TensorOptions = {}): Tensor {
  const nested = typeof values === 'number' || Array.isArray(values);
  const typed = ArrayBuffer.isView(values) && !(values instanceof DataView);
  if (!nested && !typed) {
    throw new Error(`tensor: values must be a number, nested arrays of numbers or a typed array, got ${show(values)}`);
  }
  const requiresGrad = creationOptions('tensor', options, ['shape']);
  const inferred = nested ? nestedShape('tensor', values) : [(values as ArrayLike<number>).length];
  const flat = nested ? [values as NestedArray].flat(Infinity as 1) as number[] : (values as ArrayLike<number>);
  const shape = options.shape === undefined ? inferred : checkShape('tensor', options.shape);
  if (sizeOf(shape) !== flat.length) {
    throw new Error(`tensor: ${flat.length} values cannot have shape ${fmt(shape)}`);
  }
  return make(flat, shape, requiresGrad);
}

export function full(shape: readonly number[], value: number, options: { requiresGrad?: boolean } = {}): Tensor {
  const dims = creationShape('full', shape);
  const requiresGrad = creationOptions('full', options, []);
  // NaN and ±Infinity are values a tensor may hold; a string or undefined is a mistake
  checkNumber('full', 'value', value, { nonFinite: true });
  const device = getDevice();
  return new Tensor(device.fill(sizeOf(dims), value), dims, device, requiresGrad);
}

export const zeros = (shape: readonly number[], options?: { requiresGrad?: boolean }): Tensor => full(shape, 0, options);
export const ones = (shape: readonly number[], options?: { requiresGrad?: boolean }): Tensor => full(shape, 1, options);

/** Normal draws from the seeded generator (manualSeed). */
export function randn(shape: readonly number[], options: { mean?: number; std?: number; requiresGrad?: boolean } = {}): Tensor {
  shape = creationShape('randn', shape);
  const requiresGrad = creationOptions('randn', options, ['mean', 'std']);
  if (options.mean !== undefined) checkNumber('randn', 'mean', options.mean);
  if (options.std !== undefined) checkNumber('randn', 'std', options.std, { min: 0 });
  return make(fillNormal(new Float32Array(sizeOf(shape)), options.mean, options.std), shape, requiresGrad);
}

/** Uniform draws in [low, high) from the seeded generator. */
export function rand(shape: readonly number[], options: { low?: number; high?: number; requiresGrad?: boolean } = {}): Tensor {
  shape = creationShape('rand', shape);
  const requiresGrad = creationOptions('rand', options, ['low', 'high']);
  if (options.low !== undefined) checkNumber('rand', 'low', options.low);
  if (options.high !== undefined) checkNumber('rand', 'high', options.high);
  const [low, high] = [options.low ?? 0, options.high ?? 1];
  // low > high drew from (high, low] instead (PyTorch's uniform_ refuses it too)
  if (low > high) throw new Error(`rand: low ${low} is above high ${high}`);
  return make(fillUniform(new Float32Array(sizeOf(shape)), options.low, options.high), shape, requiresGrad);
}

/** start, start+step, … below end (one argument: 0 … end−1). */
export function arange(start: number, end?: number, step = 1): Tensor {
  if (end === undefined) [start, end] = [0, start];
  checkNumber('arange', 'start', start);
  checkNumber('arange', 'end', end);
  if (step === 0 || typeof step !== 'number' || !Number.isFinite(step)) throw new Error(`arange: step must be a non-zero finite number, got ${show(step)}`);
  const n = Math.max(0, Math.ceil((end - start) / step));
  const device = getDevice();
  checkSize('arange', [n], device.maxElements, device.name);
  return make(Float32Array.from({ length: n }, (_, i) => start + i * step), [n]);
}

/** Copies an ndarray (any strides) into a new tensor. */
export function fromNdarray(array: NdArray, options: { requiresGrad?: boolean } = {}): Tensor {
  const requiresGrad = creationOptions('fromNdarray', options, []);
  const shape = array.shape;
  const out = new Float64Array(sizeOf(shape));
  const index = new Array<number>(shape.length).fill(0);
  for (let i = 0; i < out.length; i++) {
    out[i] = array.get(...index);
    for (let d = shape.length - 1; d >= 0 && ++index[d] === shape[d]; d--) index[d] = 0;
  }
  return make(out, shape, requiresGrad);
}

/** The tensor's values as a dense row-major ndarray (float32, or float64 from the reference device). */
export async function toNdarray(t: Tensor): Promise<NdArray<Float32Array | Float64Array>> {
  const data = t.device.precision === 'float64' ? await t.data64() : await t.data();
  return ndarray(data, [...t.shape], stridesOf(t.shape));
}
