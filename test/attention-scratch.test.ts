import { it } from 'vitest';
import { Tensor, randn, manualSeed, setDevice, tidy } from '@flashgrad/core';
import { flashAttention, naiveAttention } from '@flashgrad/attention';
const read = async (t: Tensor) => t.device.name === 'reference' ? t.data64() : Float64Array.from(await t.data());
function maxErr(a: Float64Array, b: Float64Array) { let e = 0; for (let i = 0; i < a.length; i++) { const d = a[i] === b[i] ? 0 : Math.abs(a[i] - b[i]); e = Math.max(e, Number.isNaN(d) ? Infinity : d); } return e; }
async function run(fn: any, x: Tensor[], device: string, opts: any) {
  const [q, k, v, dO] = await Promise.all(x.map((t) => device === 'reference' ? t.mul(1) : t.to(device as any)));
  for (const t of [q, k, v]) t.requiresGrad = true;
  const t0 = performance.now();
  const r = tidy(() => { const r = fn(q, k, v, { ...opts, returnLse: true }); r.out.backward(dO); return r; });
  const res = [await read(r.out), await read(r.lse), await read(q.grad!), await read(k.grad!), await read(v.grad!)];
  return { res, ms: performance.now() - t0 };
}
it('t', async () => {
  for (const dev of (process.env.DEVS ?? 'wasm,cpu,webgpu').split(',')) {
    try { await setDevice(dev); } catch (e) { console.log(dev, 'failed', (e as Error).message); continue; }
    await setDevice('reference');
    for (const [Nq, Nk, d, causal, bs] of [[37, 53, 64, true, 16], [64, 64, 128, false, 32], [200, 150, 32, true, 64], [1, 100, 256, true, 32]] as const) {
      manualSeed(Nq);
      const x = [randn([2, 2, Nq, d]), randn([2, 2, Nk, d]), randn([2, 2, Nk, d]), randn([2, 2, Nq, d])];
      const exact = (await run(naiveAttention, x, 'reference', { causal })).res;
      const n32 = await run(naiveAttention, x, dev, { causal });
      const f32 = await run(flashAttention, x, dev, { causal, blockSize: bs });
      const f32b = await run(flashAttention, x, dev, { causal, blockSize: bs });
      console.log(dev, Nq, Nk, d, causal, 'naive', n32.res.map((r, i) => maxErr(r, exact[i]).toExponential(1)).join(' '), 'flash', f32.res.map((r, i) => maxErr(r, exact[i]).toExponential(1)).join(' '), `ms naive ${n32.ms.toFixed(0)} flash ${f32.ms.toFixed(0)} warm ${f32b.ms.toFixed(0)}`);
    }
  }
}, 600000);
