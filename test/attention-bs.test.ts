import { it } from 'vitest';
import { randn, manualSeed, memory, resetPeakMemory, tidy } from '@flashgrad/core';
import { flashAttention } from '@flashgrad/attention';

it('bs', async () => {
  manualSeed(1);
  for (const N of [1024, 2048]) {
    const q = randn([1, 1, N, 64], { requiresGrad: true }), k = randn([1, 1, N, 64], { requiresGrad: true }), v = randn([1, 1, N, 64], { requiresGrad: true });
    for (const bs of [32, 64, 128, 256, 512]) {
      for (const causal of [false, true]) {
      const base = memory().bytes; resetPeakMemory();
      let t0 = performance.now();
      tidy(() => flashAttention(q, k, v, { blockSize: bs, causal }));
      const tf = performance.now() - t0; const pf = memory().peakBytes - base;
      resetPeakMemory(); t0 = performance.now();
      tidy(() => { const o = flashAttention(q, k, v, { blockSize: bs, causal }); o.sum().backward(); });
      console.log(`N=${N} bs=${bs} causal=${causal} fwd ${tf.toFixed(0)}ms ${(pf / 2 ** 20).toFixed(2)}MiB  fwd+bwd ${(performance.now() - t0).toFixed(0)}ms ${((memory().peakBytes - base) / 2 ** 20).toFixed(2)}MiB`);
      q.grad = null; k.grad = null; v.grad = null;
      }
    }
    if (N === 2048) break;
  }
});
