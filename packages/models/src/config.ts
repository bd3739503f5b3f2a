/**
 * The GPT's shape (nanoGPT's GPTConfig) and the named presets, each with the training settings it
 * was tuned with, so `pnpm train --preset small` is one flag and not ten.
 */

export interface GPTConfig {
  /** Tokens in the vocabulary: the char tokenizer's alphabet, or 50257 for GPT-2's BPE. */
  vocabSize: number;
  /** Longest context the model sees; the position table has this many rows. */
  blockSize: number;
  nLayer: number;
  nHead: number;
  /** Width of the residual stream; each head gets nEmbd / nHead of it. */
  nEmbd: number;
  /** On embeddings and residual branches while training (attention weights take none: see gpt.ts). */
  dropout: number;
  /** Biases in Linear and LayerNorm layers (GPT-2: true; nanoGPT shows false trains a bit better). */
  bias: boolean;
  /** 'flash' (tiled, O(T) memory) or 'naive' (materialises the T × T scores); same results. */
  attention: 'flash' | 'naive';
}

/** Training settings a preset comes with; every one can be overridden from the CLI. */
export interface TrainDefaults {
  batchSize: number;
  steps: number;
  /** Peak learning rate, reached after `warmup` steps, decayed by cosine to minLr at the end. */
  lr: number;
  minLr: number;
  warmup: number;
  weightDecay: number;
  gradClip: number;
  gradAccum: number;
  evalEvery: number;
  /** Batches averaged per validation estimate. */
  evalIters: number;
}

export interface Preset {
  tokenizer: 'char' | 'gpt2';
  model: Omit<GPTConfig, 'vocabSize'>;
  train: TrainDefaults;
}

export const presets = {
  /**
   * Trains on 2 CPU cores in about 7 minutes to ~2.05 nats/char on Moby Dick's last 10% (bigram:
   * 2.41). Chosen by measurement: among 1–3 layers × 48–128 wide × (B, T) of 16×32, 16×64, 24×64
   * and 32×32, this reached the lowest val loss in a fixed wall time on the wasm device. Short
   * runs of small models want a high peak lr, but with only 30 warmup steps 1 seed in 6 never got
   * past the bigram plateau (2.43); 100 warmup steps made all 6 land at 2.03–2.05.
   */
  tiny: {
    tokenizer: 'char',
    model: { blockSize: 64, nLayer: 2, nHead: 4, nEmbd: 64, dropout: 0, bias: true, attention: 'flash' },
    train: {
      batchSize: 16, steps: 600, lr: 6e-3, minLr: 6e-4, warmup: 100, weightDecay: 0.1,
      gradClip: 1, gradAccum: 1, evalEvery: 100, evalIters: 10,
    },
  },
  /**
   * The default run (issue 12): the cheapest recipe found that reaches val ≤ 1.80 nats/char on
   * Moby Dick on 2 CPU cores, one block 128 wide. Chosen by measurement (BENCHMARKS.md,
   * "Default-run recipe, session 5"): 133 recipes in the PyTorch mirror
   * (examples/peers/torch_recipe_sweep.py; 1–6 layers, 64–192 wide, T 32–128, B 6–24, 400–2,000
   * steps, lr 2e-3–1e-2), each weighed by its step on the wasm device (2 pinned cores): a layer
   * costs ~100 ms there (1 layer 117 ms, 2 layers 218, 4 layers 390–487 at 128 wide, B 12), and in
   * runs this short a shallow model learns as fast per step as a deep one (1,000 steps: 1 layer
   * 1.785–1.792 over 3 seeds, 2 layers 1.79–1.81, 4 layers 1.82–1.83). 1,250 steps for a margin:
   * the mirror ends at 1.742–1.744 (2 seeds), flashgrad at 1.745 in 3 min 41 s on a 2-core machine
   * shared with other jobs. lr 1e-2 kept this model on the bigram plateau (2.18 after 1,000
   * steps); 6e-3 did not.
   */
  quick: {
    tokenizer: 'char',
    model: { blockSize: 64, nLayer: 1, nHead: 4, nEmbd: 128, dropout: 0, bias: true, attention: 'flash' },
    train: {
      batchSize: 12, steps: 1250, lr: 6e-3, minLr: 6e-4, warmup: 100, weightDecay: 0.1,
      gradClip: 1, gradAccum: 1, evalEvery: 250, evalIters: 10,
    },
  },
  /**
   * The 4-layer recipe first considered for the default run (issue 12), tuned in PyTorch
   * (examples/peers/torch_recipe.py, same model, init, AdamW and schedule, 2026-12-01) on Moby Dick:
   * the reference recipe (lr 1e-3 → 1e-4, 2,000 steps) ends at val 1.814; lr 2e-3 → 2e-4 is lower
   * at every checkpoint (2.11 vs 2.22 at step 500) and ends at 1.767 after 1,500 steps (1.703
   * after 2,000). Not the default: at the wasm device's 390–490 ms a step (2 cores, session 5)
   * 1,500 steps take 10–12 minutes; it fits 5 minutes at ≤ ~180 ms a step.
   */
  base: {
    tokenizer: 'char',
    model: { blockSize: 64, nLayer: 4, nHead: 4, nEmbd: 128, dropout: 0, bias: true, attention: 'flash' },
    train: {
      batchSize: 12, steps: 1500, lr: 2e-3, minLr: 2e-4, warmup: 100, weightDecay: 0.1,
      gradClip: 1, gradAccum: 1, evalEvery: 250, evalIters: 10,
    },
  },
  /**
   * nanoGPT's config/train_shakespeare_char.py. Its batch of 64 runs as 4 micro-batches of 16: the
   * same update, and the [64·256, 3·384] activations would exceed webgpu's 64 MiB buffer cap.
   */
  small: {
    tokenizer: 'char',
    model: { blockSize: 256, nLayer: 6, nHead: 6, nEmbd: 384, dropout: 0.2, bias: false, attention: 'flash' },
    train: {
      batchSize: 16, steps: 5000, lr: 1e-3, minLr: 1e-4, warmup: 100, weightDecay: 0.1,
      gradClip: 1, gradAccum: 4, evalEvery: 250, evalIters: 200,
    },
  },
  /** GPT-2 124M (nanoGPT's config/train_gpt2.py, per micro-batch). */
  gpt2: {
    tokenizer: 'gpt2',
    model: { blockSize: 1024, nLayer: 12, nHead: 12, nEmbd: 768, dropout: 0, bias: true, attention: 'flash' },
    train: {
      batchSize: 12, steps: 600000, lr: 6e-4, minLr: 6e-5, warmup: 2000, weightDecay: 0.1,
      gradClip: 1, gradAccum: 40, evalEvery: 1000, evalIters: 200,
    },
  },
} as const satisfies Record<string, Preset>;

export type PresetName = keyof typeof presets;

export function isPresetName(name: string): name is PresetName {
  return Object.hasOwn(presets, name);
}

/** Thrown for a config no model can have; its message says which field and why. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Checks every field and returns the config; throws ConfigError naming the first bad field. */
export function validateConfig(config: GPTConfig): GPTConfig {
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    throw new ConfigError(`GPT config must be an object { vocabSize, blockSize, nLayer, nHead, nEmbd, dropout, bias, attention }, got ${config === null ? 'null' : Array.isArray(config) ? 'an array' : typeof config}`);
  }
  // a typo (nHeads: 8) would leave the preset's nHead in place without a word
  const known = ['vocabSize', 'blockSize', 'nLayer', 'nHead', 'nEmbd', 'dropout', 'bias', 'attention'];
  for (const key of Object.keys(config)) {
    if (!known.includes(key)) throw new ConfigError(`GPT config: unknown field ${JSON.stringify(key)}; the fields are ${known.join(', ')}`);
  }
  const positive = ['vocabSize', 'blockSize', 'nLayer', 'nHead', 'nEmbd'] as const;
  for (const key of positive) {
    const v = config[key];
    if (!Number.isSafeInteger(v) || v < 1) throw new ConfigError(`GPT config: ${key} must be a positive integer, got ${v}`);
  }
  if (config.nEmbd % config.nHead !== 0) {
    throw new ConfigError(
      `GPT config: nEmbd (${config.nEmbd}) must be divisible by nHead (${config.nHead}), so that every head gets the same width`,
    );
  }
  if (typeof config.dropout !== 'number' || !(config.dropout >= 0 && config.dropout < 1)) {
    throw new ConfigError(`GPT config: dropout must be a number in [0, 1), got ${JSON.stringify(config.dropout) ?? 'undefined'}`);
  }
  if (typeof config.bias !== 'boolean') throw new ConfigError(`GPT config: bias must be true or false, got ${config.bias}`);
  if (config.attention !== 'flash' && config.attention !== 'naive') {
    throw new ConfigError(`GPT config: attention must be 'flash' or 'naive', got ${JSON.stringify(config.attention)}`);
  }
  return config;
}

/** Parameters of a config (the tied head counted once), without building the model. */
export function countParameters(c: GPTConfig): number {
  const b = c.bias ? 1 : 0;
  const C = c.nEmbd;
  const ln = C + b * C;
  const block = 2 * ln + (3 * C * C + b * 3 * C) + (C * C + b * C) + (4 * C * C + b * 4 * C) + (4 * C * C + b * C);
  return c.vocabSize * C + c.blockSize * C + c.nLayer * block + ln;
}
