// The webgpu FlashAttention kernels one at a time: each kernel called R times back to back with
// one sync at the end (GPU time per call, host and sync latency amortised), beside flashAttention
// forward+backward synced after every call (the way bench-attention.js times it) and R calls per
// sync. Tells the kernels' time from the host path's. d = 64 unless BENCH_D.
//
//   npx tsc -b && node examples/bench-flash-kernels.js
//   BENCH_N=1024,4096 BENCH_BH=1,8 BENCH_R=20 node examples/bench-flash-kernels.js
//   BENCH_VARIANTS=path/to/variants.js …   (a module exporting { name: (plan) => plan' } to time
//     the same kernels under another geometry: plan.fwd / plan.dq / plan.bwd (br, bc, lanes, qt, kt),
//     the splits dqSplit / dkvSplit; a split plan's line adds its sum kernel, psum)
//   BENCH_SPARSITY=0,0.5 …   (block-sparse: that fraction of 64 × 64 blocks hidden, the pattern of
//     bench-attention.js's BENCH_SPARSITY; each plan's kernels read that plan's tile table; a variant
//     kernel whose tiles equal the shipped plan's is not timed again)
//   BENCH_BASELINE=path/to/attention/dist …   (also times that build's kernels, e.g. the previous
//     round's, under the shipped plan, so a change is measured against what it replaces in one process)
// Before each N the GPU is kept busy for BENCH_WARM_MS (300): an idle H200 clocks down; before each
// timing a heater (gpu-heater.js, BENCH_HEAT_MS) raises the clock short kernels do not.
import { manualSeed, randn, setDevice, tidy } from '@flashgrad/core';
import { flashAttention } from '@flashgrad/attention';
import { forwardSpec } from '../packages/attention/dist/webgpu/forward.js';
import { dkvSpec, dqSpec } from '../packages/attention/dist/webgpu/backward.js';
import { splitSumSpec } from '../packages/attention/dist/webgpu/reduce.js';
import { workgroupPlan } from '../packages/attention/dist/webgpu/geometry.js';
import { sparseTable } from '../packages/attention/dist/webgpu/sparse-table.js';
import { validateBlockMask } from '../packages/attention/dist/validate.js';
import { gpuHeater } from './gpu-heater.js';
import { sparseGrid } from './sparse-grid.js';

const NS = (process.env.BENCH_N ?? '1024,4096,16384').split(',').map(Number);
const BHS = (process.env.BENCH_BH ?? '1,8').split(',').map(Number);
const R = Number(process.env.BENCH_R ?? 20);
const d = Number(process.env.BENCH_D ?? 64);
const CAUSAL = (process.env.BENCH_CAUSAL ?? '0').split(',').map((c) => c === '1');
const SPARSITY = (process.env.BENCH_SPARSITY ?? '').split(',').filter((x) => x !== '').map(Number);
const variants = process.env.BENCH_VARIANTS ? (await import(process.env.BENCH_VARIANTS)).default : {};
const WARM_MS = Number(process.env.BENCH_WARM_MS ?? 300);
const baseline = process.env.BENCH_BASELINE
  ? await (async (dir) => ({
    forwardSpec: (await import(`${dir}/webgpu/forward.js`)).forwardSpec,
    ...(await import(`${dir}/webgpu/backward.js`)),
    workgroupPlan: (await import(`${dir}/webgpu/geometry.js`)).workgroupPlan,
  }))(new URL(process.env.BENCH_BASELINE, `file://${process.cwd()}/`).href)
  : null;

const device = await setDevice('webgpu');
console.log(`# ${device.description}; d = ${d}, R = ${R} calls a sync, ${new Date().toISOString()}`);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const heater = gpuHeater(device);

/** Median over 5 batches of (R calls, one sync): ms a call, and the host ms a call before the sync. */
async function batched(call, check) {
  call(); await device.sync(); // compile, warm
  if (check) await check(); // a kernel that failed to build says so here, not as a fast empty run
  await heater();
  const per = [], host = [];
  for (let b = 0; b < 5; b++) {
    const t0 = performance.now();
    for (let r = 0; r < R; r++) call();
    const t1 = performance.now();
    await device.sync();
    per.push((performance.now() - t0) / R);
    host.push((t1 - t0) / R);
  }
  return { ms: median(per), host: median(host) };
}

async function synced(call) {
  call(); await device.sync();
  const ts = [];
  for (let b = 0; b < 7; b++) {
    const t0 = performance.now();
    call();
    await device.sync();
    ts.push(performance.now() - t0);
  }
  return median(ts);
}

const t0 = performance.now();
for (let i = 0; i < 20; i++) await device.sync();
console.log(`empty sync: ${((performance.now() - t0) / 20).toFixed(3)} ms`);

for (const N of NS) for (const BH of BHS) for (const causal of CAUSAL) for (const fraction of SPARSITY.length ? SPARSITY : [null]) {
  manualSeed(N);
  const [q, k, v, dO] = [0, 0, 0, 0].map(() => randn([1, BH, N, d], { requiresGrad: true }));
  const dims = { B: 1, H: BH, Nq: N, Nk: N, d };
  const sparse = fraction === null ? null : sparseGrid(N, fraction);
  // fraction 0 is dense (no grid), as in bench-attention.js, so the ratio is dense's plan against the grid's
  const blockMask = fraction ? sparse.grid : undefined;
  const tag = `N ${N} BH ${BH} causal ${causal}${sparse ? ` hidden ${sparse.hidden.toFixed(3)}` : ''}`;
  const mask = { dims, causal, offset: 0, grid: blockMask ? validateBlockMask('bench', blockMask, dims) : null };
  const base = workgroupPlan(mask, 1 / Math.sqrt(d), null, device.workgroupBytes);
  const plans = { shipped: base, ...Object.fromEntries(Object.entries(variants).map(([n, f]) => [n, f(base)])) };
  const sameTiles = (a, b) => a.br === b.br && a.bc === b.bc && a.lanes === b.lanes;
  const same = {
    fwd: (a, b) => sameTiles(a.fwd, b.fwd),
    dq: (a, b) => sameTiles(a.dq, b.dq) && a.dqSplit === b.dqSplit,
    dkv: (a, b) => sameTiles(a.bwd, b.bwd) && a.dkvSplit === b.dkvSplit,
    psum: (a, b) => a.dqSplit === b.dqSplit && a.dkvSplit === b.dkvSplit,
  };
  // a variant's kernels whose tiles (and split) are the shipped ones are left out (timed under 'shipped')
  const specsOf = (plan) => Object.fromEntries(Object.entries({
    fwd: () => forwardSpec(plan), dq: () => dqSpec(plan), dkv: () => dkvSpec(plan),
    ...(plan.dqSplit > 1 || plan.dkvSplit > 1 ? { psum: () => splitSumSpec(plan, plan.dqSplit > 1, plan.dkvSplit > 1) } : {}),
  }).filter(([k]) => plan === base || !same[k](plan, base)).map(([k, f]) => [k, f()]));
  const tables = new Map(); // each plan's tile table, uploaded once
  const tableOf = (plan) => {
    if (!mask.grid) return [];
    if (!tables.has(plan)) tables.set(plan, device.upload(sparseTable(mask, plan)));
    return [tables.get(plan)];
  };
  const kernels = Object.entries(plans).map(([name, plan]) => [name, plan, specsOf(plan)]);
  if (baseline) {
    const old = baseline.workgroupPlan(mask, 1 / Math.sqrt(d), null);
    kernels.unshift(['baseline', old, { fwd: baseline.forwardSpec(old), dq: baseline.dqSpec(old), dkv: baseline.dkvSpec(old) }]);
  }
  // the saved O|L buffer for the backward kernels: one forward's result, kept
  const savedBuf = device.runKernel(forwardSpec(base), [q.buffer(), k.buffer(), v.buffer(), ...tableOf(base)]);
  // dQ's result (Δ first, then dQ): the dK/dV kernels read its Δ, at the same place under every split
  const dqdBuf = device.runKernel(dqSpec(base), [q.buffer(), k.buffer(), v.buffer(), dO.buffer(), savedBuf, ...tableOf(base)]);
  const flops = { fwd: 4, dq: 6, dkv: 8, psum: 0 }; // × BH·N²·d (causal: about half)
  // a split plan's sum kernel reads its own plan's dQ and dK/dV results (their layouts hold one part a split)
  const sumArgs = (plan) => {
    const dqd = device.runKernel(dqSpec(plan), [q.buffer(), k.buffer(), v.buffer(), dO.buffer(), savedBuf, ...tableOf(plan)]);
    const dkv = device.runKernel(dkvSpec(plan), [q.buffer(), k.buffer(), v.buffer(), dO.buffer(), savedBuf, dqd, ...tableOf(plan)]);
    const args = [...(plan.dqSplit > 1 ? [dqd] : []), ...(plan.dkvSplit > 1 ? [dkv] : [])];
    for (const b of [dqd, dkv]) if (!args.includes(b)) device.dispose(b);
    return args;
  };
  const warm = () => tidy(() => { const o = flashAttention(q, k, v, { causal, blockMask }); o.backward(dO); for (const t of [q, k, v]) t.grad = null; });
  for (const t1 = performance.now(); performance.now() - t1 < WARM_MS;) { warm(); await device.sync(); }
  for (const [name, plan, specs] of kernels) {
    const line = [];
    let total = 0;
    for (const [kname, spec] of Object.entries(specs)) {
      const args = kname === 'psum' ? sumArgs(plan)
        : [...(kname === 'fwd' ? [q.buffer(), k.buffer(), v.buffer()] : [q.buffer(), k.buffer(), v.buffer(), dO.buffer(), savedBuf, ...(kname === 'dkv' ? [dqdBuf] : [])]), ...tableOf(plan)];
      try {
        const r = await batched(() => device.dispose(device.runKernel(spec, args)), async () => { const b = device.runKernel(spec, args); await device.read(b); device.dispose(b); });
        total += r.ms;
        const tf = (flops[kname] * BH * N * N * d * (causal ? 0.5 : 1) * (sparse ? 1 - sparse.hidden : 1)) / (r.ms * 1e9);
        line.push(`${kname} ${r.ms.toFixed(3)} ms (${tf.toFixed(1)} TF/s, host ${(r.host * 1e3).toFixed(0)} µs)`);
      } catch (err) {
        line.push(`${kname} error ${(err.message ?? err).split('\n')[0]}`);
      }
      if (kname === 'psum') for (const b of args) device.dispose(b);
    }
    const tiles = (g) => `${g.br}×${g.bc}/${g.lanes}`;
    const splits = plan.dqSplit > 1 || plan.dkvSplit > 1 ? ` split ${plan.dqSplit}|${plan.dkvSplit}` : '';
    console.log(`${tag} ${name} [${tiles(plan.fwd)} | ${tiles(plan.dq)} | ${tiles(plan.bwd)}${splits}]: ${line.join('; ')}; sum ${total.toFixed(3)} ms`);
  }
  for (const t of tables.values()) device.dispose(t);
  device.dispose(savedBuf);
  device.dispose(dqdBuf);
  const once = () => {
    tidy(() => { const o = flashAttention(q, k, v, { causal, blockMask }); o.backward(dO); });
    for (const t of [q, k, v]) t.grad = null;
  };
  const fwdOnly = () => tidy(() => { flashAttention(q, k, v, { causal, blockMask }); });
  await heater();
  const s = await synced(once);
  const b = await batched(once);
  const sf = await synced(fwdOnly);
  const bf = await batched(fwdOnly);
  console.log(`${tag} flashAttention fwd+bwd: synced each ${s.toFixed(3)} ms; batched ${b.ms.toFixed(3)} ms (host ${b.host.toFixed(3)}); fwd synced ${sf.toFixed(3)}, batched ${bf.ms.toFixed(3)} (host ${bf.host.toFixed(3)}); calls ${JSON.stringify(device.stats().byOp)}`);
  device.resetStats();
  for (const t of [q, k, v, dO]) t.dispose();
}
