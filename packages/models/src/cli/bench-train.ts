/**
 * `pnpm bench:train [device]`: ms per training step and tokens/s of the presets on one device
 * (argv or FLASHGRAD_DEVICE), as the median of warm steps. Prints a table and writes
 * bench-results/train-<device>.json.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { getDevice, manualSeed, memory, optim, tidy } from '@flashgrad/core';
import { parseArgs, UsageError, type ArgsSpec } from '../cli-args.js';
import { countParameters, isPresetName, presets, type GPTConfig } from '../config.js';
import { BatchSampler, loadText, splitTrainVal } from '../data.js';
import { CharTokenizer, Gpt2Tokenizer } from '../tokenizer.js';
import { GPT } from '../gpt.js';
import { processIO, runCommand, startDevice, type CliIO } from './common.js';

export const benchFlags = {
  device: { type: 'string', help: 'device to measure (default: $FLASHGRAD_DEVICE or auto); also the first positional-free flag' },
  presets: { type: 'string', default: 'tiny,small', help: 'comma-separated presets' },
  warmup: { type: 'int', default: 2, help: 'untimed steps first (kernel compilation)' },
  steps: { type: 'int', default: 10, help: 'timed steps at most' },
  maxSeconds: { type: 'number', default: 60, help: 'stop timing a preset after this long (at least one step)' },
  batch: { type: 'int', help: "batch size (default: the preset's)" },
  attention: { type: 'string', default: 'flash', help: "'flash' or 'naive'" },
  out: { type: 'string', default: 'bench-results', help: 'directory for the JSON' },
} as const satisfies ArgsSpec;

export interface TrainBenchRow {
  preset: string;
  device: string;
  params: number;
  batchSize: number;
  blockSize: number;
  steps: number;
  msPerStep: number;
  msMin: number;
  msMax: number;
  tokensPerSec: number;
  /** Model FLOPs per step (6·N·tokens + attention), for a rate in GFLOP/s. */
  gflopPerStep: number;
  gflops: number;
  peakBytes: number;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** Forward + backward FLOPs of one step: 6 per parameter per token, plus attention's 12·L·T·C per token (nanoGPT/PaLM). */
export function flopsPerStep(c: GPTConfig, batchSize: number): number {
  const tokens = batchSize * c.blockSize;
  const nonEmbedding = countParameters(c) - c.blockSize * c.nEmbd;
  return 6 * nonEmbedding * tokens + 12 * c.nLayer * c.blockSize * c.nEmbd * tokens;
}

export async function benchPreset(name: string, tokens: Int32Array, vocabSize: number, o: {
  warmup: number; steps: number; maxSeconds: number; batch?: number; attention: 'flash' | 'naive';
}): Promise<TrainBenchRow> {
  if (!isPresetName(name)) throw new UsageError(`Unknown preset ${JSON.stringify(name)}; choose from ${Object.keys(presets).join(', ')}`);
  const preset = presets[name];
  const config: GPTConfig = { ...preset.model, vocabSize, attention: o.attention };
  const batchSize = o.batch ?? preset.train.batchSize;
  manualSeed(0);
  const model = new GPT(config);
  const { decay, noDecay } = model.decayGroups();
  const opt = new optim.AdamW([{ params: decay, weightDecay: 0.1 }, { params: noDecay, weightDecay: 0 }], { lr: 1e-4 });
  const sampler = new BatchSampler(tokens, { batchSize, blockSize: config.blockSize, seed: 0 });
  const shape = [batchSize, config.blockSize];
  const step = async (): Promise<number> => {
    const t = performance.now();
    const { x, y } = sampler.next();
    const loss = tidy(() => {
      const l = model.forward({ data: x, shape }, { data: y, shape }).loss!;
      l.backward();
      return l;
    });
    opt.clipGradNorm(model.parameters(), 1).dispose();
    opt.step();
    opt.zeroGrad();
    await loss.item(); // waits for the whole step on a queued device
    loss.dispose();
    return performance.now() - t;
  };
  for (let i = 0; i < o.warmup; i++) await step();
  const times: number[] = [];
  const t0 = performance.now();
  while (times.length < o.steps && (times.length === 0 || performance.now() - t0 < o.maxSeconds * 1000)) times.push(await step());
  const ms = median(times);
  const gflop = flopsPerStep(config, batchSize) / 1e9;
  const row: TrainBenchRow = {
    preset: name, device: getDevice().name, params: countParameters(config), batchSize, blockSize: config.blockSize,
    steps: times.length, msPerStep: ms, msMin: Math.min(...times), msMax: Math.max(...times),
    tokensPerSec: (batchSize * config.blockSize) / (ms / 1000), gflopPerStep: gflop, gflops: gflop / (ms / 1000),
    peakBytes: memory().peakBytes,
  };
  for (const p of model.parameters()) p.dispose();
  return row;
}

export async function runBench(argv: readonly string[], io: CliIO = processIO()): Promise<TrainBenchRow[]> {
  // `bench-train.js wasm` is accepted as shorthand for --device wasm
  const positional = argv.length > 0 && !argv[0].startsWith('-') ? argv[0] : undefined;
  const args = parseArgs(benchFlags, positional ? argv.slice(1) : argv);
  if (args.attention !== 'flash' && args.attention !== 'naive') throw new UsageError(`--attention must be 'flash' or 'naive'`);
  const device = await startDevice(positional ?? args.device ?? process.env.FLASHGRAD_DEVICE ?? 'auto');
  const { text } = await loadText();
  // each preset with its own tokenizer: GPT-2's 50257-wide head is a large part of its step
  const tokenized = new Map<string, { train: Int32Array; vocabSize: number }>();
  const tokensFor = (kind: 'char' | 'gpt2') => {
    let t = tokenized.get(kind);
    if (!t) {
      const tokenizer = kind === 'gpt2' ? new Gpt2Tokenizer() : CharTokenizer.fromText(text);
      t = { train: splitTrainVal(tokenizer.encode(text)).train, vocabSize: tokenizer.vocabSize };
      tokenized.set(kind, t);
    }
    return t;
  };
  const rows: TrainBenchRow[] = [];
  io.stdout.write(`device ${device}; median of warm steps\n`);
  io.stdout.write('preset | params | batch×block | steps | ms/step (min–max) | tokens/s | GFLOP/s\n');
  for (const name of args.presets.split(',').map((s) => s.trim()).filter(Boolean)) {
    // an unknown name is benchPreset's to refuse
    const { train, vocabSize } = tokensFor(isPresetName(name) ? presets[name].tokenizer : 'char');
    const row = await benchPreset(name, train, vocabSize, { ...args, attention: args.attention });
    rows.push(row);
    io.stdout.write(
      `${row.preset} | ${(row.params / 1e6).toFixed(2)}M | ${row.batchSize}×${row.blockSize} | ${row.steps} | ` +
        `${row.msPerStep.toFixed(1)} (${row.msMin.toFixed(1)}–${row.msMax.toFixed(1)}) | ${Math.round(row.tokensPerSec)} | ${row.gflops.toFixed(2)}\n`,
    );
  }
  await mkdir(args.out, { recursive: true });
  const path = join(args.out, `train-${device}.json`);
  await writeFile(path, JSON.stringify({ device, date: new Date().toISOString(), node: process.version, rows }, null, 2) + '\n');
  io.stdout.write(`wrote ${path}\n`);
  return rows;
}

export async function main(argv: readonly string[] = process.argv.slice(2), io: CliIO = processIO()): Promise<number> {
  return runCommand(io, 'bench:train', async () => {
    await runBench(argv, io);
  });
}
