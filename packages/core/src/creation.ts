/** Making tensors: from values, constants, ranges, random draws, and ndarray interop. */
import ndarray, { type NdArray } from 'ndarray';
import { Tensor, type NestedArray } from './tensor.js';
import { getDevice } from './devices/registry.js';
import { assertValidShape, fmt, sizeOf, stridesOf } from './shape.js';
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

function inferShape(value: NestedArray): number[] {
  const shape: number[] = [];
  let v = value;
  while (Array.isArray(v)) {
    shape.push(v.length);
    v = v[0];
  }
  return shape;
}

/** A tensor from nested arrays or a flat typed array (with `shape`, else 1-D). */
export function tensor(values: NestedArray | ArrayLike<number>, options: TensorOptions = {}): Tensor {
  const nested = typeof values === 'number' || Array.isArray(values);
  const inferred = nested ? inferShape(values as NestedArray) : [values.length];
  const flat = nested ? [values as NestedArray].flat(Infinity as 1) as number[] : (values as ArrayLike<number>);
  const shape = options.shape ?? inferred;
  assertValidShape('tensor', shape);
  if (nested && flat.length !== sizeOf(inferred)) throw new Error(`tensor: ragged nested array, expected shape ${fmt(inferred)}`);
  if (sizeOf(shape) !== flat.length) {
    throw new Error(`tensor: ${flat.length} values cannot have shape ${fmt(shape)}`);
  }
  // typed arrays hold numbers by construction; only nested arrays need the check
  if (nested && (flat as number[]).some((v) => typeof v !== 'number')) throw new Error('tensor: values must be numbers');
  return make(flat, shape, options.requiresGrad);
}

export function full(shape: readonly number[], value: number, options: { requiresGrad?: boolean } = {}): Tensor {
  assertValidShape('full', shape);
  const device = getDevice();
  return new Tensor(device.fill(sizeOf(shape), value), shape, device, options.requiresGrad ?? false);
}

export const zeros = (shape: readonly number[], options?: { requiresGrad?: boolean }): Tensor => full(shape, 0, options);
export const ones = (shape: readonly number[], options?: { requiresGrad?: boolean }): Tensor => full(shape, 1, options);

/** Normal draws from the seeded generator (manualSeed). */
export function randn(shape: readonly number[], options: { mean?: number; std?: number; requiresGrad?: boolean } = {}): Tensor {
  assertValidShape('randn', shape);
  return make(fillNormal(new Float32Array(sizeOf(shape)), options.mean, options.std), shape, options.requiresGrad);
}

/** Uniform draws in [low, high) from the seeded generator. */
export function rand(shape: readonly number[], options: { low?: number; high?: number; requiresGrad?: boolean } = {}): Tensor {
  assertValidShape('rand', shape);
  return make(fillUniform(new Float32Array(sizeOf(shape)), options.low, options.high), shape, options.requiresGrad);
}

/** start, start+step, … below end (one argument: 0 … end−1). */
export function arange(start: number, end?: number, step = 1): Tensor {
  if (end === undefined) [start, end] = [0, start];
  if (step === 0 || !Number.isFinite(step)) throw new Error(`arange: step must be a non-zero number, got ${step}`);
  const n = Math.max(0, Math.ceil((end - start) / step));
  return make(Float32Array.from({ length: n }, (_, i) => start + i * step), [n]);
}

/** Copies an ndarray (any strides) into a new tensor. */
export function fromNdarray(array: NdArray, options: { requiresGrad?: boolean } = {}): Tensor {
  const shape = array.shape;
  const out = new Float64Array(sizeOf(shape));
  const index = new Array<number>(shape.length).fill(0);
  for (let i = 0; i < out.length; i++) {
    out[i] = array.get(...index);
    for (let d = shape.length - 1; d >= 0 && ++index[d] === shape[d]; d--) index[d] = 0;
  }
  return make(out, shape, options.requiresGrad);
}

/** The tensor's values as a dense row-major ndarray (float32, or float64 from the reference device). */
export async function toNdarray(t: Tensor): Promise<NdArray<Float32Array | Float64Array>> {
  const data = t.device.precision === 'float64' ? await t.data64() : await t.data();
  return ndarray(data, [...t.shape], stridesOf(t.shape));
}
