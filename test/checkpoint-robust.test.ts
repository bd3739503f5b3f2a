// biome-ignore-all lint/suspicious/noExplicitAny: these tests corrupt parsed checkpoint JSON of any shape on purpose
// Checkpoints as hostile input: non-finite weights are never saved and never loaded, every field of
// the training state is validated by name, and malformed safetensors files get a clear error.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readdir, readFile, rm, writeFile, cp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { manualSeed, setDevice, tensor } from '@flashgrad/core';
import {
  CharTokenizer, DivergedError, NonFiniteError, loadCheckpoint, loadCheckpointFiles, loadText, readSafetensors, sampleMain,
  saveCheckpoint, saveCheckpointFiles, splitTrainVal, train, trainMain, writeSafetensors, type CliIO, type GPTConfig,
} from '@flashgrad/models';

let dir: string;
let textFile: string;
let good: string; // a checkpoint written by `train`, copied before each mutation
const MICRO = ['--device', 'reference', '--block-size', '8', '--n-layer', '1', '--n-head', '2', '--n-embd', '8', '--batch', '2', '--eval-iters', '1'];

function captureIO(): CliIO & { err: () => string } {
  let err = '';
  return { stdout: { write: () => true }, stderr: { write: (s: string) => (err += s) }, err: () => err };
}

async function copyOfGood(name: string): Promise<string> {
  const to = join(dir, name);
  await cp(good, to, { recursive: true });
  return to;
}

async function readManifest(ck: string): Promise<Record<string, any>> {
  return JSON.parse(await readFile(join(ck, 'checkpoint.json'), 'utf8'));
}

/** Rewrites a checkpoint through the file layer (so hashes match), with its JSON or tensors changed. */
async function rewrite(ck: string, change: { json?: (j: Record<string, any>) => void; weights?: (t: Record<string, any>) => void; moments?: (t: Record<string, any>) => void }) {
  const files = await loadCheckpointFiles(ck);
  change.json?.(files.json);
  const weights = readSafetensors(files.weights);
  change.weights?.(weights.tensors);
  const moments = readSafetensors(files.optimizer!);
  change.moments?.(moments.tensors);
  await saveCheckpointFiles(ck, {
    json: files.json,
    weights: writeSafetensors(weights.tensors, weights.metadata),
    optimizer: writeSafetensors(moments.tensors, moments.metadata),
  });
}

beforeAll(async () => {
  await setDevice('reference');
  dir = await mkdtemp(join(tmpdir(), 'flashgrad-ckpt-robust-'));
  textFile = join(dir, 'text.txt');
  await writeFile(textFile, (await loadText()).text.slice(50_000, 53_000));
  good = join(dir, 'good');
  const io = captureIO();
  expect(await trainMain([...MICRO, '--data', textFile, '--out', good, '--steps', '2', '--sample-tokens', '0'], io), io.err()).toBe(0);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('non-finite weights', () => {
  it('are never saved: saveCheckpoint refuses and leaves the folder as it was', async () => {
    const ck = await copyOfGood('refuse-save');
    const before = (await readdir(ck)).sort();
    const manifest = await readFile(join(ck, 'checkpoint.json'), 'utf8');
    const { model, tokenizer } = await loadCheckpoint(ck);
    const [, wpe] = model.namedParameters().find(([n]) => n === 'transformer.wpe.weight')!;
    const poisoned = Float32Array.from(await wpe.data());
    poisoned[3] = -Infinity;
    wpe.assign(tensor(poisoned, { shape: wpe.shape }));
    await expect(saveCheckpoint(ck, { model, tokenizer })).rejects.toThrow(NonFiniteError);
    await expect(saveCheckpoint(ck, { model, tokenizer })).rejects.toThrow(/transformer\.wpe\.weight holds -Infinity at element 3 \(1 of 64 values/);
    expect((await readdir(ck)).sort()).toEqual(before);
    expect(await readFile(join(ck, 'checkpoint.json'), 'utf8')).toBe(manifest);
  });

  it('stop a run whose update made them non-finite, naming the step; the last good checkpoint stays', async () => {
    const ck = await copyOfGood('poisoned-run');
    const loaded = await loadCheckpoint(ck);
    const text = (await loadText()).text.slice(50_000, 53_000);
    const data = splitTrainVal(loaded.tokenizer.encode(text));
    const settings = (await readManifest(ck)).train.settings;
    const run = train({
      ...settings, config: loaded.config, tokenizer: loaded.tokenizer, data, steps: 6, resumeFrom: loaded, saveEvery: 1, outDir: ck,
      progress: false, log: () => {},
      // a finite loss whose update makes NaN weights (as `--lr 1e6` did): the save must not wait for the next loss
      onStep: ({ step }) => {
        if (step !== 4) return;
        const p = loaded.model.parameters()[1];
        p.assign(tensor(new Float32Array(p.size).fill(NaN), { shape: p.shape }));
      },
    });
    await expect(run).rejects.toThrow(DivergedError);
    await expect(run).rejects.toThrow(/the update of step 4 made the weights non-finite \(transformer\.\S+ holds NaN at element 0 \(all \d+ values.*the checkpoint of step 3 in .* is kept/);
    const after = await loadCheckpoint(ck);
    expect((after.json.train as { step: number }).step).toBe(3);
  });

  it('a diverging run (lr 1e6) ends with DivergedError and a checkpoint that loads with finite weights', async () => {
    const text = (await loadText()).text.slice(50_000, 53_000);
    const tokenizer = CharTokenizer.fromText(text);
    const data = splitTrainVal(tokenizer.encode(text));
    const config: GPTConfig = { vocabSize: tokenizer.vocabSize, blockSize: 8, nLayer: 1, nHead: 2, nEmbd: 8, dropout: 0, bias: true, attention: 'flash' };
    const outDir = join(dir, 'diverged');
    manualSeed(1);
    const run = train({ config, tokenizer, data, steps: 30, batchSize: 2, lr: 1e6, warmup: 0, gradClip: 0, evalIters: 1, saveEvery: 1, outDir, progress: false, log: () => {} });
    await expect(run).rejects.toThrow(DivergedError);
    const ck = await loadCheckpoint(outDir); // refuses non-finite weights, so loading is the check
    expect((ck.json.train as { step: number }).step).toBeGreaterThanOrEqual(1);
  });

  it('are refused by sample and --resume, naming the tensor; so are negative or non-finite moments', async () => {
    const cases: [string, Parameters<typeof rewrite>[1], RegExp][] = [
      ['nan-weights', { weights: (t) => t['transformer.wte.weight'].data.fill(NaN) }, /non-finite weights, refusing to load them: transformer\.wte\.weight holds NaN at element 0 \(all \d+ values/],
      ['inf-weight', { weights: (t) => (t['transformer.h.0.mlp.c_fc.bias'].data[5] = Infinity) }, /transformer\.h\.0\.mlp\.c_fc\.bias holds Infinity at element 5 \(1 of 32/],
    ];
    for (const [name, change, message] of cases) {
      const ck = await copyOfGood(name);
      await rewrite(ck, change);
      const sampled = captureIO();
      expect(await sampleMain(['--device', 'reference', '--ckpt', ck, '--tokens', '3'], sampled), name).toBe(1);
      expect(sampled.err(), name).toMatch(message);
      expect(sampled.err(), name).not.toMatch(/unexpected error|\n\s+at /);
      const resumed = captureIO();
      expect(await trainMain(['--device', 'reference', '--data', textFile, '--out', ck, '--resume', '--steps', '5'], resumed), name).toBe(1);
      expect(resumed.err(), name).toMatch(message);
    }
    const moments: [string, Parameters<typeof rewrite>[1], RegExp][] = [
      ['negative-v', { moments: (t) => (t['exp_avg_sq.transformer.wpe.weight'].data[2] = -1e-3) }, /exp_avg_sq\.transformer\.wpe\.weight holds -0\.001 at element 2; a second moment is never negative/],
      ['nan-m', { moments: (t) => (t['exp_avg.transformer.wpe.weight'].data[0] = NaN) }, /non-finite moments.*exp_avg\.transformer\.wpe\.weight holds NaN at element 0/],
    ];
    for (const [name, change, message] of moments) {
      const ck = await copyOfGood(name);
      await rewrite(ck, change);
      const before = await readFile(join(ck, 'checkpoint.json'), 'utf8');
      const resumed = captureIO();
      expect(await trainMain(['--device', 'reference', '--data', textFile, '--out', ck, '--resume', '--steps', '5'], resumed), name).toBe(1);
      expect(resumed.err(), name).toMatch(message);
      expect(await readFile(join(ck, 'checkpoint.json'), 'utf8'), `${name}: the checkpoint is left alone`).toBe(before);
    }
  });
});

describe('the training state read back on --resume', () => {
  it('is validated field by field, the field named, the checkpoint left alone', async () => {
    const cases: [string, (j: Record<string, any>) => void, RegExp][] = [
      ['step -5', (j) => (j.train.step = -5), /train\.step must be an integer ≥ 0, got -5/],
      ['step "x"', (j) => (j.train.step = 'x'), /train\.step must be an integer ≥ 0, got "x"/],
      ['step 1.5', (j) => (j.train.step = 1.5), /train\.step must be an integer ≥ 0, got 1\.5/],
      ['optimizerStep "abc"', (j) => (j.optimizerStep = 'abc'), /optimizerStep must be an integer ≥ 0, got "abc"/],
      ['optimizerStep ≠ step', (j) => (j.optimizerStep = 7), /optimizerStep \(7\) differs from train\.step \(2\)/],
      ['sampler', (j) => (j.train.sampler = { rng: 'a', batches: 2 }), /train\.sampler must be \{ rng: .*got \{"rng":"a","batches":2\}/],
      ['sampler batches', (j) => (j.train.sampler.batches = -1), /train\.sampler must be/],
      ['rng', (j) => (j.train.rng = 2 ** 33), /train\.rng must be a 32-bit unsigned integer, got 8589934592/],
      ['lr -1', (j) => (j.train.settings.lr = -1), /train\.settings: lr must be a finite number ≥ 0, got -1/],
      ['lr missing', (j) => delete j.train.settings.lr, /train\.settings: lr must be a finite number ≥ 0, got undefined/],
      ['betas [2, 2]', (j) => (j.train.settings.betas = [2, 2]), /train\.settings: betas must be two numbers in \[0, 1\), got \[2,2\]/],
      ['batchSize "4"', (j) => (j.train.settings.batchSize = '4'), /train\.settings: batchSize must be an integer ≥ 1, got "4"/],
      ['history null', (j) => (j.train.history = null), /train\.history must be \{ train, val \}, got null/],
      ['history point', (j) => (j.train.history.train[0] = [1, null]), /train\.history\.train\[0\] must be \[step ≥ 0, finite loss\], got \[1,null\]/],
      ['finalValLoss', (j) => (j.train.finalValLoss = 'low'), /train\.finalValLoss must be a finite number or null, got "low"/],
      ['train null', (j) => (j.train = null), /train must be an object, got null/],
    ];
    for (const [name, change, message] of cases) {
      const ck = await copyOfGood(`state-${name.replace(/\W+/g, '-')}`);
      await rewrite(ck, { json: change });
      const before = await readFile(join(ck, 'checkpoint.json'), 'utf8');
      const io = captureIO();
      expect(await trainMain(['--device', 'reference', '--data', textFile, '--out', ck, '--resume', '--steps', '5', '--sample-tokens', '0'], io), name).toBe(1);
      expect(io.err(), name).toMatch(message);
      expect(io.err(), name).not.toMatch(/unexpected error|\n\s+at /);
      expect(await readFile(join(ck, 'checkpoint.json'), 'utf8'), `${name}: the checkpoint is left alone`).toBe(before);
    }
  });
});

describe('malformed checkpoint files', () => {
  it('any corruption of model.safetensors gets a clear error from sample, never a crash or garbage', async () => {
    const ck = await copyOfGood('fuzz');
    const files = await loadCheckpointFiles(ck);
    const original = files.weights;
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.record({ kind: fc.constant('truncate' as const), at: fc.nat({ max: original.length - 1 }) }),
          fc.record({ kind: fc.constant('flip' as const), at: fc.nat({ max: original.length - 1 }), bits: fc.integer({ min: 1, max: 255 }) }),
          fc.record({ kind: fc.constant('header' as const), len: fc.constantFrom(0, 1, 7, 2 ** 32, 2 ** 53 - 1), }),
        ),
        async (damage) => {
          let bytes: Uint8Array;
          if (damage.kind === 'truncate') bytes = original.slice(0, damage.at);
          else if (damage.kind === 'flip') {
            bytes = Uint8Array.from(original);
            bytes[damage.at] ^= damage.bits;
          } else {
            bytes = Uint8Array.from(original);
            new DataView(bytes.buffer).setBigUint64(0, BigInt(damage.len), true);
          }
          // committed through the file layer, so only the parser and the checks below it stand guard
          await saveCheckpointFiles(ck, { ...files, weights: bytes });
          const io = captureIO();
          const code = await sampleMain(['--device', 'reference', '--ckpt', ck, '--tokens', '2', '--seed', '1'], io);
          expect(io.err()).not.toMatch(/unexpected error|\n\s+at /);
          // a flipped bit inside a float's mantissa is a valid file with other weights: it may sample
          if (code !== 0) expect(io.err()).toMatch(/^sample: (--ckpt: )?[a-zA-Z]+/);
          else expect(damage.kind).toBe('flip');
        },
      ),
      { numRuns: 40 },
    );
  });
});
