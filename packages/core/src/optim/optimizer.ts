/** What every optimizer shares: parameter groups, zeroGrad, and a learning rate to schedule. */
import type { Tensor } from '../tensor.js';

export interface ParamGroup {
  params: Tensor[];
  /** Per-group overrides of the optimizer's defaults. */
  lr?: number;
  weightDecay?: number;
}

export abstract class Optimizer {
  readonly groups: ParamGroup[];
  /** Base learning rate; schedules set it before each step. */
  lr: number;

  constructor(params: Tensor[] | ParamGroup[], lr: number) {
    if (!(lr >= 0)) throw new Error(`${this.constructor.name}: lr must be a non-negative number, got ${lr}`);
    const list = params as (Tensor | ParamGroup)[];
    this.groups = list.length > 0 && 'params' in list[0] ? (list as ParamGroup[]) : [{ params: list as Tensor[] }];
    for (const g of this.groups) {
      for (const p of g.params) {
        if (!p.requiresGrad) throw new Error(`${this.constructor.name}: parameter of shape [${p.shape}] does not require grad`);
      }
    }
    this.lr = lr;
  }

  zeroGrad(): void {
    for (const g of this.groups) for (const p of g.params) p.grad = null;
  }

  abstract step(): void;
}
