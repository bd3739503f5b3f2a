/**
 * AdamW (Loshchilov & Hutter): Adam moments with weight decay applied to the parameter directly,
 * decoupled from the gradient. One fused device kernel per parameter.
 */
import { Tensor, keep } from '../tensor.js';
import { Optimizer, type ParamGroup } from './optimizer.js';

export interface AdamWOptions {
  lr: number;
  betas?: [number, number];
  eps?: number;
  /** Default 0.01, as PyTorch; override per group (GPT decays only matrices). */
  weightDecay?: number;
}

export interface AdamWState {
  step: number;
  /** First and second moments, in the order of the groups' parameters. */
  m: Tensor[];
  v: Tensor[];
}

export class AdamW extends Optimizer {
  readonly betas: [number, number];
  readonly eps: number;
  readonly weightDecay: number;
  stepCount = 0;
  private moments = new Map<Tensor, { m: Tensor; v: Tensor }>();

  constructor(params: Tensor[] | ParamGroup[], options: AdamWOptions) {
    super(params, options.lr);
    this.betas = options.betas ?? [0.9, 0.999];
    this.eps = options.eps ?? 1e-8;
    this.weightDecay = options.weightDecay ?? 0.01;
    const [b1, b2] = this.betas;
    if (!(b1 >= 0 && b1 < 1 && b2 >= 0 && b2 < 1)) throw new Error(`AdamW: betas must be in [0, 1), got [${this.betas}]`);
  }

  private momentsOf(p: Tensor): { m: Tensor; v: Tensor } {
    let s = this.moments.get(p);
    if (!s) {
      // on the parameter's own device, whatever the current one is
      const zero = (): Tensor => keep(new Tensor(p.device.fill(p.size, 0), p.shape, p.device));
      s = { m: zero(), v: zero() };
      this.moments.set(p, s);
    }
    return s;
  }

  step(): void {
    this.stepCount++;
    for (const group of this.groups) {
      const hyper = {
        lr: group.lr ?? this.lr,
        beta1: this.betas[0],
        beta2: this.betas[1],
        eps: this.eps,
        weightDecay: group.weightDecay ?? this.weightDecay,
        step: this.stepCount,
      };
      for (const p of group.params) {
        if (!p.grad) continue;
        const s = this.momentsOf(p);
        const device = p.device;
        const next = device.adamw(p.buffer('AdamW'), p.grad.buffer('AdamW'), s.m.buffer('AdamW'), s.v.buffer('AdamW'), hyper);
        for (const [target, buf] of [[p, next.param], [s.m, next.m], [s.v, next.v]] as const) {
          const fresh = new Tensor(buf, p.shape, device);
          target.assign(fresh);
          fresh.dispose();
        }
      }
    }
  }

  /** Step count and moments, for checkpoints (moments of parameters not yet stepped are zeros). */
  state(): AdamWState {
    const params = this.groups.flatMap((g) => g.params);
    return {
      step: this.stepCount,
      m: params.map((p) => this.momentsOf(p).m),
      v: params.map((p) => this.momentsOf(p).v),
    };
  }

  loadState(state: { step: number; m: Tensor[]; v: Tensor[] }): void {
    const params = this.groups.flatMap((g) => g.params);
    if (state.m.length !== params.length || state.v.length !== params.length) {
      throw new Error(`AdamW.loadState: state has ${state.m.length} moments for ${params.length} parameters`);
    }
    params.forEach((p, i) => {
      const s = this.momentsOf(p);
      s.m.assign(state.m[i]);
      s.v.assign(state.v[i]);
    });
    this.stepCount = state.step;
  }
}
