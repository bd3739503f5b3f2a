const { setDevice, manualSeed, tensor } = await import('../packages/core/dist/index.js');
const { GPT, saveCheckpoint, CharTokenizer, loadText, splitTrainVal, BatchSampler } = await import('../packages/models/dist/index.js');
await setDevice('reference');
const { text } = await loadText(); const tok = CharTokenizer.fromText(text);
const data = splitTrainVal(tok.encode(text));
manualSeed(0);
const cfg = { vocabSize: tok.vocabSize, blockSize: 32, nLayer: 2, nHead: 4, nEmbd: 32, dropout: 0, bias: true, attention: 'flash' };
const model = new GPT(cfg);
let seed = 1; const rnd = () => { seed = (seed * 16807) % 2147483647; return seed / 2147483647 - 0.5; };
for (const p of model.parameters()) { const r = tensor(Array.from({ length: p.size }, () => rnd() * 0.4 + (p.ndim === 1 && p.size === 32 ? 0.5 : 0)), { shape: [...p.shape] }); p.assign(r); }
const s = new BatchSampler(data.train, { batchSize: 4, blockSize: 32, seed: 3 });
const { x, y } = s.next();
const { logits, loss } = model.forward({ data: x, shape: [4, 32] }, { data: y, shape: [4, 32] });
loss.backward();
const l = await logits.data64();
const fs = await import('node:fs');
await saveCheckpoint('scratch-hp/ck', { model, tokenizer: tok });
fs.writeFileSync('scratch-hp/ck/batch.json', JSON.stringify({ cfg, x: Array.from(x), y: Array.from(y), loss: (await loss.data64())[0], logits0: Array.from(l.slice(0, 10)),
  grads: Object.fromEntries(await Promise.all(model.namedParameters().slice(0, 6).map(async ([n, p]) => [n, Array.from((await p.grad.data64()).slice(0, 5))]))) }));
console.log('loss', (await loss.data64())[0]);
