// Where a wasm-device matmul's time goes, piece by piece (BENCHMARKS.md "wasm GEMM, session 6"):
//   1. the module's pieces on one thread, best of many (so a lost time slice does not count), as
//      FLOP per cycle of the clock measured beside them (SIMD128 FMA peak: 16 per core):
//      micro (one MR × NR tile over KC, panels in L1), macro (an A block of a band × all of a
//      B K-block), chunk (a whole band: every K block, A packed, B streamed), and the packing of
//      B (all of it, once per call) and of one band's A;
//   2. device-level x.matmul(y) calls (tensors on the wasm device, the queue drained) with the
//      GEMM's trace: the call's wall and CPU time (all threads), the part outside the GEMM (the
//      device's dispatch), when the last thread joined, when B was packed, the barrier waits, each
//      thread's compute time and the gap between the threads' last ends (the tail), and the
//      compute tasks' own FLOP per busy cycle.
//   0. first, the state of the machine: the micro-kernel's rate in 20 windows of 100 ms beside the
//      clock (a chain of dependent adds) in each. On a shared host the FMA units of a core are
//      shared with whatever runs on its other hyperthread, which the clock does not show: windows
//      at ~14.5 FLOP/cycle and at ~8 (half: the other hyperthread doing SIMD too) alternate
//      within seconds (BENCHMARKS.md "wasm GEMM, session 6"), so read the pieces below beside it.
// Each round prints the load average; medians and bests over rounds.
//
//   pnpm build && FLASHGRAD_WASM_THREADS=2 node examples/bench-gemm-parts.js [--n 1024] [--calls 20]
import os from 'node:os';
import * as core from '@flashgrad/core';

const { relaxedSimdAvailable, estimateClockGHz, gemmModuleBytes, KC, MC, RELAXED, PLAIN, WasmArena } = core.wasmGemm;
const argv = process.argv.slice(2);
const flag = (name, fallback) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? Number(argv[i + 1]) : fallback;
};
const n = flag('n', 1024);
const calls = flag('calls', 20);
const q = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(p * (s.length - 1))];
};
/** Median and best: the least of times, the most of rates (`rate`). */
const fmt = (xs, digits = 2, rate = false) => `median ${q(xs, 0.5).toFixed(digits)} best ${(rate ? Math.max(...xs) : Math.min(...xs)).toFixed(digits)}`;
const load = () => os.loadavg()[0].toFixed(2);

// ---- 1. pieces on one thread (the module's exports over a memory of our own)
const variant = relaxedSimdAvailable() ? RELAXED : PLAIN;
const { mr, nr } = variant;
const arena = new WasmArena({ tensorLimit: 0 });
const at = arena.allocWorking(80 << 20);
const ex = new WebAssembly.Instance(new WebAssembly.Module(gemmModuleBytes(variant)), { env: { memory: arena.memory } }).exports;
const f32 = arena.floats();
for (let i = at / 4; i < (at + (80 << 20)) / 4; i++) f32[i] = Math.random() - 0.5;
const [A, B, C, PA, PB, EDGE] = [0, 8, 16, 24, 32, 70].map((mb) => at + (mb << 20));
const panels = Math.ceil(n / nr);
const ldb = panels * nr * 4;
const rows = Math.floor(MC / mr) * mr;
const best = (f, trials, inner = 1) => {
  f();
  let b = Infinity;
  for (let t = 0; t < trials; t++) {
    const t0 = performance.now();
    for (let i = 0; i < inner; i++) f();
    b = Math.min(b, (performance.now() - t0) / inner);
  }
  return b;
};
const packB = () => {
  for (let pc = 0; pc < n; pc += KC) ex.packB(B + pc * n * 4, 4, n * 4, n, Math.min(KC, n - pc), PB + pc * ldb);
};
const packA = () => {
  for (let pc = 0; pc < n; pc += KC) ex.packA(A + pc * 4, n * 4, 4, rows, Math.min(KC, n - pc), PA);
};
// ---- 0. the micro-kernel's rate window by window
const windows = [];
for (let w = 0; w < 20; w++) {
  const rates = [];
  const clocks = [];
  const tEnd = performance.now() + 100;
  while (performance.now() < tEnd) {
    clocks.push(estimateClockGHz(3));
    for (let j = 0; j < 10; j++) {
      const t0 = performance.now();
      for (let i = 0; i < 40; i++) ex.micro(PA, PB, C, n * 4, KC, 1);
      rates.push((40 * 2 * mr * nr * KC) / ((performance.now() - t0) * 1e6));
    }
  }
  windows.push(`${(q(rates, 0.5) / q(clocks, 0.5)).toFixed(1)}`);
}
console.log(`micro-kernel FLOP/cycle, median of each 100-ms window (clock measured in each), load ${load()}: ${windows.join(' ')}`);

const pieces = { clock: [], micro: [], macro: [], chunk: [], packBms: [], packAms: [] };
for (let r = 0; r < 5; r++) {
  const ghz = estimateClockGHz();
  pieces.clock.push(ghz);
  const fpc = (flop, ms) => flop / (ms * 1e6) / ghz;
  pieces.micro.push(fpc(2 * mr * nr * KC, best(() => ex.micro(PA, PB, C, n * 4, KC, 1), 60, 100)));
  packB();
  ex.packA(A, n * 4, 4, rows, KC, PA);
  pieces.macro.push(fpc(2 * rows * n * KC, best(() => ex.macro(PA, PB, KC * nr * 4, C, n * 4, rows, n, KC, EDGE, 1), 30)));
  pieces.packBms.push(best(packB, 20));
  pieces.packAms.push(best(packA, 40));
  pieces.chunk.push(fpc(2 * rows * n * n, best(() => ex.chunk(A, C, n * 4, 4, n * 4, n, n, rows, PA, PB, ldb, EDGE, 0), 10)));
}
arena.release(at);
console.log(`pieces, 1 thread, ${variant.mr}×${variant.nr}${variant.relaxed ? ' relaxed' : ''}, KC ${KC}, band ${rows} rows, n ${n}; load ${load()}; ${new Date().toISOString()}`);
console.log(`  clock GHz ${fmt(pieces.clock, 2, true)}`);
for (const k of ['micro', 'macro', 'chunk']) console.log(`  ${k}: FLOP/cycle ${fmt(pieces[k], 2, true)}`);
console.log(`  pack B (${n}×${n}, once a call): ms ${fmt(pieces.packBms, 3)}; pack A (one band): ms ${fmt(pieces.packAms, 3)}`);

// ---- 2. device-level calls, traced
const device = await core.setDevice('wasm');
const x = core.rand([n, n]);
const y = core.rand([n, n]);
for (let i = 0; i < 3; i++) {
  const z = x.matmul(y);
  await device.sync();
  z.dispose();
}
const gemm = device.wasmGemm;
gemm.trace = true;
const rec = { wall: [], cpu: [], outside: [], join: [], packed: [], barrier: [], tail: [], busy: [], fpc: [], loads: [] };
const ghz = q(pieces.clock, 0.5);
for (let i = 0; i < calls; i++) {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const z = x.matmul(y);
  await device.sync();
  const wall = performance.now() - t0;
  const c = process.cpuUsage(c0);
  z.dispose();
  const tr = gemm.lastTrace;
  const compute = tr.tasks.filter((k) => k.kind === 'compute');
  const ends = Array.from({ length: tr.threads }, (_, t) => Math.max(0, ...tr.tasks.filter((k) => k.thread === t).map((k) => k.endMs)));
  const busy = compute.reduce((s, k) => s + k.endMs - k.startMs, 0);
  rec.wall.push(wall);
  rec.cpu.push((c.user + c.system) / 1000);
  rec.outside.push(wall - tr.returnedMs);
  rec.join.push(Math.max(...tr.joinedMs.map((v) => (Number.isNaN(v) ? 0 : v))));
  rec.packed.push(Math.max(0, ...tr.tasks.filter((k) => k.kind === 'pack').map((k) => k.endMs)));
  rec.barrier.push(compute.reduce((s, k) => s + k.startMs - k.claimedMs, 0));
  rec.tail.push(Math.max(...ends) - Math.min(...ends));
  rec.busy.push(busy);
  rec.fpc.push((2 * n ** 3) / (busy * 1e6) / ghz);
  rec.loads.push(Number(load()));
}
console.log(`device x.matmul(y), ${gemm.description}, ${calls} calls, load ${Math.min(...rec.loads)}–${Math.max(...rec.loads)}:`);
console.log(`  wall ms ${fmt(rec.wall)} (GFLOP/s: median ${((2 * n ** 3) / (q(rec.wall, 0.5) * 1e6)).toFixed(1)}, best ${((2 * n ** 3) / (Math.min(...rec.wall) * 1e6)).toFixed(1)}); CPU ms (all threads) ${fmt(rec.cpu)}`);
console.log(`  outside the GEMM (dispatch, sync) ms ${fmt(rec.outside, 3)}; last thread joined at ms ${fmt(rec.join, 3)}; B packed by ms ${fmt(rec.packed, 3)}`);
console.log(`  barrier waits (all threads) ms ${fmt(rec.barrier, 3)}; threads' last ends apart (tail) ms ${fmt(rec.tail, 3)}`);
console.log(`  compute tasks: busy ms (all threads) ${fmt(rec.busy)}, FLOP per busy cycle ${fmt(rec.fpc, 2, true)} (clock ${ghz.toFixed(2)} GHz)`);
process.exit(0);
