/** The wasm device's shared memory and its allocator (see arena.ts). */
export { WasmArena, sizeClass, type ArenaStats } from './arena.js';
