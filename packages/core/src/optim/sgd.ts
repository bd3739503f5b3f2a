/** SGD with PyTorch-style momentum (v = μ·v + g; p −= lr·v) and L2 weight decay. */
import { checkNumber } from '../validate.js';
import { type Tensor, keep, tidy } from '../tensor.js';
import { noGrad } from '../autograd.js';
import { Optimizer, type ParamGroup } from './optimizer.js';

export class SGD extends Optimizer {
  readonly momentum: number;
  readonly weightDecay: number;
  private velocity = new Map<Tensor, Tensor>();

  constructor(params: Tensor[] | ParamGroup[], options: { lr: number; momentum?: number; weightDecay?: number }) {
    super(params, options);
    this.momentum = checkNumber('SGD', 'momentum', options.momentum ?? 0, { min: 0 });
    this.weightDecay = checkNumber('SGD', 'weightDecay', options.weightDecay ?? 0, { min: 0 });
  }

  step(): void {
    const lrs = this.learningRates(); // before any parameter moves
    noGrad(() => tidy(() => {
      for (const [gi, group] of this.groups.entries()) {
        const lr = lrs[gi];
        const wd = group.weightDecay ?? this.weightDecay;
        for (const p of group.params) {
          if (!p.grad) continue;
          let d = wd ? p.grad.add(p.mul(wd)) : p.grad;
          if (this.momentum) {
            const v = this.velocity.get(p);
            d = keep(v ? v.mul(this.momentum).add(d) : d.mul(1));
            v?.dispose();
            this.velocity.set(p, d);
          }
          p.assign(p.sub(d.mul(lr)));
        }
      }
    }));
  }
}
