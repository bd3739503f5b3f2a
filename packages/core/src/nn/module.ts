/**
 * Module: finds its parameters and submodules by walking its own fields (as PyTorch's
 * __setattr__ registration does), so layers are plain classes with no registration lists.
 */
import { Tensor } from '../tensor.js';
import { tensor } from '../creation.js';
import { fmt } from '../shape.js';

export abstract class Module {
  training = true;

  /** [name, parameter] pairs, names dotted like PyTorch's state dict keys ("h.0.attn.weight"). */
  namedParameters(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [key, value] of Object.entries(this)) {
      const name = prefix + key;
      if (value instanceof Tensor && value.requiresGrad) out.push([name, value]);
      else if (value instanceof Module) out.push(...value.namedParameters(`${name}.`));
      else if (Array.isArray(value)) {
        value.forEach((v, i) => {
          if (v instanceof Module) out.push(...v.namedParameters(`${name}.${i}.`));
          else if (v instanceof Tensor && v.requiresGrad) out.push([`${name}.${i}`, v]);
        });
      }
    }
    // one tensor shared by two fields (a tied head) is one parameter, under its first name
    const seen = new Set<Tensor>();
    return out.filter(([, t]) => !seen.has(t) && seen.add(t));
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, t]) => t);
  }

  modules(): Module[] {
    const out: Module[] = [this];
    for (const value of Object.values(this)) {
      if (value instanceof Module) out.push(...value.modules());
      else if (Array.isArray(value)) value.forEach((v) => v instanceof Module && out.push(...v.modules()));
    }
    return out;
  }

  train(mode = true): this {
    for (const m of this.modules()) m.training = mode;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Parameters by name (the tensors themselves: read them with `await t.data()`). */
  stateDict(): Record<string, Tensor> {
    return Object.fromEntries(this.namedParameters());
  }

  /** Loads values by name; every parameter must be present with its exact shape. */
  loadStateDict(state: Record<string, { shape: readonly number[]; data: ArrayLike<number> } | Tensor>): void {
    const own = this.namedParameters();
    const missing = own.filter(([name]) => !(name in state)).map(([name]) => name);
    const unexpected = Object.keys(state).filter((k) => !own.some(([name]) => name === k));
    if (missing.length || unexpected.length) {
      throw new Error(`loadStateDict: missing [${missing.join(', ')}], unexpected [${unexpected.join(', ')}]`);
    }
    for (const [name, param] of own) {
      const src = state[name];
      if (src.shape.join() !== param.shape.join()) {
        throw new Error(`loadStateDict: ${name} has shape ${fmt(src.shape)} in the state dict but ${fmt(param.shape)} in the model`);
      }
      if (src instanceof Tensor) param.assign(src);
      else {
        const values = tensor(src.data, { shape: src.shape });
        param.assign(values);
        values.dispose();
      }
    }
  }

  zeroGrad(): void {
    for (const p of this.parameters()) p.grad = null;
  }
}
