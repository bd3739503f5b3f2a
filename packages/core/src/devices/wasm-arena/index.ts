/** The wasm device's shared memory and its allocator (see arena.ts). */
export { ARENA_MAX_PAGES, DEFAULT_TENSOR_LIMIT, WasmArena, sizeClass, type ArenaOptions, type ArenaStats } from './arena.js';
