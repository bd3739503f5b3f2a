// Kernel calls per flash forward and forward+backward (gpu.js devices), plus median times.
//   node examples/count-attention.mjs webgpu 1024,4096
import { manualSeed, randn, setDevice, tidy } from '@flashgrad/core';
import { flashAttention, naiveAttention } from '@flashgrad/attention';
const name = process.argv[2] ?? 'webgpu';
const Ns = (process.argv[3] ?? '1024,4096').split(',').map(Number);
const runs = Number(process.env.RUNS ?? 3);
const methods = (process.env.METHODS ?? 'flash').split(',');
const B = Number(process.env.BENCH_B ?? 1), H = Number(process.env.BENCH_H ?? 1), d = 64;
const device = await setDevice(name);
const old = process.env.OLD ? (await import('../packages/attention/dist/flash-old.js')).flashAttention : null;
const opts = { ...(process.env.BC ? { blockSize: Number(process.env.BC) } : {}), ...(process.env.SKIP ? { skipMaskedTiles: process.env.SKIP === '1' } : {}) };
for (const N of Ns) for (const causal of [false, true]) for (const m of methods) {
  const fn = m === 'flash' ? (old ?? flashAttention) : naiveAttention;
  manualSeed(N);
  const [q, k, v, dO] = [0, 1, 2, 3].map(() => randn([B, H, N, d], { requiresGrad: true }));
  const out = {};
  for (const backward of [false, true]) {
    const once = () => { tidy(() => { const o = fn(q, k, v, { causal, ...opts }); if (backward) o.backward(dO); }); for (const t of [q, k, v]) t.grad = null; };
    if (process.env.WARM !== '0') { once(); await device.sync(); }
    device.resetStats?.();
    once(); await device.sync();
    const calls = device.stats?.().kernelCalls;
    const ts = [];
    for (let i = 0; i < runs; i++) { const t0 = performance.now(); once(); await device.sync(); ts.push(performance.now() - t0); }
    ts.sort((a, b) => a - b);
    out[backward ? 'fwdbwd' : 'fwd'] = `${calls} calls${ts.length ? ` ${ts[Math.floor(ts.length / 2)].toFixed(1)} ms` : ''}`;
  }
  console.log(`${name}${old ? ' OLD' : ''} ${JSON.stringify(opts)} N=${N} causal=${causal} ${m}: fwd ${out.fwd} | fwd+bwd ${out.fwdbwd}`);
  for (const t of [q, k, v, dO]) t.dispose();
}
process.exit(0);
