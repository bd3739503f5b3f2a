/**
 * The training loop (nanoGPT's train.py): AdamW with weight decay on matrices only, linear warmup
 * and cosine decay, gradient clipping and accumulation, periodic validation, checkpoints and a
 * loss plot. Everything random is seeded and saved, so a run resumed from a checkpoint produces
 * the loss curve the uninterrupted run would have (bit for bit on the reference device).
 */
import { getRngState, isAnomalyEnabled, manualSeed, noGrad, optim, setRngState, tidy, type Tensor } from '@flashgrad/core';
import { mkdir } from 'node:fs/promises';
import { writeFileAtomic } from './checkpoint-io.js';
import { join } from 'node:path';
import { BatchSampler } from './data.js';
import { GPT } from './gpt.js';
import type { GPTConfig } from './config.js';
import type { Tokenizer } from './tokenizer.js';
import { CheckpointError, loadOptimizerState, NonFiniteError, saveCheckpoint, type LoadedCheckpoint } from './checkpoint.js';
import { checkSettings, validateTrainState, type TrainSettings, type TrainState } from './train-state.js';
import { Progress, type ProgressStream } from './progress.js';
import { lossCurveSvg, type LossCurves, type Point } from './plot.js';

export type { TrainSettings } from './train-state.js';

export const defaultSettings: Omit<TrainSettings, 'steps' | 'batchSize' | 'lr'> = {
  gradAccum: 1,
  minLr: NaN, // lr / 10, filled in by resolveSettings
  warmup: 0,
  weightDecay: 0.1,
  betas: [0.9, 0.99],
  gradClip: 1,
  evalEvery: 250,
  evalIters: 20,
  seed: 1337,
};

export interface TrainOptions extends Partial<TrainSettings> {
  config: GPTConfig;
  tokenizer: Tokenizer;
  /** Token ids of the two splits (splitTrainVal). */
  data: { train: Int32Array; val: Int32Array };
  steps: number;
  batchSize: number;
  lr: number;
  /** Recorded in the checkpoint and compared on resume (e.g. { source, sha256 } of the text). */
  dataInfo?: Record<string, unknown>;
  /** Checkpoint, plot and log go here; nothing is written without it. */
  outDir?: string;
  /** Continue from this checkpoint (loadCheckpoint of outDir): weights, moments, step, RNGs. */
  resumeFrom?: LoadedCheckpoint;
  /** Also checkpoint every this many steps (0: only at the end). */
  saveEvery?: number;
  /** Stop after this step as if interrupted (checkpoint written, schedule still planned for `steps`). */
  stopAfter?: number;
  /** Full validation pass over the whole val split at the end (default true). */
  finalEval?: boolean;
  /** Progress bar stream (stderr by default); false for none. */
  progress?: ProgressStream | false;
  /** Lines such as validation results; default: through the progress bar, or console.error. */
  log?: (line: string) => void;
  /** Called after every optimizer step with that step's loss. */
  onStep?: (info: StepInfo) => void;
}

export interface StepInfo {
  /** Optimizer steps done, 1-based. */
  step: number;
  loss: number;
  lr: number;
  /** Wall time of this step, including reading the loss. */
  ms: number;
}

export interface TrainResult {
  model: GPT;
  optimizer: optim.AdamW;
  settings: TrainSettings;
  /** Optimizer steps completed (including those before a resume). */
  step: number;
  history: LossCurves;
  /** Last periodic validation estimate. */
  valLoss: number | null;
  /** Mean loss over the whole val split (finalEval), in nats per token. */
  finalValLoss: number | null;
  /** This run's training time and throughput (steps before a resume not counted). */
  seconds: number;
  tokensPerSec: number;
}

/** Anomaly mode: the optimizer update of `step` left every parameter finite, or a DivergedError names the first that is not. */
async function checkUpdate(model: GPT, step: number): Promise<void> {
  for (const [name, p] of model.namedParameters()) {
    const values = await p.data();
    const bad = values.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) throw new DivergedError(`anomaly: the AdamW update of step ${step} made ${name} ${values[bad]} at element ${bad}; try a lower --lr or a longer --warmup`);
  }
}

/** Training produced a NaN or infinite loss (the learning rate is usually too high). */
export class DivergedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DivergedError';
  }
}

/** The settings a checkpoint was trained with (to resume with the same ones). */
export function savedSettings(checkpoint: LoadedCheckpoint): TrainSettings | undefined {
  return savedTrainState(checkpoint)?.settings;
}

/** The checkpoint's training state, every field validated (CheckpointError naming the field); undefined if none. */
export function savedTrainState(checkpoint: LoadedCheckpoint): TrainState | undefined {
  if (checkpoint.json.train === undefined) return undefined;
  return validateTrainState(checkpoint.json.train, checkpoint.json.optimizerStep);
}

export function resolveSettings(o: Partial<TrainSettings> & Pick<TrainSettings, 'steps' | 'batchSize' | 'lr'>): TrainSettings {
  const keys = ['steps', 'batchSize', 'gradAccum', 'lr', 'minLr', 'warmup', 'weightDecay', 'betas', 'gradClip', 'evalEvery', 'evalIters', 'seed'] as const;
  const given = Object.fromEntries(keys.filter((k) => o[k] !== undefined).map((k) => [k, o[k]]));
  const s = { ...defaultSettings, ...given } as TrainSettings;
  if (Number.isNaN(s.minLr)) s.minLr = s.lr / 10;
  return checkSettings(s);
}

/** Mean loss over `iters` batches of a split, drawn with a fixed seed so estimates are comparable. */
export async function estimateLoss(model: GPT, tokens: Int32Array, batchSize: number, iters: number, seed = 0): Promise<number> {
  const sampler = new BatchSampler(tokens, { batchSize, blockSize: model.config.blockSize, seed });
  const batches = Array.from({ length: iters }, () => sampler.next());
  return meanLoss(model, batches.map(({ x, y }) => ({ x, y, rows: batchSize })));
}

/**
 * Mean loss over the whole split: consecutive windows of blockSize tokens, every token predicted
 * once (its context restarts at each window, so this slightly overstates the loss).
 */
export async function evaluateSplit(model: GPT, tokens: Int32Array, batchSize: number): Promise<number> {
  const T = Math.min(model.config.blockSize, tokens.length - 1);
  const windows = Math.floor((tokens.length - 1) / T);
  if (windows < 1) throw new RangeError(`evaluateSplit: the split has ${tokens.length} tokens, fewer than one window of ${T} + 1`);
  const batches: { x: Int32Array; y: Int32Array; rows: number }[] = [];
  for (let w0 = 0; w0 < windows; w0 += batchSize) {
    const rows = Math.min(batchSize, windows - w0);
    const x = new Int32Array(rows * T);
    const y = new Int32Array(rows * T);
    for (let r = 0; r < rows; r++) {
      const start = (w0 + r) * T;
      x.set(tokens.subarray(start, start + T), r * T);
      y.set(tokens.subarray(start + 1, start + T + 1), r * T);
    }
    batches.push({ x, y, rows });
  }
  return meanLoss(model, batches);
}

async function meanLoss(model: GPT, batches: { x: Int32Array; y: Int32Array; rows: number }[]): Promise<number> {
  const wasTraining = model.training;
  model.eval();
  let total = 0;
  let count = 0;
  try {
    for (const { x, y, rows } of batches) {
      const T = x.length / rows;
      const loss = noGrad(() => tidy(() => model.forward({ data: x, shape: [rows, T] }, { data: y, shape: [rows, T] }).loss!));
      total += (await loss.item()) * x.length;
      count += x.length;
      loss.dispose();
    }
  } finally {
    model.train(wasTraining);
  }
  return total / count;
}

/** Averages a long per-step curve into at most `points` buckets, so the plot shows the trend. */
export function smoothCurve(points: Point[], maxPoints = 200): Point[] {
  const size = Math.max(1, Math.ceil(points.length / maxPoints));
  const out: Point[] = [];
  for (let i = 0; i < points.length; i += size) {
    const bucket = points.slice(i, i + size);
    out.push([bucket[bucket.length - 1][0], bucket.reduce((s, p) => s + p[1], 0) / bucket.length]);
  }
  return out;
}

export async function writeLossPlot(outDir: string, history: LossCurves, title: string): Promise<string> {
  const path = join(outDir, 'loss.svg');
  await mkdir(outDir, { recursive: true });
  await writeFileAtomic(path, lossCurveSvg({ train: smoothCurve(history.train), val: history.val }, { title, yLabel: 'loss (nats/token)' }));
  return path;
}

const sameConfig = (a: GPTConfig, b: GPTConfig): boolean =>
  (Object.keys(a) as (keyof GPTConfig)[]).every((k) => a[k] === b[k]) && Object.keys(a).length === Object.keys(b).length;

export async function train(options: TrainOptions): Promise<TrainResult> {
  const { config, tokenizer, data, outDir, resumeFrom, saveEvery = 0, finalEval = true } = options;
  const settings = resolveSettings(options);
  const saved = resumeFrom ? savedTrainState(resumeFrom) : undefined;
  if (resumeFrom && !saved) throw new CheckpointError('checkpoint has no training state to resume from (was it saved by sample-only tools?)');
  if (resumeFrom && !sameConfig(resumeFrom.config, config)) {
    throw new CheckpointError(`checkpoint is of another shape: ${JSON.stringify(resumeFrom.config)} there, ${JSON.stringify(config)} here`);
  }
  if (saved && options.dataInfo && saved.data && JSON.stringify(saved.data) !== JSON.stringify(options.dataInfo)) {
    throw new CheckpointError(`checkpoint was trained on other data (${JSON.stringify(saved.data)}); resume with the same data`);
  }

  manualSeed(settings.seed);
  const model = resumeFrom ? resumeFrom.model : new GPT(config);
  const { decay, noDecay } = model.decayGroups();
  const optimizer = new optim.AdamW(
    [{ params: decay, weightDecay: settings.weightDecay }, { params: noDecay, weightDecay: 0 }],
    { lr: settings.lr, betas: settings.betas, eps: 1e-8 },
  );
  const sampler = new BatchSampler(data.train, { batchSize: settings.batchSize, blockSize: config.blockSize, seed: settings.seed });
  // the val split must hold one window; checked here so the error comes before any training
  new BatchSampler(data.val, { batchSize: 1, blockSize: config.blockSize });
  let step = 0;
  const history: LossCurves = { train: [], val: [] };
  if (resumeFrom && saved) {
    if (!resumeFrom.optimizer) throw new CheckpointError('checkpoint has no optimizer state to resume from');
    loadOptimizerState(model, optimizer, resumeFrom.optimizer.tensors, resumeFrom.optimizer.step);
    sampler.setState(saved.sampler);
    setRngState(saved.rng);
    step = saved.step;
    history.train.push(...saved.history.train);
    history.val.push(...saved.history.val);
  }
  const schedule = optim.cosineWithWarmup({ maxLr: settings.lr, minLr: settings.minLr, warmup: settings.warmup, total: settings.steps });
  const tokensPerStep = settings.batchSize * config.blockSize * settings.gradAccum;
  const bar = options.progress === false ? null : new Progress(settings.steps, options.progress ? { stream: options.progress } : {});
  const log = options.log ?? ((line: string) => (bar ? bar.log(line) : console.error(line)));
  const title = `GPT ${config.nLayer}×${config.nEmbd}, ${tokenizer.kind} tokens`;

  let finalValLoss: number | null = null;
  let lastSaved: number | null = resumeFrom ? step : null;
  const checkpoint = async (): Promise<void> => {
    if (!outDir) return;
    const state: TrainState = {
      step, settings, sampler: sampler.getState(), rng: getRngState(), history, data: options.dataInfo, finalValLoss,
    };
    try {
      await saveCheckpoint(outDir, { model, tokenizer, optimizer, extra: { train: state } });
    } catch (e) {
      if (!(e instanceof NonFiniteError)) throw e;
      const kept = lastSaved === null ? 'no checkpoint was written' : `the checkpoint of step ${lastSaved} in ${outDir} is kept`;
      throw new DivergedError(`the update of step ${step} made the weights non-finite (${e.message.replace(/^refusing to save non-finite values: /, '')}); ${kept}; try a lower --lr or a longer --warmup`);
    }
    lastSaved = step;
    await writeLossPlot(outDir, history, title);
  };
  let valLoss: number | null = history.val.at(-1)?.[1] ?? null;
  const validate = async (): Promise<void> => {
    // a seed of its own: validation never moves the training batch sequence or core's RNG
    const rng = getRngState();
    valLoss = await estimateLoss(model, data.val, settings.batchSize, settings.evalIters, settings.seed + 1);
    setRngState(rng);
    const recent = history.train.slice(-Math.max(1, settings.evalEvery)).map((p) => p[1]);
    const trainPart = recent.length ? ` | train ${(recent.reduce((a, b) => a + b, 0) / recent.length).toFixed(4)}` : '';
    history.val.push([step, valLoss]);
    const lrPart = step > 0 ? ` | lr ${schedule(step - 1).toExponential(2)}` : '';
    log(`step ${step}: val loss ${valLoss.toFixed(4)}${trainPart}${lrPart}`);
  };

  model.train();
  if (step === 0) await validate();
  const stopAt = Math.min(settings.steps, options.stopAfter ?? Infinity);
  const startStep = step;
  const t0 = performance.now();
  let rate = 0;
  while (step < stopAt) {
    const t = performance.now();
    const lr = schedule(step);
    optimizer.lr = lr;
    let loss = 0;
    for (let micro = 0; micro < settings.gradAccum; micro++) {
      const { x, y } = sampler.next();
      const shape = [settings.batchSize, config.blockSize];
      const l: Tensor = tidy(() => {
        const { loss: full } = model.forward({ data: x, shape }, { data: y, shape });
        const scaled = settings.gradAccum > 1 ? full!.div(settings.gradAccum) : full!;
        scaled.backward();
        return scaled;
      });
      loss += await l.item();
      l.dispose();
    }
    if (!Number.isFinite(loss)) {
      throw new DivergedError(`the loss became ${loss} at step ${step + 1}; try a lower --lr or a longer --warmup`);
    }
    // the clip's factor is applied inside the update (AdamW.clipGradNorm): no scaling kernel a gradient
    if (settings.gradClip > 0) optimizer.clipGradNorm(model.parameters(), settings.gradClip).dispose();
    optimizer.step();
    optimizer.zeroGrad();
    step++;
    // the update is a device kernel, not a recorded op: anomaly mode checks its result here
    if (isAnomalyEnabled()) await checkUpdate(model, step);
    history.train.push([step, loss]);
    const ms = performance.now() - t;
    // throughput over recent steps (exponential average), skipping the first step's compilation
    const instant = tokensPerStep / (ms / 1000);
    rate = step - startStep <= 1 ? instant : 0.9 * rate + 0.1 * instant;
    bar?.update(step, { loss, tokensPerSec: rate });
    options.onStep?.({ step, loss, lr, ms });
    if ((settings.evalEvery > 0 && step % settings.evalEvery === 0) || step === settings.steps) await validate();
    if (saveEvery > 0 && step % saveEvery === 0 && step < stopAt) await checkpoint();
  }
  const seconds = (performance.now() - t0) / 1000;
  bar?.done();
  if (finalEval && step === settings.steps) {
    finalValLoss = await evaluateSplit(model, data.val, 64);
    log(`final val loss over the whole val split (${data.val.length.toLocaleString('en-US')} tokens): ${finalValLoss.toFixed(4)}`);
  }
  await checkpoint();
  return {
    model, optimizer, settings, step, history, valLoss, finalValLoss, seconds,
    tokensPerSec: step > startStep ? ((step - startStep) * tokensPerStep) / seconds : 0,
  };
}
