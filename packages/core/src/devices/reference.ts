/**
 * The oracle: plain TypeScript over ndarray, storing and computing in float64. Values round to
 * float32 only when they leave it (`read`). Every other device is tested against this one, so it
 * favours obviousness over speed.
 */
import ndarray from 'ndarray';
import type {
  AdamWHyper, BinaryOp, DerivOp, Device, DeviceBuffer, MatmulEpilogue, MemoryInfo, Operand, ReduceOp, Shape, UnaryOp,
} from './device.js';
import { broadcastStrides, sizeOf, stridesOf } from '../shape.js';
import { dropoutHash24, dropoutThreshold } from '../random.js';
import { checkConcat } from './check-concat.js';
import { adamwConstants, concatHost } from './host-ops/index.js';

class RefBuffer implements DeviceBuffer {
  constructor(readonly data: Float64Array, public live = true) {}
  get size(): number {
    return this.data.length;
  }
}

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

const unaryFns: Record<UnaryOp, (x: number) => number> = {
  neg: (x) => -x,
  exp: Math.exp,
  log: Math.log,
  sqrt: Math.sqrt,
  tanh: Math.tanh,
  sigmoid: (x) => 1 / (1 + Math.exp(-x)),
  silu: (x) => x / (1 + Math.exp(-x)),
  relu: (x) => (x > 0 || Number.isNaN(x) ? x : 0), // NaN stays NaN (IEEE, PyTorch)
  abs: Math.abs,
  sign: Math.sign,
  reluDeriv: (x) => (x > 0 ? 1 : 0),
  // GPT-2's tanh approximation: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
  // at −∞ the formula is −∞·0; the limit (from below) is −0
  gelu: (x) => (x === -Infinity ? -0 : 0.5 * x * (1 + Math.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)))),
  geluDeriv: (x) => {
    const t = Math.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x));
    return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x);
  },
};

const binaryFns: Record<BinaryOp, (a: number, b: number) => number> = {
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
  pow: Math.pow,
  max: Math.max,
  min: Math.min,
  gt: (a, b) => (a > b ? 1 : 0),
  ge: (a, b) => (a >= b ? 1 : 0),
  lt: (a, b) => (a < b ? 1 : 0),
  eq: (a, b) => (a === b ? 1 : 0),
};

/** Calls fn(outIndex, offsets...) for every element of outShape, offsets following `strides`. */
function forEachIndex(outShape: Shape, strides: number[][], fn: (i: number, offs: number[]) => void): void {
  const rank = outShape.length;
  const n = sizeOf(outShape);
  const idx = new Array<number>(rank).fill(0);
  const offs = strides.map(() => 0);
  for (let i = 0; i < n; i++) {
    fn(i, offs);
    for (let d = rank - 1; d >= 0; d--) {
      idx[d]++;
      for (let k = 0; k < strides.length; k++) offs[k] += strides[k][d];
      if (idx[d] < outShape[d]) break;
      for (let k = 0; k < strides.length; k++) offs[k] -= strides[k][d] * outShape[d];
      idx[d] = 0;
    }
  }
}

export class ReferenceDevice implements Device {
  readonly name = 'reference';
  readonly precision = 'float64';
  readonly maxElements = 2 ** 31 - 1;
  private bytes = 0;
  private buffers = 0;
  private peakBytes = 0;

  private alloc(size: number): RefBuffer {
    const buf = new RefBuffer(new Float64Array(size));
    this.bytes += buf.data.byteLength;
    this.buffers++;
    this.peakBytes = Math.max(this.peakBytes, this.bytes);
    return buf;
  }

  private get(buf: DeviceBuffer): Float64Array {
    if (!(buf instanceof RefBuffer)) throw new Error('reference: buffer belongs to another device');
    if (!buf.live) throw new Error('reference: buffer used after dispose');
    return buf.data;
  }

  upload(data: ArrayLike<number>): DeviceBuffer {
    const buf = this.alloc(data.length);
    buf.data.set(data);
    return buf;
  }

  async read(buf: DeviceBuffer): Promise<Float32Array> {
    return Float32Array.from(this.get(buf));
  }

  async read64(buf: DeviceBuffer): Promise<Float64Array> {
    return Float64Array.from(this.get(buf));
  }

  dispose(buf: DeviceBuffer): void {
    const b = buf as RefBuffer;
    if (!b.live) throw new Error('reference: buffer disposed twice');
    b.live = false;
    this.bytes -= b.data.byteLength;
    this.buffers--;
  }

  memory(): MemoryInfo {
    return { bytes: this.bytes, buffers: this.buffers, peakBytes: this.peakBytes };
  }

  resetPeakMemory(): void {
    this.peakBytes = this.bytes;
  }

  async sync(): Promise<void> {}

  fill(size: number, value: number): DeviceBuffer {
    const buf = this.alloc(size);
    buf.data.fill(value);
    return buf;
  }

  unary(op: UnaryOp, x: DeviceBuffer): DeviceBuffer {
    const f = unaryFns[op];
    const src = this.get(x);
    const out = this.alloc(src.length);
    for (let i = 0; i < src.length; i++) out.data[i] = f(src[i]);
    return out;
  }

  derivProduct(op: DerivOp, x: DeviceBuffer, dy: DeviceBuffer): DeviceBuffer {
    const f = unaryFns[op];
    const [src, g] = [this.get(x), this.get(dy)];
    if (src.length !== g.length) throw new Error(`reference: derivProduct ${op} of ${src.length} elements with a gradient of ${g.length}`);
    const out = this.alloc(src.length);
    for (let i = 0; i < src.length; i++) out.data[i] = g[i] * f(src[i]);
    return out;
  }

  /** A constant operand reads as a scalar broadcast everywhere. */
  private operand(o: Operand, outShape: Shape): { data: Float64Array; strides: number[] } {
    if (typeof o === 'number') return { data: Float64Array.of(o), strides: outShape.map(() => 0) };
    return { data: this.get(o.buf), strides: broadcastStrides(o.shape, outShape) };
  }

  binary(op: BinaryOp, a: Operand, b: Operand, outShape: Shape): DeviceBuffer {
    const f = binaryFns[op];
    const A = this.operand(a, outShape);
    const B = this.operand(b, outShape);
    const out = this.alloc(sizeOf(outShape));
    forEachIndex(outShape, [A.strides, B.strides], (i, [ia, ib]) => {
      out.data[i] = f(A.data[ia], B.data[ib]);
    });
    return out;
  }

  where(cond: Operand, a: Operand, b: Operand, outShape: Shape): DeviceBuffer {
    const C = this.operand(cond, outShape);
    const A = this.operand(a, outShape);
    const B = this.operand(b, outShape);
    const out = this.alloc(sizeOf(outShape));
    forEachIndex(outShape, [C.strides, A.strides, B.strides], (i, [ic, ia, ib]) => {
      out.data[i] = C.data[ic] !== 0 ? A.data[ia] : B.data[ib];
    });
    return out;
  }

  reduce(op: ReduceOp, x: DeviceBuffer, shape: Shape, axes: readonly number[]): DeviceBuffer {
    const src = this.get(x);
    const outShape = shape.map((d, i) => (axes.includes(i) ? 1 : d));
    const out = this.alloc(sizeOf(outShape));
    out.data.fill(op === 'sum' ? 0 : -Infinity);
    // walk the input; its index maps to the output through strides that are 0 on reduced axes
    const outStrides = broadcastStrides(outShape, shape);
    forEachIndex(shape, [outStrides], (i, [o]) => {
      out.data[o] = op === 'sum' ? out.data[o] + src[i] : Math.max(out.data[o], src[i]);
    });
    return out;
  }

  matmul(
    a: DeviceBuffer, aShape: Shape, b: DeviceBuffer, bShape: Shape,
    transA: boolean, transB: boolean, batch: Shape, epilogue?: MatmulEpilogue,
  ): DeviceBuffer {
    const A = this.get(a);
    const B = this.get(b);
    const bias = epilogue?.bias ? this.get(epilogue.bias) : null;
    const ra = aShape.length;
    const rb = bShape.length;
    const M = transA ? aShape[ra - 1] : aShape[ra - 2];
    const K = transA ? aShape[ra - 2] : aShape[ra - 1];
    const N = transB ? bShape[rb - 2] : bShape[rb - 1];
    // strides of one matrix element along (row, col) of the logical, untransposed operand
    const [aRow, aCol] = transA ? [1, M] : [K, 1];
    const [bRow, bCol] = transB ? [1, K] : [N, 1];
    const aBatch = broadcastStrides(aShape.slice(0, -2), batch).map((s) => s * M * K);
    const bBatch = broadcastStrides(bShape.slice(0, -2), batch).map((s) => s * K * N);
    const out = this.alloc(sizeOf(batch) * M * N);
    forEachIndex(batch, [aBatch, bBatch], (bi, [oa, ob]) => {
      const base = bi * M * N;
      for (let i = 0; i < M; i++) {
        for (let j = 0; j < N; j++) {
          let acc = 0;
          for (let k = 0; k < K; k++) acc += A[oa + i * aRow + k * aCol] * B[ob + k * bRow + j * bCol];
          if (bias) acc += bias[j];
          out.data[base + i * N + j] = acc;
        }
      }
    });
    return out;
  }

  strided(x: DeviceBuffer, outShape: Shape, strides: readonly number[], offset: number): DeviceBuffer {
    // an ndarray view is exactly this op: same (shape, stride, offset) triple
    const view = ndarray(this.get(x), [...outShape], [...strides], offset);
    const out = this.alloc(sizeOf(outShape));
    forEachIndex(outShape, [view.stride], (i, [o]) => {
      out.data[i] = view.data[view.offset + o];
    });
    return out;
  }

  pad(x: DeviceBuffer, shape: Shape, outShape: Shape, starts: readonly number[]): DeviceBuffer {
    const src = this.get(x);
    const out = this.alloc(sizeOf(outShape));
    const outStrides = stridesOf(outShape);
    const base = starts.reduce((acc, s, i) => acc + s * outStrides[i], 0);
    forEachIndex(shape, [outStrides], (i, [o]) => {
      out.data[base + o] = src[i];
    });
    return out;
  }

  concat(parts: readonly DeviceBuffer[], outer: number, lens: readonly number[], inner: number): DeviceBuffer {
    checkConcat('reference', parts.map((b) => this.get(b).length), outer, lens, inner);
    const out = this.alloc(outer * lens.reduce((a, b) => a + b, 0) * inner);
    concatHost(parts.map((b) => this.get(b)), outer, lens, inner, out.data);
    return out;
  }

  gatherRows(table: DeviceBuffer, cols: number, indices: Int32Array): DeviceBuffer {
    const src = this.get(table);
    const out = this.alloc(indices.length * cols);
    indices.forEach((r, i) => out.data.set(src.subarray(r * cols, (r + 1) * cols), i * cols));
    return out;
  }

  scatterAddRows(src: DeviceBuffer, cols: number, indices: Int32Array, rows: number): DeviceBuffer {
    const s = this.get(src);
    const out = this.alloc(rows * cols);
    indices.forEach((r, i) => {
      for (let c = 0; c < cols; c++) out.data[r * cols + c] += s[i * cols + c];
    });
    return out;
  }

  oneHot(indices: Int32Array, depth: number): DeviceBuffer {
    const out = this.alloc(indices.length * depth);
    indices.forEach((r, i) => (out.data[i * depth + r] = 1));
    return out;
  }

  dropout(x: DeviceBuffer, p: number, seed: number): DeviceBuffer {
    const src = this.get(x);
    const out = this.alloc(src.length);
    const threshold = dropoutThreshold(p);
    const keep = 1 / (1 - p);
    for (let i = 0; i < src.length; i++) out.data[i] = dropoutHash24(seed, i) >= threshold ? src[i] * keep : 0;
    return out;
  }

  softmax(x: DeviceBuffer, rows: number, cols: number): DeviceBuffer {
    const src = this.get(x);
    const out = this.alloc(rows * cols);
    for (let r = 0; r < rows; r++) {
      const row = src.subarray(r * cols, (r + 1) * cols);
      let m = -Infinity;
      for (const v of row) m = Math.max(m, v);
      let s = 0;
      for (let c = 0; c < cols; c++) s += out.data[r * cols + c] = Math.exp(row[c] - m);
      for (let c = 0; c < cols; c++) out.data[r * cols + c] /= s;
    }
    return out;
  }

  softmaxBackward(y: DeviceBuffer, dy: DeviceBuffer, rows: number, cols: number): DeviceBuffer {
    const Y = this.get(y);
    const dY = this.get(dy);
    const out = this.alloc(rows * cols);
    for (let r = 0; r < rows; r++) {
      let dot = 0;
      for (let c = 0; c < cols; c++) dot += Y[r * cols + c] * dY[r * cols + c];
      for (let c = 0; c < cols; c++) out.data[r * cols + c] = Y[r * cols + c] * (dY[r * cols + c] - dot);
    }
    return out;
  }

  onlineSoftmaxStats(s: DeviceBuffer, prev: DeviceBuffer | null, rows: number, cols: number): DeviceBuffer {
    if (cols === 0) throw new Error(`reference: onlineSoftmaxStats of a block with no columns ([${rows}, 0])`);
    const S = this.get(s);
    const P = prev ? this.get(prev) : null;
    const out = this.alloc(rows * 2);
    for (let r = 0; r < rows; r++) {
      let m = P ? P[2 * r] : -Infinity;
      for (let c = 0; c < cols; c++) m = Math.max(m, S[r * cols + c]);
      let l = P ? P[2 * r + 1] * Math.exp(P[2 * r] - m) : 0;
      for (let c = 0; c < cols; c++) l += Math.exp(S[r * cols + c] - m);
      out.data[2 * r] = m;
      out.data[2 * r + 1] = l;
    }
    return out;
  }

  expShift(x: DeviceBuffer, shift: DeviceBuffer, stride: number, rows: number, cols: number): DeviceBuffer {
    const X = this.get(x);
    const sh = this.get(shift);
    const out = this.alloc(rows * cols);
    for (let i = 0; i < rows * cols; i++) out.data[i] = Math.exp(X[i] - sh[Math.floor(i / cols) * stride]);
    return out;
  }

  onlineRescale(o: DeviceBuffer, pv: DeviceBuffer, prev: DeviceBuffer, next: DeviceBuffer, rows: number, cols: number): DeviceBuffer {
    const [O, PV, P, N] = [o, pv, prev, next].map((b) => this.get(b));
    const out = this.alloc(rows * cols);
    for (let i = 0; i < rows * cols; i++) {
      const r = Math.floor(i / cols);
      out.data[i] = O[i] * Math.exp(P[2 * r] - N[2 * r]) + PV[i];
    }
    return out;
  }

  rowShiftedProduct(y: DeviceBuffer, dy: DeviceBuffer, c: DeviceBuffer, rows: number, cols: number): DeviceBuffer {
    const [Y, dY, C] = [y, dy, c].map((b) => this.get(b));
    const out = this.alloc(rows * cols);
    for (let i = 0; i < rows * cols; i++) out.data[i] = Y[i] * (dY[i] - C[Math.floor(i / cols)]);
    return out;
  }

  onlineNormalize(o: DeviceBuffer, stats: DeviceBuffer, rows: number, cols: number): DeviceBuffer {
    const [O, S] = [o, stats].map((b) => this.get(b));
    const out = this.alloc(rows * cols);
    for (let i = 0; i < rows * cols; i++) out.data[i] = O[i] / S[2 * Math.floor(i / cols) + 1];
    return out;
  }

  onlineLogsumexp(stats: DeviceBuffer, rows: number): DeviceBuffer {
    const S = this.get(stats);
    const out = this.alloc(rows);
    for (let r = 0; r < rows; r++) out.data[r] = S[2 * r] + Math.log(S[2 * r + 1]);
    return out;
  }

  rowDot(a: DeviceBuffer, b: DeviceBuffer, rows: number, cols: number): DeviceBuffer {
    const [A, B] = [a, b].map((x) => this.get(x));
    const out = this.alloc(rows);
    for (let r = 0; r < rows; r++) {
      let s = 0;
      for (let c = 0; c < cols; c++) s += A[r * cols + c] * B[r * cols + c];
      out.data[r] = s;
    }
    return out;
  }

  /** Mean and √(var + eps) of row r, as the composite layerNorm computes them. */
  private rowMoments(X: Float64Array, r: number, cols: number, eps: number): [number, number] {
    let s = 0;
    for (let c = 0; c < cols; c++) s += X[r * cols + c];
    const mean = s / cols;
    let q = 0;
    for (let c = 0; c < cols; c++) q += (X[r * cols + c] - mean) ** 2;
    return [mean, Math.sqrt(q / cols + eps)];
  }

  layerNorm(
    x: DeviceBuffer, weight: DeviceBuffer | null, bias: DeviceBuffer | null, rows: number, cols: number, eps: number,
  ): DeviceBuffer {
    const X = this.get(x);
    const W = weight ? this.get(weight) : null;
    const Bi = bias ? this.get(bias) : null;
    const out = this.alloc(rows * cols);
    for (let r = 0; r < rows; r++) {
      const [mean, sd] = this.rowMoments(X, r, cols, eps);
      for (let c = 0; c < cols; c++) {
        let y = (X[r * cols + c] - mean) / sd;
        if (W) y *= W[c];
        if (Bi) y += Bi[c];
        out.data[r * cols + c] = y;
      }
    }
    return out;
  }

  layerNormBackward(
    dy: DeviceBuffer, x: DeviceBuffer, weight: DeviceBuffer | null, rows: number, cols: number, eps: number,
    want: { dx: boolean; dweight: boolean; dbias: boolean },
  ): { dx: DeviceBuffer | null; dweight: DeviceBuffer | null; dbias: DeviceBuffer | null } {
    const dY = this.get(dy);
    const X = this.get(x);
    const W = weight ? this.get(weight) : null;
    const dx = want.dx ? this.alloc(rows * cols) : null;
    const dw = want.dweight ? this.alloc(cols) : null;
    const db = want.dbias ? this.alloc(cols) : null;
    for (let r = 0; r < rows; r++) {
      const [mean, sd] = this.rowMoments(X, r, cols, eps);
      const rstd = 1 / sd;
      let sg = 0;
      let sgx = 0;
      for (let c = 0; c < cols; c++) {
        const i = r * cols + c;
        const xhat = (X[i] - mean) * rstd;
        const g = W ? dY[i] * W[c] : dY[i];
        sg += g;
        sgx += g * xhat;
        if (dw) dw.data[c] += dY[i] * xhat;
        if (db) db.data[c] += dY[i];
      }
      if (!dx) continue;
      for (let c = 0; c < cols; c++) {
        const i = r * cols + c;
        const xhat = (X[i] - mean) * rstd;
        const g = W ? dY[i] * W[c] : dY[i];
        dx.data[i] = rstd * (g - sg / cols - (xhat * sgx) / cols);
      }
    }
    return { dx, dweight: dw, dbias: db };
  }

  /** log Σ exp of row r, shifted by its max (0 when the max is infinite, as ops.logsumexp). */
  private rowLse(X: Float64Array, r: number, cols: number): number {
    let m = -Infinity;
    for (let c = 0; c < cols; c++) m = Math.max(m, X[r * cols + c]);
    const shift = Math.abs(m) < Infinity ? m : 0;
    let s = 0;
    for (let c = 0; c < cols; c++) s += Math.exp(X[r * cols + c] - shift);
    return Math.log(s) + shift;
  }

  crossEntropy(logits: DeviceBuffer, targets: Int32Array, rows: number, cols: number): DeviceBuffer {
    const X = this.get(logits);
    const out = this.alloc(rows);
    for (let r = 0; r < rows; r++) out.data[r] = this.rowLse(X, r, cols) - X[r * cols + targets[r]];
    return out;
  }

  crossEntropyBackward(
    logits: DeviceBuffer, targets: Int32Array, dloss: DeviceBuffer, rows: number, cols: number,
  ): DeviceBuffer {
    const X = this.get(logits);
    const dL = this.get(dloss);
    const out = this.alloc(rows * cols);
    for (let r = 0; r < rows; r++) {
      const lse = this.rowLse(X, r, cols);
      for (let c = 0; c < cols; c++) {
        out.data[r * cols + c] = dL[r] * (Math.exp(X[r * cols + c] - lse) - (c === targets[r] ? 1 : 0));
      }
    }
    return out;
  }

  adamwPacked(
    param: DeviceBuffer, grad: DeviceBuffer, moments: DeviceBuffer, h: AdamWHyper,
  ): { param: DeviceBuffer; moments: DeviceBuffer } {
    const P = this.get(param);
    const G = this.get(grad);
    const MV = this.get(moments);
    const n = P.length;
    const p2 = this.alloc(n);
    const mv2 = this.alloc(2 * n);
    const { decay, c1, c2, rest1, rest2 } = adamwConstants(h);
    for (let i = 0; i < n; i++) {
      const m = h.beta1 * MV[2 * i] + rest1 * G[i];
      const v = h.beta2 * MV[2 * i + 1] + rest2 * G[i] * G[i];
      mv2.data[2 * i] = m;
      mv2.data[2 * i + 1] = v;
      p2.data[i] = P[i] * decay - h.lr * (m / c1 / (Math.sqrt(v / c2) + h.eps));
    }
    return { param: p2, moments: mv2 };
  }
}
