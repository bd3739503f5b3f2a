// The wasm device's GEMM beside NumPy in the same run, and beside gpu.js's webasm formulation.
// Rounds interleave every configuration (ours plain/relaxed × 1/2 threads, NumPy 1/2 threads), so
// a shared machine's load falls on all of them alike; each figure is the median over rounds of
// each round's median. Rows "wasm device" time the device-level matmul as a user of matmul sees it:
// tensors already on the wasm device, `x.matmul(y)` and the queue drained (the result disposed
// after the timer stops), in a child process per round, with the arena (its tensors are views of
// the GEMM's memory: nothing copied) and with FLASHGRAD_WASM_ARENA_MB=0 (plain arrays, copied in
// and out at each call: the device before the arena). Each round also estimates the core clock (wasmGemm.estimateClockGHz) and
// reads the load average, so a row can be read as FLOP per cycle (SIMD128 FMA peak: 16 per core)
// and beside how busy the machine was; the device rows also print, from the GEMM's trace, how late
// the second thread joined and how far apart the threads finished (both near 0 when each thread
// had a core). Prints a table, writes bench-results/gemm-N.json.
//
//   pnpm build && node examples/bench-gemm.js                 # 1024², 3 rounds
//   node examples/bench-gemm.js --n 512 --rounds 5 --reps 7
//   node examples/bench-gemm.js --gpujs                       # adds gpu.js's webasm matmul (slow)
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { wasmGemm } from '@flashgrad/core';

const { WasmGemm, noTimes, relaxedSimdAvailable, estimateClockGHz } = wasmGemm;

const argv = process.argv.slice(2);
const flag = (name, fallback) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : fallback;
};
const n = Number(flag('n', 1024));
const rounds = Number(flag('rounds', 3));
const reps = Number(flag('reps', 5));
const withGpujs = argv.includes('--gpujs');
const gflops = (ms) => (2 * n ** 3) / (ms * 1e6);
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const a = Float32Array.from({ length: n * n }, () => Math.random() - 0.5);
const b = Float32Array.from({ length: n * n }, () => Math.random() - 0.5);
const operands = { a, aShape: [n, n], b, bShape: [n, n], transA: false, transB: false, batch: [] };

/** Median ms of `reps` warm calls (two untimed first: compile and tier-up), and the split of the timed ones. */
function timeOurs(gemm) {
  for (let i = 0; i < 2; i++) gemm.matmul(operands);
  gemm.times = noTimes();
  const ts = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    gemm.matmul(operands);
    ts.push(performance.now() - t0);
  }
  const t = gemm.times;
  splits.set(gemm.description, `copy in ${(t.copyInMs / reps).toFixed(2)} ms, out ${(t.copyOutMs / reps).toFixed(2)} ms; main thread ran ${t.mainTasks}/${t.tasks} tasks, idle ${(t.mainIdleMs / reps).toFixed(2)} ms a call`);
  return median(ts);
}
/** Per GEMM, the last round's split of a call (copies, the main thread's share of tasks). */
const splits = new Map();

const NUMPY = `
import sys, time, numpy as np
n, reps = int(sys.argv[1]), int(sys.argv[2])
a = np.random.rand(n, n).astype(np.float32); b = np.random.rand(n, n).astype(np.float32)
for _ in range(2): a @ b
ts = []
for _ in range(reps):
    t = time.perf_counter(); a @ b; ts.append(time.perf_counter() - t)
ts.sort(); print(ts[len(ts) // 2] * 1000)
`;
function timeNumpy(threads) {
  const env = { ...process.env, OPENBLAS_NUM_THREADS: String(threads), OMP_NUM_THREADS: String(threads), OMP_WAIT_POLICY: 'PASSIVE' };
  return Number(execFileSync('python3', ['-c', NUMPY, String(n), String(reps)], { env }).toString().trim());
}

/** gpu.js's webasm formulation: the device with FLASHGRAD_WASM_GEMM=0, in a child process (this script, --gpujs-child). */
async function gpujsChild() {
  process.env.FLASHGRAD_WASM_GEMM = '0';
  const core = await import('@flashgrad/core');
  await core.setDevice('wasm');
  const x = core.rand([n, n]);
  const y = core.rand([n, n]);
  const ts = [];
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    const z = x.matmul(y);
    await z.data();
    z.dispose();
    if (i > 0) ts.push(performance.now() - t0);
  }
  console.log(Math.min(...ts));
  process.exit(0);
}
if (argv.includes('--gpujs-child')) await gpujsChild();

/** The wasm device's matmul on tensors already there: median ms of `reps` warm calls, and the GEMM's copies a call. */
async function deviceChild() {
  const core = await import('@flashgrad/core');
  const device = await core.setDevice('wasm');
  const x = core.rand([n, n]);
  const y = core.rand([n, n]);
  const call = () => {
    const t0 = performance.now();
    const z = x.matmul(y);
    return device.sync().then(() => {
      const ms = performance.now() - t0;
      z.dispose();
      return ms;
    });
  };
  for (let i = 0; i < 2; i++) await call();
  const gemm = device.wasmGemm;
  gemm.times = core.wasmGemm.noTimes();
  // the trace of each timed call: how long the last thread took to join, and how far apart the
  // threads' last tasks ended (a thread idle while the other computes: its core taken, or the tail)
  gemm.trace = true;
  const ts = [];
  const joins = [];
  const tails = [];
  for (let i = 0; i < reps; i++) {
    ts.push(await call());
    const tr = gemm.lastTrace;
    const ends = Array.from({ length: tr.threads }, (_, th) => Math.max(0, ...tr.tasks.filter((k) => k.thread === th).map((k) => k.endMs)));
    joins.push(Math.max(...tr.joinedMs.map((v) => (Number.isNaN(v) ? 0 : v))));
    tails.push(Math.max(...ends) - Math.min(...ends));
  }
  const t = gemm.times;
  console.log(JSON.stringify({ ms: median(ts), description: gemm.description, copyInMs: t.copyInMs / reps, copyOutMs: t.copyOutMs / reps, bytesIn: t.bytesIn / reps, bytesOut: t.bytesOut / reps, joinMs: median(joins), tailMs: median(tails), packsHelped: t.packsHelped / reps }));
  process.exit(0);
}
if (argv.includes('--device-child')) await deviceChild();
function timeDevice(arena) {
  const self = new URL(import.meta.url).pathname;
  const env = { ...process.env, FLASHGRAD_WASM_THREADS: '2', ...(arena ? {} : { FLASHGRAD_WASM_ARENA_MB: '0' }) };
  const r = JSON.parse(execFileSync(process.execPath, [self, '--device-child', '--n', String(n), '--reps', String(reps)], { env }).toString().trim().split('\n').pop());
  const name = `wasm device x.matmul(y), ${arena ? 'arena' : 'no arena (FLASHGRAD_WASM_ARENA_MB=0)'}, 2 threads`;
  splits.set(name, `${r.description}; copy in ${r.copyInMs.toFixed(2)} ms (${(r.bytesIn / 1e6).toFixed(1)} MB), out ${r.copyOutMs.toFixed(2)} ms (${(r.bytesOut / 1e6).toFixed(1)} MB) a call; medians: last thread joined ${r.joinMs.toFixed(2)} ms after the job was published, threads' last tasks ${r.tailMs.toFixed(2)} ms apart; pack tasks helped ${r.packsHelped.toFixed(1)} a call`);
  return [name, r.ms];
}

const variants = [{ relaxed: false }, ...(relaxedSimdAvailable() ? [{ relaxed: true }] : [])];
const gemms = variants.flatMap(({ relaxed }) => [1, 2].map((threads) => new WasmGemm({ threads, relaxed })));
const results = new Map();
const loads = new Map();
const clocks = [];
const load1 = () => Math.round(os.loadavg()[0] * 100) / 100;
const record = (name, ms) => {
  (results.has(name) ? results.get(name) : results.set(name, []).get(name)).push(ms);
  (loads.has(name) ? loads.get(name) : loads.set(name, []).get(name)).push(load1());
};
for (let r = 0; r < rounds; r++) {
  clocks.push(estimateClockGHz());
  for (const g of gemms) record(g.description, timeOurs(g));
  for (const arena of [true, false]) record(...timeDevice(arena));
  for (const threads of [1, 2]) record(`NumPy (OpenBLAS), ${threads} thread${threads > 1 ? 's' : ''}`, timeNumpy(threads));
}
const ghz = median(clocks);
if (withGpujs) {
  const self = new URL(import.meta.url).pathname;
  const ms = Number(execFileSync(process.execPath, [self, '--gpujs-child', '--n', String(n)]).toString().trim().split('\n').pop());
  record('gpu.js webasm matmul (FLASHGRAD_WASM_GEMM=0)', ms);
}
for (const g of gemms) g.destroy();

const numpy2 = median(results.get('NumPy (OpenBLAS), 2 threads'));
const numpy1 = median(results.get('NumPy (OpenBLAS), 1 thread'));
const rows = [...results].map(([name, ms]) => {
  const m = median(ms);
  const vsNumpy = / 1 thread/.test(name) ? numpy1 / m : numpy2 / m;
  const threadCount = / 1 thread/.test(name) ? 1 : 2;
  return { name, split: splits.get(name), ms: m, gflops: gflops(m), flopPerCycle: gflops(m) / ghz / threadCount, rounds: ms.map((t) => Math.round(t * 100) / 100), loads: loads.get(name), vsNumpySameThreads: vsNumpy };
});
const host = { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, node: process.version, loadavg: os.loadavg().map((v) => Math.round(v * 100) / 100) };
console.log(`matmul ${n}×${n}×${n}, float32; ${rounds} rounds × ${reps} reps; ${new Date().toISOString()}; load average ${host.loadavg.join(' ')} on ${host.cpus} CPUs; clock ≈ ${ghz.toFixed(2)} GHz (rounds: ${clocks.map((c) => c.toFixed(2)).join(' ')})`);
console.log('what | ms (median of rounds) | GFLOP/s | FLOP/cycle per thread | × NumPy on as many threads | per round (ms) | load per round');
for (const r of rows) console.log(`${r.name} | ${r.ms.toFixed(2)} | ${r.gflops.toFixed(1)} | ${r.flopPerCycle.toFixed(1)} | ${r.vsNumpySameThreads.toFixed(2)} | ${r.rounds.join(' ')} | ${(r.loads ?? []).join(' ')}`);
for (const [name, split] of splits) console.log(`${name}, last round: ${split}`);
mkdirSync('bench-results', { recursive: true });
writeFileSync(`bench-results/gemm-${n}.json`, `${JSON.stringify({ n, rounds, reps, rows, host, clockGHz: clocks, date: new Date().toISOString() }, null, 2)}\n`);
console.log(`\nwrote bench-results/gemm-${n}.json`);
