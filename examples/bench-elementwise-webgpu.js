// What an elementwise kernel costs on webgpu, by how its threads are laid out: the same-shape add
// of `small` B64's activations ([64, 256, 384], 6.3 M floats: 75 MB moved) and gelu's size
// (25.2 M), as the device launches it today (one float a thread, 64-thread workgroups), with 128
// and 256 threads a workgroup, and with four floats a thread through vec4 bindings; and a
// one-element add (the fixed cost of a dispatch). Each variant: R calls back to back, one wait,
// best of 3 rounds. Floor: bytes / 4.8 TB/s (H200).
//   node examples/bench-elementwise-webgpu.js [--calls 40]
import { setDevice } from '@flashgrad/core';

const argv = process.argv.slice(2);
const calls = Number(argv[argv.indexOf('--calls') + 1] || 40);
const device = await setDevice('webgpu');

const spec = (name, n, extra) => ({
  key: `bench.ew:${name}:${n}`, source: 'function (a, b) { return a[this.thread.x] + b[this.thread.x]; }',
  output: [n], outSize: n, work: n, ...extra,
});
const vec4 = (n, wg) => spec(`vec4x${wg}`, n, {
  source: 'function (a, b) { const i = this.thread.x; const u = a[i]; const v = b[i]; ' +
    'storeResult(i * 4, u[0] + v[0]); storeResult(i * 4 + 1, u[1] + v[1]); storeResult(i * 4 + 2, u[2] + v[2]); storeResult(i * 4 + 3, u[3] + v[3]); }',
  workgroupSize: [wg], dispatch: [Math.ceil(n / 4 / wg)], vec4Arguments: ['a', 'b'],
});

async function time(run) {
  for (let i = 0; i < 3; i++) device.dispose(run());
  await device.sync();
  let best = Infinity;
  for (let round = 0; round < 3; round++) {
    const t0 = performance.now();
    for (let i = 0; i < calls; i++) device.dispose(run());
    await device.sync();
    best = Math.min(best, (performance.now() - t0) / calls);
  }
  return best;
}

console.log(`${device.description}; ${calls} calls a round, best of 3`);
console.log('n | variant | ms/call | GB/s (3 × 4 B an element) | floor ms (4.8 TB/s)');
for (const n of [1, 6291456, 25165824]) {
  const a = device.upload(new Float32Array(n).fill(1));
  const b = device.upload(new Float32Array(n).fill(2));
  const variants = [
    ['device.binary add (64 a workgroup)', () => device.binary('add', { buf: a, shape: [n] }, { buf: b, shape: [n] }, [n])],
    ['128 a workgroup', () => device.runKernel(spec('wg128', n, { workgroupSize: [128] }), [a, b])],
    ['256 a workgroup', () => device.runKernel(spec('wg256', n, { workgroupSize: [256] }), [a, b])],
  ];
  // (a 1-D dispatch holds at most 65,535 workgroups)
  for (const wg of [64, 256]) if (n % 4 === 0 && n / 4 / wg <= 65535) variants.push([`vec4, ${wg} a workgroup`, () => device.runKernel(vec4(n, wg), [a, b])]);
  for (const [name, run] of variants) {
    const ms = await time(run);
    // the result is right (1 + 2)
    const check = run();
    const got = await device.read(check);
    device.dispose(check);
    const ok = got[0] === 3 && got[n - 1] === 3;
    console.log(`${n} | ${name} | ${ms.toFixed(4)} | ${((12 * n) / ms / 1e6).toFixed(0)} | ${((12 * n) / 4.8e12 * 1e3).toFixed(4)}${ok ? '' : ' | WRONG RESULT'}`);
  }
  device.dispose(a);
  device.dispose(b);
}
await device.destroy();
process.exit(0);
