/**
 * Reverse-mode autograd, micrograd-style: every op that touches a tensor needing gradients records
 * a Node (its inputs and a backward closure built from the op's own rule, ops/op.ts);
 * `backward()` walks the graph in reverse topological order, adding into each input's gradient.
 */
import { Tensor } from './tensor.js';
import { broadcastAxes, fmt, sameShape } from './shape.js';
import { GradBlock, type Grads, type OpDef } from './ops/op.js';
import { checkBoolean, checkOptions, show } from './validate.js';
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
  if (typeof fn !== 'function') throw new Error(`noGrad: expected a function, got ${show(fn)}`);
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

/** An input's gradient so far: a tensor, or the blocks (slices' gradients) it has collected. */
type Pending = Tensor | GradBlock[];

/** Checks that a block fits inside its input. */
function checkBlock(op: string, b: GradBlock, input: Tensor): void {
  const { shape } = b.grad;
  if (shape.length !== input.ndim || b.starts.length !== input.ndim || shape.some((d, k) => b.starts[k] < 0 || b.starts[k] + d > input.shape[k])) {
    throw new Error(`${op} backward: gradient block of shape ${fmt(shape)} at [${b.starts}] does not fit input of shape ${fmt(input.shape)}`);
  }
}

/**
 * The axis along which `blocks` tile `shape` exactly (each whole in every other axis, together
 * covering the axis without overlap), with the blocks in order along it; null when they do not.
 */
function tiling(shape: readonly number[], blocks: GradBlock[]): { axis: number; ordered: GradBlock[] } | null {
  for (let axis = 0; axis < shape.length; axis++) {
    const whole = blocks.every((b) => b.grad.shape.every((d, k) => k === axis || (d === shape[k] && b.starts[k] === 0)));
    if (!whole) continue;
    const ordered = [...blocks].sort((a, b) => a.starts[axis] - b.starts[axis]);
    // each block starts where the one before it ends, and the last ends at the axis' end
    let at = 0;
    const contiguous = ordered.every((b) => {
      const next = b.starts[axis] === at;
      at += b.grad.shape[axis];
      return next;
    });
    if (contiguous && at === shape[axis]) return { axis, ordered };
  }
  return null;
}

/**
 * The gradient of `input` from the blocks it collected: one concatenation where they tile it
 * along an axis, else each padded into zeros and the pads added (in the order they came).
 */
function joinBlocks(input: Tensor, blocks: GradBlock[]): Tensor {
  const device = input.device;
  const shape = input.shape;
  const tiled = blocks.length > 1 ? tiling(shape, blocks) : null;
  if (tiled) {
    const { axis, ordered } = tiled;
    const outer = shape.slice(0, axis).reduce((a, d) => a * d, 1);
    const inner = shape.slice(axis + 1).reduce((a, d) => a * d, 1);
    const buf = device.concat(ordered.map((b) => b.grad.buffer('backward')), outer, ordered.map((b) => b.grad.shape[axis]), inner);
    return new Tensor(buf, [...shape], device);
  }
  // padded one at a time and added at once: two input-sized tensors alive, not one a block
  const padded = (b: GradBlock) => new Tensor(device.pad(b.grad.buffer('backward'), b.grad.shape, shape, b.starts), [...shape], device);
  let sum = padded(blocks[0]);
  for (const b of blocks.slice(1)) {
    const p = padded(b);
    const next = sum.add(p);
    sum.dispose();
    p.dispose();
    sum = next;
  }
  return sum;
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
  // { retaingraph: true } would be ignored, and the second backward() refused
  checkOptions('backward', options, ['retainGraph']);
  checkBoolean('backward', 'retainGraph', options.retainGraph);
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
    const grads = new Map<Tensor, Pending>();
    const leafGrads = new Set<Tensor>();
    // Rules may pass one gradient to several inputs (add), so a gradient is freed only once
    // nothing pending refers to it: this keeps peak memory near that of the forward pass.
    const release = (g: Tensor): void => {
      if (g === dy || leafGrads.has(g)) return;
      for (const pending of grads.values()) {
        if (pending === g || (Array.isArray(pending) && pending.some((b) => b.grad === g))) return;
      }
      g.dispose();
    };
    // an input's gradient once nothing more will be added to it: its blocks joined, and their
    // gradients freed unless the caller frees them later (`spent`: a node's rule may still hold them)
    const settle = (t: Tensor, pending: Pending, spent?: Tensor[]): Tensor => {
      if (!Array.isArray(pending)) return pending;
      const joined = joinBlocks(t, pending);
      const blockGrads = pending.map((x) => x.grad);
      if (spent) spent.push(...blockGrads);
      else for (const b of new Set(blockGrads)) release(b);
      return joined;
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
      const pending = grads.get(t);
      if (!pending) continue;
      grads.delete(t);
      const g = settle(t, pending);
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
        spent.push(gi instanceof GradBlock ? gi.grad : gi);
        if (!(x instanceof Tensor) || !x.requiresGrad) return;
        const previous = grads.get(x);
        if (gi instanceof GradBlock) {
          checkBlock(node.op, gi, x);
          // blocks wait to be joined; a block meeting a tensor is padded and added to it
          if (previous === undefined) grads.set(x, [gi]);
          else if (Array.isArray(previous)) previous.push(gi);
          else {
            const padded = joinBlocks(x, [gi]);
            grads.set(x, previous.add(padded));
            spent.push(previous, padded);
          }
          return;
        }
        const fitted = fitGradient(node.op, gi, x);
        if (previous === undefined) {
          grads.set(x, fitted);
          return;
        }
        // blocks meeting a tensor: joined first, then added; their gradients are freed with this
        // node's others, since one of them may be this very tensor (add hands one dy to a slice and
        // to x itself)
        grads.delete(x);
        const sofar = settle(x, previous, spent);
        grads.set(x, sofar.add(fitted));
        spent.push(sofar, fitted);
      });
      // released only after every input took its share: rules may hand one tensor to several
      for (const s of new Set(spent)) release(s);
    }
  }));
}
