/**
 * The safetensors format (huggingface/safetensors), F32 and F64, so our checkpoints open in Python
 * (`safetensors.numpy.load_file`) and theirs open here:
 *
 *   [8 bytes: N, u64 little-endian][N bytes: JSON header, space-padded to a multiple of 8][data]
 *
 * The header maps each name to { dtype, shape, data_offsets: [begin, end] } (byte offsets into
 * the data section) plus an optional "__metadata__" of string → string. Data is little-endian and
 * must be covered exactly, without holes or overlaps (the reference reader rejects anything else).
 * Values are copied as bytes, never through JS numbers, so NaN payloads survive a round trip.
 */

export interface F32Tensor {
  shape: number[];
  /** Float32Array is stored as F32; Float64Array as F64 (a float64 device's exact values). */
  data: Float32Array | Float64Array;
}

const DTYPES = { F32: Float32Array, F64: Float64Array } as const;

export interface Safetensors {
  tensors: Record<string, F32Tensor>;
  metadata: Record<string, string>;
}

const METADATA_KEY = '__metadata__';
/** The reference implementation's cap; protects against allocating on a corrupt length. */
const MAX_HEADER_BYTES = 100_000_000;

// Float32Array uses the host's byte order and the format is little-endian; every platform Node
// supports today is little-endian, so we check once instead of swapping bytes everywhere.
if (new Uint8Array(new Float32Array([1]).buffer)[3] !== 0x3f) {
  throw new Error('safetensors: big-endian hosts are not supported');
}

function fail(why: string): never {
  throw new Error(`readSafetensors: ${why}`);
}

function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function isShape(s: unknown): s is number[] {
  return Array.isArray(s) && s.every((d) => Number.isSafeInteger(d) && d >= 0);
}

export function writeSafetensors(
  tensors: Record<string, F32Tensor>,
  metadata?: Record<string, string>,
): Uint8Array {
  // a null-prototype object: names such as "__proto__" stay plain keys
  const header: Record<string, unknown> = Object.create(null);
  if (metadata && Object.keys(metadata).length > 0) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new Error(`writeSafetensors: metadata "${k}" must be a string, got ${typeof v}`);
    }
    header[METADATA_KEY] = metadata;
  }
  let offset = 0;
  const entries = Object.entries(tensors);
  for (const [name, { shape, data }] of entries) {
    if (name === METADATA_KEY) throw new Error(`writeSafetensors: "${METADATA_KEY}" is reserved, not a tensor name`);
    if (!isShape(shape)) throw new Error(`writeSafetensors: tensor "${name}" has an invalid shape ${JSON.stringify(shape)}`);
    if (!(data instanceof Float32Array || data instanceof Float64Array)) {
      throw new Error(`writeSafetensors: tensor "${name}" data must be a Float32Array or a Float64Array`);
    }
    if (numel(shape) !== data.length) {
      throw new Error(
        `writeSafetensors: tensor "${name}" has shape [${shape.join(', ')}] (${numel(shape)} values) but ${data.length} values`,
      );
    }
    header[name] = { dtype: data instanceof Float64Array ? 'F64' : 'F32', shape, data_offsets: [offset, offset + data.byteLength] };
    offset += data.byteLength;
  }

  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8; // keeps the data section 8-byte aligned
  const out = new Uint8Array(8 + padded + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + padded);
  let pos = 8 + padded;
  for (const [, { data }] of entries) {
    out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), pos);
    pos += data.byteLength;
  }
  return out;
}

export function readSafetensors(bytes: Uint8Array): Safetensors {
  // a string's length read as bytes said 'truncated file'; a Promise (unawaited readFile) made DataView throw
  if (!(bytes instanceof Uint8Array)) {
    const name = bytes !== null && typeof bytes === 'object' ? (bytes as object).constructor?.name ?? 'object' : null;
    const what = bytes === null ? 'null' : name ? `${/^[AEIO]/.test(name) ? 'an' : 'a'} ${name}` : typeof bytes; // a Uint16Array, an Int32Array
    throw new Error(`readSafetensors: expected the file's bytes as a Uint8Array (or Buffer), got ${what}${what === 'a Promise' ? ' (await it first)' : ''}`);
  }
  if (bytes.length < 8) fail(`truncated file: ${bytes.length} bytes, shorter than the 8-byte header length`);
  const n = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES)) fail(`header length ${n} is implausibly large (corrupt file?)`);
  const headerLen = Number(n);
  if (8 + headerLen > bytes.length) {
    fail(`truncated file: header says ${headerLen} header bytes but only ${bytes.length - 8} follow`);
  }

  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLen)));
  } catch (e) {
    fail(`bad header: not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) fail('bad header: not a JSON object');

  const data = bytes.subarray(8 + headerLen);
  // null prototypes: names such as "__proto__" (legal in the format) stay plain keys
  const metadata: Record<string, string> = Object.create(null);
  const tensors: Record<string, F32Tensor> = Object.create(null);
  const spans: [number, number, string][] = [];
  for (const [name, info] of Object.entries(header as Record<string, unknown>)) {
    if (name === METADATA_KEY) {
      if (typeof info !== 'object' || info === null) fail('bad header: __metadata__ is not an object');
      for (const [k, v] of Object.entries(info as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`bad header: __metadata__ "${k}" is not a string`);
        metadata[k] = v as string;
      }
      continue;
    }
    const { dtype, shape, data_offsets: offsets } = (info ?? {}) as Record<string, unknown>;
    if (typeof dtype !== 'string') fail(`bad header: tensor "${name}" has no dtype`);
    if (dtype !== 'F32' && dtype !== 'F64') fail(`unsupported dtype ${JSON.stringify(dtype)} for tensor "${name}" (only F32 and F64 are supported)`);
    const ArrayType = DTYPES[dtype];
    if (!isShape(shape)) fail(`bad header: tensor "${name}" has an invalid shape ${JSON.stringify(shape)}`);
    if (!isShape(offsets) || offsets.length !== 2) {
      fail(`bad header: tensor "${name}" has invalid data_offsets ${JSON.stringify(offsets)}`);
    }
    const [begin, end] = offsets;
    if (end < begin || end - begin !== numel(shape) * ArrayType.BYTES_PER_ELEMENT) {
      fail(`bad header: tensor "${name}" data_offsets [${begin}, ${end}] do not match shape [${shape.join(', ')}] of ${dtype}`);
    }
    if (end > data.length) fail(`truncated file: tensor "${name}" ends at data byte ${end} but the data section has ${data.length}`);
    // Copy: the tensor's bytes need not be 4-byte aligned within `bytes`, and the caller may reuse it.
    const values = new ArrayType(numel(shape));
    new Uint8Array(values.buffer).set(data.subarray(begin, end));
    tensors[name] = { shape, data: values };
    spans.push([begin, end, name]);
  }

  spans.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let covered = 0;
  for (const [begin, end, name] of spans) {
    if (begin !== covered) fail(`bad header: tensor "${name}" starts at byte ${begin}, expected ${covered} (hole or overlap)`);
    covered = end;
  }
  if (covered !== data.length) fail(`bad file: tensors cover ${covered} data bytes but the file has ${data.length}`);
  return { tensors, metadata };
}
