import { setDevice, manualSeed, optim, tidy, getDevice } from '../packages/core/dist/index.js';
import { GPT, BatchSampler, loadText, CharTokenizer, splitTrainVal } from '../packages/models/dist/index.js';
const dev = await setDevice(process.argv[2] ?? 'wasm');
const [L, H, C, T, B] = JSON.parse(process.argv[3] ?? '[2,4,64,64,16]');
const { text } = await loadText(); const tok = CharTokenizer.fromText(text);
const { train } = splitTrainVal(tok.encode(text));
manualSeed(0);
const model = new GPT({ vocabSize: tok.vocabSize, blockSize: T, nLayer: L, nHead: H, nEmbd: C, dropout: 0, bias: true, attention: process.env.ATT ?? 'flash' });
const opt = new optim.AdamW(model.parameters(), { lr: 1e-3 });
const s = new BatchSampler(train, { batchSize: B, blockSize: T });
const counts = {}; const times = {};
let on = false;
for (const k of ['fill','unary','binary','where','reduce','matmul','strided','pad','gatherRows','scatterAddRows','oneHot','softmax','softmaxBackward','adamw','upload']) {
  const f = dev[k].bind(dev);
  dev[k] = (...a) => { if (!on) return f(...a); const t = performance.now(); const r = f(...a); times[k] = (times[k] ?? 0) + performance.now() - t; counts[k] = (counts[k] ?? 0) + 1; return r; };
}
async function step() {
  const { x, y } = s.next();
  const loss = tidy(() => { const l = model.forward({ data: x, shape: [B, T] }, { data: y, shape: [B, T] }).loss; l.backward(); return l; });
  optim.clipGradNorm(model.parameters(), 1).dispose(); opt.step(); opt.zeroGrad(); await dev.sync(); await loss.item(); loss.dispose();
}
for (let i = 0; i < 3; i++) await step();
on = true; const t0 = performance.now(); await step(); const total = performance.now() - t0;
console.log('total ms', total.toFixed(0), 'kernels', Object.values(counts).reduce((a, b) => a + b));
console.log(Object.entries(counts).map(([k, n]) => `${k}: ${n} calls ${times[k].toFixed(0)} ms (enqueue)`).join('\n'));
