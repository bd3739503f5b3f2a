import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getDevice, manualSeed, optim, setDevice, tidy, type Tensor } from '@flashgrad/core';
import {
  CharTokenizer, ConfigError, GPT, loadCheckpoint, loadOptimizerState, loadText, readSafetensors, sample, saveCheckpoint,
  splitTrainVal, train, validateConfig, countParameters, presets, type GPTConfig, type StepInfo,
} from '@flashgrad/models';

// A micro GPT keeps the float64 reference device fast; the shapes still exercise every code path
// (2 layers, several heads, a causal window, a tied head, biases).
let text: string;
let tokenizer: CharTokenizer;
let data: { train: Int32Array; val: Int32Array };
const micro = (over: Partial<GPTConfig> = {}): GPTConfig => ({
  vocabSize: tokenizer.vocabSize, blockSize: 16, nLayer: 2, nHead: 2, nEmbd: 16, dropout: 0, bias: true, attention: 'flash', ...over,
});
const batchOf = (B: number, T: number, offset = 0) => {
  const x = data.train.slice(offset, offset + B * T);
  const y = data.train.slice(offset + 1, offset + 1 + B * T);
  return { x: { data: x, shape: [B, T] }, y: { data: y, shape: [B, T] } };
};
let dir: string;

beforeAll(async () => {
  await setDevice('reference');
  text = (await loadText()).text.slice(20_000, 32_000);
  tokenizer = CharTokenizer.fromText(text);
  data = splitTrainVal(tokenizer.encode(text));
  dir = await mkdtemp(join(tmpdir(), 'flashgrad-gpt-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('GPT', () => {
  it('validates its config and counts parameters like the model', () => {
    expect(() => validateConfig(micro({ nEmbd: 18, nHead: 4 }))).toThrow(ConfigError);
    expect(() => validateConfig(micro({ nEmbd: 18, nHead: 4 }))).toThrow(/nEmbd \(18\) must be divisible by nHead \(4\)/);
    expect(() => validateConfig(micro({ blockSize: 0 }))).toThrow(/blockSize must be a positive integer/);
    manualSeed(0);
    for (const bias of [true, false]) {
      const model = new GPT(micro({ bias }));
      expect(model.numParameters()).toBe(countParameters(model.config));
    }
    // the 124M shape: 124,439,808 parameters in GPT-2 (tied head counted once)
    expect(countParameters({ ...presets.gpt2.model, vocabSize: 50257 })).toBe(124_439_808);
  });

  it('starts at loss ≈ ln(vocabSize) with N(0, 0.02) weights', async () => {
    manualSeed(1);
    const model = new GPT(micro());
    const { x, y } = batchOf(4, 16);
    const { logits, loss } = tidy(() => model.forward(x, y));
    expect(logits.shape).toEqual([4, 16, tokenizer.vocabSize]);
    expect(Math.abs((await loss!.item()) - Math.log(tokenizer.vocabSize))).toBeLessThan(0.05);
    // residual projections are scaled by 1/√(2·nLayer): std 0.01 here, 0.02 elsewhere
    const std = async (t: Tensor) => {
      const v = await t.data64();
      const mean = v.reduce((a, b) => a + b, 0) / v.length;
      return Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length);
    };
    const block = model.transformer.h[0];
    // 768 and 1,024 weights: the sample std is within ~3% of the truth; a residual projection
    // scaled by 1/√nLayer instead of 1/√(2·nLayer) would be 41% off
    expect(Math.abs(await std(block.attn.cAttn.weight) / 0.02 - 1)).toBeLessThan(0.1);
    expect(Math.abs(await std(block.mlp.cProj.weight) / 0.01 - 1)).toBeLessThan(0.1);
    expect(Array.from(await block.attn.cAttn.bias!.data())).toEqual(new Array(48).fill(0));
  });

  it('decays matrices only and ties the head to the token embedding', () => {
    manualSeed(2);
    const model = new GPT(micro());
    const { decay, noDecay } = model.decayGroups();
    expect(decay.every((p) => p.ndim === 2)).toBe(true);
    expect(noDecay.every((p) => p.ndim === 1)).toBe(true);
    expect(decay.length + noDecay.length).toBe(model.parameters().length);
    expect(model.lmHeadWeight).toBe(model.transformer.wte.weight);
    expect(model.namedParameters().map(([n]) => n)).not.toContain('lmHead.weight');
  });

  it('gives the same logits and gradients with flash and naive attention', async () => {
    const run = async (attention: 'flash' | 'naive') => {
      manualSeed(3);
      const model = new GPT(micro({ attention }));
      const { x, y } = batchOf(3, 16, 100);
      const { logits, loss } = model.forward(x, y);
      loss!.backward();
      const grads = await Promise.all(model.parameters().map((p) => p.grad!.data64()));
      return { logits: await logits.data64(), grads };
    };
    const flash = await run('flash');
    const naive = await run('naive');
    const maxDiff = (a: Float64Array, b: Float64Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
    // float64 throughout: the two differ only in summation order, ~1e-15 per op
    expect(maxDiff(flash.logits, naive.logits)).toBeLessThan(1e-12);
    flash.grads.forEach((g, i) => expect(maxDiff(g, naive.grads[i])).toBeLessThan(1e-12));
  });

  it('lowers the loss in a few dozen steps', async () => {
    const losses: number[] = [];
    const result = await train({
      config: micro(), tokenizer, data, steps: 40, batchSize: 8, lr: 1e-2, warmup: 5, evalEvery: 0, evalIters: 2,
      progress: false, log: () => {}, finalEval: false, onStep: (s) => losses.push(s.loss),
    });
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(mean(losses.slice(-5))).toBeLessThan(mean(losses.slice(0, 5)) - 0.6);
    expect(result.history.val.length).toBe(2); // at step 0 and at the end
    expect(result.history.val[1][1]).toBeLessThan(result.history.val[0][1] - 0.5);
  });

  it('accumulates gradients: 2 micro-batches of 4 make the update of one batch of 8', async () => {
    const run = async (batchSize: number, gradAccum: number) => {
      const losses: number[] = [];
      const r = await train({
        config: micro(), tokenizer, data, steps: 2, batchSize, gradAccum, lr: 1e-2, warmup: 0, evalEvery: 0, evalIters: 1,
        progress: false, log: () => {}, finalEval: false, onStep: (s) => losses.push(s.loss),
      });
      return { losses, params: await Promise.all(r.model.parameters().map((p) => p.data64())) };
    };
    // the sampler draws rows one after another, so both runs see the same 8 rows per step
    const [one, two] = [await run(8, 1), await run(4, 2)];
    two.losses.forEach((l, i) => expect(l).toBeCloseTo(one.losses[i], 5)); // item() reads float32
    one.params.forEach((p, i) => p.forEach((v, j) => expect(Math.abs(v - two.params[i][j])).toBeLessThan(1e-9)));
  });

  it('lowers the loss on the wasm device too', async (ctx) => {
    try {
      await setDevice('wasm');
    } catch {
      ctx.skip();
      return;
    }
    try {
      const losses: number[] = [];
      await train({
        config: micro(), tokenizer, data, steps: 30, batchSize: 8, lr: 1e-2, warmup: 5, evalEvery: 0, evalIters: 1,
        progress: false, log: () => {}, finalEval: false, onStep: (s) => losses.push(s.loss),
      });
      expect(getDevice().name).toBe('wasm');
      expect(losses.slice(-5).reduce((a, b) => a + b) / 5).toBeLessThan(losses.slice(0, 5).reduce((a, b) => a + b) / 5 - 0.5);
    } finally {
      await setDevice('reference');
    }
  });
});

describe('checkpoints', () => {
  it('round-trip weights and optimizer moments bit-exactly, under nanoGPT names', async () => {
    manualSeed(4);
    const model = new GPT(micro());
    const { decay, noDecay } = model.decayGroups();
    const opt = new optim.AdamW([{ params: decay, weightDecay: 0.1 }, { params: noDecay, weightDecay: 0 }], { lr: 1e-2 });
    for (let i = 0; i < 2; i++) {
      const { x, y } = batchOf(2, 16, i * 40);
      tidy(() => model.forward(x, y).loss!.backward());
      opt.step();
      opt.zeroGrad();
    }
    const ck = join(dir, 'roundtrip');
    await saveCheckpoint(ck, { model, tokenizer, optimizer: opt });
    const loaded = await loadCheckpoint(ck);
    expect(loaded.config).toEqual(model.config);
    expect(loaded.tokenizer.toJSON()).toEqual(tokenizer.toJSON());
    const mine = model.namedParameters();
    const theirs = loaded.model.namedParameters();
    for (let i = 0; i < mine.length; i++) {
      expect(theirs[i][0]).toBe(mine[i][0]);
      expect(Array.from(await theirs[i][1].data64())).toEqual(Array.from(await mine[i][1].data64()));
    }
    const opt2 = new optim.AdamW([{ params: loaded.model.decayGroups().decay, weightDecay: 0.1 }, { params: loaded.model.decayGroups().noDecay, weightDecay: 0 }], { lr: 1e-2 });
    loadOptimizerState(loaded.model, opt2, loaded.optimizer!.tensors, loaded.optimizer!.step);
    expect(opt2.stepCount).toBe(2);
    const [a, b] = [opt.state(), opt2.state()];
    for (let i = 0; i < a.m.length; i++) {
      expect(Array.from(await b.m[i].data64())).toEqual(Array.from(await a.m[i].data64()));
      expect(Array.from(await b.v[i].data64())).toEqual(Array.from(await a.v[i].data64()));
    }

    const st = readSafetensors(new Uint8Array(await readFile(join(ck, 'model.safetensors'))));
    expect(Object.keys(st.tensors)).toEqual(expect.arrayContaining([
      'transformer.wte.weight', 'transformer.wpe.weight', 'transformer.h.0.ln_1.weight', 'transformer.h.0.attn.c_attn.weight',
      'transformer.h.1.attn.c_proj.bias', 'transformer.h.1.mlp.c_fc.weight', 'transformer.h.1.ln_2.bias', 'transformer.ln_f.weight', 'lm_head.weight',
    ]));
    expect(st.tensors['transformer.h.0.attn.c_attn.weight'].shape).toEqual([48, 16]); // nn.Linear's [out, in]
    expect(JSON.parse(st.metadata.config)).toEqual(model.config);
  });

  it('refuses a checkpoint of another shape, naming the field', async () => {
    manualSeed(5);
    const ck = join(dir, 'shape');
    await saveCheckpoint(ck, { model: new GPT(micro()), tokenizer });
    await expect(loadCheckpoint(ck, { expect: { nLayer: 3 } })).rejects.toThrow(/another shape: nLayer is 2 there, 3 here/);
  });

  it('resumes to exactly the loss curve of an uninterrupted run', async () => {
    const base = {
      config: micro({ dropout: 0.1 }), tokenizer, data, steps: 12, batchSize: 4, lr: 5e-3, warmup: 3, evalEvery: 4, evalIters: 2,
      progress: false as const, log: () => {}, finalEval: false, seed: 7,
    };
    const whole: StepInfo[] = [];
    const full = await train({ ...base, outDir: join(dir, 'whole'), onStep: (s) => whole.push(s) });

    const parts: StepInfo[] = [];
    const ck = join(dir, 'parts');
    await train({ ...base, outDir: ck, stopAfter: 5, onStep: (s) => parts.push(s) });
    const loaded = await loadCheckpoint(ck);
    manualSeed(999); // a resume must not depend on the RNG state of the process
    const resumed = await train({ ...base, outDir: ck, resumeFrom: loaded, onStep: (s) => parts.push(s) });

    expect(parts.map((s) => s.step)).toEqual(whole.map((s) => s.step));
    expect(parts.map((s) => s.loss)).toEqual(whole.map((s) => s.loss)); // exact, dropout included
    expect(parts.map((s) => s.lr)).toEqual(whole.map((s) => s.lr));
    expect(resumed.history).toEqual(full.history);
  });
});

describe('sample', () => {
  it('is reproducible per seed, crops long prompts and honours topK and temperature 0', async () => {
    manualSeed(6);
    const model = new GPT(micro());
    const prompt = tokenizer.encode(text.slice(0, 40)); // longer than blockSize 16
    const a = await sample(model, prompt, { maxNewTokens: 12, seed: 1 });
    const b = await sample(model, prompt, { maxNewTokens: 12, seed: 1 });
    expect(a).toEqual(b);
    expect(a.length).toBe(prompt.length + 12);
    expect(a.slice(0, prompt.length)).toEqual(prompt);
    const greedy = await sample(model, prompt, { maxNewTokens: 6, temperature: 0 });
    const top1 = await sample(model, prompt, { maxNewTokens: 6, topK: 1, seed: 3 });
    expect(top1).toEqual(greedy);
    await expect(sample(model, [], { maxNewTokens: 1 })).rejects.toThrow(/at least one token/);
    await expect(sample(model, [tokenizer.vocabSize], { maxNewTokens: 1 })).rejects.toThrow(/outside the vocabulary/);
  });
});
