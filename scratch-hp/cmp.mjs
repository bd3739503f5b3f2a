// same training on two devices: per-step losses side by side
const { setDevice } = await import('../packages/core/dist/index.js');
const { train, loadText, CharTokenizer, splitTrainVal } = await import('../packages/models/dist/index.js');
const [L, H, C, T, B, steps] = JSON.parse(process.argv[2] ?? '[2,4,32,32,8,60]');
const { text } = await loadText(); const tok = CharTokenizer.fromText(text);
const data = splitTrainVal(tok.encode(text));
const curves = {};
for (const dev of (process.argv[3] ?? 'reference,wasm').split(',')) {
  await setDevice(dev);
  const losses = [];
  const t0 = performance.now();
  const r = await train({ config: { vocabSize: tok.vocabSize, blockSize: T, nLayer: L, nHead: H, nEmbd: C, dropout: 0, bias: true, attention: process.env.ATT ?? 'flash' },
    tokenizer: tok, data, steps, batchSize: B, lr: 6e-3, warmup: 30, evalEvery: 0, evalIters: 4, progress: false, log: () => {}, finalEval: false, onStep: (s) => losses.push(s.loss) });
  curves[dev] = losses;
  console.log(dev, ((performance.now() - t0) / steps).toFixed(0), 'ms/step; val', r.history.val.map(v => v[1].toFixed(4)).join(' '));
}
const devs = Object.keys(curves);
for (let i = 0; i < steps; i += Math.max(1, Math.floor(steps / 15))) console.log(i + 1, devs.map(d => curves[d][i].toFixed(5)).join(' '));
