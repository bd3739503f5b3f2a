/**
 * An op is defined once, beside its forward: its name and its gradient rule (tinygrad's
 * gradient.py, as a table each op file adds its rows to). Autograd records the definition on the
 * op's output and calls its rule in the backward; it never imports the ops, so the rules may use
 * any op, and the ops the recorder, without an import circle.
 */
import type { Tensor } from '../tensor.js';

/**
 * A gradient that is zero outside one block of its input: `grad` placed at `starts` (a slice's
 * gradient). Autograd joins the blocks one input collects — a split's pieces — into its gradient
 * with one concatenation where they tile it along an axis, instead of a pad each and the adds of
 * them (GPT's qkv split: 5 kernels of [B, T, 3C] a layer, 1 instead).
 */
export class GradBlock {
  constructor(readonly grad: Tensor, readonly starts: readonly number[]) {}
}

export type Grads = (Tensor | GradBlock | null)[];

export interface GradContext<A> {
  /** Inputs in call order; numbers are constants that take no gradient. */
  readonly inputs: readonly (Tensor | number)[];
  readonly out: Tensor;
  readonly attrs: A;
  /** needs[i]: whether input i wants a gradient (skip the work otherwise). */
  readonly needs: boolean[];
}

/**
 * Output gradient and saved values → one gradient (or null) per input. A rule may return a
 * gradient of the broadcast output shape; autograd sums it back to the input's shape.
 */
export type GradRule<A> = (dy: Tensor, ctx: GradContext<A>) => Grads;

export interface OpDef<A = object> {
  readonly name: string;
  readonly grad: GradRule<A>;
}

const defined = new Set<string>();

/** Defines a differentiable op; a name is defined once. */
export function defineOp<A = object>(name: string, grad: GradRule<A>): OpDef<A> {
  if (defined.has(name)) throw new Error(`defineOp: op '${name}' is defined twice`);
  defined.add(name);
  return { name, grad };
}

/** Every differentiable op's name (the tests check that each has a gradient check). */
export function differentiableOps(): string[] {
  return [...defined];
}

/** An input a rule differentiates: only tensors need gradients, so only tensors reach here. */
export const asTensor = (x: Tensor | number): Tensor => {
  if (typeof x === 'number') throw new Error('gradient rule: a constant input was asked for its gradient');
  return x;
};
