/**
 * Broadcasting elementwise ops on the host: binary ops (NumPy broadcasting of both operands to
 * the output shape) and where. gpu.js's kernels for these split each output index by integer
 * division per lane, then copy every input into their own memory and the output out (the causal
 * mask's where over [12, 4, 64, 64]: ~1 ms a call in the GPT step).
 *
 * The output is walked a row at a time (an odometer over the outer axes, no division per element),
 * after merging adjacent axes that every operand walks alike (a scalar times a tensor becomes one
 * flat loop, a bias over [768, 128] two axes). A constant operand is a one-element Float64Array
 * read at stride 0, so the op sees the float64 constant, as the reference device does.
 */
import type { BinaryOp, Shape } from '../device.js';

/** An operand: its values and its shape (broadcast to the output), or a constant. */
export type HostOperand = { data: Float32Array; shape: Shape } | number;

/** One row: out[o + j] = f(x[ix + j·sx], …) for j < n (sx 0 or the operand's innermost stride). */
type RowFn = (n: number, out: Float32Array, o: number, x: ArrayLike<number>[], at: number[], step: number[]) => void;

function binaryRow(f: (a: number, b: number) => number): RowFn {
  return (n, out, o, x, at, step) => {
    const a = x[0];
    const b = x[1];
    const sa = step[0];
    const sb = step[1];
    for (let j = 0, ia = at[0], ib = at[1]; j < n; j++, ia += sa, ib += sb) out[o + j] = f(a[ia], b[ib]);
  };
}

// one closure per op, so each row loop's call of f is monomorphic and inlined
const rows: Record<BinaryOp, RowFn> = {
  add: binaryRow((a, b) => a + b),
  sub: binaryRow((a, b) => a - b),
  mul: binaryRow((a, b) => a * b),
  div: binaryRow((a, b) => a / b),
  pow: binaryRow(Math.pow),
  max: binaryRow(Math.max),
  min: binaryRow(Math.min),
  gt: binaryRow((a, b) => (a > b ? 1 : 0)),
  ge: binaryRow((a, b) => (a >= b ? 1 : 0)),
  lt: binaryRow((a, b) => (a < b ? 1 : 0)),
  eq: binaryRow((a, b) => (a === b ? 1 : 0)),
};

const whereRow: RowFn = (n, out, o, x, at, step) => {
  const [c, a, b] = [x[0], x[1], x[2]];
  const [sc, sa, sb] = [step[0], step[1], step[2]];
  for (let j = 0, ic = at[0], ia = at[1], ib = at[2]; j < n; j++, ic += sc, ia += sa, ib += sb) out[o + j] = c[ic] !== 0 ? a[ia] : b[ib];
};

/** Strides of `shape` read as `outShape` (right-aligned; 0 along broadcast axes). */
function stridesIn(op: string, shape: Shape, outShape: Shape): number[] {
  const r = outShape.length;
  const off = r - shape.length;
  if (off < 0) throw new Error(`wasm ${op}: operand of shape [${shape}] has more axes than the output [${outShape}]`);
  const strides = new Array<number>(r).fill(0);
  let s = 1;
  for (let k = shape.length - 1; k >= 0; k--) {
    const d = shape[k];
    if (d !== 1 && d !== outShape[off + k]) throw new Error(`wasm ${op}: operand of shape [${shape}] does not broadcast to [${outShape}]`);
    if (d !== 1) strides[off + k] = s;
    s *= d;
  }
  return strides;
}

function run(op: string, row: RowFn, operands: HostOperand[], outShape: Shape, out: Float32Array): Float32Array {
  const n = outShape.reduce((a, d) => a * d, 1);
  if (out.length !== n) throw new Error(`wasm ${op}: output of ${out.length} floats for shape [${outShape}]`);
  const data: ArrayLike<number>[] = [];
  const strides: number[][] = [];
  for (const x of operands) {
    if (typeof x === 'number') {
      data.push(Float64Array.of(x));
      strides.push(new Array<number>(outShape.length).fill(0));
    } else {
      if (x.data.length !== x.shape.reduce((a, d) => a * d, 1)) throw new Error(`wasm ${op}: operand of shape [${x.shape}] has ${x.data.length} floats`);
      data.push(x.data);
      strides.push(stridesIn(op, x.shape, outShape));
    }
  }
  if (n === 0) return out;
  // merge axis k into k + 1 where every operand steps over k as over a whole run of k + 1
  const dims = [1, ...outShape];
  const st = strides.map((s) => [0, ...s]);
  for (let k = dims.length - 2; k >= 0; k--) {
    if (st.every((s) => s[k] === s[k + 1] * dims[k + 1])) {
      dims[k] *= dims[k + 1];
      dims.splice(k + 1, 1);
      for (const s of st) {
        s[k] = s[k + 1];
        s.splice(k + 1, 1);
      }
    }
  }
  const r = dims.length;
  const inner = dims[r - 1];
  const step = st.map((s) => s[r - 1]);
  const at = new Array<number>(st.length).fill(0);
  const idx = new Array<number>(r).fill(0);
  for (let o = 0; o < n; o += inner) {
    row(inner, out, o, data, at, step);
    for (let k = r - 2; k >= 0; k--) {
      for (let m = 0; m < st.length; m++) at[m] += st[m][k];
      if (++idx[k] < dims[k]) break;
      for (let m = 0; m < st.length; m++) at[m] -= st[m][k] * dims[k];
      idx[k] = 0;
    }
  }
  return out;
}

/** a op b, both broadcast to outShape, into `out` (outShape's size). */
export function binaryHost(op: BinaryOp, a: HostOperand, b: HostOperand, outShape: Shape, out: Float32Array): Float32Array {
  const row = rows[op];
  if (!row) throw new Error(`wasm binary: unknown op '${op}'`);
  return run(`binary ${op}`, row, [a, b], outShape, out);
}

/** cond ≠ 0 ? a : b, all broadcast to outShape, into `out`. */
export function whereHost(cond: HostOperand, a: HostOperand, b: HostOperand, outShape: Shape, out: Float32Array): Float32Array {
  return run('where', whereRow, [cond, a, b], outShape, out);
}
