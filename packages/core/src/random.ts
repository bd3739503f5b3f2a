/**
 * One seeded generator for every random op, so `manualSeed(n)` makes runs reproducible on every
 * device. Initialisation and sampling draw on the host; dropout draws one seed here and each
 * device expands it with the counter-based hash below, identically on every device.
 */
import { show } from './show.js';

/**
 * mulberry32 (Tommy Ettinger): small, fast and good enough for initialisation, dropout, batches
 * and sampling; 32 bits of state, which makes save/restore a single number.
 */
export class Mulberry32 {
  constructor(public state: number) {
    this.state = state >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
}

const stream = new Mulberry32(0x2545f491);

export function manualSeed(seed: number): void {
  if (!Number.isFinite(seed)) throw new Error(`manualSeed: seed must be a finite number, got ${seed}`);
  stream.state = (Math.floor(seed) ^ 0x9e3779b9) >>> 0;
}

export function getRngState(): number {
  return stream.state;
}

/** Restores a state from getRngState (an integer in [0, 2³²)): 'x', NaN or 2⁴⁰ were silently state 0. */
export function setRngState(s: number): void {
  if (typeof s !== 'number' || !Number.isInteger(s) || s < 0 || s >= 2 ** 32) {
    throw new Error(`setRngState: state must be an integer in [0, 2^32) as getRngState returns it, got ${show(s)}`);
  }
  stream.state = s >>> 0;
}

/** A draw in [0, 1) from the global stream. */
export function randomUniform(): number {
  return stream.next();
}

export function fillUniform(out: Float32Array, low = 0, high = 1): Float32Array {
  for (let i = 0; i < out.length; i++) {
    // a draw within 2⁻²⁵ of 1 rounds up to `high` in float32: draw again to keep [low, high)
    do out[i] = low + (high - low) * randomUniform();
    while (out[i] >= high && high > low);
  }
  return out;
}

/** A dropout call's seed: two draws from the stream, a 48-bit integer (exact in a double). */
export function dropoutSeed(): number {
  return Math.floor(randomUniform() * 2 ** 24) * 2 ** 24 + Math.floor(randomUniform() * 2 ** 24);
}

/** Dropout drops element i when dropoutHash24(seed, i) < dropoutThreshold(p): P = round(p·2²⁴)/2²⁴. */
export function dropoutThreshold(p: number): number {
  return Math.round(p * 2 ** 24);
}

/**
 * 24 random bits for element i of a dropout call: Mueller's hash32 (x ^= x >>> 16; x *= 0x45d9f3b;
 * twice; x ^= x >>> 16) of i ^ (the seed's high 24 bits), with its low 24 bits added after the first
 * multiply. A seed entering only as i ^ s would make two calls' masks permutations of each other
 * whenever their seeds agree above log2(n) bits; added mid-hash, it gives no such relation.
 * int32 operations only — the logical shift is an arithmetic one masked to 16 bits, since WGSL's
 * i32 has none — so gpu.js's WGSL, wasm and JavaScript kernels (kernels/random.ts) compute the
 * same bits, and a mask is recomputed from its seed rather than stored.
 */
export function dropoutHash24(seed: number, i: number): number {
  const [hi, lo] = splitSeed(seed);
  const mix = (x: number) => x ^ ((x >> 16) & 0xffff);
  const x = mix(Math.imul(mix((Math.imul(mix(i ^ hi), 0x45d9f3b) + lo) | 0), 0x45d9f3b));
  return (x >> 8) & 0xffffff;
}

/** A 48-bit seed's high and low 24 bits. */
export const splitSeed = (seed: number): [number, number] => [Math.floor(seed / 2 ** 24), seed % 2 ** 24];

/** Box–Muller, two normals per pair of uniforms. */
export function fillNormal(out: Float32Array, mean = 0, std = 1): Float32Array {
  for (let i = 0; i < out.length; i += 2) {
    const u = 1 - randomUniform();
    const r = Math.sqrt(-2 * Math.log(u));
    const theta = 2 * Math.PI * randomUniform();
    out[i] = mean + std * r * Math.cos(theta);
    if (i + 1 < out.length) out[i + 1] = mean + std * r * Math.sin(theta);
  }
  return out;
}
