/**
 * Checks of public arguments, called at the entry points before any work: a wrong type or range
 * is an Error naming the op, the argument and the value, never a raw TypeError from deep inside,
 * a silent truncation (1.9 → token 1, 2^32 + 3 → 3) or an allocation of gigabytes that fails later.
 */
import { fmt } from './shape.js';
import { Tensor } from './tensor.js';
import { show } from './show.js';

export { show };

/** A number in a range: `checkNumber('AdamW', 'weightDecay', wd, { min: 0 })`. NaN and ±Infinity fail unless `nonFinite`. */
export function checkNumber(
  op: string, name: string, v: unknown, rule: { min?: number; max?: number; below?: number; integer?: boolean; nonFinite?: boolean } = {},
): number {
  const ok = typeof v === 'number' && (rule.nonFinite || Number.isFinite(v))
    && (!rule.integer || Number.isInteger(v)) && (rule.min === undefined || v >= rule.min)
    && (rule.max === undefined || v <= rule.max) && (rule.below === undefined || v < rule.below);
  if (!ok) {
    const parts = [rule.integer ? 'an integer' : rule.nonFinite ? 'a number' : 'a finite number'];
    if (rule.min !== undefined) parts.push(`≥ ${rule.min}`);
    if (rule.max !== undefined) parts.push(`≤ ${rule.max}`);
    if (rule.below !== undefined) parts.push(`< ${rule.below}`);
    throw new Error(`${op}: ${name} must be ${parts.join(' ')}, got ${show(v)}`);
  }
  return v as number;
}

/**
 * An options object of known keys: a typo (`{ requiresgrad: true }`, `{ shap: [2] }`) would
 * otherwise be ignored and the call would quietly do something else.
 */
export function checkOptions(op: string, options: unknown, keys: readonly string[]): void {
  if (options === undefined) return;
  if (options === null || typeof options !== 'object' || Array.isArray(options)) throw new Error(`${op}: options must be an object, got ${show(options)}`);
  for (const key of Object.keys(options)) {
    if (!keys.includes(key)) throw new Error(`${op}: unknown option ${JSON.stringify(key)}; the options are ${keys.join(', ')}`);
  }
}

/** A drop probability: a number in [0, 1) ('0.5' is no number, though it passes a range test). */
export function checkDropoutP(op: string, p: unknown): number {
  if (typeof p !== 'number' || !(p >= 0 && p < 1)) throw new Error(`${op}: p must be a number in [0, 1), got ${show(p)}`);
  return p;
}

export function checkBoolean(op: string, name: string, v: unknown): boolean | undefined {
  if (v !== undefined && typeof v !== 'boolean') throw new Error(`${op}: ${name} must be true or false, got ${show(v)}`);
  return v as boolean | undefined;
}

/** A shape argument (or another list of sizes, `name`d): an array of non-negative integers (a typed array is fine), copied. */
export function checkShape(op: string, shape: unknown, name = 'shape'): number[] {
  const arrayLike = Array.isArray(shape) || (ArrayBuffer.isView(shape) && !(shape instanceof DataView));
  if (!arrayLike) throw new Error(`${op}: ${name} must be an array of non-negative integers, got ${show(shape)}`);
  const dims = Array.from(shape as ArrayLike<unknown>);
  dims.forEach((d, i) => {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      throw new Error(`${op}: dimension ${i} of the ${name} must be a non-negative integer, got ${show(d)}`);
    }
  });
  return dims as number[];
}

/** The element count of a shape against a device's limit, before anything is allocated. */
export function checkSize(op: string, shape: readonly number[], limit: number, deviceName: string): number {
  let n = 1;
  for (const d of shape) n *= d;
  if (n > limit) {
    throw new Error(`${op}: shape ${fmt(shape)} has ${n} elements, more than the ${deviceName} device's limit of ${limit} per tensor`);
  }
  return n;
}

/**
 * Nested arrays of numbers: their shape, refusing ragged rows, non-numbers and non-arrays at any
 * depth (`[[1, 2], [3, [4]]]` is ragged, not [2, 2]).
 */
export function nestedShape(op: string, value: unknown): number[] {
  const shape: number[] = [];
  for (let v = value; Array.isArray(v); v = v[0]) shape.push(v.length);
  const walk = (v: unknown, depth: number, path: string): void => {
    if (depth === shape.length) {
      if (typeof v !== 'number') {
        throw new Error(`${op}: values must be numbers, got ${show(v)} at ${path || 'the top'}${Array.isArray(v) ? ` (ragged: expected shape ${fmt(shape)})` : ''}`);
      }
      return;
    }
    if (!Array.isArray(v) || v.length !== shape[depth]) {
      throw new Error(`${op}: ragged nested array: ${path || 'the top'} is ${show(v)}, expected an array of ${shape[depth]} (shape ${fmt(shape)})`);
    }
    for (let i = 0; i < v.length; i++) walk(v[i], depth + 1, `${path}[${i}]`);
  };
  walk(value, 0, '');
  return shape;
}

/**
 * Integer ids in [0, bound), checked as given (never through Int32Array first, which would turn
 * 1.9 into 1 and 2^32 + 3 into 3): `what` names them in the error ("index", "token id").
 */
export function checkIds(op: string, what: string, values: ArrayLike<unknown>, bound: number): Int32Array {
  const out = new Int32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (typeof v !== 'number' || !Number.isInteger(v)) throw new Error(`${op}: ${what} ${show(v)} at position ${i} is not an integer`);
    if (v < 0 || v >= bound) throw new Error(`${op}: ${what} ${v} at position ${i} is out of range [0, ${bound})`);
    out[i] = v;
  }
  return out;
}

/** Host-side integer indices (ops/indexing.ts's Indices), structurally typed here to keep this file free of op imports. */
export interface HostIndices {
  readonly data: Int32Array;
  readonly shape: readonly number[];
}

/** Indices as an array (nested, rectangular), a typed array, or { data, shape }; each id checked in [0, bound). */
export function checkIndices(op: string, x: unknown, bound: number, what = 'index'): HostIndices {
  if (Array.isArray(x)) {
    const shape = nestedShape(op, x);
    return { data: checkIds(op, what, x.flat(Infinity) as unknown[], bound), shape };
  }
  if (ArrayBuffer.isView(x) && !(x instanceof DataView)) {
    const values = x as unknown as ArrayLike<number>;
    return { data: checkIds(op, what, values, bound), shape: [values.length] };
  }
  const isRecord = x !== null && typeof x === 'object' && 'data' in x && 'shape' in x;
  if (!isRecord || (x as { constructor?: { name?: string } }).constructor?.name === 'Tensor') {
    throw new Error(
      `${op}: ${what} values must be host integers (an array, an Int32Array or { data, shape }), got ${show(x)}` +
        (x !== null && typeof x === 'object' && (x as object).constructor?.name === 'Tensor' ? '; read a tensor with await t.data() first' : ''),
    );
  }
  const { data, shape } = x as { data: unknown; shape: unknown };
  const dims = checkShape(op, shape);
  const values = Array.isArray(data) || (ArrayBuffer.isView(data) && !(data instanceof DataView)) ? (data as ArrayLike<unknown>) : null;
  if (!values) throw new Error(`${op}: ${what} data must be an array or a typed array, got ${show(data)}`);
  const n = dims.reduce((a, b) => a * b, 1);
  if (values.length !== n) throw new Error(`${op}: ${values.length} ${what} values cannot have shape ${fmt(dims)}`);
  return { data: checkIds(op, what, values, bound), shape: dims };
}

/** A tensor argument (`concat([t, 3])` names the element instead of failing on `3.ndim`). */
export function checkTensor(op: string, name: string, v: unknown): Tensor {
  if (!(v instanceof Tensor)) throw new Error(`${op}: ${name} must be a Tensor, got ${show(v)}`);
  return v;
}

/** reshape's target: integers ≥ 0 and at most one −1, which must be inferable (as PyTorch: not with a 0-size dim). */
export function checkReshapeTarget(op: string, shape: unknown, size: number, from: readonly number[]): number[] {
  const arrayLike = Array.isArray(shape) || (ArrayBuffer.isView(shape) && !(shape instanceof DataView));
  if (!arrayLike) throw new Error(`${op}: shape must be an array of integers, got ${show(shape)}`);
  const dims = Array.from(shape as ArrayLike<unknown>);
  dims.forEach((d, i) => {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < -1) throw new Error(`${op}: dimension ${i} of ${fmt(dims as number[])} must be an integer ≥ 0 or -1, got ${show(d)}`);
  });
  const target = dims as number[];
  if (target.filter((d) => d === -1).length > 1) throw new Error(`${op}: only one dimension may be -1, got ${fmt(target)}`);
  const known = target.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
  if (target.includes(-1) && known === 0) {
    throw new Error(`${op}: cannot view tensor of shape ${fmt(from)} (${size} elements) as ${fmt(target)}: the -1 is ambiguous next to a 0-size dimension, it could be any size`);
  }
  return target;
}
