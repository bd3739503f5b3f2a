// The webgpu matmul at the shapes the GPT uses and at squares, device level: the tiled shared-
// memory kernel with the tile the device chooses, each tiling of TILES forced at the headline
// shapes, and the one-row-a-thread kernel it replaced ("before"), all in one process. Each figure
// is the median over RUNS timed batches of CALLS back-to-back calls (synced once a batch), first
// call compiles and is not counted; TFLOP/s = 2·count·M·N·K / time. Prints a table and writes
// bench-results/matmul-webgpu.json. The PyTorch peer is examples/bench-matmul-torch.py (same
// shapes; run it in the same device command).
//
//   pnpm build && node examples/bench-matmul-webgpu.js
//   BENCH_QUICK=1 node examples/bench-matmul-webgpu.js     (a few small shapes, e.g. on llvmpipe)
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { setDevice } from '@flashgrad/core';

const quick = process.env.BENCH_QUICK === '1';
const RUNS = Number(process.env.BENCH_RUNS ?? (quick ? 3 : 7));
const CALLS = Number(process.env.BENCH_CALLS ?? (quick ? 2 : 10));

/** The shapes (examples/matmul-shapes.json, shared with the PyTorch peer). */
const { shapes: SHAPES } = JSON.parse(readFileSync(new URL('./matmul-shapes.json', import.meta.url), 'utf8'));
const QUICK_SHAPES = ['square 1024²', 'peers fc 768×128×512', 'peers attn S 48×64²×32'];

/** Tilings tried at the headline shapes (DESIGN §4 measured these in hand-written WGSL). */
const TILES = {
  '128×128×16/8×8': { BM: 128, BN: 128, BK: 16, TM: 8, TN: 8 },
  '128×128×8/8×8': { BM: 128, BN: 128, BK: 8, TM: 8, TN: 8 },
  '128×64×16/8×4': { BM: 128, BN: 64, BK: 16, TM: 8, TN: 4 },
  '128×128×16/8×8 A quads': { BM: 128, BN: 128, BK: 16, TM: 8, TN: 8, aQuadTranspose: true },
  '128×64×16/8×4 A quads': { BM: 128, BN: 64, BK: 16, TM: 8, TN: 4, aQuadTranspose: true },
  '128×128×16/8×8 M first': { BM: 128, BN: 128, BK: 16, TM: 8, TN: 8, mFirst: true },
  '128×64×16/8×4 M first': { BM: 128, BN: 64, BK: 16, TM: 8, TN: 4, mFirst: true },
  '64×64×16/4×4': { BM: 64, BN: 64, BK: 16, TM: 4, TN: 4 },
  '32×32×16/4×4': { BM: 32, BN: 32, BK: 16, TM: 4, TN: 4 },
  '128×128×32/8×8': { BM: 128, BN: 128, BK: 32, TM: 8, TN: 8 },
  '128×128×16/8×8 unrolled': { BM: 128, BN: 128, BK: 16, TM: 8, TN: 8, unroll: 16 },
  '64×64×16/4×4 unrolled': { BM: 64, BN: 64, BK: 16, TM: 4, TN: 4, unroll: 16 },
  '32×32×16/4×4 unrolled': { BM: 32, BN: 32, BK: 16, TM: 4, TN: 4, unroll: 16 },
};
// the large tile with A by quads, 2 to 16 k steps a trip, the next tile staged in registers
for (const [name, extra] of [['u2', { unroll: 2 }], ['u4', { unroll: 4 }], ['u8', { unroll: 8 }], ['u16', { unroll: 16 }],
  ['staged', { prefetch: true }], ['staged u4', { prefetch: true, unroll: 4 }], ['staged u16', { prefetch: true, unroll: 16 }]]) {
  TILES[`128×128×16/8×8 A quads ${name}`] = { ...TILES['128×128×16/8×8 A quads'], ...extra };
}
TILES['128×128×32/8×8 A quads u4'] = { BM: 128, BN: 128, BK: 32, TM: 8, TN: 8, aQuadTranspose: true, unroll: 4 };
TILES['128×64×16/8×4 u4'] = { ...TILES['128×64×16/8×4'], unroll: 4 };
TILES['128×64×16/8×4 staged u4'] = { ...TILES['128×64×16/8×4'], prefetch: true, unroll: 4 };
/**
 * BENCH_MODS: settings laid over the chosen tile at every shape, `|`-separated JSON objects, e.g.
 * BENCH_MODS='{"unroll":4}|{"prefetch":true}' (each a row "chosen +{...}").
 */
const MODS = process.env.BENCH_MODS ? process.env.BENCH_MODS.split('|').map((m) => JSON.parse(m)) : [];
const TILED_SHAPES = (process.env.BENCH_TILED_SHAPES ?? 'square 1024²,square 2048²,square 4096²,mlp fc 4096×768×3072').split(',');
const TILE_NAMES = process.env.BENCH_TILES ? process.env.BENCH_TILES.split(',') : Object.keys(TILES);

function random(n, seed) {
  const a = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = s / 2 ** 32 - 0.5;
  }
  return a;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main() {
  const device = await setDevice('webgpu');
  console.log(`device: ${device.description}`);
  const chooser = device.matmulTiles;
  // clocks up before the first figure: ~2 s of large products (the first run's first shape was
  // 40% slower than the same kernel measured later); not in the quick run (minutes on llvmpipe)
  if (!quick) {
    const n = 2048;
    const a = device.upload(random(n * n, 5));
    for (let i = 0; i < 200; i++) device.dispose(device.matmul(a, [n, n], a, [n, n], false, false, []));
    await device.sync();
    device.dispose(a);
  }
  const rows = [];
  const only = process.env.BENCH_SHAPES ? process.env.BENCH_SHAPES.split(',') : null;
  const shapes = quick ? SHAPES.filter((s) => QUICK_SHAPES.includes(s.name)) : only ? SHAPES.filter((s) => only.includes(s.name)) : SHAPES;
  for (const { name, M, K, N, transA, transB, batch, bias: withBias } of shapes) {
    const count = batch.reduce((x, y) => x * y, 1);
    const aShape = [...batch, ...(transA ? [K, M] : [M, K])];
    const bShape = [...batch, ...(transB ? [N, K] : [K, N])];
    const a = device.upload(random(aShape.reduce((x, y) => x * y, 1), 1));
    const b = device.upload(random(bShape.reduce((x, y) => x * y, 1), 2));
    const bias = withBias ? device.upload(random(N, 3)) : null;
    const flops = 2 * count * M * N * K;
    const variants = [['chosen', chooser], ...(process.env.BENCH_BEFORE === '0' ? [] : [['before', null]])];
    // BENCH_AQUADS=1: the chosen tile with A copied by transposed quads (MatmulTile.aQuadTranspose), and without
    if (process.env.BENCH_AQUADS === '1') {
      variants.push(['chosen A quads', (m, n, c, k, e) => ({ ...chooser(m, n, c, k, e), aQuadTranspose: true })]);
      variants.push(['chosen no quads', (m, n, c, k, e) => ({ ...chooser(m, n, c, k, e), aQuadTranspose: false })]);
    }
    for (const mod of MODS) {
      const label = Object.entries(mod).map(([k, v]) => (v === true ? k : `${k}=${v}`)).join(',');
      // `{}` measures the chosen tile again (the spread between two runs of one kernel)
      variants.push([label ? `chosen +${label}` : 'chosen again', (m, n, c, k, e) => ({ ...chooser(m, n, c, k, e), ...mod })]);
    }
    if (!quick && TILED_SHAPES.includes(name)) for (const t of TILE_NAMES) variants.push([t, () => TILES[t]]);
    for (const [variant, tiles] of variants) {
      device.matmulTiles = tiles;
      const call = () => device.matmul(a, aShape, b, bShape, transA, transB, batch, bias ? { bias } : undefined);
      // the first call compiles (Tint and the driver): timed apart
      const c0 = performance.now();
      device.dispose(call());
      await device.sync();
      const compileMs = performance.now() - c0;
      const times = [];
      for (let r = 0; r < RUNS; r++) {
        const t0 = performance.now();
        const outs = [];
        for (let c = 0; c < CALLS; c++) outs.push(call());
        await device.sync();
        times.push((performance.now() - t0) / CALLS);
        for (const o of outs) device.dispose(o);
      }
      const ms = median(times);
      const tile = tiles ? tiles(M, N, count, K, withBias) : null;
      const row = {
        name, variant, M, K, N, count, transA, transB, bias: withBias,
        tile: tile ? `${tile.BM}×${tile.BN}×${tile.BK}/${tile.TM}×${tile.TN}${tile.unroll > 1 ? ` u${tile.unroll}` : ''}${tile.prefetch ? ' p' : ''}${tile.mFirst ? ' m' : ''}${tile.aQuadTranspose ? ' q' : ''}${tile.splitK > 1 ? ` k${tile.splitK}` : ''}` : 'one row a thread',
        ms: +ms.toFixed(4), min: +Math.min(...times).toFixed(4), max: +Math.max(...times).toFixed(4), compileMs: +compileMs.toFixed(1),
        tflops: +(flops / (ms / 1e3) / 1e12).toFixed(3),
      };
      rows.push(row);
      console.log(`${name.padEnd(28)} ${variant.padEnd(15)} ${row.tile.padEnd(18)} ${ms.toFixed(3).padStart(9)} ms ` +
        `[${row.min.toFixed(3)}–${row.max.toFixed(3)}] ${row.tflops.toFixed(3).padStart(7)} TFLOP/s  (first call ${row.compileMs} ms)`);
    }
    device.matmulTiles = chooser;
    for (const x of [a, b, bias]) if (x) device.dispose(x);
  }
  mkdirSync('bench-results', { recursive: true });
  const out = { date: new Date().toISOString(), device: device.description, runs: RUNS, calls: CALLS, rows };
  writeFileSync('bench-results/matmul-webgpu.json', JSON.stringify(out, null, 2));
  if (process.env.OUT) writeFileSync(`${process.env.OUT}/matmul-webgpu.json`, JSON.stringify(out, null, 2));
  process.exit(0);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
