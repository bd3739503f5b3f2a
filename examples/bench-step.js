// One GPT training step (forward, backward, AdamW) at the peers' shape: ms/step (median of warm
// steps, with the spread) and kernel calls per step, by op. Prints a table and writes
// bench-results/step-<device>[-<tag>].json.
//
//   pnpm build && node examples/bench-step.js wasm
//   node examples/bench-step.js wasm --shape tiny --steps 20 --profile --tag after
//   FLASHGRAD_DEVICE=webgpu node examples/bench-step.js
//
// Shapes: `peers` is the step of ../shared/peers/tfjs-bench.mjs and torch-gpt-step.py (4 layers,
// 4 heads, 128 wide, T = 64, B = 12, vocab 65, dropout 0, biases, Adam without clipping);
// `tiny` is the `tiny` preset (2 layers, 64 wide, B = 16) with `pnpm train`'s gradient clipping.
// `small` is the `small` preset (6 layers, 6 heads, 384 wide, T = 256, B = 16, dropout 0.2, no
// biases); --batch, --dropout, --n-layer, --n-head, --n-embd and --block-size override the
// shape's (the default-run recipe search: `--shape tiny --n-layer 1 --n-embd 128`). --profile adds
// one untimed step with every kernel timed (on webgpu each kernel then waits for the GPU: kernel
// time, not submit time) and the time spent outside kernels, then the --top N (40) kernel keys
// (kernel and shapes) by time. On webgpu each profiled call is also replayed --replays R (8) times
// back to back with one wait at the end: that mean ("GPU ms") is the kernel's cost inside a step,
// which a lone call waited for is not (it pays a round trip to the host, on a GPU whose clocks drop
// while it waits); keys sort by it. "host ms/step" is the synchronous part of a step: building the
// graph and recording its kernels.
//   node examples/bench-step.js webgpu --shape small --steps 5 --warmup 2 --profile
// --cpuprof DIR writes a CPU profile of the timed steps (examples/cpuprof-top.js DIR STEPS reads it).
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { Mulberry32, manualSeed, memory, optim, setDevice, tidy } from '@flashgrad/core';
import { GPT } from '@flashgrad/models';

// --name value pairs; --profile alone; anything else is the device name
const argv = process.argv.slice(2);
const flags = {};
const positional = [];
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (!a.startsWith('--')) positional.push(a);
  else if (a === '--profile') flags.profile = true;
  else flags[a.slice(2)] = argv[++i];
}
const flag = (name, fallback) => flags[name] ?? fallback;
const deviceName = positional[0] ?? process.env.FLASHGRAD_DEVICE ?? 'wasm';
const shapeName = flag('shape', 'peers');
const steps = Number(flag('steps', 10));
const warmup = Number(flag('warmup', 3));
const attention = flag('attention', 'flash');
const profile = flag('profile', false) === true;
const tag = flag('tag', '');
const clipKernels = flag('clip-kernels', 'no') === 'yes';

const shapes = {
  peers: { config: { vocabSize: 65, blockSize: 64, nLayer: 4, nHead: 4, nEmbd: 128, dropout: 0, bias: true }, batch: 12, clip: 0 },
  tiny: { config: { vocabSize: 65, blockSize: 64, nLayer: 2, nHead: 4, nEmbd: 64, dropout: 0, bias: true }, batch: 16, clip: 1 },
  // the `small` preset (nanoGPT shakespeare-char), one micro-batch of 16
  small: { config: { vocabSize: 65, blockSize: 256, nLayer: 6, nHead: 6, nEmbd: 384, dropout: 0.2, bias: false }, batch: 16, clip: 1 },
  // GPT-2 124M (the `gpt2` preset's model) at PyTorch's peer shape B4 T1024, one micro-batch
  gpt2: { config: { vocabSize: 50257, blockSize: 1024, nLayer: 12, nHead: 12, nEmbd: 768, dropout: 0, bias: true }, batch: 4, clip: 1 },
};
const shape = shapes[shapeName];
if (!shape) throw new Error(`--shape must be one of ${Object.keys(shapes).join(', ')}`);
const clip = Number(flag('clip', shape.clip));

const device = await setDevice(deviceName);
// webgpu: --tiles aquads gives every tiled matmul A by transposed quads (where A allows it),
// --tiles nosplit turns split-K off (the tile chooseTile picks for a product with an epilogue)
const tiles = flag('tiles', 'default');
if (tiles !== 'default') {
  const base = device.matmulTiles;
  if (!base || !['aquads', 'nosplit'].includes(tiles)) throw new Error('--tiles must be default, aquads or nosplit (webgpu)');
  device.matmulTiles = tiles === 'aquads' ? (m, n, c, k, e) => ({ ...base(m, n, c, k, e), aQuadTranspose: true })
    : (m, n, c, k) => base(m, n, c, k, true);
}
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

manualSeed(0);
const config = { ...shape.config, attention };
if (flags.dropout !== undefined) config.dropout = Number(flags.dropout);
// the model's shape overridden flag by flag (the default-run recipe search, issue 12)
for (const [flagName, key] of [['n-layer', 'nLayer'], ['n-head', 'nHead'], ['n-embd', 'nEmbd'], ['block-size', 'blockSize']]) {
  if (flags[flagName] !== undefined) config[key] = Number(flags[flagName]);
}
const model = new GPT(config);
const { decay, noDecay } = model.decayGroups();
const opt = new optim.AdamW([{ params: decay, weightDecay: 0.1 }, { params: noDecay, weightDecay: 0 }], { lr: 1e-3 });
const B = Number(flag('batch', shape.batch));
const T = config.blockSize;
// random tokens: the data does not change the work
const tokens = new Mulberry32(1234);
const batch = () => Int32Array.from({ length: B * T }, () => Math.floor(tokens.next() * config.vocabSize));

let lastLoss = NaN;
// CPU time of the whole process (worker threads included) per step: on a shared machine wall time
// swings with other processes' load, while the work itself does not
const cpuTimes = [];
// the synchronous part of each step (graph, kernels recorded), ms
const hostTimes = [];
async function step() {
  const x = batch();
  const y = batch();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const loss = tidy(() => {
    const l = model.forward({ data: x, shape: [B, T] }, { data: y, shape: [B, T] }).loss;
    l.backward();
    return l;
  });
  // --clip-kernels: clipping's scaling as kernels of its own (optim.clipGradNorm), the path before
  // AdamW.clipGradNorm folded the factor into the update
  if (clip > 0) (clipKernels ? optim.clipGradNorm(model.parameters(), clip) : opt.clipGradNorm(model.parameters(), clip)).dispose();
  opt.step();
  opt.zeroGrad();
  hostTimes.push(performance.now() - t0);
  lastLoss = await loss.item();
  loss.dispose();
  await device.sync(); // the parameter updates too
  const c = process.cpuUsage(c0);
  cpuTimes.push((c.user + c.system) / 1000);
  return performance.now() - t0;
}

const hasStats = typeof device.stats === 'function';
for (let i = 0; i < warmup; i++) await step();
// --cpuprof DIR: a CPU profile of the main thread over the timed steps only (no compiles, no
// start-up), for examples/cpuprof-top.js
const cpuprofDir = flag('cpuprof', '');
const inspector = cpuprofDir ? new (await import('node:inspector/promises')).Session() : null;
if (inspector) {
  inspector.connect();
  await inspector.post('Profiler.enable');
  await inspector.post('Profiler.start');
}
cpuTimes.length = 0;
hostTimes.length = 0;
const times = [];
let calls = null;
let byOp = null;
for (let i = 0; i < steps; i++) {
  if (hasStats) device.resetStats();
  times.push(await step());
  if (hasStats && calls === null) {
    const s = device.stats();
    calls = s.kernelCalls;
    byOp = s.byOp;
  }
}
const timedLoss = lastLoss;
if (inspector) {
  const { profile: cpuProfile } = await inspector.post('Profiler.stop');
  mkdirSync(cpuprofDir, { recursive: true });
  writeFileSync(`${cpuprofDir}/timed-steps.cpuprofile`, JSON.stringify(cpuProfile));
  inspector.disconnect();
}
const cpuMs = median(cpuTimes.slice(0, times.length));
const hostMs = median(hostTimes.slice(0, times.length));
let profiled = null;
if (profile && hasStats) {
  device.profile = true;
  if ('profileReplays' in device) device.profileReplays = Number(flag('replays', 8));
  device.resetStats();
  const ms = await step();
  device.profile = false;
  const st = device.stats();
  profiled = { ms, byOp: st.byOp, byKey: st.byKey ?? null };
}

const row = {
  shape: shapeName, device: device.name, description: device.description ?? device.name, attention, clip,
  config, batch: B, params: model.numParameters(),
  steps: times.length, msPerStep: median(times), msMin: Math.min(...times), msMax: Math.max(...times),
  times: times.map((t) => Math.round(t * 10) / 10),
  cpuMsPerStep: cpuMs, hostMsPerStep: hostMs, cpuTimes: cpuTimes.slice(0, times.length).map((t) => Math.round(t)),
  kernelCallsPerStep: calls, compiledKernels: hasStats ? device.stats().compiledKernels : null,
  byOp, profiled, tiles, loss: lastLoss, timedLoss, peakBytes: memory().peakBytes,
  host: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, node: process.version, loadavg: os.loadavg().map((v) => Math.round(v * 100) / 100) },
  date: new Date().toISOString(), tag,
};

const f1 = (v) => v.toFixed(1);
console.log(`${row.description}; GPT ${config.nLayer}L/${config.nHead}H/${config.nEmbd}, T=${T}, B=${B}, ${attention} attention, clip ${clip || 'off'}; ${row.params} params`);
console.log('shape | steps | ms/step (min–max) | CPU ms/step | host ms/step | kernel calls/step | tokens/s');
console.log(`loss: last timed step ${timedLoss}${profiled ? `, profiled step ${lastLoss}` : ''}`);
console.log(`${shapeName} | ${row.steps} | ${f1(row.msPerStep)} (${f1(row.msMin)}–${f1(row.msMax)}) | ${f1(cpuMs)} | ${f1(hostMs)} | ${calls ?? 'n/a'} | ${Math.round((B * T) / (row.msPerStep / 1000))}`);
if (byOp) {
  const src = profiled?.byOp ?? byOp;
  console.log(`\nop | calls/step${profiled ? ` | ms (profiled step: ${f1(profiled.ms)} ms)` : ''}`);
  for (const [op, s] of Object.entries(src)) console.log(`${op} | ${s.calls}${profiled ? ` | ${s.ms.toFixed(2)}` : ''}`);
  if (profiled) {
    // what the step spent outside kernels: building the graph, host-side work (masks, indices)
    const inKernels = Object.values(profiled.byOp).reduce((t, s) => t + s.ms, 0);
    const replays = Object.values(profiled.byKey ?? {}).reduce((t, s) => t + (s.replayMs ?? 0), 0) * (device.profileReplays ?? 0);
    profiled.hostMs = profiled.ms - inKernels - replays;
    console.log(`(outside kernels) | | ${profiled.hostMs.toFixed(2)}`);
  }
  if (profiled?.byKey) {
    // per kernel and shape (the spec key bakes the shapes in): which call site costs what
    const keys = Object.entries(profiled.byKey);
    const replayed = keys.some(([, s]) => s.replayMs !== undefined);
    if (replayed) {
      keys.sort((a, b) => (b[1].replayMs ?? 0) - (a[1].replayMs ?? 0));
      profiled.gpuMs = keys.reduce((t, [, s]) => t + (s.replayMs ?? 0), 0);
      console.log(`GPU ms of the step (sum of replayed calls) | | ${profiled.gpuMs.toFixed(2)}`);
    }
    const top = Number(flag('top', 40));
    console.log(`\nkernel key (shapes) | calls | ms | ms/call${replayed ? ' | GPU ms | GPU ms/call' : ''}   (top ${Math.min(top, keys.length)} of ${keys.length} by ${replayed ? 'GPU ' : ''}ms)`);
    for (const [k, s] of keys.slice(0, top)) {
      const gpu = replayed ? ` | ${(s.replayMs ?? 0).toFixed(2)} | ${((s.replayMs ?? 0) / s.calls).toFixed(3)}` : '';
      console.log(`${k.length > 110 ? `${k.slice(0, 107)}...` : k} | ${s.calls} | ${s.ms.toFixed(2)} | ${(s.ms / s.calls).toFixed(3)}${gpu}`);
    }
  }
}
mkdirSync('bench-results', { recursive: true });
const out = `bench-results/step-${device.name}${shapeName === 'peers' ? '' : `-${shapeName}`}${tag ? `-${tag}` : ''}.json`;
writeFileSync(out, `${JSON.stringify(row, null, 2)}\n`);
console.log(`\nwrote ${out}`);
if (typeof device.destroy === 'function') await device.destroy();
process.exit(0);
