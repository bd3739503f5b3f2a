/**
 * AdamW (Loshchilov & Hutter): Adam moments with weight decay applied to the parameter directly,
 * decoupled from the gradient. Both moments of a parameter live in one [n, 2] buffer, so an
 * update is two device kernels (new moments, new parameter), not three.
 */
import { Tensor, keep, tidy } from '../tensor.js';
import { noGrad } from '../autograd.js';
import { pad } from '../ops/movement.js';
import { Optimizer, type ParamGroup } from './optimizer.js';
import { checkClipArgs, clipGradNorm, sumOfSquaredGrads } from './clip.js';
import { fusion } from '../ops/common.js';
import { checkNumber, checkTensor, show } from '../validate.js';
import { fmt } from '../shape.js';

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

/** A clip folded into the next step: the norm's Σg², and each clipped parameter's gradient as it was then. */
interface PendingClip {
  sumOfSquares: Tensor;
  maxNorm: number;
  params: Map<Tensor, Tensor>;
}

export class AdamW extends Optimizer {
  readonly betas: [number, number];
  readonly eps: number;
  readonly weightDecay: number;
  stepCount = 0;
  /** Per parameter, its moments interleaved (m, v): shape [n, 2]. */
  private moments = new Map<Tensor, Tensor>();
  private stateCopies: Tensor[] = [];
  /** The clip the next step() applies inside its update (clipGradNorm), or null. */
  private pendingClip: PendingClip | null = null;

  constructor(params: Tensor[] | ParamGroup[], options: AdamWOptions) {
    super(params, options);
    this.betas = options.betas ?? [0.9, 0.999];
    this.eps = options.eps ?? 1e-8;
    this.weightDecay = options.weightDecay ?? 0.01;
    const [b1, b2] = Array.isArray(this.betas) && this.betas.length === 2 ? this.betas : [NaN, NaN];
    if (!(b1 >= 0 && b1 < 1 && b2 >= 0 && b2 < 1)) throw new Error(`AdamW: betas must be two numbers in [0, 1), got ${show(this.betas)}${Array.isArray(this.betas) ? ` [${this.betas}]` : ''}`);
    checkNumber('AdamW', 'eps', this.eps, { min: 0 });
    checkNumber('AdamW', 'weightDecay', this.weightDecay, { min: 0 });
  }

  private momentsOf(p: Tensor): Tensor {
    let mv = this.moments.get(p);
    if (!mv) {
      // on the parameter's own device, whatever the current one is
      mv = keep(new Tensor(p.device.fill(2 * p.size, 0), [p.size, 2], p.device));
      this.moments.set(p, mv);
    }
    return mv;
  }

  /**
   * Gradient clipping by global norm, folded into the next step(): returns the joint norm of the
   * gradients of `params` before clipping, as optim.clipGradNorm does, and the next step() scales
   * each of those gradients by min(1, maxNorm / (norm + 10⁻⁶)) inside its update kernels, so the
   * clip costs one reduction a gradient and no scaling kernels (148 of GPT-2's). The gradients
   * themselves are left as they are. Where the device has no fused clip (the reference device, or
   * FLASHGRAD_FUSION=off) this is optim.clipGradNorm: the gradients are scaled at once. Every
   * parameter with a gradient must be one this optimizer steps; zeroGrad() drops a clip not yet
   * applied.
   */
  clipGradNorm(params: Tensor[], maxNorm: number): Tensor {
    checkClipArgs('AdamW.clipGradNorm', params, maxNorm);
    const stepped = new Set(this.groups.flatMap((g) => g.params));
    const clipped = params.filter((p) => p.grad !== null);
    for (const p of clipped) {
      if (!stepped.has(p)) throw new Error(`AdamW.clipGradNorm: a parameter of shape ${fmt(p.shape)} is not one this optimizer steps; clip it with optim.clipGradNorm`);
    }
    this.dropClip();
    const device = clipped[0]?.device;
    const fused = fusion.enabled && device?.sumOfSquares && device.adamwPackedClipped && clipped.every((p) => p.device === device && p.grad!.device === device);
    if (!fused) return clipGradNorm(params, maxNorm);
    return noGrad(() => tidy(() => {
      const sumOfSquares = keep(sumOfSquaredGrads('AdamW.clipGradNorm', clipped));
      this.pendingClip = { sumOfSquares, maxNorm, params: new Map(clipped.map((p) => [p, p.grad!])) };
      return sumOfSquares.sqrt();
    }));
  }

  override zeroGrad(): void {
    this.dropClip();
    super.zeroGrad();
  }

  private dropClip(): void {
    this.pendingClip?.sumOfSquares.dispose();
    this.pendingClip = null;
  }

  step(): void {
    const lrs = this.learningRates(); // before anything changes: a bad lr leaves the state as it was
    const clip = this.pendingClip;
    this.pendingClip = null;
    // a backward (or a .grad assignment) since clipGradNorm gives a gradient the norm never saw: the
    // factor would scale it all, where optim.clipGradNorm (and PyTorch) scaled only the old part
    for (const [p, g] of clip?.params ?? []) {
      if (p.grad !== null && p.grad !== g) {
        clip!.sumOfSquares.dispose();
        throw new Error(`AdamW.step: the gradient of a parameter of shape ${fmt(p.shape)} changed after clipGradNorm (a backward() or a .grad assignment in between); clip after the last backward(), just before step()`);
      }
    }
    try {
      this.update(clip, lrs);
    } finally {
      clip?.sumOfSquares.dispose();
    }
  }

  private update(clip: PendingClip | null, lrs: number[]): void {
    this.stepCount++;
    for (const [gi, group] of this.groups.entries()) {
      const hyper = {
        lr: lrs[gi],
        beta1: this.betas[0],
        beta2: this.betas[1],
        eps: this.eps,
        weightDecay: group.weightDecay ?? this.weightDecay,
        step: this.stepCount,
      };
      for (const p of group.params) {
        if (!p.grad) continue;
        const mv = this.momentsOf(p);
        const device = p.device;
        const next = clip?.params.has(p) && device.adamwPackedClipped
          ? device.adamwPackedClipped(p.buffer('AdamW'), p.grad.buffer('AdamW'), mv.buffer('AdamW'), hyper,
            { sumOfSquares: clip.sumOfSquares.buffer('AdamW'), maxNorm: clip.maxNorm })
          : device.adamwPacked(p.buffer('AdamW'), p.grad.buffer('AdamW'), mv.buffer('AdamW'), hyper);
        for (const [target, buf] of [[p, next.param], [mv, next.moments]] as const) {
          const fresh = new Tensor(buf, target.shape, device);
          target.assign(fresh);
          fresh.dispose();
        }
      }
    }
  }

  /**
   * Step count and moments, for checkpoints (moments of parameters not yet stepped are zeros):
   * copies in the parameters' shapes, owned by the optimizer until the next call (disposing them
   * is allowed).
   */
  state(): AdamWState {
    for (const t of this.stateCopies) t.dispose();
    const params = this.groups.flatMap((g) => g.params);
    const column = (p: Tensor, k: 0 | 1): Tensor => {
      const mv = this.momentsOf(p);
      return keep(new Tensor(p.device.strided(mv.buffer('AdamW.state'), [p.size], [2], k), p.shape, p.device));
    };
    const state = { step: this.stepCount, m: params.map((p) => column(p, 0)), v: params.map((p) => column(p, 1)) };
    this.stateCopies = [...state.m, ...state.v];
    return state;
  }

  loadState(state: { step: number; m: Tensor[]; v: Tensor[] }): void {
    const op = 'AdamW.loadState';
    const params = this.groups.flatMap((g) => g.params);
    if (state === null || typeof state !== 'object') throw new Error(`${op}: state must be { step, m, v }, got ${show(state)}`);
    // a NaN or negative step count makes the bias corrections 1 − βᵗ NaN, and with it every parameter at the next step
    checkNumber(op, 'step', state.step, { integer: true, min: 0 });
    for (const name of ['m', 'v'] as const) {
      const list: unknown = state[name];
      if (!Array.isArray(list)) throw new Error(`${op}: ${name} must be an array of tensors, got ${show(list)}`);
      if (list.length !== params.length) throw new Error(`${op}: state has ${list.length} ${name} moments for ${params.length} parameters`);
      // every one checked before the first is loaded: a bad state leaves the optimizer as it was
      list.forEach((t, i) => {
        checkTensor(op, `${name}[${i}]`, t);
        if ((t as Tensor).size !== params[i].size) throw new Error(`${op}: ${name}[${i}] has ${(t as Tensor).size} elements for a parameter of shape [${params[i].shape}]`);
      });
    }
    noGrad(() => tidy(() => {
      params.forEach((p, i) => {
        // interleave: m into column 0, v into column 1, of [n, 2]
        const col = (t: Tensor, k: number) => pad(t.reshape([p.size, 1]), [p.size, 2], [0, k]);
        this.momentsOf(p).assign(col(state.m[i], 0).add(col(state.v[i], 1)));
      });
    }));
    this.stepCount = state.step;
  }
}
