/**
 * The Device contract over gpu.js: each op becomes one or a few kernel specs (kernels/*.ts),
 * launched through GpujsEngine, which compiles each spec key once and keeps the books.
 */
import { sizeOf } from '../../shape.js';
import type {
  AdamWHyper, BinaryOp, DerivOp, Device, DeviceBuffer, GradClip, MatmulEpilogue, Operand, ReduceOp, Shape, UnaryOp,
} from '../device.js';
import { binarySpec, derivProductSpec, fillSpec, unarySpec, whereSpec, type OperandShape } from './kernels/elementwise.js';
import {
  WASM_COLS4_UNROLL, WASM_ROWS4_UNROLL, type IndexStyle, gpuKSlices, matmulGeometry, matmulRows4Spec, matmulSpec, preferRows4, unpackRows4Spec,
} from './kernels/matmul.js';
import { chooseTile, matmulTiledSpec, tileKey, type MatmulTile } from './kernels/matmul-tiled.js';
import { CONCAT_PARTS, concatSpec, gatherRowsSpec, oneHotSpec, padSpec, scatterAddRowsSpec, scatterRuns, stridedSpec } from './kernels/movement.js';
import { checkConcat } from '../check-concat.js';
import {
  CHUNK, GPU_MIN_THREADS, MAX_SERIAL, reducePassSpec, reducePlan, splitPass, rowDotSpec, softmaxApplySpec, softmaxBackwardApplySpec,
} from './kernels/reduce.js';
import {
  adamwPackedSpecs, crossEntropyBackwardSpec, crossEntropySpec, layerNormApplySpec, layerNormBackwardDwSpec,
  layerNormBackwardDxSpec, layerNormBackwardStatsSpec, layerNormOneKernelSpec, layerNormStatsSpec, rowLseSpec,
} from './kernels/fused.js';
import { dropoutSpec } from './kernels/random.js';
import { layerNormBackwardStatsWorkgroupSpec, layerNormWorkgroupSpec } from './kernels/layer-norm-workgroup.js';
import { crossEntropyBackwardWorkgroupSpec, rowLseWorkgroupSpec } from './kernels/row-lse-workgroup.js';
import {
  expShiftSpec, onlineLogsumexpSpec, onlineNormalizeSpec, onlineRescaleSpec, onlineSoftmaxStatsSpec,
} from './kernels/online-softmax.js';
import { splitSeed } from '../../random.js';
import { WasmGemm } from '../wasm-gemm/index.js';
import { type SimdBinaryOp, WasmElementwise, simdBinaryOps } from '../wasm-ops/index.js';
import {
  adamwConstants, checkStridedView, concatHost, layerNormBackwardHost, padPlacement, layerNormHost, onlineLogsumexpHost, onlineNormalizeHost,
  onlineRescaleHost, padHost, rowDotHost, rowShiftedProductHost, stridedHost, type SharedPlacement,
} from '../host-ops/index.js';
import { GpujsEngine, type Arg } from './engine.js';
import { CLIP_EPS, clipFactorHost } from '../clip-factor.js';
import type { KernelSpec } from './kernels/spec.js';
import type { GpujsBuffer } from './queue.js';

/**
 * webgpu: rows from this many columns on take the workgroup-per-row cross-entropy (layer norm: from
 * half as many, 256). Shorter ones keep the one-thread-per-row kernels of fused.ts (a 65-class
 * row is cheaper there than a 256-thread workgroup).
 */
const WIDE_ROW = 512;

export class GpujsDevice extends GpujsEngine implements Device {
  readonly precision = 'float32';

  /**
   * webgpu: the tile of the shared-memory matmul (kernels/matmul-tiled.ts) for an [count, M, N]
   * product. Benchmarks set a fixed tile to compare tilings, or null to measure the one-row-a-
   * thread kernel the tiled one replaced, in the same run.
   */
  matmulTiles: ((M: number, N: number, count: number, K: number, epilogue: boolean) => MatmulTile) | null = chooseTile;

  /**
   * Threads a reduction pass should have at least before it is split into chunks (kernels/
   * reduce.ts, GPU_MIN_THREADS): on webgpu only, where one thread per output of a column sum
   * leaves the GPU idle; 0 keeps one pass. Tests set a small value to reach the split at small shapes.
   */
  reduceMinThreads = this.runtime.mode === 'webgpu' ? GPU_MIN_THREADS : 0;

  /** wasm: the device's matmul (devices/wasm-gemm), made at the first matmul. */
  private gemmInstance: WasmGemm | null = null;

  private get gemm(): WasmGemm {
    return (this.gemmInstance ??= new WasmGemm({ arena: this.wasmArena }));
  }

  /** The wasm device's GEMM once a matmul has made it (benchmarks read its `times`), else null. */
  get wasmGemm(): WasmGemm | null {
    return this.gemmInstance;
  }

  /**
   * Whether wasm matmuls go through the GEMM; FLASHGRAD_WASM_GEMM=0 keeps gpu.js's webasm
   * kernels instead (kept to measure the two side by side: examples/bench-gemm.js).
   */
  private readonly useGemm = this.runtime.mode === 'wasm' && process.env.FLASHGRAD_WASM_GEMM !== '0';

  /**
   * Whether the wasm device runs strided, pad, layer norm of odd rows and
   * the online softmax's row ops as host loops (devices/host-ops), and gelu, its derivative,
   * expShift, the online softmax stats, add/sub/mul/div of one shape or with a number, layer norm
   * of even rows, masks' where, sums over one run of axes and AdamW as its own SIMD kernels
   * (devices/wasm-ops), rather than gpu.js kernels; FLASHGRAD_WASM_HOST_OPS=0 keeps gpu.js's
   * (to measure both in one run).
   */
  private readonly hostOps = this.runtime.mode === 'wasm' && process.env.FLASHGRAD_WASM_HOST_OPS !== '0';

  /** wasm: gelu, its derivative and the online softmax's exp ops as hand-emitted SIMD (devices/wasm-ops), made at first use. */
  private elementwiseInstance: WasmElementwise | null = null;

  private get simd(): WasmElementwise {
    return (this.elementwiseInstance ??= new WasmElementwise(this.wasmArena));
  }

  override get description(): string {
    return this.useGemm ? `${super.description}; matmul: ${this.gemm.description}` : super.description;
  }

  override async destroy(): Promise<void> {
    await super.destroy();
    this.gemmInstance?.destroy();
    this.gemmInstance = null;
  }

  /** wasm walks matmul operands with pointers, every other mode with integer indices (IndexStyle). */
  private get indexStyle(): IndexStyle {
    return this.runtime.mode === 'wasm' ? 'pointers' : 'integer';
  }

  private operand(o: Operand): { shape: OperandShape; arg: Arg; key: string } {
    if (typeof o === 'number') return { shape: 'scalar', arg: o, key: 's' };
    const b = this.own(o.buf);
    if (b.size !== sizeOf(o.shape)) throw new Error(`gpujs ${this.name}: operand of shape [${o.shape}] has ${b.size} elements`);
    return { shape: o.shape, arg: b, key: `[${o.shape}]` };
  }

  // ---------------------------------------------------------------- kernels built outside core

  /**
   * Whether runKernel takes workgroup kernels (patches/WORKGROUP-API.md): on webgpu, since
   * gpujs-module.ts loads nothing but the patched gpu.js.
   */
  get workgroupKernels(): boolean {
    return this.runtime.mode === 'webgpu';
  }

  /** Workgroup memory a workgroup kernel may declare (webgpu: the device's maxComputeWorkgroupStorageSize). */
  get workgroupBytes(): number | undefined {
    return this.runtime.workgroupBytes;
  }

  /** Runs a kernel another package built (the attention package's FlashAttention kernels), compiled once per spec.key. */
  runKernel(spec: KernelSpec, args: readonly (DeviceBuffer | number)[]): DeviceBuffer {
    return this.launch(`ext|${spec.key}`, () => spec, args.map((a) => (typeof a === 'number' ? a : this.own(a))));
  }

  // ---------------------------------------------------------------- the ops

  fill(size: number, value: number): DeviceBuffer {
    this.checkSize(size, 'fill');
    if (this.host || size === 0) return this.hostBuffer((this.runtime.mode === 'wasm' ? this.hostArray(size) : new Float32Array(size)).fill(value));
    return this.launch(`fill|${size}`, () => fillSpec(size), [value]);
  }

  unary(op: UnaryOp, x: DeviceBuffer): DeviceBuffer {
    const b = this.own(x);
    if (this.hostOps && (op === 'gelu' || op === 'geluDeriv')) {
      return this.launchHost(`wasm.${op}`, b.size, [b], ([v]) => this.simd.run(op, v, this.hostArray(b.size)));
    }
    return this.launch(`u|${op}|${b.size}`, () => unarySpec(op, b.size, this.runtime.mode), [b]);
  }

  derivProduct(op: DerivOp, x: DeviceBuffer, dy: DeviceBuffer): DeviceBuffer {
    const [X, dY] = [x, dy].map((b) => this.own(b));
    if (X.size !== dY.size) throw new Error(`gpujs ${this.name}: derivProduct ${op} of ${X.size} elements with a gradient of ${dY.size}`);
    if (X.size === 0) return this.fill(0, 0);
    if (this.hostOps) {
      // wasm: the derivative as its SIMD kernel (gelu's) and the host multiply, as before the fusion
      const d = this.unary(op, X);
      const out = this.binary('mul', { buf: dY, shape: [X.size] }, { buf: d, shape: [X.size] }, [X.size]);
      this.dispose(d);
      return out;
    }
    return this.launch(`dp|${op}|${X.size}`, () => derivProductSpec(op, X.size, this.runtime.mode), [X, dY]);
  }

  binary(op: BinaryOp, a: Operand, b: Operand, outShape: Shape): DeviceBuffer {
    const A = this.operand(a);
    const B = this.operand(b);
    if (this.hostOps && simdBinaryOps.has(op) && sameShape(A.shape, outShape) && sameShape(B.shape, outShape)) {
      const [x, y] = [A.arg, B.arg] as GpujsBuffer[];
      return this.launchHost(`wasm.${op}`, x.size, [x, y], ([u, v]) => this.simd.binary(op as SimdBinaryOp, u, v, this.hostArray(x.size)));
    }
    // one operand a number, the other of the output's shape (τ·q, the loss's scalings)
    const scalarFirst = A.shape === 'scalar';
    if (this.hostOps && simdBinaryOps.has(op) && (A.shape === 'scalar') !== (B.shape === 'scalar') && sameShape(scalarFirst ? B.shape : A.shape, outShape)) {
      const [t, s] = (scalarFirst ? [B.arg, A.arg] : [A.arg, B.arg]) as [GpujsBuffer, number];
      return this.launchHost(`wasm.${op}Scalar`, t.size, [t], ([u]) => this.simd.binaryScalar(op as SimdBinaryOp, u, s, scalarFirst, this.hostArray(t.size)));
    }
    return this.launch(`b|${op}|${A.key}|${B.key}|${outShape}`, () => binarySpec(op, A.shape, B.shape, outShape, this.runtime.mode), [A.arg, B.arg]);
  }

  where(cond: Operand, a: Operand, b: Operand, outShape: Shape): DeviceBuffer {
    const C = this.operand(cond);
    const A = this.operand(a);
    const B = this.operand(b);
    const masked = this.hostOps ? maskForm(C.shape, A.shape, B.shape, outShape) : null;
    if (masked) {
      const [t, s] = (masked.numberIsA ? [B.arg, A.arg] : [A.arg, B.arg]) as [GpujsBuffer, number];
      return this.launchHost('wasm.where', t.size, [C.arg as GpujsBuffer, t], ([c, u]) =>
        this.simd.whereNumber(c, u, s, masked.numberIsA, this.hostArray(t.size)));
    }
    return this.launch(`w|${C.key}|${A.key}|${B.key}|${outShape}`, () => whereSpec(C.shape, A.shape, B.shape, outShape, this.runtime.mode), [C.arg, A.arg, B.arg]);
  }

  reduce(op: ReduceOp, x: DeviceBuffer, shape: Shape, axes: readonly number[]): DeviceBuffer {
    return this.reduceSquared(op, x, shape, axes, false, null);
  }

  sumOfSquares(x: DeviceBuffer, addend?: DeviceBuffer): DeviceBuffer {
    const s = addend === undefined ? null : this.own(addend);
    if (s && s.size !== 1) throw new Error(`gpujs ${this.name}: sumOfSquares' addend must hold one element, got ${s.size}`);
    return this.reduceSquared('sum', x, [this.own(x).size], [0], true, s);
  }

  /** reduce, with x² read in place of x by the first pass when `square`, and addend[0] added by the last one. */
  private reduceSquared(op: ReduceOp, x: DeviceBuffer, shape: Shape, axes: readonly number[], square: boolean, addend: GpujsBuffer | null): DeviceBuffer {
    const b = this.own(x);
    if (b.size !== sizeOf(shape)) throw new Error(`gpujs ${this.name}: reduce of [${shape}] given ${b.size} elements`);
    const outSize = sizeOf(shape.map((d, k) => (axes.includes(k) ? 1 : d)));
    if (b.size === 0) return addend ? this.binary('add', { buf: addend, shape: [1] }, 0, [1]) : this.fill(outSize, op === 'sum' ? 0 : -Infinity);
    const run = this.hostOps && op === 'sum' ? reducedRun(shape, axes) : null;
    if (run && (run.inner === 1 || (!square && run.inner % 2 === 0))) {
      // an addend comes only with sumOfSquares, whose sum is one element
      return this.launchHost(`wasm.sum${square ? 'Squares' : ''}${addend ? '+s' : ''}`, outSize, addend ? [b, addend] : [b], ([v, s]) => {
        const sum = this.simd.sum(v, run.outer, run.R, run.inner, square, this.hostArray(outSize));
        if (s) sum[0] += s[0];
        return sum;
      });
    }
    const passes = reducePlan(shape, axes, this.reduceMinThreads);
    // nothing to reduce (only size-1 axes): the result is a copy as every op returns a new buffer,
    // or the squares (plus the addend) from a pass over one element each
    if (passes.length === 0 && !square) return this.binary('add', { buf: b, shape: [b.size] }, 0, [b.size]);
    if (passes.length === 0) passes.push({ outer: b.size, R: 1, inner: 1, chunk: 1 });
    let cur = b;
    for (const [k, p] of passes.entries()) {
      const sq = square && k === 0;
      const add = addend !== null && k === passes.length - 1;
      const next = this.launch(`r|${op}${sq ? 'sq' : ''}${add ? '+s' : ''}|${p.outer}|${p.R}|${p.inner}|${p.chunk}`,
        () => reducePassSpec(op, p, this.runtime.mode, sq, add), add ? [cur, addend] : [cur]);
      if (cur !== b) this.dispose(cur);
      cur = next;
    }
    return cur;
  }

  matmul(
    a: DeviceBuffer, aShape: Shape, b: DeviceBuffer, bShape: Shape,
    transA: boolean, transB: boolean, batch: Shape, epilogue?: MatmulEpilogue,
  ): DeviceBuffer {
    const A = this.own(a);
    const B = this.own(b);
    const { M, K, N, count } = matmulGeometry(aShape, bShape, transA, transB, batch);
    const bias = epilogue?.bias ? this.own(epilogue.bias) : null;
    if (bias && bias.size !== N) throw new Error(`gpujs ${this.name}: matmul bias of ${bias.size} elements for ${N} columns`);
    if (this.useGemm) {
      // every operand a host Float32Array: the packed SIMD GEMM, not a gpu.js kernel; views of
      // the arena are read in place and the result written into a block of it
      const inputs = bias ? [A, B, bias] : [A, B];
      return this.launchHost('matmul', count * M * N, inputs, ([a, b, biasIn]) => {
        const out = this.hostArray(count * M * N);
        try {
          return this.gemm.matmul({ a, aShape, b, bShape, transA, transB, batch, bias: bias ? biasIn : null, residual: null, out });
        } catch (err) {
          // no buffer will hold it: its block goes back now
          this.releaseHostArray(out);
          throw err;
        }
      });
    }
    // the kernels' residual term has no caller (MatmulEpilogue has no residual): always off
    const flags = { bias: bias !== null, residual: false };
    const extra = bias ? [bias] : [];
    const ek = flags.bias ? 'b' : '';
    if (this.runtime.mode === 'webgpu' && this.matmulTiles && K > 0) {
      const tile = this.matmulTiles(M, N, count, K, flags.bias);
      const S = tile.splitK ?? 1;
      const out = this.launch(`mt|${aShape}|${bShape}|${transA}|${transB}|${batch}|${ek}|${tileKey(tile)}`,
        () => matmulTiledSpec(aShape, bShape, transA, transB, batch, flags, tile), [A, B, ...extra]);
      if (S === 1) return out;
      // split-K: the partial products [count, S, M·N] summed over the splits
      const sum = this.reduce('sum', out, [count, S, M * N], [1]);
      this.dispose(out);
      return sum;
    }
    const onGpu = this.runtime.mode === 'webgpu' || this.runtime.mode === 'headlessgl';
    const slices = onGpu ? gpuKSlices(count * M * Math.ceil(N / 4), K) : 1;
    if (K > 0 && K <= MAX_SERIAL && slices === 1) {
      const wasm = this.runtime.mode === 'wasm';
      if (wasm && preferRows4(M)) {
        const packed = this.launch(`m4|${aShape}|${bShape}|${transA}|${transB}|${batch}`,
          () => matmulRows4Spec(aShape, bShape, transA, transB, batch, undefined, WASM_ROWS4_UNROLL), [A, B]);
        const out = this.launch(`m4u|${count}|${M}|${N}|${ek}`, () => unpackRows4Spec(count, M, N, flags), [packed, ...extra]);
        this.dispose(packed);
        return out;
      }
      return this.launch(`m|${aShape}|${bShape}|${transA}|${transB}|${batch}|${ek}`,
        () => matmulSpec(aShape, bShape, transA, transB, batch, undefined, wasm ? WASM_COLS4_UNROLL : 1, flags, this.indexStyle), [A, B, ...extra]);
    }
    // K = 0, split for occupancy, or past MAX_SERIAL: the plain product, then the epilogue as broadcast adds
    let out: GpujsBuffer;
    if (slices > 1) {
      const partials = this.launch(`ms|${aShape}|${bShape}|${transA}|${transB}|${batch}|${slices}`,
        () => matmulSpec(aShape, bShape, transA, transB, batch, undefined, 1, undefined, 'integer', slices), [A, B]);
      out = this.reduce('sum', partials, [slices, count * M * N], [0]) as GpujsBuffer;
      this.dispose(partials);
    } else {
      out = this.matmulPlain(A, aShape, B, bShape, transA, transB, batch, M, K, N, count);
    }
    if (!bias) return out;
    const shape = [count, M, N];
    const biased = this.binary('add', { buf: out, shape }, { buf: bias, shape: [N] }, shape);
    this.dispose(out);
    return biased;
  }

  private matmulPlain(
    A: GpujsBuffer, aShape: Shape, B: GpujsBuffer, bShape: Shape, transA: boolean, transB: boolean, batch: Shape,
    M: number, K: number, N: number, count: number,
  ): GpujsBuffer {
    if (K === 0) return this.fill(count * M * N, 0) as GpujsBuffer;
    // split-K: partial products over slices of K, summed pairwise (see MAX_SERIAL for why)
    const slices = Math.ceil(K / MAX_SERIAL);
    const len = Math.ceil(K / slices);
    let parts: GpujsBuffer[] = [];
    for (let k0 = 0; k0 < K; k0 += len) {
      parts.push(this.launch(`mk|${aShape}|${bShape}|${transA}|${transB}|${batch}|${k0}|${len}`, () => matmulSpec(aShape, bShape, transA, transB, batch, [k0, Math.min(len, K - k0)], 1, undefined, this.indexStyle), [A, B]));
    }
    const shape = [count * M * N];
    while (parts.length > 1) {
      const next: GpujsBuffer[] = [];
      for (let i = 0; i + 1 < parts.length; i += 2) {
        next.push(this.binary('add', { buf: parts[i], shape }, { buf: parts[i + 1], shape }, shape) as GpujsBuffer);
        this.dispose(parts[i]);
        this.dispose(parts[i + 1]);
      }
      if (parts.length % 2 === 1) next.push(parts[parts.length - 1]);
      parts = next;
    }
    return parts[0];
  }

  strided(x: DeviceBuffer, outShape: Shape, strides: readonly number[], offset: number): DeviceBuffer {
    const b = this.own(x);
    if (this.hostOps) {
      return this.launchHost('host.strided', sizeOf(outShape), [b], ([v]) => {
        const out = this.hostArray(sizeOf(outShape));
        checkStridedView(v.length, outShape, strides, offset, out.length);
        // rows of a multiple of 4 floats under ≤ 3 outer axes: wasm-ops' SIMD copy; else the host loops
        if (out.length > 0 && this.simd.copyRows(false, out, v, outShape, strides, offset)) return out;
        return stridedHost(v, outShape, strides, offset, out, this.sharedPlacement(v, out));
      });
    }
    return this.launch(`s|${b.size}|${outShape}|${strides}|${offset}`, () => stridedSpec(b.size, outShape, strides, offset, this.runtime.mode), [b]);
  }

  pad(x: DeviceBuffer, shape: Shape, outShape: Shape, starts: readonly number[]): DeviceBuffer {
    const b = this.own(x);
    if (b.size === 0) return this.fill(sizeOf(outShape), 0);
    if (this.hostOps) {
      return this.launchHost('host.pad', sizeOf(outShape), [b], ([v]) => {
        const out = this.hostArray(sizeOf(outShape));
        const { outStrides, base } = padPlacement(shape, outShape, starts);
        if (v.length === sizeOf(shape) && out.length === sizeOf(outShape) && v.length > 0) {
          out.fill(0);
          if (this.simd.copyRows(true, v, out, shape, outStrides, base)) return out;
        }
        return padHost(v, shape, outShape, starts, out, this.sharedPlacement(v, out));
      });
    }
    return this.launch(`p|${shape}|${outShape}|${starts}`, () => padSpec(shape, outShape, starts), [b]);
  }

  concat(parts: readonly DeviceBuffer[], outer: number, lens: readonly number[], inner: number): DeviceBuffer {
    const all = parts.map((b) => this.own(b));
    checkConcat(`gpujs ${this.name}`, all.map((b) => b.size), outer, lens, inner);
    if (outer * inner * lens.reduce((a, b) => a + b, 0) === 0) return this.fill(0, 0);
    // empty parts add nothing (and an empty buffer binds nowhere)
    const bufs = all.filter((_, p) => lens[p] > 0);
    lens = lens.filter((l) => l > 0);
    if (this.hostOps) {
      const size = outer * inner * lens.reduce((a, b) => a + b, 0);
      return this.launchHost('host.concat', size, bufs, (arrays) => concatHost(arrays, outer, lens, inner, this.hostArray(size)));
    }
    // CONCAT_PARTS at a time (a binding each): the first ones joined, then that with the next ones
    const join = (group: GpujsBuffer[], groupLens: number[]) =>
      this.launch(`cat|${outer}|${groupLens}|${inner}`, () => concatSpec(outer, groupLens, inner, this.runtime.mode), group);
    let acc = join(bufs.slice(0, CONCAT_PARTS), lens.slice(0, CONCAT_PARTS));
    let accLen = lens.slice(0, CONCAT_PARTS).reduce((a, b) => a + b, 0);
    for (let p = CONCAT_PARTS; p < bufs.length; p += CONCAT_PARTS - 1) {
      const groupLens = [accLen, ...lens.slice(p, p + CONCAT_PARTS - 1)];
      const next = join([acc, ...bufs.slice(p, p + CONCAT_PARTS - 1)], groupLens);
      this.dispose(acc);
      acc = next;
      accLen = groupLens.reduce((a, b) => a + b, 0);
    }
    return acc;
  }

  /** Where x and out lie in the arena when both are its live blocks (host-ops' memmove rows), else null. */
  private sharedPlacement(x: Float32Array, out: Float32Array): SharedPlacement | null {
    const arena = this.wasmArena;
    if (arena.addressOf(x) < 0 || arena.addressOf(out) < 0) return null;
    return { memory: arena.floats(), x: x.byteOffset / 4, out: out.byteOffset / 4 };
  }

  gatherRows(table: DeviceBuffer, cols: number, indices: Int32Array): DeviceBuffer {
    const t = this.own(table);
    return this.launch(`g|${t.size}|${cols}|${indices.length}`, () => gatherRowsSpec(t.size, cols, indices.length, this.runtime.mode), [t, Float32Array.from(indices)]);
  }

  scatterAddRows(src: DeviceBuffer, cols: number, indices: Int32Array, rows: number): DeviceBuffer {
    const s = this.own(src);
    if (s.size === 0) return this.fill(rows * cols, 0);
    const { start, order } = scatterRuns(indices, rows);
    return this.launch(`sc|${s.size}|${cols}|${indices.length}|${rows}`, () => scatterAddRowsSpec(s.size, cols, indices.length, rows, this.runtime.mode), [s, start, order]);
  }

  oneHot(indices: Int32Array, depth: number): DeviceBuffer {
    return this.launch(`oh|${indices.length}|${depth}`, () => oneHotSpec(indices.length, depth), [Float32Array.from(indices)]);
  }

  dropout(x: DeviceBuffer, p: number, seed: number): DeviceBuffer {
    const b = this.own(x);
    return this.launch(`dr|${b.size}|${p}`, () => dropoutSpec(b.size, p), [b, ...splitSeed(seed)]);
  }

  softmax(x: DeviceBuffer, rows: number, cols: number): DeviceBuffer {
    const b = this.own(x);
    if (rows * cols === 0) return this.fill(0, 0);
    // softmax is one block of the online softmax: its (m, l) row stats, then e^(x − m) / l
    const stats = this.own(this.onlineSoftmaxStats(b, null, rows, cols));
    const y = this.launch(`sma|${rows}|${cols}`, () => softmaxApplySpec(rows, cols, this.runtime.mode), [b, stats]);
    this.dispose(stats);
    return y;
  }

  softmaxBackward(y: DeviceBuffer, dy: DeviceBuffer, rows: number, cols: number): DeviceBuffer {
    const Y = this.own(y);
    const dY = this.own(dy);
    if (rows * cols === 0) return this.fill(0, 0);
    const dot = this.rowDot(Y, dY, rows, cols);
    const dx = this.rowShiftedProduct(Y, dY, dot, rows, cols);
    this.dispose(dot);
    return dx;
  }

  rowDot(a: DeviceBuffer, b: DeviceBuffer, rows: number, cols: number): DeviceBuffer {
    const [A, B] = [a, b].map((x) => this.own(x));
    if (rows === 0) return this.fill(0, 0);
    if (cols === 0) return this.fill(rows, 0);
    if (this.hostOps) return this.launchHost('host.rowDot', rows, [A, B], ([u, v]) => rowDotHost(u, v, rows, cols, this.hostArray(rows)));
    if (cols <= MAX_SERIAL) return this.launch(`rd|${rows}|${cols}`, () => rowDotSpec(rows, cols), [A, B]);
    // one thread per row would loop past MAX_SERIAL: multiply, then a split reduction
    const shape = [rows, cols];
    const prod = this.binary('mul', { buf: A, shape }, { buf: B, shape }, shape);
    const dot = this.reduce('sum', prod, shape, [1]);
    this.dispose(prod);
    return dot;
  }

  onlineNormalize(o: DeviceBuffer, stats: DeviceBuffer, rows: number, cols: number): DeviceBuffer {
    const args = [o, stats].map((b) => this.own(b));
    if (this.hostOps && cols % 4 === 0) {
      return this.launchHost('wasm.onlineNormalize', rows * cols, args, ([u, st]) => this.simd.onlineNormalize(u, st, rows, cols, this.hostArray(rows * cols)));
    }
    if (this.hostOps) return this.launchHost('host.onlineNormalize', rows * cols, args, ([u, st]) => onlineNormalizeHost(u, st, rows, cols, this.hostArray(rows * cols)));
    return this.launch(`on|${rows}|${cols}`, () => onlineNormalizeSpec(rows, cols, this.runtime.mode), args);
  }

  onlineLogsumexp(stats: DeviceBuffer, rows: number): DeviceBuffer {
    if (this.hostOps) return this.launchHost('host.onlineLogsumexp', rows, [this.own(stats)], ([st]) => onlineLogsumexpHost(st, rows, this.hostArray(rows)));
    return this.launch(`ol|${rows}`, () => onlineLogsumexpSpec(rows), [this.own(stats)]);
  }

  onlineSoftmaxStats(s: DeviceBuffer, prev: DeviceBuffer | null, rows: number, cols: number): DeviceBuffer {
    const S = this.own(s);
    const P = prev ? this.own(prev) : null;
    if (cols === 0) throw new Error(`gpujs ${this.name}: onlineSoftmaxStats of a block with no columns ([${rows}, 0])`);
    if (rows === 0) return this.fill(0, 0);
    if (this.hostOps) {
      return this.launchHost('wasm.onlineSoftmaxStats', rows * 2, P ? [S, P] : [S], ([s, p]) =>
        this.simd.softmaxStats(s, P ? p : null, rows, cols, this.hostArray(rows * 2)));
    }
    // the fused kernel loops twice over a row; long rows go through split reductions
    if (2 * cols > MAX_SERIAL) return this.onlineStatsLongRows(S, P, rows, cols);
    return this.launch(`os|${rows}|${cols}|${P ? 1 : 0}`, () => onlineSoftmaxStatsSpec(rows, cols, P !== null, this.runtime.mode),
      P ? [S, P] : [S]);
  }

  /** onlineSoftmaxStats from primitives, each reduction split as needed. */
  private onlineStatsLongRows(S: GpujsBuffer, P: GpujsBuffer | null, rows: number, cols: number): DeviceBuffer {
    const shape = [rows, cols];
    const col = (b: DeviceBuffer) => ({ buf: b, shape: [rows, 1] });
    const temps: DeviceBuffer[] = [];
    const t = <B extends DeviceBuffer>(b: B) => (temps.push(b), b);
    let m = t(this.reduce('max', S, shape, [1]));
    const m0 = P ? t(this.strided(P, [rows, 1], [2, 1], 0)) : null;
    if (m0) m = t(this.binary('max', col(m), col(m0), [rows, 1]));
    const e = t(this.unary('exp', t(this.binary('sub', { buf: S, shape }, col(m), shape))));
    let l = t(this.reduce('sum', e, shape, [1]));
    if (P && m0) {
      const alpha = t(this.unary('exp', t(this.binary('sub', col(m0), col(m), [rows, 1]))));
      const carried = t(this.binary('mul', col(t(this.strided(P, [rows, 1], [2, 1], 1))), col(alpha), [rows, 1]));
      l = t(this.binary('add', col(l), col(carried), [rows, 1]));
    }
    // interleave: m into column 0 and l into column 1 of [rows, 2]
    const out = this.binary('add', { buf: t(this.pad(m, [rows, 1], [rows, 2], [0, 0])), shape: [rows, 2] },
      { buf: t(this.pad(l, [rows, 1], [rows, 2], [0, 1])), shape: [rows, 2] }, [rows, 2]);
    for (const b of temps) this.dispose(b);
    return out;
  }

  expShift(x: DeviceBuffer, shift: DeviceBuffer, stride: number, rows: number, cols: number): DeviceBuffer {
    const X = this.own(x);
    const sh = this.own(shift);
    if (this.hostOps) return this.launchHost('wasm.expShift', rows * cols, [X, sh], ([v, s]) => this.simd.expShift(v, s, stride, rows, cols, this.hostArray(rows * cols)));
    return this.launch(`es|${rows}|${cols}|${stride}`, () => expShiftSpec(rows, cols, stride, this.runtime.mode), [X, sh]);
  }

  onlineRescale(o: DeviceBuffer, pv: DeviceBuffer, prev: DeviceBuffer, next: DeviceBuffer, rows: number, cols: number): DeviceBuffer {
    const args = [o, pv, prev, next].map((b) => this.own(b));
    if (this.hostOps) {
      return this.launchHost('host.onlineRescale', rows * cols, args, ([u, w, p, n]) => onlineRescaleHost(u, w, p, n, rows, cols, this.hostArray(rows * cols)));
    }
    return this.launch(`or|${rows}|${cols}`, () => onlineRescaleSpec(rows, cols, this.runtime.mode), args);
  }

  rowShiftedProduct(y: DeviceBuffer, dy: DeviceBuffer, c: DeviceBuffer, rows: number, cols: number): DeviceBuffer {
    const args = [y, dy, c].map((b) => this.own(b));
    if (this.hostOps && cols % 2 === 0) {
      return this.launchHost('wasm.rowShiftedProduct', rows * cols, args, ([u, v, w]) => this.simd.rowShiftedProduct(u, v, w, rows, cols, this.hostArray(rows * cols)));
    }
    if (this.hostOps) return this.launchHost('host.rowShiftedProduct', rows * cols, args, ([u, v, w]) => rowShiftedProductHost(u, v, w, rows, cols, this.hostArray(rows * cols)));
    return this.launch(`smb|${rows}|${cols}`, () => softmaxBackwardApplySpec(rows, cols, this.runtime.mode), args);
  }

  // ---------------------------------------------------------------- fused row kernels (kernels/fused.ts)

  layerNorm(
    x: DeviceBuffer, weight: DeviceBuffer | null, bias: DeviceBuffer | null, rows: number, cols: number, eps: number,
  ): DeviceBuffer {
    const X = this.own(x);
    const affine = [weight, bias].filter((b): b is DeviceBuffer => b !== null).map((b) => this.own(b));
    if (rows * cols === 0) return this.fill(0, 0);
    const [hasW, hasB] = [weight !== null, bias !== null];
    if (this.wideNormRows(cols)) {
      return this.launch(`lnw|${rows}|${cols}|${eps}|${hasW}|${hasB}`, () => layerNormWorkgroupSpec(rows, cols, eps, hasW, hasB), [X, ...affine]);
    }
    if (this.hostOps) {
      // even rows as SIMD (wasm-ops/layer-norm-module.ts), odd ones as the host loop
      const simd = cols % 2 === 0;
      return this.launchHost(simd ? 'wasm.layerNorm' : 'host.layerNorm', rows * cols, [X, ...affine], ([v, ...wb]) => {
        const [w, b] = [hasW ? wb[0] : null, hasB ? wb[hasW ? 1 : 0] : null];
        const out = this.hostArray(rows * cols);
        return simd ? this.simd.layerNorm(v, w, b, rows, cols, eps, out) : layerNormHost(v, w, b, rows, cols, eps, out);
      });
    }
    if (!this.host) {
      return this.launch(`ln1|${rows}|${cols}|${eps}|${hasW}|${hasB}`, () => layerNormOneKernelSpec(rows, cols, eps, hasW, hasB), [X, ...affine]);
    }
    const stats = this.launch(`lns|${rows}|${cols}|${eps}`, () => layerNormStatsSpec(rows, cols, eps), [X]);
    const y = this.launch(`lna|${rows}|${cols}|${hasW}|${hasB}`, () => layerNormApplySpec(rows, cols, hasW, hasB, this.runtime.mode), [X, ...affine, stats]);
    this.dispose(stats);
    return y;
  }

  layerNormBackward(
    dy: DeviceBuffer, x: DeviceBuffer, weight: DeviceBuffer | null, rows: number, cols: number, eps: number,
    want: { dx: boolean; dweight: boolean; dbias: boolean },
  ): { dx: DeviceBuffer | null; dweight: DeviceBuffer | null; dbias: DeviceBuffer | null } {
    const dY = this.own(dy);
    const X = this.own(x);
    const W = weight === null ? null : this.own(weight);
    const hasW = W !== null;
    if (rows * cols === 0) {
      const zeros = (n: number, on: boolean) => (on ? this.fill(n, 0) : null);
      return { dx: zeros(rows * cols, want.dx), dweight: zeros(cols, want.dweight), dbias: zeros(cols, want.dbias) };
    }
    const dbias = want.dbias ? this.reduce('sum', dY, [rows, cols], [0]) : null;
    if (!want.dx && !want.dweight) return { dx: null, dweight: null, dbias };
    if (this.hostOps) return { ...this.layerNormBackwardOnHost(dY, X, W, rows, cols, eps, want), dbias };
    const stats = this.wideNormRows(cols)
      ? this.launch(`lnbsw|${rows}|${cols}|${eps}|${hasW}`, () => layerNormBackwardStatsWorkgroupSpec(rows, cols, eps, hasW), W ? [X, dY, W] : [X, dY])
      : this.launch(`lnbs|${rows}|${cols}|${eps}|${hasW}`, () => layerNormBackwardStatsSpec(rows, cols, eps, hasW), W ? [X, dY, W] : [X, dY]);
    const dx = want.dx
      ? this.launch(`lnbx|${rows}|${cols}|${hasW}`, () => layerNormBackwardDxSpec(rows, cols, hasW, this.runtime.mode), W ? [X, dY, stats, W] : [X, dY, stats])
      : null;
    let dweight: DeviceBuffer | null = null;
    if (want.dweight) {
      // one thread per column (768 on GPT-2) would loop over every row: chunks of rows, as reduce splits
      // (past MAX_SERIAL rows, chunks of at most CHUNK, and fewer where the GPU wants more threads:
      // `small` at B64 has 16,384 rows of 384, 3,072 threads in chunks of CHUNK, 0.31 ms a call)
      const chunk = rows > MAX_SERIAL ? Math.min(CHUNK, splitPass(1, MAX_SERIAL, cols, this.reduceMinThreads)[0].chunk)
        : splitPass(1, rows, cols, this.reduceMinThreads)[0].chunk;
      const partials = this.launch(`lnbw|${rows}|${cols}|${chunk}`, () => layerNormBackwardDwSpec(rows, cols, chunk), [X, dY, stats]);
      const parts = Math.ceil(rows / chunk);
      dweight = parts === 1 ? partials : this.reduce('sum', partials, [parts, cols], [0]);
      if (parts > 1) this.dispose(partials);
    }
    this.dispose(stats);
    return { dx, dweight, dbias };
  }

  /** webgpu: rows of any length (a workgroup per row from WIDE_ROW columns on); other modes: ops/nn.ts's limit. */
  get crossEntropyMaxCols(): number | undefined {
    return this.runtime.mode === 'webgpu' ? Infinity : undefined;
  }

  /** webgpu: whether rows this long take the workgroup-per-row logsumexp (kernels/row-lse-workgroup.ts). */
  private wideRows(cols: number): boolean {
    return this.runtime.mode === 'webgpu' && cols >= WIDE_ROW;
  }

  /** webgpu: whether layer norm's rows (forward and backward statistics) take a workgroup per row (half wideRows' width). */
  private wideNormRows(cols: number): boolean {
    return this.runtime.mode === 'webgpu' && cols >= WIDE_ROW / 2;
  }

  /**
   * dx and dweight in one host pass over the rows; the engine's launches produce one buffer each,
   * so the pass runs in the first launch and the second (dweight, when both are wanted) takes its
   * result, queued right behind it.
   */
  private layerNormBackwardOnHost(
    dY: GpujsBuffer, X: GpujsBuffer, W: GpujsBuffer | null, rows: number, cols: number, eps: number,
    want: { dx: boolean; dweight: boolean },
  ): { dx: DeviceBuffer | null; dweight: DeviceBuffer | null } {
    const inputs = W ? [dY, X, W] : [dY, X];
    let result: { dx: Float32Array | null; dweight: Float32Array | null } | null = null;
    // even rows as SIMD (wasm-ops/layer-norm-module.ts), odd ones as the host loop
    const simd = cols % 2 === 0;
    const run = ([d, v, w]: Float32Array[]) => {
      if (!simd) return (result = layerNormBackwardHost(d, v, w ?? null, rows, cols, eps, want, (n) => this.hostArray(n)));
      const dx = want.dx ? this.hostArray(rows * cols) : null;
      return (result = { dx, dweight: this.simd.layerNormBackward(d, v, w ?? null, rows, cols, eps, dx, want.dweight) });
    };
    const where = simd ? 'wasm' : 'host';
    const dx = want.dx ? this.launchHost(`${where}.layerNormDx`, rows * cols, inputs, (p) => run(p).dx!) : null;
    const dweight = want.dweight
      ? this.launchHost(`${where}.layerNormDw`, cols, inputs, (p) => {
        const r = result ?? run(p);
        result = null;
        return r.dweight!;
      })
      : null;
    return { dx, dweight };
  }

  crossEntropy(logits: DeviceBuffer, targets: Int32Array, rows: number, cols: number): DeviceBuffer {
    const X = this.own(logits);
    if (rows === 0) return this.fill(0, 0);
    if (this.wideRows(cols)) return this.launch(`cew|${rows}|${cols}`, () => rowLseWorkgroupSpec(rows, cols, true), [X, Float32Array.from(targets)]);
    return this.launch(`ce|${rows}|${cols}`, () => crossEntropySpec(rows, cols, this.runtime.mode), [X, Float32Array.from(targets)]);
  }

  crossEntropyBackward(
    logits: DeviceBuffer, targets: Int32Array, dloss: DeviceBuffer, rows: number, cols: number,
  ): DeviceBuffer {
    const X = this.own(logits);
    const dL = this.own(dloss);
    if (rows * cols === 0) return this.fill(0, 0);
    const t = Float32Array.from(targets);
    const mode = this.runtime.mode;
    // a workgroup per row: its lse, then its gradient
    if (this.wideRows(cols)) return this.launch(`cebw|${rows}|${cols}`, () => crossEntropyBackwardWorkgroupSpec(rows, cols), [X, t, dL]);
    if (!this.host) return this.launch(`ceb1|${rows}|${cols}`, () => crossEntropyBackwardSpec(rows, cols, mode, true), [X, t, dL]);
    const lse = this.launch(`lse|${rows}|${cols}`, () => rowLseSpec(rows, cols, mode), [X]);
    const dx = this.launch(`ceb|${rows}|${cols}`, () => crossEntropyBackwardSpec(rows, cols, mode, false), [X, t, dL, lse]);
    this.dispose(lse);
    return dx;
  }

  adamwPacked(
    param: DeviceBuffer, grad: DeviceBuffer, moments: DeviceBuffer, h: AdamWHyper,
  ): { param: DeviceBuffer; moments: DeviceBuffer } {
    return this.adamw(param, grad, moments, h, null);
  }

  adamwPackedClipped(
    param: DeviceBuffer, grad: DeviceBuffer, moments: DeviceBuffer, h: AdamWHyper, clip: GradClip,
  ): { param: DeviceBuffer; moments: DeviceBuffer } {
    if (!(clip.maxNorm > 0)) throw new Error(`gpujs ${this.name}: adamwPackedClipped's maxNorm must be positive, got ${clip.maxNorm}`);
    const ss = this.own(clip.sumOfSquares);
    if (ss.size !== 1) throw new Error(`gpujs ${this.name}: adamwPackedClipped's sumOfSquares must hold one element, got ${ss.size}`);
    return this.adamw(param, grad, moments, h, { ss, maxNorm: clip.maxNorm });
  }

  private adamw(
    param: DeviceBuffer, grad: DeviceBuffer, moments: DeviceBuffer, h: AdamWHyper, clip: { ss: GpujsBuffer; maxNorm: number } | null,
  ): { param: DeviceBuffer; moments: DeviceBuffer } {
    const P = this.own(param);
    const G = this.own(grad);
    const MV = this.own(moments);
    const n = P.size;
    if (n === 0) return { param: this.fill(0, 0), moments: this.fill(0, 0) };
    if (this.hostOps) {
      // one host pass makes both: the moments' launch runs it, the parameter's (queued right
      // behind) takes its result
      let param: Float32Array | null = null;
      const inputs = clip ? [P, G, MV, clip.ss] : [P, G, MV];
      const moments = this.launchHost('wasm.adamw', 2 * n, inputs, ([p, g, mv, ss]) => {
        const scale = clip ? clipFactorHost(ss[0], clip.maxNorm) : 1;
        const r = this.simd.adamw(p, g, mv, h, this.hostArray(n), this.hostArray(2 * n), scale);
        param = r.param;
        return r.moments;
      });
      // `moments` among the inputs: a failed pass fails this launch with its error
      const p2 = this.launchHost('wasm.adamw', n, [P, G, MV, moments], () => {
        const r = param!;
        param = null;
        return r;
      });
      return { param: p2, moments };
    }
    const { decay, c1, c2, rest1, rest2 } = adamwConstants(h);
    const mode = this.runtime.mode;
    // the clip's Σ g² and the scalars its factor is computed from (adamwPackedSpecs)
    const clipArgs: Arg[] = clip ? [clip.ss, clip.maxNorm, CLIP_EPS, -1] : [];
    const tag = clip ? 'c' : '';
    // both read the old moments: neither waits for the other
    const mv2 = this.launch(`amv${tag}|${n}`, () => adamwPackedSpecs(n, mode, clip !== null).moments, [MV, G, rest1, rest2, ...clipArgs]);
    const p2 = this.launch(`app${tag}|${n}`, () => adamwPackedSpecs(n, mode, clip !== null).param,
      [P, G, MV, rest1, rest2, h.lr, decay, c1, c2, h.eps, ...clipArgs]);
    return { param: p2, moments: mv2 };
  }

}

/**
 * Whether where(cond, a, b) has the SIMD kernel's form (wasm-ops/where-module.ts): one of a, b a
 * number and the other of the output's shape, cond a tensor whose shape, leading 1s dropped, is
 * the output's trailing axes, of a multiple of 4 floats. Which one is the number, else null.
 */
function maskForm(cond: OperandShape, a: OperandShape, b: OperandShape, outShape: Shape): { numberIsA: boolean } | null {
  if (cond === 'scalar' || (a === 'scalar') === (b === 'scalar')) return null;
  if (!sameShape(a === 'scalar' ? b : a, outShape)) return null;
  const c = cond.slice(cond.findIndex((d) => d !== 1) < 0 ? cond.length : cond.findIndex((d) => d !== 1));
  const inner = sizeOf(c);
  if (inner === 0 || inner % 4 !== 0 || c.length > outShape.length) return null;
  if (!c.every((d, k) => d === outShape[outShape.length - c.length + k])) return null;
  return { numberIsA: a === 'scalar' };
}

/**
 * A reduction of `axes` of `shape` as one [outer, R, inner] view in memory order, when the
 * reduced axes (size-1 axes aside) are one adjacent run and something is reduced; else null.
 */
function reducedRun(shape: Shape, axes: readonly number[]): { outer: number; R: number; inner: number } | null {
  const kept = shape.map((d, k) => ({ d, reduced: axes.includes(k) })).filter(({ d }) => d !== 1);
  const first = kept.findIndex((a) => a.reduced);
  if (first < 0) return null;
  let end = first;
  while (end < kept.length && kept[end].reduced) end++;
  if (kept.slice(end).some((a) => a.reduced)) return null;
  const size = (part: { d: number }[]) => part.reduce((p, a) => p * a.d, 1);
  return { outer: size(kept.slice(0, first)), R: size(kept.slice(first, end)), inner: size(kept.slice(end)) };
}

function sameShape(a: OperandShape, b: Shape): boolean {
  return a !== 'scalar' && a.length === b.length && a.every((d, k) => d === b[k]);
}
