/**
 * GPT-2, after nanoGPT's model.py: token and learned position embeddings, pre-LN blocks (causal
 * self-attention, GELU MLP), a final LayerNorm and a head tied to the token embedding.
 *
 * Modules mirror nanoGPT's so parameter names map one to one: `transformer.h.0.attn.cAttn.weight`
 * here is `transformer.h.0.attn.c_attn.weight` there (checkpoint.ts converts the case).
 */
import { type Tensor, checkBoolean, checkOptions, crossEntropy, getDevice, matmulT, nn, randn, toIndices, zeros, type Indices } from '@flashgrad/core';
import { flashAttention, naiveAttention } from '@flashgrad/attention';
import { ConfigError, validateConfig, type GPTConfig } from './config.js';

/** Token ids [B, T] as a flat Int32Array with its shape (what BatchSampler produces), or nested rows. */
export type TokenBatch = Indices | number[][];

function toBatch(what: 'idx' | 'targets', x: TokenBatch, vocabSize: number): Indices {
  // every id checked as given: 1.9, NaN or 2^32 + 3 would otherwise become tokens 1, 0 and 3
  const ids = toIndices('GPT.forward', x, vocabSize, what === 'idx' ? 'token id' : 'target');
  if (ids.shape.length !== 2) {
    throw new Error(`GPT.forward: ${what} must be [B, T] (nested rows, or { data, shape: [B, T] }), got shape [${ids.shape}]`);
  }
  if (ids.shape[0] < 1 || ids.shape[1] < 1) throw new Error(`GPT.forward: ${what} must hold at least one token, got shape [${ids.shape}]`);
  return ids;
}

/** The largest tensors of a config against the device's per-tensor limit, before minutes of allocation fail. */
function checkFitsDevice(c: GPTConfig): void {
  const device = getDevice();
  const largest: [string, number][] = [
    ['the token embedding (vocabSize × nEmbd)', c.vocabSize * c.nEmbd],
    ['the MLP weight (4·nEmbd × nEmbd)', 4 * c.nEmbd * c.nEmbd],
    ['the position embedding (blockSize × nEmbd)', c.blockSize * c.nEmbd],
  ];
  for (const [what, n] of largest) {
    if (n > device.maxElements) {
      throw new ConfigError(`GPT config: ${what} would have ${n} elements, more than the ${device.name} device's limit of ${device.maxElements} per tensor`);
    }
  }
}

/** Overwrites a parameter with N(0, std) draws (keeping its identity and requiresGrad). */
function normalInit(p: Tensor, std: number): void {
  const values = randn([...p.shape], { std });
  p.assign(values);
  values.dispose();
}

function zeroInit(p: Tensor | null): void {
  if (!p) return;
  const values = zeros([...p.shape]);
  p.assign(values);
  values.dispose();
}

class CausalSelfAttention extends nn.Module {
  /** Query, key and value projections for all heads, in one matmul. */
  cAttn: nn.Linear;
  cProj: nn.Linear;
  residDropout: nn.Dropout;

  constructor(private readonly config: GPTConfig) {
    super();
    const { nEmbd, bias, dropout } = config;
    this.cAttn = new nn.Linear(nEmbd, 3 * nEmbd, { bias });
    this.cProj = new nn.Linear(nEmbd, nEmbd, { bias });
    this.residDropout = new nn.Dropout(dropout);
  }

  forward(x: Tensor): Tensor {
    const [B, T, C] = x.shape;
    const nh = this.config.nHead;
    const hs = C / nh;
    // q, k and v of every head in one copy, (3, B, nh, T, hs), then its three leading slices: their
    // gradients come back as blocks that autograd joins in one concatenation, so the backward is
    // that and the permute's copy (a split along C then a permute each took 3 copies forward, and
    // 3 copies, 3 pads and 2 adds of (B, T, 3C) backward)
    const heads = this.cAttn.forward(x).reshape([B, T, 3, nh, hs]).permute([2, 0, 3, 1, 4]);
    const [q, k, v] = heads.split(1, 0).map((t) => t.reshape([B, nh, T, hs])); // 3 × (B, nh, T, hs)
    // Attention-weight dropout (nanoGPT's attn_dropout) is left out: the flash kernel never forms
    // the weights. The residual dropout below is the one that matters at these sizes.
    const attend = this.config.attention === 'flash' ? flashAttention : naiveAttention;
    const y = attend(q, k, v, { causal: true }); // (B, nh, T, hs)
    const merged = y.permute([0, 2, 1, 3]).reshape([B, T, C]); // (B, T, C)
    return this.residDropout.forward(this.cProj.forward(merged));
  }
}

class MLP extends nn.Module {
  cFc: nn.Linear;
  cProj: nn.Linear;
  dropout: nn.Dropout;

  constructor(config: GPTConfig) {
    super();
    this.cFc = new nn.Linear(config.nEmbd, 4 * config.nEmbd, { bias: config.bias });
    this.cProj = new nn.Linear(4 * config.nEmbd, config.nEmbd, { bias: config.bias });
    this.dropout = new nn.Dropout(config.dropout);
  }

  forward(x: Tensor): Tensor {
    return this.dropout.forward(this.cProj.forward(this.cFc.forward(x).gelu())); // gelu: tanh form, as GPT-2
  }
}

class Block extends nn.Module {
  ln1: nn.LayerNorm;
  attn: CausalSelfAttention;
  ln2: nn.LayerNorm;
  mlp: MLP;

  constructor(config: GPTConfig) {
    super();
    this.ln1 = new nn.LayerNorm(config.nEmbd, { bias: config.bias });
    this.attn = new CausalSelfAttention(config);
    this.ln2 = new nn.LayerNorm(config.nEmbd, { bias: config.bias });
    this.mlp = new MLP(config);
  }

  forward(x: Tensor): Tensor {
    const h = x.add(this.attn.forward(this.ln1.forward(x)));
    return h.add(this.mlp.forward(this.ln2.forward(h)));
  }
}

/** nanoGPT's `transformer` ModuleDict. */
class Transformer extends nn.Module {
  wte: nn.Embedding;
  wpe: nn.Embedding;
  drop: nn.Dropout;
  h: Block[];
  lnF: nn.LayerNorm;

  constructor(config: GPTConfig) {
    super();
    this.wte = new nn.Embedding(config.vocabSize, config.nEmbd);
    this.wpe = new nn.Embedding(config.blockSize, config.nEmbd);
    this.drop = new nn.Dropout(config.dropout);
    this.h = Array.from({ length: config.nLayer }, () => new Block(config));
    this.lnF = new nn.LayerNorm(config.nEmbd, { bias: config.bias });
  }
}

export interface ForwardOptions {
  /** Logits of the last position only, [B, 1, V]: all that generation needs. */
  lastOnly?: boolean;
}

export interface ForwardResult {
  /** [B, T, vocabSize] (or [B, 1, vocabSize] with lastOnly). */
  logits: Tensor;
  /** Mean cross-entropy over all B·T positions, in nats; null without targets. */
  loss: Tensor | null;
}

export class GPT extends nn.Module {
  readonly config: Readonly<GPTConfig>;
  transformer: Transformer;

  /** Builds and initialises the model on the current device, drawing from core's seeded RNG. */
  constructor(config: GPTConfig) {
    super();
    this.config = Object.freeze({ ...validateConfig(config) });
    checkFitsDevice(this.config);
    this.transformer = new Transformer(this.config);
    this.initWeights();
  }

  /** The tied head: the token embedding, read as a [vocabSize, nEmbd] output projection. */
  get lmHeadWeight(): Tensor {
    return this.transformer.wte.weight;
  }

  private initWeights(): void {
    // GPT-2: N(0, 0.02) for every matrix, zero biases; residual projections scaled by
    // 1/√(2·nLayer) so the residual stream's variance does not grow with depth.
    const residualStd = 0.02 / Math.sqrt(2 * this.config.nLayer);
    for (const [name, p] of this.namedParameters()) {
      if (name.endsWith('.bias')) zeroInit(p);
      else if (p.ndim === 2) normalInit(p, name.endsWith('cProj.weight') ? residualStd : 0.02);
    }
  }

  /** Parameters that get weight decay: matrices (linear weights, embeddings); not gains and biases. */
  decayGroups(): { decay: Tensor[]; noDecay: Tensor[] } {
    const params = this.parameters();
    return { decay: params.filter((p) => p.ndim >= 2), noDecay: params.filter((p) => p.ndim < 2) };
  }

  numParameters(exceptPositions = false): number {
    const n = this.parameters().reduce((s, p) => s + p.size, 0);
    return exceptPositions ? n - this.transformer.wpe.weight.size : n;
  }

  forward(idx: TokenBatch, targets?: TokenBatch, options: ForwardOptions = {}): ForwardResult {
    // { lastonly: true } would return all T positions' logits, V times T floats, without a word
    checkOptions('GPT.forward', options, ['lastOnly']);
    checkBoolean('GPT.forward', 'lastOnly', options.lastOnly);
    const x0 = toBatch('idx', idx, this.config.vocabSize);
    const [B, T] = x0.shape;
    if (T > this.config.blockSize) {
      throw new Error(`GPT.forward: sequence of length ${T} is longer than blockSize ${this.config.blockSize}`);
    }
    const { wte, wpe, drop, h, lnF } = this.transformer;
    const tok = wte.forward(x0); // (B, T, C)
    const pos = wpe.weight.slice([0], [T]); // (T, C), broadcast over the batch
    let x = drop.forward(tok.add(pos));
    for (const block of h) x = block.forward(x);
    x = lnF.forward(x);

    if (targets === undefined) {
      const last = options.lastOnly ? x.slice([0, T - 1], [B, T]) : x; // (B, 1, C)
      return { logits: matmulT(last, this.lmHeadWeight, false, true), loss: null };
    }
    const y = toBatch('targets', targets, this.config.vocabSize);
    if (y.shape[0] !== B || y.shape[1] !== T) throw new Error(`GPT.forward: targets of shape [${y.shape}] for inputs of shape [${B}, ${T}]`);
    const logits = matmulT(x, this.lmHeadWeight, false, true); // (B, T, vocabSize)
    const loss = crossEntropy(logits.reshape([B * T, this.config.vocabSize]), y.data);
    return { logits, loss };
  }
}
