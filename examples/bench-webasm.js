// The non-matmul kernels a GPT step runs, on the wasm device, at the device level: ms per call
// (median of warm runs, min–max) and the effective bandwidth (bytes every call must move: its
// inputs read once, its output written once). A plain JavaScript copy of the same bytes
// (Float32Array.set) runs in the same process as the memory-bandwidth peer. Used for the gpu.js
// webasm patch's before/after figures (BENCHMARKS.md, "gpu.js extension: webasm").
//
//   pnpm build && node examples/bench-webasm.js [--runs 15] [--tag before]
//
// Writes bench-results/webasm-<tag>.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { setDevice } from '@flashgrad/core';

const argv = process.argv.slice(2);
const flag = (name, fallback) => (argv.includes(`--${name}`) ? argv[argv.indexOf(`--${name}`) + 1] : fallback);
const RUNS = Number(flag('runs', 15));
const TAG = flag('tag', 'run');

function stats(times) {
  const s = [...times].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)], min: s[0], max: s[s.length - 1], runs: s.length };
}

function random(n) {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.random() * 2 - 1;
  return a;
}

const device = await setDevice('wasm');
const rows = [];

/** Times `run` (which returns buffers to free) warm; `bytes` is what one call must move. */
async function bench(name, bytes, run) {
  for (const b of [run()].flat()) device.dispose(b);
  await device.sync();
  const times = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    const out = [run()].flat();
    await device.sync();
    times.push(performance.now() - t0);
    for (const b of out) device.dispose(b);
  }
  const s = stats(times);
  const gbs = bytes / (s.median / 1e3) / 1e9;
  rows.push({ name, ...s, bytes, gbs: +gbs.toFixed(2) });
  console.log(`${name.padEnd(40)} ${s.median.toFixed(3).padStart(9)} ms  [${s.min.toFixed(3)}–${s.max.toFixed(3)}]  ${gbs.toFixed(2).padStart(6)} GB/s`);
}

const f = 4; // bytes per float
const N = 1 << 20;

// the peer: a JavaScript copy of 1M floats (read 4 MB, write 4 MB)
{
  const a = random(N);
  const b = new Float32Array(N);
  const times = [];
  for (let i = 0; i < RUNS + 1; i++) {
    const t0 = performance.now();
    b.set(a);
    times.push(performance.now() - t0);
  }
  const s = stats(times.slice(1));
  rows.push({ name: 'peer: Float32Array.set 1M', ...s, bytes: 2 * f * N, gbs: +(2 * f * N / (s.median / 1e3) / 1e9).toFixed(2) });
  console.log(`${'peer: Float32Array.set 1M'.padEnd(40)} ${s.median.toFixed(3).padStart(9)} ms  [${s.min.toFixed(3)}–${s.max.toFixed(3)}]  ${(2 * f * N / (s.median / 1e3) / 1e9).toFixed(2).padStart(6)} GB/s`);
}

{
  const a = device.upload(random(N));
  const b = device.upload(random(N));
  await bench('add 1M', 3 * f * N, () => device.binary('add', { buf: a, shape: [N] }, { buf: b, shape: [N] }, [N]));
  await bench('exp 1M', 2 * f * N, () => device.unary('exp', a));
  await bench('gelu 1M', 2 * f * N, () => device.unary('gelu', a));
  device.dispose(a);
  device.dispose(b);
}

{
  // a bias add at the MLP's width: [B·T, 4C] + [4C], GPT-2 small at B·T = 768
  const [r, c] = [768, 3072];
  const x = device.upload(random(r * c));
  const bias = device.upload(random(c));
  await bench('add [768, 3072] + [3072]', f * (2 * r * c + c), () => device.binary('add', { buf: x, shape: [r, c] }, { buf: bias, shape: [c] }, [r, c]));
  await bench('sum [768, 3072] over rows (axis 0)', f * (r * c + c), () => device.reduce('sum', x, [r, c], [0]));
  await bench('sum [768, 3072] over cols (axis 1)', f * (r * c + r), () => device.reduce('sum', x, [r, c], [1]));
  device.dispose(x);
  device.dispose(bias);
}

// biome-ignore lint/complexity/noUselessLoneBlockStatements: the block scopes this benchmark's buffers
{
  // attention scores' softmax: [B·H·T, T] at B = 12, H = 4, T = 64 (the peers step), and a wide one
  for (const [r, c] of [[3072, 64], [4096, 1024]]) {
    const x = device.upload(random(r * c));
    await bench(`softmax [${r}, ${c}]`, 2 * f * r * c, () => device.softmax(x, r, c));
    device.dispose(x);
  }
}

{
  const [r, c] = [768, 768];
  const x = device.upload(random(r * c));
  const w = device.upload(random(c));
  const b = device.upload(random(c));
  await bench('layerNorm [768, 768]', f * (2 * r * c + 2 * c), () => device.layerNorm(x, w, b, r, c, 1e-5));
  device.dispose(x);
  device.dispose(w);
  device.dispose(b);
}

{
  // heads split: [B, T, H, D] → [B, H, T, D] at B = 12, T = 64, H = 12, D = 64
  const [B, T, H, D] = [12, 64, 12, 64];
  const x = device.upload(random(B * T * H * D));
  await bench('permute [12,64,12,64] → [12,12,64,64]', 2 * f * B * T * H * D,
    () => device.strided(x, [B, H, T, D], [T * H * D, D, H * D, 1], 0));
  device.dispose(x);
}

{
  // AdamW over 1M parameters: reads p, g, m, v; writes p, m, v
  const p = device.upload(random(N));
  const g = device.upload(random(N));
  const m = device.upload(random(N));
  const v = device.upload(random(N).map(Math.abs));
  const h = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1, step: 3 };
  await bench('adamw 1M params (3 kernels)', 7 * f * N, () => Object.values(device.adamw(p, g, m, v, h)));
  for (const b of [p, g, m, v]) device.dispose(b);
}

if (device.maxElements >= 50257 * 768) {
  // the embedding lookup from GPT-2's wte [50257, 768], 64 tokens (impossible below 2^24 elements)
  const cols = 768;
  const table = device.upload(random(50257 * cols));
  const idx = Int32Array.from({ length: 64 }, (_, i) => (i * 7919) % 50257);
  await bench('gather 64 rows of wte [50257, 768]', f * 2 * 64 * cols, () => device.gatherRows(table, cols, idx));
  device.dispose(table);
} else {
  console.log(`gather from wte [50257, 768]: skipped, over this device's ${device.maxElements} elements`);
}

const result = {
  tag: TAG,
  device: device.description,
  host: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, node: process.version, loadavg: os.loadavg() },
  date: new Date().toISOString(),
  rows,
};
mkdirSync('bench-results', { recursive: true });
writeFileSync(`bench-results/webasm-${TAG}.json`, JSON.stringify(result, null, 2));
console.log(`wrote bench-results/webasm-${TAG}.json (load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')})`);
process.exit(0);
