/**
 * Reverse-mode autograd, micrograd-style: every op that touches a tensor needing gradients records
 * a Node (its inputs and a backward closure built from the op's own rule, ops/op.ts);
 * `backward()` walks the graph in reverse topological order, adding into each input's gradient.
 */
import { Tensor } from './tensor.js';
import { broadcastAxes, fmt, sameShape } from './shape.js';
import type { Grads, OpDef } from './ops/op.js';
import { anomalyBackward, anomalyBackwardScope, anomalyForward, isAnomalyEnabled } from './anomaly.js';

export type { Grads } from './ops/op.js';

export interface Node {
  readonly op: string;
  /** Inputs in call order; numbers are constants that take no gradient. */
  readonly inputs: readonly (Tensor | number)[];
  readonly backward: (dy: Tensor) => Grads;
}

let gradEnabled = true;

export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs fn without recording any graph (evaluation, optimizer updates, gradient rules). */
export function noGrad<T>(fn: () => T): T {
  const previous = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = previous;
  }
}

function needsGrad(inputs: readonly (Tensor | number)[]): boolean[] {
  return inputs.map((x) => x instanceof Tensor && x.requiresGrad);
}

/** Attaches the graph node of a primitive op to its output, when any input needs a gradient. */
export function record<A>(op: OpDef<A>, out: Tensor, inputs: readonly (Tensor | number)[], attrs: A): Tensor {
  if (isAnomalyEnabled()) anomalyForward(op.name, out, inputs);
  const needs = needsGrad(inputs);
  if (!gradEnabled || !needs.some(Boolean)) return out;
  out.requiresGrad = true;
  out.node = { op: op.name, inputs, backward: (dy) => op.grad(dy, { inputs, out, attrs, needs }) };
  return out;
}

/**
 * A differentiable op with its own backward (FlashAttention uses it): `backward` receives the
 * output gradient and returns one gradient (or null) per input.
 */
export function customOp(
  op: string, out: Tensor, inputs: readonly Tensor[], backward: (dy: Tensor, needs: boolean[]) => Grads,
): Tensor {
  if (isAnomalyEnabled()) anomalyForward(op, out, inputs);
  const needs = needsGrad(inputs);
  if (!gradEnabled || !needs.some(Boolean)) return out;
  out.requiresGrad = true;
  out.node = { op, inputs, backward: (dy) => backward(dy, needs) };
  return out;
}

/** Inputs before outputs, without recursion (graphs of deep models overflow the stack). */
function topologicalOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const visited = new Set<Tensor>();
  const stack: [Tensor, boolean][] = [[root, false]];
  while (stack.length) {
    const [t, expanded] = stack.pop()!;
    if (expanded) {
      order.push(t);
      continue;
    }
    if (visited.has(t)) continue;
    // a freed tensor has lost its node: walking on would silently cut the graph there
    if (t.isDisposed) {
      throw new Error(`backward: the graph reaches a tensor of shape ${fmt(t.shape)} that was disposed; free the tensors of a graph (dispose, tidy) only after backward`);
    }
    visited.add(t);
    stack.push([t, true]);
    for (const x of t.node?.inputs ?? []) {
      if (x instanceof Tensor && x.requiresGrad && !visited.has(x)) stack.push([x, false]);
    }
  }
  return order;
}

/**
 * Checks a gradient against its input's shape; a gradient of the broadcast shape is summed back
 * over the broadcast axes.
 */
function fitGradient(op: string, g: Tensor, input: Tensor): Tensor {
  if (sameShape(g.shape, input.shape)) return g;
  const offset = g.shape.length - input.shape.length;
  if (offset < 0 || input.shape.some((d, i) => d !== 1 && d !== g.shape[offset + i])) {
    throw new Error(`${op} backward: gradient of shape ${fmt(g.shape)} does not fit input of shape ${fmt(input.shape)}`);
  }
  const reduced = g.sum(broadcastAxes(input.shape, g.shape), true);
  const fitted = reduced.reshape([...input.shape]);
  reduced.dispose();
  return fitted;
}

export interface BackwardOptions {
  /** Keep the graph usable for another backward() (PyTorch's retain_graph); default false. */
  retainGraph?: boolean;
}

/**
 * Nodes a backward() has walked without retainGraph. A second walk would add the same gradients
 * into the leaves again (doubling them silently), so it is refused, as PyTorch refuses it.
 */
const spentNodes = new WeakSet<Node>();

/** Accumulates d(root)/d(leaf) into every leaf's `.grad`. */
export function backward(root: Tensor, dyOrOptions?: Tensor | BackwardOptions, options: BackwardOptions = {}): void {
  const dy = dyOrOptions instanceof Tensor ? dyOrOptions : undefined;
  if (dyOrOptions !== undefined && !(dyOrOptions instanceof Tensor)) {
    if (dyOrOptions === null || typeof dyOrOptions !== 'object') throw new Error(`backward: expected a gradient Tensor or { retainGraph }, got ${String(dyOrOptions)}`);
    options = dyOrOptions;
  }
  if (options.retainGraph !== undefined && typeof options.retainGraph !== 'boolean') {
    throw new Error(`backward: retainGraph must be true or false, got ${JSON.stringify(options.retainGraph)}`);
  }
  if (root.isDisposed) throw new Error(`backward: tensor of shape ${fmt(root.shape)} was used after dispose()`);
  if (!root.requiresGrad) {
    throw new Error(`backward: tensor of shape ${fmt(root.shape)} does not require grad (no input had requiresGrad)`);
  }
  if (!dy && root.size !== 1) {
    throw new Error(`backward: tensor of shape ${fmt(root.shape)} is not a scalar; pass its gradient, backward(dy)`);
  }
  if (dy && !sameShape(dy.shape, root.shape)) {
    throw new Error(`backward: gradient of shape ${fmt(dy.shape)} for tensor of shape ${fmt(root.shape)}`);
  }
  anomalyBackwardScope(() => noGrad(() => {
    const grads = new Map<Tensor, Tensor>();
    const leafGrads = new Set<Tensor>();
    // Rules may pass one gradient to several inputs (add), so a gradient is freed only once
    // nothing pending refers to it: this keeps peak memory near that of the forward pass.
    const release = (g: Tensor): void => {
      if (g === dy || leafGrads.has(g)) return;
      for (const pending of grads.values()) if (pending === g) return;
      g.dispose();
    };
    const order = topologicalOrder(root);
    for (const t of order) {
      if (t.node && spentNodes.has(t.node)) {
        throw new Error(
          `backward: the graph through ${t.node.op} (output ${fmt(t.shape)}) was already walked by an earlier backward(); ` +
            'pass { retainGraph: true } to the first backward() to walk it again (as PyTorch), or recompute the forward',
        );
      }
    }
    if (!options.retainGraph) for (const t of order) if (t.node) spentNodes.add(t.node);
    grads.set(root, dy ?? new Tensor(root.device.fill(root.size, 1), root.shape, root.device));
    for (const t of order.reverse()) {
      const g = grads.get(t);
      if (!g) continue;
      grads.delete(t);
      if (!t.node) {
        // a leaf owns its .grad (zeroGrad and accumulation free it), so it copies a gradient that
        // is the caller's dy or already another leaf's (add hands one dy to both of its inputs)
        const shared = g === dy || leafGrads.has(g);
        const accumulated = t.grad ? t.grad.add(g) : shared ? g.mul(1) : g;
        t.grad = accumulated;
        leafGrads.add(accumulated);
        if (accumulated !== g) release(g);
        continue;
      }
      const node = t.node;
      const inputGrads = node.backward(g);
      if (isAnomalyEnabled()) anomalyBackward(node.op, t, node.inputs, inputGrads);
      const spent: Tensor[] = [g];
      node.inputs.forEach((x, i) => {
        const gi = inputGrads[i];
        if (!gi) return;
        spent.push(gi);
        if (!(x instanceof Tensor) || !x.requiresGrad) return;
        const fitted = fitGradient(node.op, gi, x);
        const previous = grads.get(x);
        grads.set(x, previous ? previous.add(fitted) : fitted);
        if (previous) spent.push(previous, fitted);
      });
      // released only after every input took its share: rules may hand one tensor to several
      for (const s of new Set(spent)) release(s);
    }
  }));
}
