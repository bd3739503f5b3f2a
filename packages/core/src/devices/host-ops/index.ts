/**
 * Kernels the wasm device runs as plain TypeScript loops over its host Float32Arrays instead of
 * gpu.js webasm kernels: memory-bound ops where gpu.js's lane model (an integer division per lane
 * to split each index, a copy of every input into the kernel's own memory and of the output out)
 * cost several times the loop (BENCHMARKS.md, "The wasm GPT step, session 4"). Transcendental
 * ops (gelu, exp) stay in gpu.js: its 4-lane fast exp beat a scalar float64 one here.
 */
export { adamwHost } from './adamw.js';
export { binarySameShapeHost, hostBinaryOps, type HostBinaryOp } from './binary.js';
export { layerNormBackwardHost, layerNormHost } from './layer-norm.js';
export { padHost, stridedHost } from './movement.js';
