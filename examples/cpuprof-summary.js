// CPU profile of a wasm run by cost kind and thread, in ms per step: the GEMM's wasm, its JS
// (copies into and out of its memory), its waits for the other thread; gpu.js's webasm kernels,
// its JS and its copies (flattenTo); the host loops; flashgrad's own JS; GC; postMessage.
//
//   node --cpu-prof --cpu-prof-dir=/tmp/prof examples/bench-step.js wasm --steps 30 --warmup 3
//   node examples/cpuprof-summary.js /tmp/prof 33      # the directory, and the steps it ran (warm-up included)
//
// The main thread's profile is the first file (Node names them in start order); the GEMM's module
// is the wasm module its busiest worker runs most. A worker blocked in Atomics.wait shows as the
// JS function that waits, so those rows are waiting, not work.
import { readFileSync, readdirSync } from 'node:fs';
const dir = process.argv[2]; const steps = Number(process.argv[3]);
const cats = new Map(); let gemmModule = null;
const files = readdirSync(dir).sort();
// the GEMM's module: the wasm module the busiest worker runs most (gpu.js's own workers run theirs)
{ const t = new Map(); for (const f of files.slice(1)) { const p = JSON.parse(readFileSync(`${dir}/${f}`)); const byId = new Map(p.nodes.map((n) => [n.id, n]));
  for (let i = 0; i < p.samples.length; i++) { const u = byId.get(p.samples[i]).callFrame.url; if (u.startsWith('wasm://')) t.set(u, (t.get(u) ?? 0) + p.timeDeltas[i]); } }
  gemmModule = [...t].sort((a, b) => b[1] - a[1])[0]?.[0].split('/')[3]; }
for (const [fi, f] of files.entries()) {
  const p = JSON.parse(readFileSync(`${dir}/${f}`)); const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const thread = fi === 0 ? 'main' : 'worker';
  for (let i = 0; i < p.samples.length; i++) {
    const cf = byId.get(p.samples[i]).callFrame; const u = cf.url; let c;
    if (cf.functionName === '(idle)') c = 'idle';
    else if (cf.functionName === '(garbage collector)') c = 'GC';
    else if (u.includes('wasm-gemm/pool')) c = 'GEMM: waiting for the other thread (Atomics.wait)';
    else if (u.includes('wasm-gemm/')) c = 'GEMM: JS (copies into/out of its memory, setup)';
    else if (u.startsWith('wasm://')) { const m = u.split('/')[3]; c = m === gemmModule ? 'GEMM: wasm' : 'gpu.js webasm: wasm'; }
    else if (u.includes('[worker eval]')) c = 'worker JS (GEMM worker: mostly Atomics.wait between jobs)';
    else if (u.includes('gpu.js/src/utils')) c = 'gpu.js: copy in/out (flattenTo)';
    else if (u.includes('gpu.js')) c = 'gpu.js: JS (kernel run, args)';
    else if (cf.functionName === 'postMessage') c = 'postMessage';
    else if (u.includes('host-ops/')) c = 'host loops (host-ops)';
    else if (u.includes('packages/core') || u.includes('packages/models') || u.includes('packages/attention')) c = 'flashgrad host code (engine, autograd, models)';
    else c = `${thread} other`;
    c = `${thread}: ${c}`;
    cats.set(c, (cats.get(c) ?? 0) + p.timeDeltas[i]);
  }
}
for (const [k, us] of [...cats].sort((a, b) => b[1] - a[1])) if (!k.endsWith('idle') && us / 1000 / steps >= 0.5) console.log((us / 1000 / steps).toFixed(1).padStart(7), 'ms/step', k);
