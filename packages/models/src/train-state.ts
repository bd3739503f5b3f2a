/**
 * The training state a resume reads back from checkpoint.json ("train"), validated field by field:
 * a checkpoint is input like any file, and a bad field must stop the resume with its name rather
 * than train at a negative learning rate or save NaN weights a few steps later.
 */
import type { BatchSamplerState } from './data.js';
import type { LossCurves, Point } from './plot.js';
import { CheckpointError } from './checkpoint.js';

export interface TrainSettings {
  steps: number;
  batchSize: number;
  /** Micro-batches per optimizer step; the effective batch is batchSize · gradAccum. */
  gradAccum: number;
  lr: number;
  minLr: number;
  warmup: number;
  weightDecay: number;
  betas: [number, number];
  /** Global gradient-norm bound; 0 turns clipping off. */
  gradClip: number;
  /** Validation every this many steps (and at the first and last); 0 only at the end. */
  evalEvery: number;
  evalIters: number;
  seed: number;
}

/** The state a resume needs besides weights and moments; stored in checkpoint.json under "train". */
export interface TrainState {
  step: number;
  settings: TrainSettings;
  sampler: BatchSamplerState;
  rng: number;
  history: LossCurves;
  data?: Record<string, unknown>;
  finalValLoss?: number | null;
}

const show = (v: unknown): string => (v === undefined ? 'undefined' : JSON.stringify(v) ?? String(v));

/** Checks every setting's type and range; `where` prefixes the message ("train", "checkpoint.json train.settings"). */
export function checkSettings(s: TrainSettings, where = 'train'): TrainSettings {
  const fail = (k: string, rule: string): never => {
    throw new RangeError(`${where}: ${k} must be ${rule}, got ${show((s as unknown as Record<string, unknown>)[k])}`);
  };
  const ints = ['steps', 'batchSize', 'gradAccum', 'warmup', 'evalEvery', 'evalIters', 'seed'] as const;
  for (const k of ints) {
    const min = k === 'batchSize' || k === 'gradAccum' || k === 'evalIters' || k === 'steps' ? 1 : 0;
    if (typeof s[k] !== 'number' || !Number.isSafeInteger(s[k]) || s[k] < min) fail(k, `an integer ≥ ${min}`);
  }
  for (const k of ['lr', 'minLr', 'weightDecay', 'gradClip'] as const) {
    if (typeof s[k] !== 'number' || !(s[k] >= 0) || !Number.isFinite(s[k])) fail(k, 'a finite number ≥ 0');
  }
  const b = s.betas;
  if (!Array.isArray(b) || b.length !== 2 || !b.every((x) => typeof x === 'number' && x >= 0 && x < 1)) fail('betas', 'two numbers in [0, 1)');
  return s;
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

function checkCurve(v: unknown, name: string): Point[] {
  if (!Array.isArray(v)) throw new CheckpointError(`checkpoint.json train.history.${name} must be an array of [step, loss], got ${show(v)}`);
  v.forEach((p, i) => {
    const ok = Array.isArray(p) && p.length === 2 && Number.isSafeInteger(p[0]) && p[0] >= 0 && typeof p[1] === 'number' && Number.isFinite(p[1]);
    if (!ok) throw new CheckpointError(`checkpoint.json train.history.${name}[${i}] must be [step ≥ 0, finite loss], got ${show(p)}`);
  });
  return v as Point[];
}

/**
 * The "train" object of checkpoint.json, validated; `optimizerStep` (top level) must agree with
 * train.step because AdamW's bias correction counts the steps the moments have seen.
 */
export function validateTrainState(raw: unknown, optimizerStep: unknown): TrainState {
  const where = 'checkpoint.json train';
  if (!isObject(raw)) throw new CheckpointError(`${where} must be an object, got ${show(raw)}`);
  const { step, settings, sampler, rng, history, data, finalValLoss } = raw;
  if (typeof step !== 'number' || !Number.isSafeInteger(step) || step < 0) throw new CheckpointError(`${where}.step must be an integer ≥ 0, got ${show(step)}`);
  if (!isObject(settings)) throw new CheckpointError(`${where}.settings must be an object, got ${show(settings)}`);
  try {
    checkSettings(settings as unknown as TrainSettings, `${where}.settings`);
  } catch (e) {
    throw new CheckpointError((e as Error).message);
  }
  const u32 = (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < 2 ** 32;
  if (!isObject(sampler) || !u32(sampler.rng) || typeof sampler.batches !== 'number' || !Number.isSafeInteger(sampler.batches) || sampler.batches < 0) {
    throw new CheckpointError(`${where}.sampler must be { rng: a 32-bit unsigned integer, batches: an integer ≥ 0 }, got ${show(sampler)}`);
  }
  if (!u32(rng)) throw new CheckpointError(`${where}.rng must be a 32-bit unsigned integer, got ${show(rng)}`);
  if (!isObject(history)) throw new CheckpointError(`${where}.history must be { train, val }, got ${show(history)}`);
  const curves = { train: checkCurve(history.train, 'train'), val: checkCurve(history.val, 'val') };
  if (data !== undefined && !isObject(data)) throw new CheckpointError(`${where}.data must be an object, got ${show(data)}`);
  if (finalValLoss !== undefined && finalValLoss !== null && !(typeof finalValLoss === 'number' && Number.isFinite(finalValLoss))) {
    throw new CheckpointError(`${where}.finalValLoss must be a finite number or null, got ${show(finalValLoss)}`);
  }
  if (optimizerStep !== step) {
    throw new CheckpointError(`checkpoint.json optimizerStep (${show(optimizerStep)}) differs from train.step (${step}); the optimizer's moments belong to another step`);
  }
  return {
    step, settings: settings as unknown as TrainSettings, sampler: sampler as unknown as BatchSamplerState, rng: rng as number,
    history: curves, ...(data !== undefined ? { data } : {}), finalValLoss: (finalValLoss as number | null | undefined) ?? null,
  };
}
