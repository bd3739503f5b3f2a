/** @flashgrad/core: tensors, reverse-mode autograd, nn modules and optimizers over pluggable devices. */
import { setDevice } from './devices/registry.js';

export { Tensor, tidy, keep, type NestedArray } from './tensor.js';
export { noGrad, isGradEnabled, customOp, type Node, type Grads, type BackwardOptions } from './autograd.js';
export * from './creation.js';
export { detectAnomaly, checkAnomalies, setDetectAnomaly, isAnomalyEnabled, AnomalyError, type AnomalyPhase } from './anomaly.js';
export * from './ops/index.js';
export { manualSeed, getRngState, setRngState, Mulberry32, dropoutSeed, dropoutHash24, dropoutThreshold, splitSeed } from './random.js';
export { setDevice, getDevice, memory, resetPeakMemory, deviceNames, type DeviceName } from './devices/registry.js';
export type { Device, DeviceBuffer, DeviceStats, ExternalKernelSpec, MemoryInfo, Shape } from './devices/device.js';
/** For kernels written outside core in gpu.js's kernel language: float literals and the dropout hash. */
export { lit } from './devices/gpujs/kernels/spec.js';
export { hash24Expr } from './devices/gpujs/kernels/random.js';
export { ReferenceDevice } from './devices/reference.js';
/** Argument checks that name the op and the argument, for the entry points of the packages built on core. */
export { checkBoolean, checkOptions, show } from './validate.js';
export * as nn from './nn/index.js';
export * as optim from './optim/index.js';
/** The wasm device's GEMM, for benchmarks and direct use on host Float32Arrays. */
export * as wasmGemm from './devices/wasm-gemm/index.js';

// FLASHGRAD_DEVICE picks the device at import, so scripts switch devices without code changes.
if (typeof process !== 'undefined' && process.env.FLASHGRAD_DEVICE) await setDevice(process.env.FLASHGRAD_DEVICE);
