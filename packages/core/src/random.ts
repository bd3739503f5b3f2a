/**
 * One seeded generator for every random op, so `manualSeed(n)` makes runs reproducible on every
 * device: random numbers are drawn on the host and uploaded, never generated per device.
 */
let state = 0x2545f491;

export function manualSeed(seed: number): void {
  if (!Number.isFinite(seed)) throw new Error(`manualSeed: seed must be a finite number, got ${seed}`);
  state = (Math.floor(seed) ^ 0x9e3779b9) >>> 0;
}

export function getRngState(): number {
  return state;
}

export function setRngState(s: number): void {
  state = s >>> 0;
}

/** mulberry32: small, fast and good enough for initialisation, dropout and sampling. */
export function randomUniform(): number {
  state = (state + 0x6d2b79f5) >>> 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}

export function fillUniform(out: Float32Array, low = 0, high = 1): Float32Array {
  for (let i = 0; i < out.length; i++) {
    // a draw within 2⁻²⁵ of 1 rounds up to `high` in float32: draw again to keep [low, high)
    do out[i] = low + (high - low) * randomUniform();
    while (out[i] >= high && high > low);
  }
  return out;
}

/**
 * A dropout mask: `keep` where the draw is ≥ p, else 0, drawing exactly as
 * `fillUniform(new Float32Array(n))` would (same stream, same float32 rounding and redraws), so
 * seeded runs are unchanged. One inlined loop: `Float64Array.from(uniforms, mapFn)` (V8's slow
 * generic path) took ~280 ms for the 1.57M elements of one `small`-preset activation, so a step's
 * 13 masks took 4 s on 2 cores; this loop takes ~20 ms a mask (the draws themselves). Drawing the
 * mask on the device from a counter-based hash would remove even that.
 */
export function fillDropoutMask(out: Float64Array, p: number, keep: number): Float64Array {
  // randomUniform inlined, its state kept as int32 (same bits); ·2⁻³² is exactly its /2³²
  let s = state | 0;
  for (let i = 0; i < out.length; i++) {
    let u: number;
    do {
      s = (s + 0x6d2b79f5) | 0;
      let t = s;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      u = Math.fround(((t ^ (t >>> 14)) >>> 0) * 2.3283064365386963e-10);
    } while (u >= 1);
    out[i] = u >= p ? keep : 0;
  }
  state = s >>> 0;
  return out;
}

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
