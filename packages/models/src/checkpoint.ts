/**
 * Model checkpoints: a GPT's weights (and optionally AdamW's moments) as safetensors under
 * nanoGPT's parameter names, plus config and tokenizer in checkpoint.json (files and atomicity:
 * checkpoint-io.ts).
 *
 * The weights load in PyTorch as they are:
 *   sd = safetensors.torch.load_file('out/model.safetensors'); GPT(GPTConfig(**cfg)).load_state_dict(sd)
 * `lm_head.weight` is stored as a copy of `transformer.wte.weight` because nanoGPT's state dict
 * lists the tied head under both names. Values are stored exactly: F32 when every value is a
 * float32 (all gpu.js devices), else F64 (the float64 reference device), so a save/load round
 * trip is bit-exact everywhere and a resumed run continues exactly where it stopped.
 */
import { type Tensor, getRngState, setRngState, tensor, type optim } from '@flashgrad/core';
import { loadCheckpointFiles, saveCheckpointFiles } from './checkpoint-io.js';
import { readSafetensors, writeSafetensors, type F32Tensor } from './safetensors.js';
import { tokenizerFromJSON, type Tokenizer } from './tokenizer.js';
import { GPT } from './gpt.js';
import { ConfigError, validateConfig, type GPTConfig } from './config.js';

/** Our camelCase module path → nanoGPT's snake_case one: `h.0.attn.cAttn` → `h.0.attn.c_attn`, `ln1` → `ln_1`. */
export function nanoGptName(name: string): string {
  return name.replace(/([a-z])([A-Z0-9])/g, '$1_$2').toLowerCase();
}

/** The tied head's extra name (nanoGPT's state dict has both). */
const LM_HEAD = 'lm_head.weight';

/** Index of the first NaN or ±Infinity, or -1. */
export function firstNonFinite(data: ArrayLike<number>): number {
  for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i])) return i;
  return -1;
}

const countNonFinite = (data: ArrayLike<number>): number => {
  let n = 0;
  for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i])) n++;
  return n;
};

/** Names the first non-finite value of a tensor: "transformer.wte.weight holds NaN at element 3 (all 64 values are non-finite)". */
function describeNonFinite(name: string, data: ArrayLike<number>, at: number): string {
  const n = countNonFinite(data);
  return `${name} holds ${data[at]} at element ${at} (${n === data.length ? `all ${n}` : `${n} of ${data.length}`} values are non-finite)`;
}

/** A save refused because weights or moments are NaN or infinite (a diverged run): the last good checkpoint stays. */
export class NonFiniteError extends Error {
  constructor(readonly tensorName: string, message: string) {
    super(message);
    this.name = 'NonFiniteError';
  }
}

/** A tensor's values, as float32 when that loses nothing, else float64; refuses NaN and ±Infinity. */
async function exactValues(t: Tensor, name: string): Promise<F32Tensor> {
  const wide = await t.data64();
  const bad = firstNonFinite(wide);
  if (bad >= 0) throw new NonFiniteError(name, `refusing to save non-finite values: ${describeNonFinite(name, wide, bad)}`);
  let fits = true;
  for (let i = 0; i < wide.length && fits; i++) fits = Math.fround(wide[i]) === wide[i];
  return { shape: [...t.shape], data: fits ? Float32Array.from(wide) : wide };
}

/** Parameters keyed by their nanoGPT names. */
export function namedWeights(model: GPT): Map<string, Tensor> {
  return new Map(model.namedParameters().map(([name, p]) => [nanoGptName(name), p]));
}

export async function weightsToSafetensors(model: GPT): Promise<Uint8Array> {
  const tensors: Record<string, F32Tensor> = {};
  for (const [name, p] of namedWeights(model)) tensors[name] = await exactValues(p, name);
  tensors[LM_HEAD] = tensors[nanoGptName('transformer.wte.weight')];
  return writeSafetensors(tensors, { format: 'pt', config: JSON.stringify(model.config) });
}

/** Thrown when saved weights do not fit the model (another shape, missing names). */
export class CheckpointError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CheckpointError';
  }
}

/** Loads safetensors weights (nanoGPT names) into the model; every parameter must be there with its shape. */
export function loadWeights(model: GPT, tensors: Record<string, F32Tensor>, where = 'checkpoint'): void {
  const own = namedWeights(model);
  const missing = [...own.keys()].filter((n) => !(n in tensors));
  const unexpected = Object.keys(tensors).filter((n) => !own.has(n) && n !== LM_HEAD);
  if (missing.length || unexpected.length) {
    throw new CheckpointError(
      `${where} does not fit this model: missing [${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', …' : ''}], ` +
        `unexpected [${unexpected.slice(0, 5).join(', ')}${unexpected.length > 5 ? ', …' : ''}]`,
    );
  }
  for (const [name, p] of own) {
    const { shape } = tensors[name];
    if (shape.join() !== p.shape.join()) {
      throw new CheckpointError(`${where} is of another shape: ${name} is [${shape}] there but [${p.shape}] in this model`);
    }
  }
  for (const name of own.keys()) {
    const bad = firstNonFinite(tensors[name].data);
    if (bad >= 0) {
      throw new CheckpointError(`${where} holds non-finite weights, refusing to load them: ${describeNonFinite(name, tensors[name].data, bad)}`);
    }
  }
  for (const [name, p] of own) {
    const values = tensor(tensors[name].data, { shape: tensors[name].shape });
    p.assign(values);
    values.dispose();
  }
}

/** AdamW's moments under PyTorch's state names (exp_avg, exp_avg_sq) and the parameter's name. */
export async function optimizerToSafetensors(model: GPT, optimizer: optim.AdamW): Promise<Uint8Array> {
  const names = new Map(model.namedParameters().map(([name, p]) => [p, nanoGptName(name)]));
  const params = optimizer.groups.flatMap((g) => g.params);
  const { m, v } = optimizer.state();
  const tensors: Record<string, F32Tensor> = {};
  for (let i = 0; i < params.length; i++) {
    const name = names.get(params[i]);
    if (!name) throw new Error('optimizerToSafetensors: the optimizer holds a tensor that is not a parameter of the model');
    tensors[`exp_avg.${name}`] = await exactValues(m[i], `exp_avg.${name}`);
    tensors[`exp_avg_sq.${name}`] = await exactValues(v[i], `exp_avg_sq.${name}`);
  }
  return writeSafetensors(tensors, { step: String(optimizer.stepCount) });
}

export function loadOptimizerState(model: GPT, optimizer: optim.AdamW, tensors: Record<string, F32Tensor>, step: number): void {
  if (!Number.isSafeInteger(step) || step < 0) throw new CheckpointError(`optimizer state: optimizerStep must be an integer ≥ 0, got ${JSON.stringify(step)}`);
  const names = new Map(model.namedParameters().map(([name, p]) => [p, nanoGptName(name)]));
  const params = optimizer.groups.flatMap((g) => g.params);
  const made: Tensor[] = [];
  const pick = (key: string, p: Tensor): Tensor => {
    const t = tensors[key];
    if (!t) throw new CheckpointError(`optimizer state has no ${key}`);
    if (t.shape.join() !== p.shape.join()) throw new CheckpointError(`optimizer state ${key} is [${t.shape}], parameter is [${p.shape}]`);
    const bad = firstNonFinite(t.data);
    if (bad >= 0) throw new CheckpointError(`optimizer state holds non-finite moments, refusing to load them: ${describeNonFinite(key, t.data, bad)}`);
    if (key.startsWith('exp_avg_sq.')) {
      const negative = t.data.findIndex((x) => x < 0);
      if (negative >= 0) throw new CheckpointError(`optimizer state ${key} holds ${t.data[negative]} at element ${negative}; a second moment is never negative`);
    }
    const out = tensor(t.data, { shape: t.shape });
    made.push(out);
    return out;
  };
  try {
    const m = params.map((p) => pick(`exp_avg.${names.get(p)}`, p));
    const v = params.map((p) => pick(`exp_avg_sq.${names.get(p)}`, p));
    optimizer.loadState({ step, m, v });
  } finally {
    for (const t of made) t.dispose();
  }
}

export interface SaveCheckpointOptions {
  model: GPT;
  tokenizer: Tokenizer;
  optimizer?: optim.AdamW;
  /** More JSON for checkpoint.json (training state, history…); "config" and "tokenizer" are ours. */
  extra?: Record<string, unknown>;
}

/** Writes model.safetensors, optimizer.safetensors (with an optimizer) and checkpoint.json into dir. */
export async function saveCheckpoint(dir: string, { model, tokenizer, optimizer, extra = {} }: SaveCheckpointOptions): Promise<void> {
  const weights = await weightsToSafetensors(model);
  const optimizerBytes = optimizer ? await optimizerToSafetensors(model, optimizer) : undefined;
  const json: Record<string, unknown> = {
    ...extra,
    config: model.config,
    tokenizer: tokenizer.toJSON(),
    ...(optimizer ? { optimizerStep: optimizer.stepCount } : {}),
  };
  await saveCheckpointFiles(dir, optimizerBytes ? { weights, optimizer: optimizerBytes, json } : { weights, json });
}

export interface LoadedCheckpoint {
  model: GPT;
  tokenizer: Tokenizer;
  config: GPTConfig;
  /** checkpoint.json without the reserved keys. */
  json: Record<string, unknown>;
  /** Optimizer tensors, when saved; apply with loadOptimizerState once the optimizer exists. */
  optimizer?: { tensors: Record<string, F32Tensor>; step: number };
}

/**
 * Rebuilds the model on the current device and loads its weights. `expect` (a shape the caller
 * wants) is compared with the saved config first, so a mismatch names the differing fields.
 */
export async function loadCheckpoint(dir: string, options: { expect?: Partial<GPTConfig> } = {}): Promise<LoadedCheckpoint> {
  const files = await loadCheckpointFiles(dir);
  let config: GPTConfig;
  try {
    config = validateConfig(files.json.config as GPTConfig);
  } catch (e) {
    throw new CheckpointError(`checkpoint in ${dir} has a bad config: ${(e as Error).message}`);
  }
  const differing = Object.entries(options.expect ?? {}).filter(([k, v]) => v !== undefined && config[k as keyof GPTConfig] !== v);
  if (differing.length) {
    throw new CheckpointError(
      `checkpoint in ${dir} is of another shape: ${differing.map(([k, v]) => `${k} is ${config[k as keyof GPTConfig]} there, ${v} here`).join('; ')}`,
    );
  }
  const tokenizer = tokenizerFromJSON(files.json.tokenizer);
  if (tokenizer.vocabSize !== config.vocabSize) {
    throw new CheckpointError(`checkpoint in ${dir}: tokenizer has ${tokenizer.vocabSize} tokens but the model ${config.vocabSize}`);
  }
  // Building the model draws its (discarded) initialisation from core's RNG: put the stream back.
  const rng = getRngState();
  let model: GPT;
  try {
    model = new GPT(config);
  } catch (e) {
    if (e instanceof ConfigError) throw new CheckpointError(`checkpoint in ${dir}: ${e.message}`);
    throw e;
  } finally {
    setRngState(rng);
  }
  const weights = readSafetensors(files.weights);
  loadWeights(model, weights.tensors, `checkpoint in ${dir}`);
  const step = files.json.optimizerStep ?? 0;
  if (files.optimizer && (typeof step !== 'number' || !Number.isSafeInteger(step) || step < 0)) {
    throw new CheckpointError(`checkpoint in ${dir}: optimizerStep must be an integer ≥ 0, got ${JSON.stringify(step)}`);
  }
  return {
    model,
    tokenizer,
    config,
    json: files.json,
    ...(files.optimizer ? { optimizer: { tensors: readSafetensors(files.optimizer).tensors, step: step as number } } : {}),
  };
}
