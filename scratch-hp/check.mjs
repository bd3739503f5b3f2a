const { setDevice, manualSeed, optim, tidy, tensor, noGrad } = await import('../packages/core/dist/index.js');
const { GPT } = await import('../packages/models/dist/index.js');
await setDevice(process.argv[2] ?? 'reference');
manualSeed(0);
const V = 11, T = 8, B = 2;
const model = new GPT({ vocabSize: V, blockSize: T, nLayer: 2, nHead: 2, nEmbd: 8, dropout: 0, bias: true, attention: process.env.ATT ?? 'flash' });
// make weights larger so gradients are not tiny
for (const p of model.parameters()) { const r = tensor(Array.from({length: p.size}, () => (Math.random() - 0.5) * 0.6), { shape: [...p.shape] }); p.assign(r); }
const x = { data: Int32Array.from({ length: B * T }, (_, i) => (i * 7 + 3) % V), shape: [B, T] };
const y = { data: Int32Array.from({ length: B * T }, (_, i) => (i * 5 + 1) % V), shape: [B, T] };
const loss = model.forward(x, y).loss; loss.backward();
const L0 = await loss.item();
const named = model.namedParameters();
let worst = 0;
for (const [name, p] of named) {
  const g = await p.grad.data64(); const vals = await p.data64();
  for (const i of [0, Math.floor(p.size / 2), p.size - 1]) {
    const eps = 1e-6;
    const f = async (d) => { const v = Float64Array.from(vals); v[i] += d; const t = tensor(v, { shape: [...p.shape] }); const old = tensor(vals, { shape: [...p.shape] }); p.assign(t); const l = noGrad(() => model.forward(x, y).loss); const r = await l.item64?.() ?? (await l.data64())[0]; p.assign(old); return r; };
    const fd = ((await f(eps)) - (await f(-eps))) / (2 * eps);
    const err = Math.abs(fd - g[i]) / Math.max(1e-6, Math.abs(fd) + Math.abs(g[i]));
    worst = Math.max(worst, err);
    if (err > 1e-4) console.log('MISMATCH', name, i, fd, g[i]);
  }
}
console.log('loss', L0, 'worst rel err', worst);
