/**
 * The patched gpu.js's WebGPU backend, on the adapter this machine has (llvmpipe through Dawn's
 * OpenGL ES backend without a GPU): integer indices, the adapter's limits, and the workgroup
 * features of tools/WORKGROUP-API.md. Each case is built so that the feature missing or wrong
 * gives a visibly wrong value: indices past 2^24 read neighbours when they are float, a shared-
 * memory reduction without its barriers or ids sums the wrong elements, and so on.
 */
import { describe, expect, it } from 'vitest';
import { createGpujsDevice } from '../packages/core/src/devices/gpujs/index.js';
import { startRuntime, type GpujsInstance } from '../packages/core/src/devices/gpujs/runtime.js';

const device = await createGpujsDevice('webgpu');
const runtime = await startRuntime('webgpu');
const gpu: GpujsInstance = runtime.gpu;

/** Runs a gpu.js kernel (webgpu: a Promise of its result) and flattens what it returns. */
async function run(source: string, settings: Record<string, unknown>, ...args: unknown[]): Promise<Float32Array> {
  const kernel = gpu.createKernel(source, settings);
  try {
    const out = await kernel(...args);
    return Float32Array.from((out as ArrayLike<number> & { flat?: unknown }) instanceof Float32Array
      ? (out as Float32Array) : (out as unknown[]).flat(3) as number[]);
  } finally {
    kernel.destroy();
  }
}

/** First index where `got` differs from want(i), or -1. */
function firstMismatch(got: ArrayLike<number>, want: (i: number) => number): number {
  for (let i = 0; i < got.length; i++) if (got[i] !== want(i)) return i;
  return -1;
}

describe('gpu.js webgpu: integer indices', () => {
  it('index expressions, floor division (negative operands too) and % are exact i32', async () => {
    // q·7 + r = x − 2^25 for a dividend near −2^25, where float32 is exact only to multiples of 4
    const n = 4096;
    const got = await run(`function () {
      const a = this.thread.x - 33554432;
      const q = Math.floor(a / 7);
      const r = a - q * 7;
      const m = a % 5;
      return r * 100 + (m + 4) * 10 + Math.floor(a / 8) - Math.floor((a - 7) / 8);
    }`, { output: [n] });
    const want = (x: number) => {
      const a = x - 33554432;
      return (a - Math.floor(a / 7) * 7) * 100 + ((a % 5) + 4) * 10 + Math.floor(a / 8) - Math.floor((a - 7) / 8);
    };
    expect(firstMismatch(got, want)).toBe(-1);
  });

  it('`/` stays fractional and float locals stay float', async () => {
    const got = await run(`function () {
      let s = 0; s += 0.25;
      let t = 0.5; t++;
      const h = this.thread.x / 2;
      return h + s + t;
    }`, { output: [8] });
    expect(Array.from(got)).toEqual([0, 1, 2, 3, 4, 5, 6, 7].map((x) => x / 2 + 1.75));
  });
});

describe('gpu.js webgpu: buffers past 2^24 elements', () => {
  // llvmpipe allows 128 MiB bindings = 2^25 floats
  const rows = 2 ** 15;
  const cols = 2 ** 10;
  const n = rows * cols;
  /** Index-dependent values, exact in float32: a float index reading a neighbour shows. */
  const value = (i: number) => (i % 1021) - 500;

  it('the device cap is the adapter binding size, not 2^24', () => {
    expect(device.maxElements).toBeGreaterThanOrEqual(n);
  });

  it('an elementwise op, a broadcast op and a row reduction over 2^25 elements are exact', async () => {
    const host = new Float32Array(n);
    for (let i = 0; i < n; i++) host[i] = value(i);
    const x = device.upload(host);
    const bias = device.upload(Float32Array.from({ length: cols }, (_, c) => c * 1000));
    const shifted = device.binary('add', { buf: x, shape: [n] }, 3, [n]);
    const broadcast = device.binary('add', { buf: x, shape: [rows, cols] }, { buf: bias, shape: [cols] }, [rows, cols]);
    const sums = device.reduce('sum', x, [rows, cols], [1]);
    const s = await device.read(shifted);
    expect(firstMismatch(s, (i) => value(i) + 3)).toBe(-1);
    const b = await device.read(broadcast);
    expect(firstMismatch(b, (i) => value(i) + (i % cols) * 1000)).toBe(-1);
    const r = await device.read(sums);
    // integer partial sums below 2^24: float32 adds them exactly in any order
    expect(firstMismatch(r, (row) => {
      let t = 0;
      for (let c = 0; c < cols; c++) t += value(row * cols + c);
      return t;
    })).toBe(-1);
    for (const buf of [x, bias, shifted, broadcast, sums]) device.dispose(buf);
  });
});
