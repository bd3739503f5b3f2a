/** What every optimizer shares: parameter groups, zeroGrad, and a learning rate to schedule. */
import type { Tensor } from '../tensor.js';
import { checkNumber, checkTensor, show } from '../validate.js';

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

  constructor(params: Tensor[] | ParamGroup[], options: { lr: number }) {
    const op = this.constructor.name;
    if (options === null || typeof options !== 'object') throw new Error(`${op}: options must be an object with at least { lr }, got ${show(options)}`);
    const lr = checkNumber(op, 'lr', options.lr, { min: 0 });
    if (!Array.isArray(params)) throw new Error(`${op}: params must be an array of tensors or of parameter groups, got ${show(params)}`);
    const list = params as (Tensor | ParamGroup)[];
    this.groups = list.length > 0 && 'params' in list[0] ? (list as ParamGroup[]) : [{ params: list as Tensor[] }];
    // a parameter listed twice would be stepped twice a step, its moments updated twice (PyTorch refuses it across groups)
    const seen = new Map<Tensor, string>();
    this.groups.forEach((g, gi) => {
      if (!Array.isArray(g.params)) throw new Error(`${op}: group ${gi}'s params must be an array of tensors, got ${show(g.params)}`);
      if (g.lr !== undefined) checkNumber(op, `group ${gi}'s lr`, g.lr, { min: 0 });
      if (g.weightDecay !== undefined) checkNumber(op, `group ${gi}'s weightDecay`, g.weightDecay, { min: 0 });
      g.params.forEach((p, i) => {
        const where = `group ${gi}'s params[${i}]`;
        checkTensor(op, where, p);
        if (!p.requiresGrad) throw new Error(`${op}: parameter of shape [${p.shape}] does not require grad`);
        const first = seen.get(p);
        if (first) throw new Error(`${op}: ${where} (shape [${p.shape}]) is ${first} again; each parameter may appear once`);
        seen.set(p, where);
      });
    });
    this.lr = lr;
  }

  /**
   * Each group's learning rate, checked at each step before anything moves: `lr` and a group's
   * `lr` are public fields that a schedule sets between steps, and a NaN there would turn every
   * parameter into NaN at once.
   */
  protected learningRates(): number[] {
    const op = `${this.constructor.name}.step`;
    return this.groups.map((g, gi) => g.lr !== undefined
      ? checkNumber(op, `group ${gi}'s lr`, g.lr, { min: 0 })
      : checkNumber(op, 'lr', this.lr, { min: 0 }));
  }

  zeroGrad(): void {
    for (const g of this.groups) for (const p of g.params) p.grad = null;
  }

  abstract step(): void;
}
