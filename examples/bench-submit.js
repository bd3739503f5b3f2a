// Host cost of one gpu.js webgpu kernel call, below our engine: a pipeline kernel (output kept on
// the GPU, its buffer reused) called many times back to back on a resident input of 64 floats and
// of 1M floats. "host µs/call" is the time of the loop that makes the calls (what the CPU spends
// per call; the GPU runs behind it); "wall µs/call" adds the wait for the GPU to finish them all.
// Prints a table and writes bench-results/submit[-tag].json.
//
//   node examples/bench-submit.js [--tag after] [--calls 2000] [--submit-limit 64]
//   GPUJS=$g/gpu.js-base node examples/bench-submit.js --tag before
//
// GPUJS names the gpu.js folder to load (default: the one @flashgrad/core resolves), so the
// published gpu.js and the patched one run on one machine in one session. The published copy sits
// beside the patched one so its dependencies resolve:
//   g=$(dirname "$(readlink -f node_modules/.pnpm/gpu.js@2.24.1_patch*/node_modules/gpu.js)")
//   (cd /tmp && npm pack -q gpu.js@2.24.1) && mkdir -p $g/gpu.js-base &&
//     tar -xzf /tmp/gpu.js-2.24.1.tgz --strip-components=1 -C $g/gpu.js-base
// Dawn's flags come from DAWN_FLAGS / WGPU_FEATURE_LEVEL as in the engine (opengles +
// compatibility when unset).
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';

const argv = process.argv.slice(2);
const flag = (name, fallback) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : fallback;
};
const tag = flag('tag', '');
const calls = Number(flag('calls', 2000));

const coreRequire = createRequire(new URL('../packages/core/package.json', import.meta.url));
const gpujsDir = process.env.GPUJS ? path.resolve(process.env.GPUJS) : path.dirname(coreRequire.resolve('gpu.js/package.json'));
const gpujsRequire = createRequire(path.join(gpujsDir, 'package.json'));
const gpujs = gpujsRequire('./src/index.js');
const webgpu = gpujsRequire('webgpu');

const flags = (process.env.DAWN_FLAGS ?? 'backend=opengles').split(',').filter(Boolean);
const featureLevel = process.env.WGPU_FEATURE_LEVEL ?? (flags.some((f) => f.includes('opengles')) ? 'compatibility' : 'core');
if (flags.some((f) => f.includes('opengles')) && process.env.EGL_PLATFORM === undefined) process.env.EGL_PLATFORM = 'surfaceless';
Object.assign(globalThis, webgpu.globals);
const dawn = webgpu.create(flags);
Object.defineProperty(globalThis, 'navigator', {
  value: { gpu: { requestAdapter: (o) => dawn.requestAdapter({ featureLevel, ...o }) } }, configurable: true, writable: true,
});
const { device } = await gpujs.WebGPUContext.acquire();
const adapterName = (await dawn.requestAdapter({ featureLevel }))?.info?.description ?? 'adapter';
const flush = () => gpujs.WebGPUContext.flush?.();
const submitLimit = flag('submit-limit', null);
if (submitLimit !== null) gpujs.WebGPUContext.setSubmitLimit(Number(submitLimit));
const drain = async () => {
  flush();
  await device.queue.onSubmittedWorkDone();
};

const gpu = new gpujs.GPU({ mode: 'webgpu' });
const settings = (n) => ({ output: [n], pipeline: true, immutable: false, precision: 'single' });
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function perCall(n, calls) {
  const x = await gpu.createKernel(function () { return this.thread.x * 0.001; }, settings(n))();
  const k = gpu.createKernel(function (a) { return a[this.thread.x] * 2 + 1; }, settings(n));
  await k(x);
  await drain();
  const host = [];
  const wall = [];
  for (let run = 0; run < 7; run++) {
    const t0 = performance.now();
    let last;
    for (let i = 0; i < calls; i++) last = k(x);
    const t1 = performance.now();
    const r = await last;
    await drain();
    const t2 = performance.now();
    host.push(((t1 - t0) * 1000) / calls);
    wall.push(((t2 - t0) * 1000) / calls);
    void r;
  }
  const check = await (await k(x)).toArray();
  if (Math.abs(check[n - 1] - ((n - 1) * 0.001 * 2 + 1)) > 1e-3 * n) throw new Error(`wrong result ${check[n - 1]}`);
  return { n, calls, hostUs: median(host), hostMinUs: Math.min(...host), hostMaxUs: Math.max(...host), wallUs: median(wall) };
}

const rows = [];
// 1M floats: a tenth of the calls (on a software rasterizer each one is milliseconds of work)
for (const n of [64, 1 << 20]) rows.push(await perCall(n, n > 4096 ? Math.max(20, calls / 10) : calls));
const version = gpujs.WebGPUContext.flush ? `batched (one submission for up to ${gpujs.WebGPUContext.submitLimit} calls)` : 'one submit per call';
console.log(`gpu.js webgpu over Dawn [${flags.join(', ')}] ${featureLevel}: ${adapterName}; gpu.js at ${path.relative(process.cwd(), gpujsDir)}: ${version}`);
console.log('floats | calls/run | host µs/call median (min–max of 7 runs) | wall µs/call');
for (const r of rows) console.log(`${r.n} | ${r.calls} | ${r.hostUs.toFixed(1)} (${r.hostMinUs.toFixed(1)}–${r.hostMaxUs.toFixed(1)}) | ${r.wallUs.toFixed(1)}`);
mkdirSync('bench-results', { recursive: true });
const out = `bench-results/submit${tag ? `-${tag}` : ''}.json`;
writeFileSync(out, `${JSON.stringify({ adapter: adapterName, flags, featureLevel, version, gpujs: path.relative(process.cwd(), gpujsDir), rows, host: { cpus: os.cpus().length, node: process.version, loadavg: os.loadavg() }, date: new Date().toISOString(), tag }, null, 2)}\n`);
console.log(`wrote ${out}`);
process.exit(0);
