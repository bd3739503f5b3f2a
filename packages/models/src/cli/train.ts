/**
 * `pnpm train`: a GPT on a text file (Moby Dick by default), with a progress bar, validation lines,
 * a checkpoint, a loss plot and a sample at the end. No flags trains the `quick` preset on the
 * `auto` device.
 */
import { createHash } from 'node:crypto';
import { detectAnomaly } from '@flashgrad/core';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs, UsageError, type ArgsSpec } from '../cli-args.js';
import { isPresetName, presets, validateConfig, countParameters, type GPTConfig, type PresetName } from '../config.js';
import { loadText, splitTrainVal } from '../data.js';
import { CharTokenizer, Gpt2Tokenizer, type Tokenizer } from '../tokenizer.js';
import { loadCheckpoint, type LoadedCheckpoint } from '../checkpoint.js';
import { defaultSettings, resolveSettings, savedTrainState, train, type TrainResult, type TrainSettings } from '../train.js';
import { sampleText } from '../sample.js';
import { asInput, InputError, processIO, runCommand, startDevice, type CliIO } from './common.js';

export const trainFlags = {
  preset: { type: 'string', default: 'quick', help: `model and training preset: ${Object.keys(presets).join(', ')}` },
  data: { type: 'string', help: 'UTF-8 text file to train on (default: Moby Dick)' },
  tokenizer: { type: 'string', help: "'char' or 'gpt2' (default: the preset's)" },
  device: { type: 'string', help: 'auto, webgpu, wasm, cpu, headlessgl or reference (default: $FLASHGRAD_DEVICE or auto)' },
  steps: { type: 'int', help: "optimizer steps (default: the preset's)" },
  batch: { type: 'int', help: 'sequences per micro-batch' },
  gradAccum: { type: 'int', help: 'micro-batches per optimizer step' },
  lr: { type: 'number', help: 'peak learning rate' },
  minLr: { type: 'number', help: 'learning rate at the end of the cosine decay' },
  warmup: { type: 'int', help: 'linear warmup steps' },
  weightDecay: { type: 'number', help: 'AdamW weight decay (matrices only)' },
  gradClip: { type: 'number', help: 'clip the global gradient norm to this (0: off)' },
  evalEvery: { type: 'int', help: 'validation every K steps' },
  evalIters: { type: 'int', help: 'batches per validation estimate' },
  seed: { type: 'int', help: `seed for initialisation and batches (default ${defaultSettings.seed})` },
  blockSize: { type: 'int', help: 'context length' },
  nLayer: { type: 'int', help: 'transformer blocks' },
  nHead: { type: 'int', help: 'attention heads' },
  nEmbd: { type: 'int', help: 'embedding width (a multiple of --n-head)' },
  dropout: { type: 'number', help: 'dropout probability' },
  attention: { type: 'string', help: "'flash' or 'naive'" },
  out: { type: 'string', default: 'out', help: 'directory for checkpoint, loss.svg and sample.txt' },
  resume: { type: 'boolean', help: 'continue the run checkpointed in --out' },
  saveEvery: { type: 'int', help: 'checkpoint every K steps (default: at every validation; 0: only at the end)' },
  sampleTokens: { type: 'int', default: 400, help: 'tokens of text to generate at the end (0: none)' },
  detectAnomaly: { type: 'boolean', help: 'check every op and gradient for NaN/Infinity and name the first op that makes one (slow)' },
} as const satisfies ArgsSpec;

const MODEL_FLAGS = ['blockSize', 'nLayer', 'nHead', 'nEmbd', 'dropout', 'attention'] as const;

function positive(name: string, v: number | undefined, min = 1): void {
  if (v !== undefined && v < min) throw new UsageError(`--${name} must be at least ${min}, got ${v}`);
}

function makeTokenizer(kind: string, text: string): Tokenizer {
  if (kind === 'char') return CharTokenizer.fromText(text);
  if (kind === 'gpt2') return new Gpt2Tokenizer();
  throw new UsageError(`--tokenizer must be 'char' or 'gpt2', got ${JSON.stringify(kind)}`);
}

/** The run's folder, made before training: the first checkpoint comes after minutes of work, which a file in the way would lose. */
async function makeOutDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'EEXIST' || code === 'ENOTDIR' ? 'it (or a folder above it) is a file' : (e as Error).message;
    throw new InputError(`--out ${dir} cannot be the run's folder: ${why}`);
  }
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

export interface TrainRun {
  result: TrainResult;
  outDir: string;
  sample: string;
}

/** Parses argv, trains, and returns the run; throws UsageError/InputError for bad input. */
export async function runTrain(argv: readonly string[], io: CliIO = processIO()): Promise<TrainRun> {
  const args = parseArgs(trainFlags, argv);
  if (!isPresetName(args.preset)) throw new UsageError(`Unknown --preset ${JSON.stringify(args.preset)}; choose one of ${Object.keys(presets).join(', ')}`);
  const presetName: PresetName = args.preset;
  const preset = presets[presetName];
  if (args.attention !== undefined && args.attention !== 'flash' && args.attention !== 'naive') {
    throw new UsageError(`--attention must be 'flash' or 'naive', got ${JSON.stringify(args.attention)}`);
  }
  for (const k of ['steps', 'batch', 'gradAccum', 'evalIters', 'blockSize', 'nLayer', 'nHead', 'nEmbd'] as const) positive(k, args[k]);
  for (const k of ['warmup', 'evalEvery', 'saveEvery', 'sampleTokens', 'seed'] as const) positive(k, args[k], 0);
  for (const k of ['lr', 'minLr', 'weightDecay', 'gradClip'] as const) positive(k, args[k], 0);
  if (args.dropout !== undefined && !(args.dropout >= 0 && args.dropout < 1)) throw new UsageError(`--dropout must be in [0, 1), got ${args.dropout}`);
  const outDir = args.out;

  // The device starts (which can take seconds) only once the cheap checks on flags and data passed,
  // except that a checkpoint to resume from must load onto it.
  const device = () => startDevice(args.device ?? process.env.FLASHGRAD_DEVICE ?? 'auto');
  // A resumed run takes its shape, tokenizer and settings from the checkpoint; flags may only agree.
  let resumed: LoadedCheckpoint | undefined;
  let deviceName = args.resume ? await device() : undefined;
  if (args.resume) {
    const explicit: Partial<GPTConfig> = Object.fromEntries(MODEL_FLAGS.map((k) => [k, args[k]]).filter(([, v]) => v !== undefined));
    const presetGiven = argv.some((a) => a === '--preset' || a.startsWith('--preset='));
    const expect = presetGiven ? { ...preset.model, ...explicit } : explicit;
    resumed = await asInput('--resume: ', () => loadCheckpoint(outDir, { expect }));
  }

  const { text, source } = await asInput('--data: ', () => loadText(args.data));
  const tokenizerKind = args.tokenizer ?? resumed?.tokenizer.kind ?? preset.tokenizer;
  if (resumed && args.tokenizer !== undefined && args.tokenizer !== resumed.tokenizer.kind) {
    throw new UsageError(`--resume: the checkpoint in ${outDir} uses the ${resumed.tokenizer.kind} tokenizer, not ${args.tokenizer}`);
  }
  const tokenizer = resumed ? resumed.tokenizer : makeTokenizer(tokenizerKind, text);
  const tokens = await asInput(`--data ${source}: `, () => Int32Array.from(tokenizer.encode(text)));
  const config: GPTConfig = resumed
    ? resumed.config
    : validateConfig({
        ...preset.model,
        ...Object.fromEntries(MODEL_FLAGS.map((k) => [k, args[k]]).filter(([, v]) => v !== undefined)),
        vocabSize: tokenizer.vocabSize,
      } as GPTConfig);
  const split = splitTrainVal(tokens);
  const need = Math.ceil((config.blockSize + 2) / 0.1);
  if (split.train.length <= config.blockSize || split.val.length <= config.blockSize) {
    throw new InputError(
      `--data ${source} is too short: ${tokens.length.toLocaleString('en-US')} tokens, but blockSize ${config.blockSize} needs about ` +
        `${need.toLocaleString('en-US')} (the last 10% is validation and must hold one window of ${config.blockSize + 1} tokens); ` +
        'use a longer text or a smaller --block-size',
    );
  }

  const d = preset.train;
  const savedState = resumed ? savedTrainState(resumed) : undefined;
  const base: Partial<TrainSettings> = savedState?.settings ?? {};
  const settings = resolveSettings({
    steps: args.steps ?? base.steps ?? d.steps,
    batchSize: args.batch ?? base.batchSize ?? d.batchSize,
    gradAccum: args.gradAccum ?? base.gradAccum ?? d.gradAccum,
    lr: args.lr ?? base.lr ?? d.lr,
    // an --lr without --min-lr decays to its own lr / 10 (resolveSettings' default), not the preset's
    minLr: args.minLr ?? base.minLr ?? (args.lr !== undefined ? undefined : d.minLr),
    warmup: args.warmup ?? base.warmup ?? d.warmup,
    weightDecay: args.weightDecay ?? base.weightDecay ?? d.weightDecay,
    gradClip: args.gradClip ?? base.gradClip ?? d.gradClip,
    evalEvery: args.evalEvery ?? base.evalEvery ?? d.evalEvery,
    evalIters: args.evalIters ?? base.evalIters ?? d.evalIters,
    seed: args.seed ?? base.seed,
    betas: base.betas,
  });
  if (resumed) {
    const done = savedState?.step ?? 0;
    if (done >= settings.steps) throw new UsageError(`--resume: the checkpoint in ${outDir} is already at step ${done}; pass --steps above it to train on`);
  }

  await makeOutDir(outDir);
  deviceName ??= await device();
  const params = countParameters(config);
  io.stderr.write(
    `${resumed ? `resuming the run in ${outDir}` : `training preset '${presetName}'`}: ` +
      `${config.nLayer} layers, ${config.nHead} heads, ${config.nEmbd} wide, block ${config.blockSize}, ` +
      `${(params / 1e6).toFixed(2)}M parameters, ${config.attention} attention, on ${deviceName}\n` +
      `data: ${source}, ${tokens.length.toLocaleString('en-US')} ${tokenizer.kind} tokens (vocab ${tokenizer.vocabSize}), ` +
      `${split.train.length.toLocaleString('en-US')} train / ${split.val.length.toLocaleString('en-US')} val\n` +
      `${settings.steps} steps of ${settings.batchSize}×${settings.gradAccum}×${config.blockSize} tokens, lr ${settings.lr} → ${settings.minLr}\n`,
  );

  const run = () => train({
    config, tokenizer, data: split, ...settings,
    dataInfo: { source: args.data ?? source, tokens: tokens.length, sha256: sha256(text) },
    outDir, resumeFrom: resumed, saveEvery: args.saveEvery ?? settings.evalEvery,
    progress: io.stderr,
  });
  const result = args.detectAnomaly ? await detectAnomaly(run) : await run();

  let sample = '';
  if (args.sampleTokens > 0) {
    const prompt = tokenizer.kind === 'char' ? ((tokenizer as CharTokenizer).chars.includes('\n') ? '\n' : (tokenizer as CharTokenizer).chars[0]) : '\n';
    sample = await sampleText(result.model, tokenizer, prompt, { maxNewTokens: args.sampleTokens, temperature: 0.8, topK: 40, seed: settings.seed });
  }
  const lines = [
    `done: ${result.step} steps in ${result.seconds.toFixed(1)} s (${Math.round(result.tokensPerSec).toLocaleString('en-US')} tok/s)`,
    result.finalValLoss !== null ? `val loss ${result.finalValLoss.toFixed(4)} nats/token over the whole val split` : null,
    `checkpoint: ${join(outDir, 'checkpoint.json')} (weights also at ${join(outDir, 'model.safetensors')})`,
    `loss plot:  ${join(outDir, 'loss.svg')}`,
  ].filter((l): l is string => l !== null);
  io.stdout.write(lines.join('\n') + '\n');
  if (sample) await writeFile(join(outDir, 'sample.txt'), sample);
  if (sample) io.stdout.write(`\n--- sample (${args.sampleTokens} tokens, temperature 0.8, top-k 40) ---\n${sample}\n---\n`);
  return { result, outDir, sample };
}

/** The `pnpm train` entry point: returns the exit code. */
export async function main(argv: readonly string[] = process.argv.slice(2), io: CliIO = processIO()): Promise<number> {
  return runCommand(io, 'train', async () => {
    await runTrain(argv, io);
  });
}

