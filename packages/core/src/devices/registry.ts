/**
 * Which device new tensors land on. Starts as `reference` so that a plain import works with no
 * setup; `setDevice` (or env FLASHGRAD_DEVICE, read by the package entry point) picks another.
 */
import type { Device, MemoryInfo } from './device.js';
import { ReferenceDevice } from './reference.js';

export const deviceNames = ['auto', 'webgpu', 'wasm', 'cpu', 'headlessgl', 'reference'] as const;
export type DeviceName = (typeof deviceNames)[number];

const started = new Map<string, Device>();
let current: Device = new ReferenceDevice();
started.set('reference', current);

/**
 * Makes `name` the device for new tensors, starting it on first use. `auto` takes a real GPU
 * through WebGPU when one answers, else `wasm`, and reports its choice. A device that cannot start
 * is an Error that says why: never a silent fallback.
 */
export async function setDevice(name: DeviceName | string = process.env.FLASHGRAD_DEVICE ?? 'auto'): Promise<Device> {
  const device = await startDevice(name);
  current = device;
  return device;
}

/** Starts (once) and returns a device without making it current. */
export async function startDevice(name: DeviceName | string): Promise<Device> {
  if (!(deviceNames as readonly string[]).includes(name)) {
    throw new Error(`setDevice: unknown device '${name}'; choose one of ${deviceNames.join(', ')}`);
  }
  if (name === 'auto') {
    const gpujs = await import('./gpujs/index.js');
    const probe = await gpujs.probeRealGpu();
    const chosen = probe.ok ? 'webgpu' : 'wasm';
    if (process.env.FLASHGRAD_QUIET !== '1') {
      console.error(`flashgrad: device auto → ${chosen} (${probe.reason})`);
    }
    return startDevice(chosen);
  }
  const existing = started.get(name);
  if (existing) return existing;
  const gpujs = await import('./gpujs/index.js');
  const device = await gpujs.createGpujsDevice(name as Exclude<DeviceName, 'auto' | 'reference'>);
  started.set(name, device);
  return device;
}

export function getDevice(): Device {
  return current;
}

/** Live bytes, buffers and peak bytes of a device (the current one by default). */
export function memory(device: Device = current): MemoryInfo {
  return device.memory();
}

export function resetPeakMemory(device: Device = current): void {
  device.resetPeakMemory();
}
