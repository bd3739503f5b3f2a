/**
 * A small WebAssembly bytecode writer: just the opcodes the GEMM module uses, each a function
 * returning its bytes, and `wasmModule` to put functions into a module that imports one shared
 * memory. Code is written as nested arrays of bytes (`flat` joins them), so a function body reads
 * top to bottom like the WAT it stands for. Encodings: the WebAssembly core spec (§5) and the SIMD
 * and relaxed-SIMD proposals.
 */
export type Code = number | Code[];

export function flat(code: Code): number[] {
  const out: number[] = [];
  const walk = (c: Code) => (Array.isArray(c) ? c.forEach(walk) : out.push(c));
  walk(code);
  return out;
}

export function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

export function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    const done = (n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0);
    out.push(done ? byte : byte | 0x80);
    if (done) return out;
  }
}

export const I32 = 0x7f;
export const V128 = 0x7b;
const VOID = 0x40;

// control
export const block = (...body: Code[]): Code => [0x02, VOID, body, 0x0b];
export const loop = (...body: Code[]): Code => [0x03, VOID, body, 0x0b];
export const if_ = (cond: Code, then: Code[], otherwise?: Code[]): Code =>
  [cond, 0x04, VOID, then, otherwise ? [0x05, otherwise] : [], 0x0b];
export const brIf = (depth: number, cond: Code): Code => [cond, 0x0d, ...uleb(depth)];
export const call = (fn: number, ...args: Code[]): Code => [args, 0x10, ...uleb(fn)];

// locals
export const get = (i: number): Code => [0x20, ...uleb(i)];
export const set = (i: number, v: Code): Code => [v, 0x21, ...uleb(i)];

// i32
export const i32 = (n: number): Code => [0x41, ...sleb(n | 0)];
const bin = (op: number) => (a: Code, b: Code): Code => [a, b, op];
export const eq = bin(0x46);
export const ltS = bin(0x48);
export const add = bin(0x6a);
export const sub = bin(0x6b);
export const mul = bin(0x6c);
export const and = bin(0x71);
/** Signed minimum, through `select`. */
export const minS = (a: number, b: number): Code => [get(a), get(b), get(a), get(b), 0x48, 0x1b];
export const select = (ifTrue: Code, ifFalse: Code, cond: Code): Code => [ifTrue, ifFalse, cond, 0x1b];

// f32 scalars (memarg: alignment log2, byte offset)
export const f32 = (x: number): Code => {
  const b = new Uint8Array(new Float32Array([x]).buffer);
  return [0x43, ...b];
};
export const f32Load = (addr: Code, offset = 0): Code => [addr, 0x2a, 2, ...uleb(offset)];
export const f32Store = (addr: Code, v: Code, offset = 0): Code => [addr, v, 0x38, 2, ...uleb(offset)];
export const f32Add = bin(0x92);

// SIMD128 (prefix 0xfd, then the opcode as a u32 LEB)
const simd = (op: number) => [0xfd, ...uleb(op)];
export const v128Load = (addr: Code, offset = 0): Code => [addr, simd(0x00), 4, ...uleb(offset)];
export const v128Load32Splat = (addr: Code, offset = 0): Code => [addr, simd(0x09), 2, ...uleb(offset)];
export const v128Store = (addr: Code, v: Code, offset = 0): Code => [addr, v, simd(0x0b), 4, ...uleb(offset)];
export const v128Zero = (): Code => [simd(0x0c), new Array(16).fill(0)];
export const f32x4Add = (a: Code, b: Code): Code => [a, b, simd(0xe4)];
export const f32x4Mul = (a: Code, b: Code): Code => [a, b, simd(0xe6)];
/** a·b + c, fused or not as the hardware likes (relaxed SIMD). */
export const f32x4RelaxedMadd = (a: Code, b: Code, c: Code): Code => [a, b, c, simd(0x105)];

/** One function: parameter types, extra locals' types, a body, and an export name (or none). */
export interface WasmFunction {
  params: number[];
  locals: number[];
  body: Code;
  exportAs?: string;
}

const section = (id: number, payload: number[]): number[] => [id, ...uleb(payload.length), ...payload];
const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
const name = (s: string): number[] => {
  const bytes = [...new TextEncoder().encode(s)];
  return [...uleb(bytes.length), ...bytes];
};

/**
 * A module of `fns` (no results: every function writes memory) importing `env.memory`, shared,
 * with `pages` as its minimum and `maxPages` its maximum. Function indices are array positions.
 */
export function wasmModule(fns: WasmFunction[], pages: number, maxPages: number): Uint8Array<ArrayBuffer> {
  const types = fns.map((f) => [0x60, ...uleb(f.params.length), ...f.params, 0]);
  // shared memory with a maximum: limits flag 3
  const memory = [...name('env'), ...name('memory'), 0x02, 0x03, ...uleb(pages), ...uleb(maxPages)];
  const exports = fns.flatMap((f, i) => (f.exportAs ? [[...name(f.exportAs), 0x00, ...uleb(i)]] : []));
  const bodies = fns.map((f) => {
    const locals = f.locals.length ? [...uleb(f.locals.length), ...f.locals.flatMap((t) => [1, t])] : [0];
    const code = [...locals, ...flat(f.body), 0x0b];
    return [...uleb(code.length), ...code];
  });
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec(types)),
    ...section(2, vec([memory])),
    ...section(3, vec(fns.map((_, i) => uleb(i)))),
    ...section(7, vec(exports)),
    ...section(10, vec(bodies)),
  ]);
}
