// Keeps a GPU busy before a timing, so that its clock is up: an H200 fed short kernels with syncs
// between stays at 345–600 MHz (flash8's first run read that through ~50 s of small-N timings), and
// its clock follows load over a few hundred ms. The heater runs 2048² matmuls (~0.5 ms each at full
// clock) for `ms` milliseconds, then syncs. A CPU rasterizer (llvmpipe, SwiftShader) has no clock to
// raise: there it does nothing. BENCH_HEAT_MS overrides the length (0: off).
import { matmul, randn, tidy } from '@flashgrad/core';

export function gpuHeater(device, defaultMs = 120) {
  const ms = Number(process.env.BENCH_HEAT_MS ?? (device.name !== 'webgpu' || /Mesa|llvmpipe|SwiftShader/.test(device.description ?? '') ? 0 : defaultMs));
  let operands = null;
  return async () => {
    if (ms <= 0) return;
    operands ??= [randn([2048, 2048]), randn([2048, 2048])];
    for (const t0 = performance.now(); performance.now() - t0 < ms;) {
      for (let r = 0; r < 8; r++) tidy(() => { matmul(operands[0], operands[1]); });
      await device.sync();
    }
  };
}
