/**
 * Anomaly mode, as PyTorch's detect_anomaly: finds the op where a NaN or ±Infinity first appears.
 * While it is on, every recorded op's output (forward) and every gradient a backward rule returns
 * is queued for a check, with the op's name, its shapes and the line that created it. Values live
 * on the device and reading them is async, so the checks run in creation order at the next read
 * (`data()`, `item()`…), at the end of `detectAnomaly(fn)` or at `checkAnomalies()`, and the first
 * bad value throws an AnomalyError. Each queued tensor keeps its buffer alive until its check.
 *
 * Off by default; FLASHGRAD_DETECT_ANOMALY=1 turns it on for the process. When off, the hooks in
 * autograd.ts and tensor.ts cost one boolean test per op and per read.
 */
import { Tensor, keep, setBeforeRead } from './tensor.js';
import { fmt } from './shape.js';
import { GradBlock, type Grads } from './ops/op.js';

export type AnomalyPhase = 'forward' | 'backward' | 'input';

/** A NaN or ±Infinity, located: the op, its shapes, where it was created. */
export class AnomalyError extends Error {
  constructor(
    message: string,
    readonly phase: AnomalyPhase,
    readonly op: string,
    /** The first frame outside core: the user's line that built the op. */
    readonly createdAt: string,
  ) {
    super(message);
    this.name = 'AnomalyError';
  }
}

interface Pending {
  phase: AnomalyPhase;
  /** The op whose output (forward, input) or whose gradient rule (backward) made the value. */
  op: string;
  /** What is checked, e.g. "output [2, 3]" or "gradient for input 0 [2, 3]". */
  what: string;
  /** The op's shapes for the message: "inputs [2, 3], [3]; output [2, 3]". */
  shapes: string;
  createdAt: string;
  /** A view keeping the checked buffer alive (tidy and dispose may free the original). */
  view: Tensor;
}

let enabled = typeof process !== 'undefined' && process.env.FLASHGRAD_DETECT_ANOMALY === '1';
let pending: Pending[] = [];
/** Leaves (tensors made outside the graph) already queued, so a parameter is checked once per drain. */
let seenLeaves = new WeakSet<Tensor>();
/** Where each recorded output was created, for the backward message. */
const origins = new WeakMap<Tensor, string>();

export function isAnomalyEnabled(): boolean {
  return enabled;
}

/** Turns anomaly mode on or off for the process (detectAnomaly scopes it instead). */
export function setDetectAnomaly(on: boolean): void {
  if (typeof on !== 'boolean') throw new Error(`setDetectAnomaly: expected true or false, got ${String(on)}`);
  enabled = on;
}

// anomaly mode: a NaN's source is found before its value is handed out
setBeforeRead(async () => {
  if (pending.length > 0) await checkAnomalies();
});

/** The first stack frame outside core's own sources: the line that called the op. */
function callerLine(): string {
  const frames = (new Error().stack ?? '').split('\n').slice(1).map((l) => l.trim());
  const outside = frames.find((f) => !/[/\\]packages[/\\]core[/\\]/.test(f) && !/node:internal|node_modules/.test(f));
  return (outside ?? frames[0] ?? 'at <unknown>').replace(/^at /, '');
}

const shapesOf = (inputs: readonly (Tensor | number)[], out: Tensor): string =>
  `inputs ${inputs.map((x) => (x instanceof Tensor ? fmt(x.shape) : String(x))).join(', ') || 'none'}; output ${fmt(out.shape)}`;

function enqueue(p: Omit<Pending, 'view'>, t: Tensor): void {
  if (t.isDisposed) return;
  pending.push({ ...p, view: keep(t.shareStorage(t.shape)) });
}

/** Inside a backward walk: the ops a gradient rule runs are checked through its result, not one by one. */
let backwardDepth = 0;

/** Runs a backward walk (autograd.backward) so that its inner ops are not reported as forward ops. */
export function anomalyBackwardScope<T>(fn: () => T): T {
  if (!enabled) return fn();
  backwardDepth++;
  try {
    return fn();
  } finally {
    backwardDepth--;
  }
}

/** Forward hook (autograd.record, customOp): the op's leaf inputs, then its output. */
export function anomalyForward(op: string, out: Tensor, inputs: readonly (Tensor | number)[]): void {
  if (backwardDepth > 0) return;
  const createdAt = callerLine();
  origins.set(out, createdAt);
  const shapes = shapesOf(inputs, out);
  inputs.forEach((x, i) => {
    // outputs of recorded ops are checked as outputs; a leaf (tensor(), a parameter) only here
    if (!(x instanceof Tensor) || origins.has(x) || seenLeaves.has(x)) return;
    seenLeaves.add(x);
    enqueue({ phase: 'input', op, what: `input ${i} ${fmt(x.shape)}`, shapes, createdAt }, x);
  });
  enqueue({ phase: 'forward', op, what: `output ${fmt(out.shape)}`, shapes, createdAt }, out);
}

/** Backward hook: the gradients that `op`'s rule (for the output `out`) returned for its inputs. */
export function anomalyBackward(op: string, out: Tensor, inputs: readonly (Tensor | number)[], grads: Grads): void {
  const createdAt = origins.get(out) ?? 'an unknown line (recorded before anomaly mode was on)';
  const shapes = shapesOf(inputs, out);
  grads.forEach((g, i) => {
    // a block's values are its tensor's (the zeros around it cannot go bad)
    const t = g instanceof GradBlock ? g.grad : g;
    if (t) enqueue({ phase: 'backward', op, what: `gradient for input ${i} ${fmt(t.shape)}`, shapes, createdAt }, t);
  });
}

function describeBad(values: ArrayLike<number>): string | null {
  let nan = 0;
  let inf = 0;
  let first = -1;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (Number.isFinite(v)) continue;
    if (first < 0) first = i;
    if (Number.isNaN(v)) nan++;
    else inf++;
  }
  if (first < 0) return null;
  const kinds = [nan ? `${nan} NaN` : '', inf ? `${inf} infinite` : ''].filter(Boolean).join(' and ');
  return `${values[first]} at element ${first} (${kinds} of ${values.length})`;
}

function message(p: Pending, bad: string): string {
  switch (p.phase) {
    case 'forward':
      return `anomaly in the forward: ${p.op} produced ${bad} in its ${p.what}, from finite inputs (${p.shapes}); created at ${p.createdAt}`;
    case 'input':
      return `anomaly in the forward: ${p.op} was given ${bad} in its ${p.what}, a tensor made outside the graph ` +
        `(tensor(), a parameter, a loaded weight) (${p.shapes}); ${p.op} created at ${p.createdAt}`;
    case 'backward':
      return `anomaly in the backward: the gradient rule of ${p.op} returned ${bad} in its ${p.what}, from a finite output gradient ` +
        `(${p.shapes}); the forward ${p.op} was created at ${p.createdAt}`;
  }
}

/** Runs the queued checks in creation order; throws an AnomalyError at the first NaN or ±Infinity. */
export async function checkAnomalies(): Promise<void> {
  while (pending.length) {
    const batch = pending;
    pending = [];
    seenLeaves = new WeakSet();
    for (let i = 0; i < batch.length; i++) {
      const p = batch[i];
      let bad: string | null;
      try {
        bad = describeBad(await p.view.device.read(p.view.buffer('checkAnomalies')));
      } finally {
        p.view.dispose();
      }
      if (bad !== null) {
        for (const rest of batch.slice(i + 1)) rest.view.dispose();
        for (const rest of pending) rest.view.dispose();
        pending = [];
        throw new AnomalyError(message(p, bad), p.phase, p.op, p.createdAt);
      }
    }
  }
}

/**
 * Runs fn with anomaly mode on and checks everything it queued before returning: the first op
 * whose output or gradient is NaN or ±Infinity throws an AnomalyError naming it.
 */
export async function detectAnomaly<T>(fn: () => T | Promise<T>): Promise<T> {
  const previous = enabled;
  enabled = true;
  try {
    let result: T;
    try {
      result = await fn();
    } catch (e) {
      // a failure downstream of a NaN (a diverged loss, a refused save) is better told at its source
      await checkAnomalies();
      throw e;
    }
    await checkAnomalies();
    return result;
  } finally {
    enabled = previous;
  }
}
