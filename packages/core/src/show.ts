// Its own module, importing nothing, so that the lowest ones (shape.ts, tensor.ts, random.ts) can
// name a bad argument as validate.ts does.

/** A class name with its article: an Int32Array, an ArrayBuffer, a Uint8Array, a Promise. */
const named = (name: string): string => `${/^[AEIO]/.test(name) ? 'an' : 'a'} ${name}`;

/** A short description of any value for an error message. */
export function show(v: unknown): string {
  if (v === undefined) return 'undefined';
  if (v === null) return 'null';
  if (typeof v === 'number') return Object.is(v, -0) ? '-0' : String(v);
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v);
  if (typeof v === 'function') return 'a function';
  if (ArrayBuffer.isView(v)) return `${named(v.constructor.name)} of ${(v as unknown as ArrayLike<number>).length}`;
  if (Array.isArray(v)) return `an array of ${v.length}`;
  const name = (v as object).constructor?.name;
  return name && name !== 'Object' ? named(name) : typeof v === 'object' ? 'an object' : typeof v;
}
