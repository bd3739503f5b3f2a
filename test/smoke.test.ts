import { describe, expect, it } from 'vitest';
import { tensor, nn, optim, manualSeed, tidy, memory } from '@flashgrad/core';

describe('smoke', () => {
  it('computes a gradient', async () => {
    const x = tensor([[1, 2], [3, 4]], { requiresGrad: true });
    const y = x.mul(x).sum();
    y.backward();
    expect(Array.from(await x.grad!.data())).toEqual([2, 4, 6, 8]);
  });
  it('MLP learns XOR', async () => {
    manualSeed(0);
    const l1 = new nn.Linear(2, 8), l2 = new nn.Linear(8, 1);
    const params = [...l1.parameters(), ...l2.parameters()];
    const opt = new optim.AdamW(params, { lr: 0.05, weightDecay: 0 });
    const X = tensor([[0, 0], [0, 1], [1, 0], [1, 1]]);
    const Y = tensor([[0], [1], [1], [0]]);
    let last = 0;
    for (let i = 0; i < 300; i++) {
      const loss = tidy(() => {
        const out = l2.forward(l1.forward(X).tanh()).sigmoid();
        const l = out.sub(Y).pow(2).mean();
        l.backward();
        return l;
      });
      opt.step(); opt.zeroGrad();
      last = await loss.item(); loss.dispose();
    }
    expect(last).toBeLessThan(0.01);
    console.log(memory());
  });
});
