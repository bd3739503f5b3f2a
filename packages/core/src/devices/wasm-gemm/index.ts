/** The wasm device's GEMM (see gemm.ts). */
export { WasmGemm, THREADED_MACS, noTimes, type GemmTimes, type GemmTrace, type MatmulOperands, type WasmGemmOptions } from './gemm.js';
export { relaxedSimdAvailable } from './relaxed.js';
export { KC, MC, PLAIN, RELAXED, RELAXED_4X8, gemmModuleBytes, type Blocks, type KernelVariant } from './kernel-module.js';
export { estimateClockGHz } from './clock.js';
export { WasmArena, sizeClass, type ArenaStats } from '../wasm-arena/index.js';
