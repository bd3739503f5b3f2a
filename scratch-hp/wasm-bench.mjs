// scratch: ms/step on the current device for several shapes
if (process.env.CORES) globalThis.navigator = { hardwareConcurrency: Number(process.env.CORES) };
const { setDevice, manualSeed, optim, tidy, getDevice } = await import('../packages/core/dist/index.js');
const { GPT, BatchSampler, loadText, CharTokenizer, splitTrainVal } = await import('../packages/models/dist/index.js');
await setDevice(process.argv[2] ?? 'wasm');
const shapes = JSON.parse(process.argv[3] ?? '[[2,4,64,64,16]]');
const { text } = await loadText(); const tok = CharTokenizer.fromText(text);
const { train } = splitTrainVal(tok.encode(text));
for (const [L, H, C, T, B] of shapes) {
  manualSeed(0);
  const model = new GPT({ vocabSize: tok.vocabSize, blockSize: T, nLayer: L, nHead: H, nEmbd: C, dropout: 0, bias: true, attention: process.env.ATT ?? 'flash' });
  const opt = new optim.AdamW(model.parameters(), { lr: 1e-3 });
  const s = new BatchSampler(train, { batchSize: B, blockSize: T });
  const times = []; const parts = [];
  for (let i = 0; i < 8; i++) {
    const t0 = performance.now();
    const { x, y } = s.next();
    const loss = tidy(() => { const l = model.forward({ data: x, shape: [B, T] }, { data: y, shape: [B, T] }).loss; l.backward(); return l; });
    await loss.item(); const t1 = performance.now();
    optim.clipGradNorm(model.parameters(), 1).dispose(); opt.step(); opt.zeroGrad(); await getDevice().sync(); loss.dispose();
    const t2 = performance.now();
    if (i >= 3) { times.push(t2 - t0); parts.push([t1 - t0, t2 - t1]); }
  }
  times.sort((a, b) => a - b);
  console.log(`L${L} H${H} C${C} T${T} B${B}: median ${times[2].toFixed(0)} ms/step; fwd+bwd/opt ${parts.map(p => p.map(v => v.toFixed(0)).join('/')).join(' ')}`);
}
