import { it } from 'vitest';
import { randn, manualSeed, memory, resetPeakMemory, tidy } from '@flashgrad/core';
import { flashAttention, naiveAttention } from '@flashgrad/attention';

async function maxErr(a: any, b: any) { const x = await a.data64(), y = await b.data64(); let e = 0; for (let i = 0; i < x.length; i++) { const d = x[i] === y[i] ? 0 : Math.abs(x[i] - y[i]); e = Math.max(e, d); } return e; }

it('scratch', async () => {
  manualSeed(1);
  for (const [Nq, Nk, causal, bs] of [[5, 7, false, 3], [7, 5, true, 2], [5, 9, true, 4], [1, 1, true, 8], [6, 6, true, 4], [9, 3, true, 2]] as const) {
    const q = randn([2, 3, Nq, 4], { requiresGrad: true }), k = randn([2, 3, Nk, 4], { requiresGrad: true }), v = randn([2, 3, Nk, 4], { requiresGrad: true });
    const dO = randn([2, 3, Nq, 4]);
    const f = flashAttention(q, k, v, { causal, blockSize: bs, returnLse: true });
    f.out.backward(dO);
    const [fq, fk, fv] = [q.grad!.mul(1), k.grad!.mul(1), v.grad!.mul(1)]; q.grad = null; k.grad = null; v.grad = null;
    const n = naiveAttention(q, k, v, { causal, returnLse: true });
    n.out.backward(dO);
    console.log(Nq, Nk, causal, bs, await maxErr(f.out, n.out), await maxErr(f.lse, n.lse), await maxErr(fq, q.grad), await maxErr(fk, k.grad), await maxErr(fv, v.grad));
  }
  for (const N of [256, 512]) {
    const q = randn([1, 1, N, 64], { requiresGrad: true }), k = randn([1, 1, N, 64], { requiresGrad: true }), v = randn([1, 1, N, 64], { requiresGrad: true });
    for (const [name, fn] of [['flash', flashAttention], ['naive', naiveAttention]] as const) {
      const base = memory().bytes; resetPeakMemory();
      const t0 = performance.now();
      tidy(() => { const o = (fn as any)(q, k, v, {}); o.sum().backward(); });
      console.log(name, N, (memory().peakBytes - base) / 2 ** 20, 'MiB', performance.now() - t0, 'ms', memory().bytes - base);
      q.grad = null; k.grad = null; v.grad = null;
    }
  }
});
