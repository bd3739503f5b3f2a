/** @flashgrad/core: tensors, reverse-mode autograd, nn modules and optimizers over pluggable devices. */
import { setDevice } from './devices/registry.js';

export { Tensor, tidy, keep, type NestedArray } from './tensor.js';
export { noGrad, isGradEnabled, customOp, type Node, type Grads } from './autograd.js';
export * from './creation.js';
export * from './ops/index.js';
export { manualSeed, getRngState, setRngState, Mulberry32 } from './random.js';
export { setDevice, getDevice, memory, resetPeakMemory, deviceNames, type DeviceName } from './devices/registry.js';
export type { Device, DeviceBuffer, DeviceStats, MemoryInfo, Shape } from './devices/device.js';
export { ReferenceDevice } from './devices/reference.js';
export * as nn from './nn/index.js';
export * as optim from './optim/index.js';

// FLASHGRAD_DEVICE picks the device at import, so scripts switch devices without code changes.
if (typeof process !== 'undefined' && process.env.FLASHGRAD_DEVICE) await setDevice(process.env.FLASHGRAD_DEVICE);
