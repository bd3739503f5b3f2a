// flashAttention vs naiveAttention per device: forward and forward+backward, N = 256 … 16384,
// d = 64, B·H = 8 (B = 2, H = 4), causal and not. Each time is the median of several warm runs
// (the first run compiles kernels and is not counted), with the spread; peak device bytes are
// measured above the live inputs. A method stops growing N once a run would pass the time cap
// (predicted ×4 per doubling from the last size it ran) or a buffer would pass the device's
// limit; both are recorded. Prints a table and writes bench-results/attention-<device>.json.
//
//   pnpm build && node examples/bench-attention.js reference wasm
//   FLASHGRAD_DEVICE=wasm node examples/bench-attention.js
//   BENCH_MAX_N=1024 BENCH_CAP_MS=20000 node examples/bench-attention.js reference
//   BENCH_B=1 BENCH_H=1 node examples/bench-attention.js webgpu   (one head, as the peers)
//   BENCH_BLOCK_SIZES=32,64,128,256 node examples/bench-attention.js wasm   (flash block-size sweep)
//   BENCH_METHODS=flash node examples/bench-attention.js webgpu   (one method per process)
//   BENCH_SPARSITY=0,0.25,0.5,0.75 BENCH_SPARSE_N=4096 node examples/bench-attention.js webgpu
//     (block-sparse sweep instead: flash fwd+bwd with that fraction of 64 × 64 blocks hidden,
//      the diagonal always kept, non-causal and causal)
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { manualSeed, memory, randn, resetPeakMemory, setDevice, tidy } from '@flashgrad/core';
import { DEFAULT_BLOCK_SIZE, defaultBlockSize, flashAttention, naiveAttention } from '@flashgrad/attention';
import { gpuHeater } from './gpu-heater.js';
import { sparseGrid } from './sparse-grid.js';

const argDevices = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const devices = argDevices.length ? argDevices : (process.env.FLASHGRAD_DEVICE ?? 'wasm').split(',');
const MAX_N = Number(process.env.BENCH_MAX_N ?? 16384);
const CAP_MS = Number(process.env.BENCH_CAP_MS ?? 30_000);
const BLOCK_SIZES = process.env.BENCH_BLOCK_SIZES?.split(',').map(Number);
const B = Number(process.env.BENCH_B ?? 2);
const H = Number(process.env.BENCH_H ?? 4);
const d = 64;
/** BENCH_METHODS=flash (or naive) runs one method alone: no other method's buffers in the device's cache. */
const METHODS = process.env.BENCH_METHODS?.split(',');
const SPARSITY = process.env.BENCH_SPARSITY?.split(',').map(Number);
const SPARSE_N = Number(process.env.BENCH_SPARSE_N ?? 4096);
/**
 * GPU devices: before timing, repeat the call for this long (ms). An H200 left idle between short
 * runs stays at low clocks: the same N = 4096 flash fwd+bwd measured 17.9 ms in a sweep and 4.5 ms
 * right after sustained work (2026-12-01); PyTorch's peer times back-to-back calls, so it never sees this.
 */
const WARM_MS = Number(process.env.BENCH_WARM_MS ?? 300);

/** One heater a device (gpu-heater.js): run before each timing, after the warm-up. */
const heaters = new Map();
const heat = (device) => {
  if (!heaters.has(device)) heaters.set(device, gpuHeater(device));
  return heaters.get(device);
};

function stats(times) {
  const s = [...times].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)], min: s[0], max: s[s.length - 1], runs: s.length };
}

const mib = (bytes) => (bytes / 2 ** 20).toFixed(1);

/** One configuration: warm-up, then timed runs; peak bytes above the inputs from the warm-up. */
async function measure(device, attention, N, causal, backward, blockSize, runs, blockMask) {
  manualSeed(N);
  const [q, k, v, dO] = [N, N, N, N].map(() => randn([B, H, N, d], { requiresGrad: backward }));
  dO.requiresGrad = false;
  const once = () => {
    tidy(() => {
      const out = attention(q, k, v, { causal, blockSize, blockMask });
      if (backward) out.backward(dO);
    });
    for (const t of [q, k, v]) t.grad = null;
  };
  const baseline = memory().bytes;
  resetPeakMemory();
  once();
  await device.sync();
  const peakBytes = memory().peakBytes - baseline;
  if (device.name === 'webgpu') {
    for (const t0 = performance.now(); performance.now() - t0 < WARM_MS;) {
      once();
      await device.sync();
    }
  }
  await heat(device)();
  const times = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    once();
    await device.sync();
    times.push(performance.now() - t0);
  }
  for (const t of [q, k, v, dO]) t.dispose();
  return { ...stats(times), peakBytes };
}

async function benchDevice(name) {
  const device = await setDevice(name);
  const bytesPerElement = name === 'reference' ? 8 : 4;
  const rows = [];
  const stopped = [];
  const methods = [
    ...(BLOCK_SIZES ?? [null]).map((bs) => ({ method: 'flash', blockSize: bs, fn: flashAttention })),
    ...(BLOCK_SIZES ? [] : [{ method: 'naive', blockSize: null, fn: naiveAttention }]),
  ].filter((m) => !METHODS || METHODS.includes(m.method));
  const last = new Map(); // key → median ms at the last N, or 'stopped'
  console.log(`\n== ${name} (${device.description ?? device.name}); B·H = ${B * H}, d = ${d}, cap ${CAP_MS} ms a run`);
  console.log('N'.padStart(6) + '  causal  pass     method      Bc     median ms      [min–max]   peak MiB');
  for (let N = 256; N <= MAX_N; N *= 2) {
    for (const causal of [false, true]) {
      for (const backward of [false, true]) {
        for (const m of methods) {
          const key = `${m.method}/${m.blockSize}/${causal}/${backward}`;
          const pass = backward ? 'fwd+bwd' : 'fwd';
          // flash without BENCH_BLOCK_SIZES runs the device's default Bc (defaultBlockSize), shown per row
          // on webgpu with workgroup kernels flash's tiles are fixed by its kernels (no scratch): shown as 0
          const workgroup = m.method === 'flash' && device.workgroupKernels === true;
          const bc = m.method === 'flash' && !workgroup ? (m.blockSize ?? Math.min(defaultBlockSize(device, { B, H, Nq: N, Nk: N }), N)) : null;
          const base = { N, causal, pass, method: m.method, blockSize: bc };
          if (last.get(key) === 'stopped') continue;
          // the largest buffer each method makes: naive's scores, flash's N × Bc scratch
          const largest = B * H * N * (m.method === 'naive' ? N : workgroup ? d + 1 : bc);
          const predicted = typeof last.get(key) === 'number' ? 4 * last.get(key) : 0;
          let reason = null;
          if (largest > device.maxElements) reason = `a buffer of ${largest} elements passes the device limit of ${device.maxElements}`;
          else if (predicted > CAP_MS) reason = `predicted ${(predicted / 1e3).toFixed(1)} s a run passes the ${CAP_MS / 1e3} s cap`;
          if (reason) {
            stopped.push({ ...base, reason });
            last.set(key, 'stopped');
            console.log(`${String(N).padStart(6)}  ${String(causal).padEnd(6)}  ${pass.padEnd(7)}  ${m.method.padEnd(6)}  stopped: ${reason}`);
            continue;
          }
          // short calls take more runs: their median is of host and sync jitter as much as of the GPU
          const runs = predicted > 5_000 ? 3 : predicted > 50 ? 5 : 15;
          try {
            const s = await measure(device, m.fn, N, causal, backward, bc ?? undefined, runs);
            last.set(key, s.median);
            const row = { ...base, ...s, peakMiB: +mib(s.peakBytes), nxnBytes: B * H * N * N * bytesPerElement };
            rows.push(row);
            console.log(`${String(N).padStart(6)}  ${String(causal).padEnd(6)}  ${pass.padEnd(7)}  ${m.method.padEnd(6)} ${String(bc ?? '').padStart(5)}  ` +
              `${s.median.toFixed(2).padStart(12)}  [${s.min.toFixed(1)}–${s.max.toFixed(1)}]`.padEnd(22) + `${mib(s.peakBytes).padStart(9)}`);
          } catch (err) {
            const reasonErr = (err.message ?? String(err)).split('\n')[0];
            stopped.push({ ...base, reason: `error: ${reasonErr}` });
            last.set(key, 'stopped');
            console.log(`${String(N).padStart(6)}  ${String(causal).padEnd(6)}  ${pass.padEnd(7)}  ${m.method.padEnd(6)}  stopped: ${reasonErr}`);
          }
        }
      }
    }
  }
  const result = {
    device: name,
    description: device.description ?? device.name,
    shape: { B, H, d, bytesPerElement },
    capMs: CAP_MS,
    defaultBlockSize: BLOCK_SIZES ? null : `defaultBlockSize(device): ${DEFAULT_BLOCK_SIZE} on CPU devices, scratch-bounded on GPU`,
    host: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, node: process.version, loadavg: os.loadavg() },
    date: new Date().toISOString(),
    rows,
    stopped,
  };
  mkdirSync('bench-results', { recursive: true });
  const file = `bench-results/attention-${name}${B * H !== 8 ? `-bh${B * H}` : ''}${BLOCK_SIZES ? '-blocksizes' : ''}.json`;
  writeFileSync(file, JSON.stringify(result, null, 2));
  console.log(`wrote ${file}`);
}

async function benchSparsity(name) {
  const device = await setDevice(name);
  const rows = [];
  console.log(`\n== ${name} block-sparse, N = ${SPARSE_N}, B·H = ${B * H}, d = ${d}, flash fwd+bwd`);
  console.log('hidden  causal     median ms      [min–max]   ×dense');
  for (const causal of [false, true]) {
    let dense = null;
    for (const fraction of SPARSITY) {
      const { grid, hidden } = sparseGrid(SPARSE_N, fraction);
      const s = await measure(device, flashAttention, SPARSE_N, causal, true, undefined, 5, fraction > 0 ? grid : undefined);
      dense ??= s.median;
      rows.push({ N: SPARSE_N, causal, fraction, hidden, ...s, speedup: dense / s.median });
      console.log(`${hidden.toFixed(3).padStart(6)}  ${String(causal).padEnd(6)} ${s.median.toFixed(2).padStart(10)}  [${s.min.toFixed(2)}–${s.max.toFixed(2)}]  ${(dense / s.median).toFixed(2)}×`);
    }
  }
  mkdirSync('bench-results', { recursive: true });
  const file = `bench-results/attention-sparse-${name}-bh${B * H}.json`;
  writeFileSync(file, JSON.stringify({ device: name, shape: { B, H, d, N: SPARSE_N }, date: new Date().toISOString(), rows }, null, 2));
  console.log(`wrote ${file}`);
}

for (const name of devices) await (SPARSITY ? benchSparsity(name) : benchDevice(name));
process.exit(0);
