/**
 * The contract every device implements. A device owns buffers of numbers and runs kernels on
 * them; it knows nothing of autograd or Tensors. Shapes travel with each call because buffers are
 * flat. Every kernel returns a new buffer (buffers are immutable once written), synchronously:
 * a device whose backend is asynchronous (gpu.js over WebGPU) returns a handle at once and keeps
 * an in-order queue; only `read` waits.
 */
import type { UnaryName } from '../ops/elementwise.js';

export type Shape = readonly number[];

/** An opaque handle to memory owned by one device. `size` is its number of elements. */
export interface DeviceBuffer {
  readonly size: number;
}

/**
 * The differentiable unary ops (their table is ops/elementwise.ts; every device implements each
 * one, and the compiler checks it) and derivatives, so that backward passes stay one kernel each.
 */
export type UnaryOp = UnaryName | DerivOp;
/** The derivative ops of relu, gelu and abs (FusedKernels.derivProduct). */
export type DerivOp = 'reluDeriv' | 'geluDeriv' | 'sign';

export type BinaryOp =
  | 'add' | 'sub' | 'mul' | 'div' | 'pow' | 'max' | 'min'
  // comparisons return 1 or 0
  | 'gt' | 'ge' | 'lt' | 'eq';

export type ReduceOp = 'sum' | 'max';

/** One side of a binary op: a buffer with its shape (broadcast to the output) or a constant. */
export type Operand = { buf: DeviceBuffer; shape: Shape } | number;

/** What a matmul adds to its result in the same kernel: a bias [N] broadcast over rows (a Linear layer's). */
export interface MatmulEpilogue {
  bias?: DeviceBuffer;
}

export interface AdamWHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** 1-based step count, for bias correction. */
  step: number;
}

/** Gradient clipping by global norm, applied inside an optimizer's update (FusedKernels.adamwPackedClipped). */
export interface GradClip {
  /** [1]: Σ g² over every clipped gradient. */
  sumOfSquares: DeviceBuffer;
  maxNorm: number;
}

export interface MemoryInfo {
  /** Bytes held by live buffers. */
  bytes: number;
  /** Number of live buffers. */
  buffers: number;
  /** Largest `bytes` seen since the device started or since `resetPeakMemory()`. */
  peakBytes: number;
  /** Bytes the device keeps allocated for reuse beyond `bytes` (webgpu's idle output buffers, wasm's free arena blocks and plain host-loop results). */
  cachedBytes?: number;
}

/** Kernel launches (gpu.js devices): what a training step costs in calls, by op. */
export interface DeviceStats {
  kernelCalls: number;
  compiledKernels: number;
  /** Launches (and, when profiling, host milliseconds) per op label. */
  byOp: Record<string, { calls: number; ms: number }>;
  /**
   * With profiling on (gpu.js devices): launches and milliseconds per kernel key, that is per
   * kernel and shape (each key bakes its shapes in), so one call site's cost is visible apart
   * from another's under the same op label.
   */
  byKey?: Record<string, { calls: number; ms: number; replayMs?: number }>;
}

/**
 * A kernel in gpu.js's kernel language built outside core (devices/gpujs/kernels/spec.ts has the
 * fields); only gpu.js devices run one, through Device.runKernel.
 */
export type ExternalKernelSpec = import('./gpujs/kernels/spec.js').KernelSpec;

/**
 * Kernels a device may fuse. Each op that has one also has a composite form from primitives, which
 * is the path on a device without the kernel (and with FLASHGRAD_FUSION=off) and the oracle the
 * fused kernel is tested against: a device declares what it fuses by implementing these.
 */
export interface FusedKernels {
  /**
   * Layer norm over the last axis of x [rows, cols]: y = (x − mean) / √(var + eps) · weight + bias,
   * with the biased variance; weight and bias are [cols] or null (left out).
   */
  layerNorm(
    x: DeviceBuffer, weight: DeviceBuffer | null, bias: DeviceBuffer | null, rows: number, cols: number, eps: number,
  ): DeviceBuffer;
  /**
   * The gradients of layerNorm for output gradient dy, with x̂ = (x − mean)·rstd and g = dy ∘ weight:
   * dx = rstd · (g − mean(g) − x̂ · mean(g ∘ x̂)) per row, dweight = Σ_rows dy ∘ x̂, dbias = Σ_rows dy
   * (each only when `want` asks). Mean and rstd are recomputed from x, so the forward saves nothing.
   */
  layerNormBackward(
    dy: DeviceBuffer, x: DeviceBuffer, weight: DeviceBuffer | null, rows: number, cols: number, eps: number,
    want: { dx: boolean; dweight: boolean; dbias: boolean },
  ): { dx: DeviceBuffer | null; dweight: DeviceBuffer | null; dbias: DeviceBuffer | null };
  /**
   * Cross-entropy per row of logits [rows, cols] against class `targets` (validated by the caller):
   * logsumexp(row) − row[target], in nats. Result [rows].
   */
  crossEntropy(logits: DeviceBuffer, targets: Int32Array, rows: number, cols: number): DeviceBuffer;
  /** Its gradient: dlogits = dloss[row] · (softmax(row) − onehot(target)), dloss [rows]. */
  crossEntropyBackward(
    logits: DeviceBuffer, targets: Int32Array, dloss: DeviceBuffer, rows: number, cols: number,
  ): DeviceBuffer;
  /**
   * Σ x² over all of x, a [1] buffer: the square taken in the reduction's first pass, so gradient
   * clipping costs one reduction a parameter instead of a multiply and a reduction. With `addend`
   * (a [1] buffer) the last pass adds addend[0] to the sum, so the clip's running total over every
   * gradient needs no add kernel of its own.
   */
  sumOfSquares(x: DeviceBuffer, addend?: DeviceBuffer): DeviceBuffer;
  /** dy · op(x) elementwise (x and dy of one size) in one kernel: relu's, gelu's and abs's gradient. */
  derivProduct(op: DerivOp, x: DeviceBuffer, dy: DeviceBuffer): DeviceBuffer;
  /**
   * adamwPacked on the gradient scaled by the clip's factor min(1, maxNorm / (√Σg² + 10⁻⁶)), read
   * from `clip.sumOfSquares` (a [1] buffer: the Σ g² over every clipped gradient) inside the
   * update's kernels: clipping then costs no scaling kernel per gradient and no read of the factor
   * on the host. The factor is computed as clipGradNorm computes it (optim/clip.ts).
   */
  adamwPackedClipped(
    param: DeviceBuffer, grad: DeviceBuffer, moments: DeviceBuffer, hyper: AdamWHyper, clip: GradClip,
  ): { param: DeviceBuffer; moments: DeviceBuffer };
}

export interface Device extends Partial<FusedKernels> {
  readonly name: string;
  /** What its buffers hold: `read64` returns values at this precision. */
  readonly precision: 'float32' | 'float64';
  /** gpu.js devices: runs a kernel built by another package, compiled once per spec.key. */
  runKernel?(spec: ExternalKernelSpec, args: readonly (DeviceBuffer | number)[]): DeviceBuffer;
  /** Whether runKernel takes workgroup kernels (workgroup memory, barriers, dispatch: patches/WORKGROUP-API.md). */
  readonly workgroupKernels?: boolean;
  /** Workgroup memory a workgroup kernel may declare, in bytes (webgpu: the adapter's maxComputeWorkgroupStorageSize). */
  readonly workgroupBytes?: number;
  /** Largest buffer this device can hold, in elements. */
  readonly maxElements: number;
  /**
   * Longest rows its fused crossEntropy takes, where that is past ops/nn.ts's FUSED_MAX_COLS (webgpu:
   * any, with a workgroup per row); longer rows take the composite path.
   */
  readonly crossEntropyMaxCols?: number;

  upload(data: ArrayLike<number>): DeviceBuffer;
  /** Values rounded to float32. */
  read(buf: DeviceBuffer): Promise<Float32Array>;
  /** Values at the device's own precision (float64 on the reference device). */
  read64(buf: DeviceBuffer): Promise<Float64Array>;
  /**
   * gpu.js devices except headlessgl: elements [offset, offset + size) of `buf` as a buffer of
   * their own, sharing its memory (no copy, no kernel call); `offset` a multiple of 64 (256
   * bytes, WebGPU's binding alignment). `buf` stays allocated until it and its views are disposed.
   */
  view?(buf: DeviceBuffer, offset: number, size: number): DeviceBuffer;
  /** Frees the buffer. Called exactly once per buffer by the Tensor that owns it. */
  dispose(buf: DeviceBuffer): void;
  memory(): MemoryInfo;
  resetPeakMemory(): void;
  /** Kernel-call counters since start or `resetStats()`; devices that launch kernels have them. */
  stats?(): DeviceStats;
  resetStats?(): void;
  /** Resolves once every queued kernel has finished (benchmarks time with it). */
  sync(): Promise<void>;

  fill(size: number, value: number): DeviceBuffer;
  unary(op: UnaryOp, x: DeviceBuffer): DeviceBuffer;
  /** Elementwise with NumPy broadcasting of both operands to `outShape`. */
  binary(op: BinaryOp, a: Operand, b: Operand, outShape: Shape): DeviceBuffer;
  /** out = cond != 0 ? a : b, all broadcast to `outShape`. */
  where(cond: Operand, a: Operand, b: Operand, outShape: Shape): DeviceBuffer;
  /** Reduces `axes` of `shape`; the result has `shape` with those axes set to 1. */
  reduce(op: ReduceOp, x: DeviceBuffer, shape: Shape, axes: readonly number[]): DeviceBuffer;
  /**
   * Batched matmul. a is [...batchA, M, K] ([..., K, M] when transA), b is [...batchB, K, N]
   * ([..., N, K] when transB); batch dims broadcast to `batch`; the result is [...batch, M, N],
   * plus the epilogue's bias where given.
   */
  matmul(
    a: DeviceBuffer, aShape: Shape, b: DeviceBuffer, bShape: Shape,
    transA: boolean, transB: boolean, batch: Shape, epilogue?: MatmulEpilogue,
  ): DeviceBuffer;
  /** out[i] = x[offset + Σ i_k · strides[k]] over `outShape`: permute, slice, expand. */
  strided(x: DeviceBuffer, outShape: Shape, strides: readonly number[], offset: number): DeviceBuffer;
  /** x of `shape` placed at `starts` inside zeros of `outShape` (the adjoint of a slice). */
  pad(x: DeviceBuffer, shape: Shape, outShape: Shape, starts: readonly number[]): DeviceBuffer;
  /**
   * Parts [outer, lens[p], inner] joined along their middle axis: [outer, Σ lens, inner] (a
   * concatenation, and the adjoint of a split: its pieces' gradients in one kernel, not a pad each
   * and the adds of them).
   */
  concat(parts: readonly DeviceBuffer[], outer: number, lens: readonly number[], inner: number): DeviceBuffer;
  /** Rows of a [rows, cols] table picked by `indices` (validated by the caller): [n, cols]. */
  gatherRows(table: DeviceBuffer, cols: number, indices: Int32Array): DeviceBuffer;
  /** The adjoint of gatherRows: src [n, cols] summed into [rows, cols] at `indices`. */
  scatterAddRows(src: DeviceBuffer, cols: number, indices: Int32Array, rows: number): DeviceBuffer;
  /** [n, depth] with a 1 at (i, indices[i]). */
  oneHot(indices: Int32Array, depth: number): DeviceBuffer;
  /** Softmax over the last axis of [rows, cols]. */
  softmax(x: DeviceBuffer, rows: number, cols: number): DeviceBuffer;
  /**
   * x / (1 − p) where dropoutHash24(seed, i) ≥ dropoutThreshold(p), else 0 (random.ts): the same
   * mask on every device, recomputed from the seed for the backward. seed in [0, 2³¹), p in [0, 1).
   */
  dropout(x: DeviceBuffer, p: number, seed: number): DeviceBuffer;
  /** dx = y ∘ (dy − rowsum(dy ∘ y)) for y = softmax(x) over the last axis. */
  softmaxBackward(y: DeviceBuffer, dy: DeviceBuffer, rows: number, cols: number): DeviceBuffer;
  /**
   * Blocked (online) softmax, FlashAttention's forward. For scores s [rows, cols] of one block and
   * the running stats `prev` [rows, 2] of (m, l) pairs (null before the first block): m' = max(m,
   * max_j s), l' = l·e^(m − m') + Σ_j e^(s − m'); returns [rows, 2].
   */
  onlineSoftmaxStats(s: DeviceBuffer, prev: DeviceBuffer | null, rows: number, cols: number): DeviceBuffer;
  /** e^(x − shift[r·stride]) for x [rows, cols]: stride 2 reads m from (m, l) stats, 1 a plain [rows]. */
  expShift(x: DeviceBuffer, shift: DeviceBuffer, stride: number, rows: number, cols: number): DeviceBuffer;
  /** o·e^(m − m') + pv for o, pv [rows, cols], m from stats `prev`, m' from `next` ((m, l) pairs). */
  onlineRescale(o: DeviceBuffer, pv: DeviceBuffer, prev: DeviceBuffer, next: DeviceBuffer, rows: number, cols: number): DeviceBuffer;
  /** y ∘ (dy − c[row]) for y, dy [rows, cols], c [rows]: softmax's backward with its row term given. */
  rowShiftedProduct(y: DeviceBuffer, dy: DeviceBuffer, c: DeviceBuffer, rows: number, cols: number): DeviceBuffer;
  /** The finished rows of blocked softmax: o / l for o [rows, cols] and (m, l) stats [rows, 2]. */
  onlineNormalize(o: DeviceBuffer, stats: DeviceBuffer, rows: number, cols: number): DeviceBuffer;
  /** m + log l per row of (m, l) stats [rows, 2]: the row logsumexp, [rows]. */
  onlineLogsumexp(stats: DeviceBuffer, rows: number): DeviceBuffer;
  /** Σ_c a ∘ b per row of a, b [rows, cols], [rows] (flash attention's Δ = rowsum(dO ∘ O)). */
  rowDot(a: DeviceBuffer, b: DeviceBuffer, rows: number, cols: number): DeviceBuffer;
  /**
   * One AdamW step with decoupled weight decay, both moments in one buffer, `moments` [n, 2]
   * interleaved as (m, v): the update of one parameter is the new moments and the new parameter
   * (two kernels on gpu.js, where a kernel writes one buffer; separate m and v would take three).
   */
  adamwPacked(
    param: DeviceBuffer, grad: DeviceBuffer, moments: DeviceBuffer, hyper: AdamWHyper,
  ): { param: DeviceBuffer; moments: DeviceBuffer };
}
