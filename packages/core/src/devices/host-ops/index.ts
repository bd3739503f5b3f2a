/**
 * Kernels the wasm device runs as plain TypeScript loops over its host Float32Arrays instead of
 * gpu.js webasm kernels: memory-bound ops where gpu.js's lane model (an integer division per lane
 * to split each index, a copy of every input into the kernel's own memory and of the output out)
 * cost several times the loop (BENCHMARKS.md, "The wasm GPT step, session 4"). Not the ops built
 * on exp: a scalar float64 exp here lost to gpu.js's 4-lane one, so gelu runs as SIMD in
 * ../wasm-ops and the online-softmax ops stay on gpu.js.
 */
export { adamwHost } from './adamw.js';
export { binarySameShapeHost, hostBinaryOps, type HostBinaryOp } from './binary.js';
export { layerNormBackwardHost, layerNormHost } from './layer-norm.js';
export { padHost, stridedHost } from './movement.js';
