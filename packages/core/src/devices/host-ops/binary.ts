/**
 * Elementwise add, sub, mul, div of two operands of one shape (no broadcasting) on the host.
 * Each is exact in float64 and rounded once into float32, which gives the float32 operation's
 * own result (double rounding is innocuous for +, −, ×, ÷ of float32 operands in float64).
 */
export type HostBinaryOp = 'add' | 'sub' | 'mul' | 'div';

export const hostBinaryOps: ReadonlySet<string> = new Set<HostBinaryOp>(['add', 'sub', 'mul', 'div']);

/** `out` (a's size, any contents) receives the result. */
export function binarySameShapeHost(op: HostBinaryOp, a: Float32Array, b: Float32Array, out: Float32Array = new Float32Array(a.length)): Float32Array {
  const n = a.length;
  if (b.length !== n || out.length !== n) throw new Error(`wasm binary ${op}: operands of ${n} and ${b.length} elements into ${out.length}`);
  // one loop per op: a switch inside the loop would be decided per element
  switch (op) {
    case 'add': for (let i = 0; i < n; i++) out[i] = a[i] + b[i]; break;
    case 'sub': for (let i = 0; i < n; i++) out[i] = a[i] - b[i]; break;
    case 'mul': for (let i = 0; i < n; i++) out[i] = a[i] * b[i]; break;
    case 'div': for (let i = 0; i < n; i++) out[i] = a[i] / b[i]; break;
  }
  return out;
}
