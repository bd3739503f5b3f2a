// The two webgpu measurements behind the kernel design (BENCHMARKS.md, "Round 2"), at the gpu.js
// level, below our device: (1) what a kernel call costs when gpu.js allocates its output buffer
// at every call (immutable pipeline mode) against reusing one (what the engine's instance pool
// does); (2) matmul thread layouts: the float-pointer kernel, the integer-index kernel we ship,
// k unrolled ×4, and 2×2 outputs per thread laid out per 8×4 warp or per thread. Prints tables and
// writes bench-results/webgpu-design.json.
//
//   pnpm build && DAWN_FLAGS=backend=vulkan node examples/bench-webgpu-design.js 4096 2048 1024,768,3072
import { mkdirSync, writeFileSync } from 'node:fs';
import { startRuntime } from '../packages/core/dist/devices/gpujs/runtime.js';
import { matmulSpec } from '../packages/core/dist/devices/gpujs/kernels/matmul.js';

const shapes = (process.argv.slice(2).length ? process.argv.slice(2) : ['1024']).map((s) => {
  const d = s.split(',').map(Number);
  return d.length === 1 ? [d[0], d[0], d[0]] : d;
});
const rt = await startRuntime('webgpu');
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const settings = (output, extra = {}) => ({ output, pipeline: true, immutable: true, precision: 'single', loopMaxIterations: 1 << 24, ...extra });

async function upload(x) {
  const k = rt.gpu.createKernel('function (x) { return x[this.thread.x]; }', settings([x.length]));
  const r = await k(x);
  await rt.drain();
  return r;
}

/** ms per call of `call` (which returns a result handle), 10 calls back to back, median of 5. */
async function perCall(call, release) {
  release(await call());
  await rt.drain();
  const ts = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    for (let j = 0; j < 10; j++) release(await call());
    await rt.drain();
    ts.push((performance.now() - t0) / 10);
  }
  return median(ts);
}

// (1) output allocation per call
const alloc = [];
for (const n of [1 << 20, 1 << 22, 1 << 24]) {
  const x = await rt.gpu.createKernel('function () { return this.thread.x * 0.000001; }', settings([n]))();
  for (const immutable of [true, false]) {
    const k = rt.gpu.createKernel('function (a) { return Math.exp(a[this.thread.x]); }', settings([n], { immutable }));
    const ms = await perCall(() => k(x), (r) => immutable && r.delete());
    alloc.push({ n, freshOutput: immutable, ms, GBps: (n * 8) / ms / 1e6 });
    console.log(`exp over ${n} floats, ${immutable ? 'new output buffer per call' : 'output buffer reused    '}: ${ms.toFixed(3)} ms (${(n * 8 / ms / 1e6).toFixed(0)} GB/s)`);
  }
}

// (2) matmul layouts: R×C outputs per thread (R·C = 4), k blocked by 256 and unrolled U, integer indices
function twoByTwo(M, K, N, warpShaped) {
  // warp-shaped: lane = (x & 7) + 8(y & 3) covers 2 rows × 64 columns, a thread's columns 32 apart
  const rows = warpShaped ? [0, 1].map((r) => `((this.thread.y >> 2) * 2 + ${r})`) : [0, 1].map((r) => `(this.thread.y * 2 + ${r})`);
  const lane = '((this.thread.x & 7) + 8 * (this.thread.y & 3))';
  const cols = warpShaped ? [0, 1].map((c) => `((this.thread.x >> 3) * 64 + ${lane} + ${32 * c})`) : [0, 1].map((c) => `(this.thread.x * 2 + ${c})`);
  const acc = ['s00', 's01', 's10', 's11'];
  const k = '(kb * 256 + k)';
  const body = `const a0 = a[${rows[0]} * ${K} + ${k}]; const a1 = a[${rows[1]} * ${K} + ${k}]; ` +
    `const b0 = b[${k} * ${N} + ${cols[0]}]; const b1 = b[${k} * ${N} + ${cols[1]}]; ` +
    's00b += a0 * b0; s01b += a0 * b1; s10b += a1 * b0; s11b += a1 * b1; ';
  const source = `function (a, b) { ${acc.map((s) => `let ${s} = 0.0;`).join(' ')} for (let kb = 0; kb < ${K / 256}; kb++) { ` +
    `${acc.map((s) => `let ${s}b = 0.0;`).join(' ')} for (let k = 0; k < 256; k++) { ${body}} ${acc.map((s) => `${s} += ${s}b;`).join(' ')} } ` +
    `return [${acc.join(', ')}]; }`;
  return { source, output: warpShaped ? [8 * N / 64, 4 * M / 2] : [N / 2, M / 2], returnType: 'Array(4)' };
}

const layouts = [];
for (const [M, K, N] of shapes) {
  const a = await upload(new Float32Array(M * K).map((_, i) => ((i * 7) % 13) / 13 - 0.5));
  const b = await upload(new Float32Array(K * N).map((_, i) => ((i * 5) % 11) / 11 - 0.5));
  const variants = {
    'float pointers (before)': matmulSpec([M, K], [K, N], false, false, [], undefined, 1, undefined, 'pointers'),
    'integer indices (shipped)': matmulSpec([M, K], [K, N], false, false, []),
    'integer, k unrolled ×4': matmulSpec([M, K], [K, N], false, false, [], undefined, 4),
    '2×2 per thread': K % 256 === 0 ? twoByTwo(M, K, N, false) : null,
    '2×2, warp-shaped': K % 256 === 0 && N % 64 === 0 ? twoByTwo(M, K, N, true) : null,
  };
  for (const [name, spec] of Object.entries(variants)) {
    if (!spec) continue;
    const k = rt.gpu.createKernel(spec.source, settings(spec.output, spec.returnType ? { returnType: spec.returnType } : {}));
    const ms = await perCall(() => k(a, b), (r) => r.delete());
    k.destroy();
    const tflops = (2 * M * K * N) / ms / 1e9;
    layouts.push({ M, K, N, layout: name, ms, tflops });
    console.log(`matmul ${M}×${K}×${N}  ${name.padEnd(26)} ${ms.toFixed(3).padStart(8)} ms  ${tflops.toFixed(2).padStart(6)} TFLOP/s`);
  }
}
mkdirSync('bench-results', { recursive: true });
writeFileSync('bench-results/webgpu-design.json', JSON.stringify({ device: rt.description, date: new Date().toISOString(), alloc, layouts }, null, 2));
console.log(`${rt.description}; wrote bench-results/webgpu-design.json`);
process.exit(0);
