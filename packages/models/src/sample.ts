/**
 * Autoregressive generation (nanoGPT's GPT.generate): crop the context to blockSize, take the
 * last position's logits, scale by 1/temperature, keep the top k, draw one token, repeat.
 * Draws come from a generator seeded here, so a seed gives the same text on every run without
 * touching core's global RNG (which a resumed training run depends on).
 */
import { Mulberry32, checkOptions, noGrad, show, tidy } from '@flashgrad/core';
import { GPT } from './gpt.js';
import type { Tokenizer } from './tokenizer.js';

export interface SampleOptions {
  maxNewTokens: number;
  /** Divides the logits: < 1 sharper, > 1 flatter; 0 takes the most likely token (greedy). */
  temperature?: number;
  /** Sample only among the k most likely tokens (all when undefined or ≥ vocabSize). */
  topK?: number;
  /** Same seed, same text; a random seed when undefined. */
  seed?: number;
  /** Called with each new token as it is drawn (for streaming to a terminal). */
  onToken?: (token: number) => void;
}

function checkSampleOptions(options: SampleOptions): void {
  if (options === null || typeof options !== 'object') throw new Error(`sample: options must be an object { maxNewTokens, temperature?, topK?, seed?, onToken? }, got ${show(options)}`);
  // a typo such as top_k would sample from every token without a word
  checkOptions('sample', options, ['maxNewTokens', 'temperature', 'topK', 'seed', 'onToken']);
  const { maxNewTokens, temperature = 1, topK, seed, onToken } = options;
  if (!Number.isSafeInteger(maxNewTokens) || maxNewTokens < 0) throw new Error(`sample: maxNewTokens must be a non-negative integer, got ${maxNewTokens}`);
  if (!(temperature >= 0) || !Number.isFinite(temperature)) throw new Error(`sample: temperature must be a finite number ≥ 0, got ${temperature}`);
  if (topK !== undefined && (!Number.isSafeInteger(topK) || topK < 1)) throw new Error(`sample: topK must be a positive integer, got ${topK}`);
  // the seed is mixed as 32-bit integer bits: 'x', NaN and 1.5 were silently seeds 0 and 1
  if (seed !== undefined && !Number.isSafeInteger(seed)) throw new Error(`sample: seed must be an integer, got ${show(seed)}`);
  if (onToken !== undefined && typeof onToken !== 'function') throw new Error(`sample: onToken must be a function, got ${show(onToken)}`);
}

/** Picks a token from one row of logits. */
export function pickToken(logits: Float32Array, temperature: number, topK: number | undefined, rng: Mulberry32): number {
  const V = logits.length;
  // −∞ is a token ruled out; NaN or +∞ make every weight NaN, and the draw returned the last token
  for (let i = 0; i < V; i++) {
    if (!(logits[i] < Infinity)) throw new Error(`sample: the model's logit for token ${i} is ${logits[i]}; its weights or activations are not finite`);
  }
  if (temperature === 0) {
    let best = 0;
    for (let i = 1; i < V; i++) if (logits[i] > logits[best]) best = i;
    return best;
  }
  let order: number[] = Array.from({ length: V }, (_, i) => i);
  if (topK !== undefined && topK < V) order = order.sort((a, b) => logits[b] - logits[a]).slice(0, topK);
  let max = -Infinity;
  for (const i of order) max = Math.max(max, logits[i]);
  const weights = order.map((i) => Math.exp((logits[i] - max) / temperature));
  const total = weights.reduce((a, b) => a + b, 0);
  let u = rng.next() * total;
  for (let j = 0; j < order.length; j++) {
    u -= weights[j];
    if (u < 0) return order[j];
  }
  return order[order.length - 1]; // u landed on the rounding error at the top end
}

/** Continues `prompt` (token ids, at least one) by up to maxNewTokens; returns prompt + new tokens. */
export async function sample(model: GPT, prompt: readonly number[], options: SampleOptions): Promise<number[]> {
  checkSampleOptions(options);
  const { maxNewTokens, temperature = 1, topK, onToken } = options;
  if (!(model instanceof GPT)) throw new Error(`sample: model must be a GPT, got ${show(model)}`);
  const { blockSize, vocabSize } = model.config;
  if (!Array.isArray(prompt)) throw new Error(`sample: prompt must be an array of token ids${typeof prompt === 'string' ? ' (for text, use sampleText with a tokenizer)' : ''}, got ${show(prompt)}`);
  if (prompt.length === 0) throw new Error('sample: the prompt needs at least one token');
  for (const t of prompt) {
    if (!Number.isInteger(t) || t < 0 || t >= vocabSize) throw new Error(`sample: prompt token ${t} is outside the vocabulary [0, ${vocabSize})`);
  }
  const seed = options.seed ?? Math.floor(Math.random() * 2 ** 32);
  const rng = new Mulberry32(Math.imul((seed ^ 0x2545f491) >>> 0, 0x9e3779b1));
  const wasTraining = model.training;
  model.eval();
  const tokens = [...prompt];
  try {
    for (let n = 0; n < maxNewTokens; n++) {
      const context = tokens.slice(-blockSize); // crop: the position table has blockSize rows
      const logits = noGrad(() => tidy(() => model.forward([context], undefined, { lastOnly: true }).logits)); // (1, 1, V)
      const row = await logits.data();
      logits.dispose();
      const next = pickToken(row, temperature, topK, rng);
      tokens.push(next);
      onToken?.(next);
    }
  } finally {
    model.train(wasTraining);
  }
  return tokens;
}

/** Text in, text out: encodes the prompt, samples, and returns only the continuation. */
export async function sampleText(model: GPT, tokenizer: Tokenizer, prompt: string, options: SampleOptions): Promise<string> {
  const ids = tokenizer.encode(prompt);
  const out = await sample(model, ids, options);
  return tokenizer.decode(out.slice(ids.length));
}
