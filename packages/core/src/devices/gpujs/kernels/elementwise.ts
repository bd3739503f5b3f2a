/**
 * One-thread-per-element kernels: unary, broadcast binary, where, fill, copy. All use a 1D
 * gpu.js output so that results are flat buffers every other kernel can index as `x[i]`.
 */
import { broadcastStrides, sizeOf } from '../../../shape.js';
import type { BinaryOp, DerivOp, Shape, UnaryOp } from '../../device.js';
import type { GpujsMode } from '../runtime.js';
import { expConstants, expStatements, tanhStatements, usesFastExp } from './math.js';
import { coalesce, indexCode, lit, type KernelSpec } from './spec.js';

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/**
 * GELU in its sigmoid form: 0.5·x·(1 + tanh u) = x·σ(2u), u = √(2/π)·(x + 0.044715·x³), with
 * e = e^(−2u), σ(2u) = 1/(1 + e) and 1 − σ(2u) = e/(1 + e) computed directly. Identical maths to
 * the reference's tanh form, but nothing cancels (1 + tanh u for very negative x loses digits), and
 * one exp is cheaper than tanh. The exp argument is clamped so e stays finite (no ∞/∞).
 */
function geluPrelude(mode: GpujsMode): string {
  return `const u = ${lit(SQRT_2_OVER_PI)} * (x + 0.044715 * x * x * x); ` +
    `const m2u = Math.min(Math.max(-2.0 * u, -80.0), 80.0); ${expStatements(mode, 'e', 'm2u', '')}` +
    'const s = 1.0 / (1.0 + e); const sc = e / (1.0 + e); ';
}

/**
 * Statements ending in `return …;` for each unary op, reading `x`, and their cost in scalar-op
 * units. Transcendentals come from math.ts, which picks the backend's fastest accurate form.
 */
function unaryBody(op: UnaryOp, mode: GpujsMode): [string, number] {
  // in-kernel exp (wasm) costs about two adds; wasm threads did not pay for it even at 1M floats
  // (copies in and out dominate: 10.9 ms either way), against ~10 through a JavaScript import
  const tc = usesFastExp(mode) ? 2 : 10;
  switch (op) {
    case 'neg': return ['return -x;', 1];
    case 'exp': return [`${expStatements(mode, 'y', 'x', '')}return y;`, tc];
    case 'log': return ['return Math.log(x);', 10];
    case 'sqrt': return ['return Math.sqrt(x);', 2];
    case 'tanh': return [`${tanhStatements(mode, 'y', 'x', '')}return y;`, tc];
    case 'sigmoid': return [`const nx = -x; ${expStatements(mode, 'e', 'nx', '')}return 1.0 / (1.0 + e);`, tc];
    case 'silu': return [`const nx = -x; ${expStatements(mode, 'e', 'nx', '')}return x / (1.0 + e);`, tc + 1];
    // not Math.max(x, 0): WGSL lets max drop a NaN (llvmpipe does), and relu(NaN) is NaN (IEEE,
    // PyTorch). A NaN fails both comparisons and (x + |x|)/2 carries it; that sum is exact within ±1
    case 'relu': return ['return x < -1.0 ? 0.0 : (x > 1.0 ? x : 0.5 * (x + Math.abs(x)));', 3];
    case 'abs': return ['return Math.abs(x);', 1];
    case 'sign': return ['return Math.sign(x);', 2];
    case 'reluDeriv': return ['return x > 0.0 ? 1.0 : 0.0;', 1];
    // below −11 gelu underflows float32 to −0; the clamped e would make −∞·s = −∞ instead
    case 'gelu': return [`${geluPrelude(mode)}return x < -11.0 ? -0.0 : x * s;`, tc + 2];
    // d/dx x·σ(2u) = σ + 2x·σ(1 − σ)·u′ (= the reference's 0.5(1+t) + 0.5x(1−t²)u′ with t = 2σ − 1)
    case 'geluDeriv':
      return [`${geluPrelude(mode)}` +
        `return s + 2.0 * x * s * sc * ${lit(SQRT_2_OVER_PI)} * (1.0 + ${lit(3 * 0.044715)} * x * x);`, tc + 4];
    default: {
      // every UnaryOp has a case: a new op in ops/elementwise.ts fails to compile until it has one
      const missing: never = op;
      throw new Error(`gpujs: unknown unary op '${String(missing)}'`);
    }
  }
}

/**
 * pow by |x| and the sign rule for integer exponents: WGSL's pow is undefined for x < 0, while
 * JavaScript's (and the reference's) gives (-2)^3 = -8 and NaN for non-integer exponents.
 */
const powBody =
  'let r = Math.pow(Math.abs(x), y); ' +
  'if (x < 0.0) { if (Math.floor(y) == y) { if (Math.floor(y * 0.5) * 2.0 != y) { r = -r; } } else { r = Math.sqrt(x); } } ' +
  'return r;';

const binaryBodies: Record<BinaryOp, [string, number]> = {
  add: ['return x + y;', 1],
  sub: ['return x - y;', 1],
  mul: ['return x * y;', 1],
  div: ['return x / y;', 2],
  pow: [powBody, 20],
  max: ['return Math.max(x, y);', 1],
  min: ['return Math.min(x, y);', 1],
  gt: ['return x > y ? 1.0 : 0.0;', 1],
  ge: ['return x >= y ? 1.0 : 0.0;', 1],
  lt: ['return x < y ? 1.0 : 0.0;', 1],
  eq: ['return x == y ? 1.0 : 0.0;', 1],
};

export function unarySpec(op: UnaryOp, n: number, mode: GpujsMode): KernelSpec {
  const [body, cost] = unaryBody(op, mode);
  return {
    key: `unary:${op}:${n}`,
    source: `function (a) { const x = a[this.thread.x]; ${body} }`,
    output: [n],
    outSize: n,
    work: n * cost,
    constants: body.includes('pow2') ? expConstants(mode) : undefined,
  };
}

/**
 * dy · op(x) for a derivative op in one kernel: the gradient of relu, gelu and abs, which took the
 * derivative's kernel and a multiply (gelu's at `small` B64: 2 × 100 MB written, 300 MB read a
 * layer, against 100 written and 200 read). The product is the multiply kernel's, dy · d.
 */
export function derivProductSpec(op: DerivOp, n: number, mode: GpujsMode): KernelSpec {
  const [body, cost] = unaryBody(op, mode);
  const last = body.lastIndexOf('return ');
  if (last < 0 || !body.endsWith(';')) throw new Error(`gpujs: derivative ${op} has no final return`);
  const product = `${body.slice(0, last)}return gy * (${body.slice(last + 'return '.length, -1)});`;
  return {
    key: `derivProduct:${op}:${n}`,
    source: `function (a, g) { const x = a[this.thread.x]; const gy = g[this.thread.x]; ${product} }`,
    output: [n],
    outSize: n,
    work: n * (cost + 1),
    constants: body.includes('pow2') ? expConstants(mode) : undefined,
  };
}

/** An operand as the builders see it: a shape to broadcast from, or a scalar passed as an argument. */
export type OperandShape = Shape | 'scalar';

/**
 * Reads of several broadcast operands named `names`, as `const <v> = …;` lines. Scalars arrive
 * as kernel arguments, so a changing constant (a learning rate, say) never recompiles.
 */
function operandReads(operands: OperandShape[], names: string[], vars: string[], outShape: Shape, mode?: GpujsMode): string {
  const arrays = operands.map((o, p) => ({ o, p })).filter(({ o }) => o !== 'scalar');
  const strides = arrays.map(({ o }) => broadcastStrides(o as Shape, outShape));
  const { dims, strides: cs } = coalesce(outShape, strides);
  const { lines, exprs } = indexCode('this.thread.x', dims, cs, 'c', false, mode);
  let code = lines;
  operands.forEach((o, p) => {
    if (o === 'scalar') code += `const ${vars[p]} = ${names[p]}; `;
    else code += `const ${vars[p]} = ${names[p]}[${exprs[arrays.findIndex((e) => e.p === p)]}]; `;
  });
  return code;
}

const shapeKey = (o: OperandShape) => (o === 'scalar' ? 's' : `[${o.join(',')}]`);

export function binarySpec(op: BinaryOp, a: OperandShape, b: OperandShape, outShape: Shape, mode?: GpujsMode): KernelSpec {
  const entry = binaryBodies[op];
  if (!entry) throw new Error(`gpujs: unknown binary op '${op}'`);
  const n = sizeOf(outShape);
  const reads = operandReads([a, b], ['a', 'b'], ['x', 'y'], outShape, mode);
  return {
    key: `binary:${op}:${shapeKey(a)}:${shapeKey(b)}:${outShape.join(',')}`,
    source: `function (a, b) { ${reads}${entry[0]} }`,
    output: [n],
    outSize: n,
    work: n * entry[1],
  };
}

export function whereSpec(cond: OperandShape, a: OperandShape, b: OperandShape, outShape: Shape, mode?: GpujsMode): KernelSpec {
  const n = sizeOf(outShape);
  const reads = operandReads([cond, a, b], ['c', 'a', 'b'], ['w', 'x', 'y'], outShape, mode);
  return {
    key: `where:${shapeKey(cond)}:${shapeKey(a)}:${shapeKey(b)}:${outShape.join(',')}`,
    source: `function (c, a, b) { ${reads}return w != 0.0 ? x : y; }`,
    output: [n],
    outSize: n,
    work: n,
  };
}

/** A buffer of `n` copies of a scalar argument (devices without host-side memory). */
export function fillSpec(n: number): KernelSpec {
  return { key: `fill:${n}`, source: 'function (v) { return v; }', output: [n], outSize: n, work: n };
}

/** Copies a host array into device memory (webgpu, headlessgl). */
export function copySpec(n: number): KernelSpec {
  return { key: `copy:${n}`, source: 'function (a) { return a[this.thread.x]; }', output: [n], outSize: n, work: n };
}
