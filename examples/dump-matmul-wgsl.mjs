// Prints the WGSL gpu.js generates for the tiled webgpu matmul at one shape and tile (to read the
// code the GPU runs against a hand-written kernel). Needs `npx tsc -b` first.
//   N=4096 node examples/dump-matmul-wgsl.mjs
//   TILE='{"BM":128,"BN":128,"BK":16,"TM":8,"TN":8}' M=4096 K=768 N=3072 node examples/dump-matmul-wgsl.mjs
import { matmulTiledSpec, chooseTile } from '../packages/core/dist/devices/gpujs/kernels/matmul-tiled.js';
import { startRuntime } from '../packages/core/dist/devices/gpujs/runtime.js';

const N = Number(process.env.N ?? 4096);
const M = Number(process.env.M ?? N);
const K = Number(process.env.K ?? N);
const tile = process.env.TILE ? JSON.parse(process.env.TILE) : chooseTile(M, N, 1, K);
const spec = matmulTiledSpec([M, K], [K, N], false, false, [], undefined, tile);
const { gpu } = await startRuntime('webgpu');
const kernel = gpu.createKernel(spec.source, {
  output: spec.output, workgroupSize: spec.workgroupSize, dispatch: spec.dispatch,
  workgroupArrays: spec.workgroupArrays, ...(spec.vec4Arguments ? { vec4Arguments: spec.vec4Arguments } : {}),
});
const build = kernel.build(new Float32Array(M * K), new Float32Array(K * N));
console.log(`// tile ${JSON.stringify(tile)}`);
console.log(kernel.compiledSource);
await build;
process.exit(0);
