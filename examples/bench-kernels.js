// Kernel benchmarks per gpu.js device, at the device level (no Tensor code involved): matmul at
// several sizes, a row softmax, an elementwise add, and the cost of one tiny kernel call.
// Each figure is the median of several warm runs (first call compiles and is not counted), with
// the spread (min–max). Prints a table and writes bench-results/kernels-<mode>.json.
//
//   pnpm build && node examples/bench-kernels.js wasm cpu webgpu
//   FLASHGRAD_DEVICE=wasm node examples/bench-kernels.js
//   BENCH_MAX_MATMUL=1024 node examples/bench-kernels.js wasm   (cap matmul sizes)
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { setDevice } from '@flashgrad/core';

const argModes = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const modes = argModes.length ? argModes : (process.env.FLASHGRAD_DEVICE ?? 'wasm').split(',');

// Sizes a CPU mode would need minutes for are skipped (and reported as skipped): an n³ matmul
// at the measured rate of each mode, times the runs, must fit a budget.
const BUDGET_MS = Number(process.env.BENCH_BUDGET_MS ?? 20_000);
const MAX_MATMUL = Number(process.env.BENCH_MAX_MATMUL ?? 4096);

function stats(times) {
  const s = [...times].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)], min: s[0], max: s[s.length - 1], runs: s.length };
}

/** Times `run` (which queues work and returns buffers to free) warm, `runs` times, with sync. */
async function time(device, run, runs) {
  // warm-up: compiles the kernel and, on wasm, starts the worker pool
  for (const b of [run()].flat()) device.dispose(b);
  await device.sync();
  const times = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const out = [run()].flat();
    await device.sync();
    times.push(performance.now() - t0);
    for (const b of out) device.dispose(b);
  }
  return stats(times);
}

function random(n) {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.random() * 2 - 1;
  return a;
}

async function benchMode(mode) {
  const device = await setDevice(mode);
  const rows = [];
  const add = (name, s, work, unit) => {
    const rate = work / (s.median / 1e3) / 1e9;
    rows.push({ name, ...s, rate: +rate.toFixed(3), unit });
    console.log(`${mode.padEnd(7)} ${name.padEnd(26)} ${s.median.toFixed(3).padStart(10)} ms  ` +
      `[${s.min.toFixed(3)}–${s.max.toFixed(3)}]  ${rate.toFixed(2).padStart(8)} ${unit}`);
  };

  // per-call overhead: one tiny elementwise kernel, called many times per timed run
  {
    const x = device.upload([1, 2, 3, 4, 5, 6, 7, 8]);
    const calls = 200;
    const s = await time(device, () => {
      const out = [];
      for (let i = 0; i < calls; i++) out.push(device.unary('neg', x));
      return out;
    }, 7);
    const perCall = { median: s.median / calls, min: s.min / calls, max: s.max / calls, runs: s.runs };
    rows.push({ name: 'tiny kernel (per call)', ...perCall, rate: +(1 / perCall.median).toFixed(1), unit: 'k calls/s' });
    console.log(`${mode.padEnd(7)} ${'tiny kernel (per call)'.padEnd(26)} ${(perCall.median * 1e3).toFixed(1).padStart(10)} µs  ` +
      `[${(perCall.min * 1e3).toFixed(1)}–${(perCall.max * 1e3).toFixed(1)}]`);
    device.dispose(x);
  }

  // elementwise add of 1M floats: 3 × 4 MB moved
  {
    const n = 1 << 20;
    const a = device.upload(random(n));
    const b = device.upload(random(n));
    const s = await time(device, () => device.binary('add', { buf: a, shape: [n] }, { buf: b, shape: [n] }, [n]), 7);
    add('add 1M', s, 3 * 4 * n, 'GB/s');
    device.dispose(a);
    device.dispose(b);
  }

  // softmax over [4096, 1024]: 2 × 16 MB moved at least
  {
    const r = 4096;
    const c = 1024;
    const x = device.upload(random(r * c));
    const s = await time(device, () => device.softmax(x, r, c), 5);
    add('softmax [4096, 1024]', s, 2 * 4 * r * c, 'GB/s');
    device.dispose(x);
  }

  // square matmuls
  let gflops = null;
  const skipped = [];
  for (const n of [256, 512, 1024, 2048, 4096]) {
    const flops = 2 * n ** 3;
    const runs = n >= 2048 ? 3 : 5;
    const predicted = gflops ? (flops / (gflops * 1e9)) * 1e3 * (runs + 1) : 0;
    if (n > MAX_MATMUL || predicted > BUDGET_MS) {
      skipped.push({ n, predictedMs: Math.round(predicted / (runs + 1)) });
      console.log(`${mode.padEnd(7)} ${`matmul ${n}²`.padEnd(26)} skipped: ~${(predicted / (runs + 1) / 1e3).toFixed(1)} s a run at the rate measured below it`);
      continue;
    }
    const a = device.upload(random(n * n));
    const b = device.upload(random(n * n));
    const s = await time(device, () => device.matmul(a, [n, n], b, [n, n], false, false, []), runs);
    add(`matmul ${n}²`, s, flops, 'GFLOP/s');
    gflops = flops / (s.median / 1e3) / 1e9;
    device.dispose(a);
    device.dispose(b);
  }

  const result = {
    mode,
    device: device.description ?? device.name,
    host: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, node: process.version },
    date: new Date().toISOString(),
    rows,
    skipped,
    memory: device.memory(),
  };
  mkdirSync('bench-results', { recursive: true });
  writeFileSync(`bench-results/kernels-${mode}.json`, JSON.stringify(result, null, 2));
  return result;
}

for (const mode of modes) {
  console.log(`\n== ${mode}`);
  const r = await benchMode(mode);
  console.log(`   ${r.device}; wrote bench-results/kernels-${mode}.json`);
}
process.exit(0);
