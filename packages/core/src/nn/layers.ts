/** The layers a GPT needs, with PyTorch's default initialisations. */
import type { Tensor } from '../tensor.js';
import { ones, rand, randn, zeros } from '../creation.js';
import { linear } from '../ops/matmul.js';
import { gather, type IndicesLike } from '../ops/indexing.js';
import { dropout, layerNorm } from '../ops/nn.js';
import { fmt } from '../shape.js';
import { Module } from './module.js';
import { checkBoolean, checkDropoutP, checkNumber, checkTensor } from '../validate.js';

/** A layer's sizes: positive integers, each named in the error. */
function sizes(layer: string, named: Record<string, unknown>): void {
  for (const [name, v] of Object.entries(named)) checkNumber(layer, name, v, { integer: true, min: 1 });
}

/** y = x Wᵀ + b with W [out, in] (PyTorch's layout; the transpose folds into the matmul). */
export class Linear extends Module {
  weight: Tensor;
  bias: Tensor | null;

  constructor(readonly inFeatures: number, readonly outFeatures: number, options: { bias?: boolean } = {}) {
    super();
    // checked here: rand would name its own shape or a bound of 1/√0 = ∞, not the layer's argument
    sizes('Linear', { inFeatures, outFeatures });
    checkBoolean('Linear', 'bias', options.bias);
    const bound = 1 / Math.sqrt(inFeatures);
    this.weight = rand([outFeatures, inFeatures], { low: -bound, high: bound, requiresGrad: true });
    this.bias = options.bias === false ? null : rand([outFeatures], { low: -bound, high: bound, requiresGrad: true });
  }

  /** x Wᵀ + b, the bias added in the matmul's kernel. */
  forward(x: Tensor): Tensor {
    checkTensor(`Linear(${this.inFeatures}, ${this.outFeatures})`, 'input', x);
    if (x.shape[x.ndim - 1] !== this.inFeatures) {
      throw new Error(`Linear(${this.inFeatures}, ${this.outFeatures}): input of shape ${fmt(x.shape)} has last dim ${x.shape[x.ndim - 1]}`);
    }
    return linear(x, this.weight, this.bias);
  }
}

export class Embedding extends Module {
  weight: Tensor;

  constructor(readonly numEmbeddings: number, readonly embeddingDim: number) {
    super();
    sizes('Embedding', { numEmbeddings, embeddingDim });
    this.weight = randn([numEmbeddings, embeddingDim], { requiresGrad: true });
  }

  forward(idx: IndicesLike): Tensor {
    return gather(this.weight, idx);
  }
}

export class LayerNorm extends Module {
  weight: Tensor;
  bias: Tensor | null;
  readonly eps: number;

  constructor(readonly normalizedShape: number, options: { eps?: number; bias?: boolean } = {}) {
    super();
    sizes('LayerNorm', { normalizedShape });
    checkBoolean('LayerNorm', 'bias', options.bias);
    this.eps = checkNumber('LayerNorm', 'eps', options.eps ?? 1e-5, { min: 0 });
    this.weight = ones([normalizedShape], { requiresGrad: true });
    this.bias = options.bias === false ? null : zeros([normalizedShape], { requiresGrad: true });
  }

  forward(x: Tensor): Tensor {
    return layerNorm(x, this.weight, this.bias ?? undefined, this.eps);
  }
}

export class Dropout extends Module {
  constructor(readonly p: number) {
    super();
    checkDropoutP('Dropout', p);
  }

  forward(x: Tensor): Tensor {
    return dropout(x, this.p, this.training);
  }
}
