// Where the wasm device's GPT step (the peers' shape: 4L/4H/128, T 64, B 12) spends its time and
// its copies, by kernel key. Reaches into the engine's private methods (prepare, settle,
// launchHost) and gpu.js's webasm kernel (_needsCopy) to count: a measuring tool, not an API.
//
//   npx tsc -b && node examples/wasm-step-costs.js            # CPU ms per step by kernel key
//   node examples/wasm-step-costs.js --wall                   # the same in wall ms
//   node examples/wasm-step-costs.js --copies                 # bytes copied per step, by path
//   FLASHGRAD_WASM_HOST_OPS=0 node examples/wasm-step-costs.js --copies   # gpu.js kernels only
//   FLASHGRAD_WASM_ARENA_MB=0 node examples/wasm-step-costs.js --copies   # tensors as plain arrays (before the arena)
//
// CPU ms are process CPU (every thread) across each kernel: on a shared machine wall time swings
// with other processes' load, CPU time less so. Keys: gpu.js kernels by their cache key
// (u|gelu|393216 ...), host loops as host.<op>|<output floats>, the GEMM as matmul|<output floats>.
import os from 'node:os';
import { Mulberry32, manualSeed, optim, setDevice, tidy } from '@flashgrad/core';
import { GPT } from '@flashgrad/models';

const args = process.argv.slice(2);
const copies = args.includes('--copies');
const wall = args.includes('--wall');
const steps = args.includes('--steps') ? Number(args[args.indexOf('--steps') + 1]) : 5;

const device = await setDevice('wasm');
const wallNow = performance.now.bind(performance);
const engine = Object.getPrototypeOf(Object.getPrototypeOf(device));
const c = { gpujsIn: 0, gpujsOut: 0, gpujsCalls: 0, hostOut: 0, hostCalls: 0 };
// every kernel key its own stats label; host launches with their output size
const prepare = engine.prepare;
engine.prepare = function (key, make) {
  const p = prepare.call(this, key, make);
  p.label = key;
  return p;
};
const launchHost = engine.launchHost;
engine.launchHost = function (label, outSize, ...rest) {
  if (label !== 'matmul') {
    c.hostOut += outSize * 4;
    c.hostCalls++;
  }
  return launchHost.call(this, `${label}|${outSize}`, outSize, ...rest);
};
const settle = engine.settle;
engine.settle = function (out, raw) {
  c.gpujsOut += out.size * 4;
  c.gpujsCalls++;
  return settle.call(this, out, raw);
};

manualSeed(0);
const model = new GPT({ vocabSize: 65, blockSize: 64, nLayer: 4, nHead: 4, nEmbd: 128, dropout: 0, bias: true, attention: 'flash' });
const { decay, noDecay } = model.decayGroups();
const opt = new optim.AdamW([{ params: decay, weightDecay: 0.1 }, { params: noDecay, weightDecay: 0 }], { lr: 1e-3 });
const B = 12;
const T = 64;
const tokens = new Mulberry32(1234);
const batch = () => Int32Array.from({ length: B * T }, () => Math.floor(tokens.next() * 65));
async function step() {
  const x = batch();
  const y = batch();
  const t0 = wallNow();
  const c0 = process.cpuUsage();
  const loss = tidy(() => {
    const l = model.forward({ data: x, shape: [B, T] }, { data: y, shape: [B, T] }).loss;
    l.backward();
    return l;
  });
  opt.step();
  opt.zeroGrad();
  await loss.item();
  loss.dispose();
  await device.sync();
  const cpu = process.cpuUsage(c0);
  return [wallNow() - t0, (cpu.user + cpu.system) / 1000];
}

await step();
// gpu.js's webasm kernel class, from a compiled kernel: count the argument copies it does not skip
const Kernel = [...device.prepared.values()][0].kernel.kernel.constructor;
const needsCopy = Kernel.prototype._needsCopy;
Kernel.prototype._needsCopy = function (entry, name, value) {
  const r = needsCopy.call(this, entry, name, value);
  if (r && value?.length) c.gpujsIn += value.length * 4;
  return r;
};
for (let i = 0; i < 2; i++) await step();

for (const k in c) c[k] = 0;
const gemm = device.wasmGemm;
const simd = device.elementwiseInstance;
const simdCopied0 = simd?.bytesCopied ?? 0;
const arena0 = device.wasmArena.stats();
gemm.times = { ...gemm.times, calls: 0, bytesIn: 0, bytesOut: 0, bytesInPlace: 0, copyInMs: 0, copyOutMs: 0, kernelMs: 0 };
// the engine's profile times each kernel with performance.now: make that the process's CPU clock
if (!copies && !wall) performance.now = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
if (!copies) {
  device.profile = true;
  device.resetStats();
}
const times = [];
for (let i = 0; i < steps; i++) times.push(await step());
device.profile = false;
performance.now = wallNow;

const load = os.loadavg().map((v) => v.toFixed(2)).join(' ');
console.log(`${steps} steps, wall/CPU ms: ${times.map(([w, u]) => `${w.toFixed(0)}/${u.toFixed(0)}`).join(' ')}; load ${load}; ` +
  `FLASHGRAD_WASM_HOST_OPS=${process.env.FLASHGRAD_WASM_HOST_OPS ?? '1'}`);
if (copies) {
  const MB = (b) => (b / steps / 1e6).toFixed(1);
  const g = gemm.times;
  const a = device.wasmArena.stats();
  console.log(`per step: gpu.js ${c.gpujsCalls / steps} calls, copy-in ${MB(c.gpujsIn)} MB, copy-out ${MB(c.gpujsOut)} MB; ` +
    `GEMM ${g.calls / steps} calls, in ${MB(g.bytesIn)} MB, out ${MB(g.bytesOut)} MB (${((g.copyInMs + g.copyOutMs) / steps).toFixed(1)} ms copying), ` +
    `${MB(g.bytesInPlace)} MB read or written in place; SIMD gelu ${MB((simd?.bytesCopied ?? 0) - simdCopied0)} MB copied; ` +
    `host loops ${c.hostCalls / steps} calls, ${MB(c.hostOut)} MB written in place`);
  console.log(`arena: ${(a.memoryBytes / 2 ** 20).toFixed(1)} MiB, tensors ${(a.tensorBytes / 2 ** 20).toFixed(1)} MiB live, ` +
    `${(a.freeBytes / 2 ** 20).toFixed(1)} MiB free; per step ${(a.reused - arena0.reused) / steps} blocks reused, ` +
    `${(a.fresh - arena0.fresh) / steps} new, ${(a.refused - arena0.refused) / steps} tensors refused (plain arrays)`);
} else {
  const rows = Object.entries(device.stats().byOp).map(([k, s]) => [k, s.calls / steps, s.ms / steps]).sort((a, b) => b[2] - a[2]);
  console.log(`${wall ? 'wall' : 'CPU'} ms per step | calls | kernel key`);
  for (const [k, calls, ms] of rows) console.log(`${ms.toFixed(2).padStart(8)} | ${String(calls).padStart(4)} | ${k}`);
  console.log(`${rows.reduce((t, r) => t + r[2], 0).toFixed(1).padStart(8)} | in kernels`);
}
await device.destroy();
process.exit(0);
