/**
 * The wasm device against the reference device on the same host inputs, for the suites of the
 * wasm device's own kernels (host loops, SIMD kernels): both devices, a value generator, and a
 * runner that also returns the wasm device's op labels, so a suite can check which path ran.
 */
import { type Device, type DeviceBuffer, getDevice, setDevice } from '@flashgrad/core';

await setDevice('reference');
export const ref: Device = getDevice();
await setDevice('wasm');
export const wasm: Device = getDevice();

/** n values in [−3, 3) from a 32-bit LCG seeded by `seed`. */
export const values = (n: number, seed: number): Float32Array => {
  let s = seed >>> 0 || 1;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32) * 6 - 3;
  });
};

/** Runs `op` on both devices with the same host inputs; returns [wasm's float32, reference's float64] and wasm's op labels. */
export async function both(inputs: Float32Array[], op: (d: Device, bufs: DeviceBuffer[]) => DeviceBuffer[]): Promise<{ got: Float32Array[]; want: Float64Array[]; labels: string[] }> {
  const run = async (d: Device, wide: boolean) => {
    const bufs = inputs.map((x) => d.upload(x));
    const outs = op(d, bufs);
    const data = await Promise.all(outs.map((o) => (wide ? d.read64(o) : d.read(o))));
    for (const b of [...bufs, ...outs]) d.dispose(b);
    return data;
  };
  wasm.resetStats!();
  const got = (await run(wasm, false)) as Float32Array[];
  const labels = Object.keys(wasm.stats!().byOp);
  const want = (await run(ref, true)) as Float64Array[];
  return { got, want, labels };
}
