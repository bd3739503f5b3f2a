/**
 * Kernels the wasm device runs as plain TypeScript loops over its host Float32Arrays instead of
 * gpu.js webasm kernels: memory-bound ops where gpu.js's lane model (an integer division per lane
 * to split each index, a copy of every input into the kernel's own memory and of the output out)
 * cost several times the loop (BENCHMARKS.md, "The wasm GPT step", sessions 4 and 5). Not the ops
 * with an exp per element: a scalar float64 exp here lost to gpu.js's 4-lane one, so gelu and the
 * online softmax's expShift and stats run as SIMD in ../wasm-ops; nor + − × ÷, layer norm of
 * even rows, AdamW (kept here as the SIMD kernel's specification: its test asks for the same
 * floats), which ran at 3–20 ns a float as loops and run as SIMD there too (session 6).
 */
export { adamwConstants, adamwHost } from './adamw.js';
export { layerNormBackwardHost, layerNormHost } from './layer-norm.js';
export { checkStridedView, concatHost, padHost, padPlacement, stridedHost, type SharedPlacement } from './movement.js';
export {
  onlineLogsumexpHost, onlineNormalizeHost, onlineRescaleHost, rowDotHost, rowShiftedProductHost,
} from './rows.js';
