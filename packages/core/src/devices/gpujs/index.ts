/**
 * The gpu.js devices: `createGpujsDevice(mode)` starts gpu.js in exactly that mode (or throws
 * saying why it cannot), `probeRealGpu()` answers whether a real WebGPU adapter is present (the
 * 'auto' device choice).
 */
import type { Device } from '../device.js';
import { GpujsDevice } from './device.js';
import { gpujsModes, probeRealGpu, startRuntime, type GpujsMode } from './runtime.js';

export { GpujsDevice, probeRealGpu, gpujsModes, type GpujsMode };

export async function createGpujsDevice(mode: GpujsMode): Promise<Device> {
  if (!(gpujsModes as readonly string[]).includes(mode)) {
    throw new Error(`createGpujsDevice: unknown mode '${String(mode)}'; choose one of ${gpujsModes.join(', ')}`);
  }
  return new GpujsDevice(await startRuntime(mode));
}
