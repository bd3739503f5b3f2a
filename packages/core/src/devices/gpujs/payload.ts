/**
 * Turning what a gpu.js kernel returns into a flat buffer of `size` floats. Kernels with a 2D/3D
 * output or an Array(n) return give nested arrays (cpu, webasm) or a handle shaped like the
 * output (webgpu); every other kernel indexes its inputs flat, so we flatten once here — for free
 * where the nesting is only views of one contiguous array.
 */
import type { GpujsMode } from './runtime.js';
import type { Payload, ResidentPayload } from './queue.js';

export const hostResident = (mode: GpujsMode | string): boolean => mode === 'cpu' || mode === 'wasm';

/** The pipeline handle of gpu.js's webgpu backend (src/backend/web-gpu/buffer-result.js). */
interface WebGPUHandle extends ResidentPayload {
  buffer: unknown;
  output: number[];
  componentCount: number;
  /** Where its values start in `buffer`, in bytes (our gpu.js patch; 0 when absent). */
  offset?: number;
  context: unknown;
  kernel: unknown;
  constructor: new (settings: object) => WebGPUHandle;
}

const isWebGPUHandle = (x: unknown): x is WebGPUHandle =>
  typeof x === 'object' && x !== null && (x as { type?: unknown }).type === 'WebGPUBuffer';

function firstLeaf(x: unknown): Float32Array | null {
  let cur = x;
  while (Array.isArray(cur)) cur = cur[0];
  return cur instanceof Float32Array ? cur : null;
}

function copyNested(x: unknown, out: Float32Array, at: number): number {
  if (x instanceof Float32Array || (Array.isArray(x) && typeof x[0] === 'number')) {
    out.set(x as ArrayLike<number>, at);
    return at + (x as ArrayLike<number>).length;
  }
  if (Array.isArray(x)) {
    for (const item of x) at = copyNested(item, out, at);
    return at;
  }
  out[at] = x as number;
  return at + 1;
}

/** Host arrays: nested results of one kernel, copied flat unless they already are one array. */
export function flattenHost(raw: unknown, size: number): Float32Array {
  if (raw instanceof Float32Array && raw.length === size) return raw;
  const leaf = firstLeaf(raw);
  // webasm builds nested results as subarray views of one fresh array: view it whole
  if (leaf && leaf.byteOffset === 0 && leaf.buffer.byteLength === size * 4 && !(leaf.buffer instanceof SharedArrayBuffer)) {
    return new Float32Array(leaf.buffer, 0, size);
  }
  const out = new Float32Array(size);
  const end = copyNested(raw, out, 0);
  if (end !== size) throw new Error(`gpujs: kernel returned ${end} values where ${size} were expected`);
  return out;
}

export function flatten(raw: unknown, size: number, host: boolean): Payload {
  if (host || raw instanceof Float32Array || Array.isArray(raw)) return flattenHost(raw, size);
  if (isWebGPUHandle(raw)) {
    if (raw.output.length === 1 && raw.componentCount === 1) return raw;
    // same storage, viewed as [size] scalars: a new handle adds a reference to the GPU buffer,
    // deleting the shaped one drops its own, so the buffer lives exactly as long as the flat one
    const flat = new raw.constructor({
      buffer: raw.buffer, output: [size], componentCount: 1, context: raw.context, kernel: raw.kernel,
    });
    raw.delete();
    return flat;
  }
  const texture = raw as ResidentPayload & { output?: number[] };
  if (texture.output && texture.output.length === 1) return texture;
  // a shaped GL texture would need 2D indexing downstream: bring it back to the host instead
  // (correct but slow; headlessgl is not a speed path)
  const values = flattenHost(texture.toArray(), size);
  texture.delete();
  return values;
}

/**
 * Values [offset, offset + size) of a settled payload, sharing its memory: a subarray of a host
 * array, or a second handle on a webgpu buffer (a reference of its own, bound and read from
 * its byte offset as `size` floats). GL textures have no such view.
 */
export function viewPayload(payload: Payload, offset: number, size: number): Payload {
  if (payload instanceof Float32Array) return payload.subarray(offset, offset + size);
  if (!isWebGPUHandle(payload)) throw new Error('gpujs: a view of a GL texture is not supported');
  return new payload.constructor({
    buffer: payload.buffer, output: [size], componentCount: 1, context: payload.context, kernel: payload.kernel,
    offset: (payload.offset ?? 0) + 4 * offset,
  });
}
