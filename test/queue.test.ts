// Back-pressure of the gpu.js op queue: tasks that wait are bounded, and the refusal says why.
import { describe, expect, it } from 'vitest';
import { KernelQueue, maxWaitingFromEnv } from '../packages/core/src/devices/gpujs/queue.js';
import { setDevice, tensor } from '@flashgrad/core';

describe('KernelQueue', () => {
  it('refuses a task past its limit while the device is busy, with the fix in the message; frees still queue', async () => {
    const q = new KernelQueue(3);
    let release!: () => void;
    const ran: number[] = [];
    q.run(() => new Promise<void>((r) => (release = r))); // the device is busy
    for (let i = 0; i < 3; i++) q.run(() => void ran.push(i));
    expect(q.length).toBe(3);
    expect(() => q.run(() => void ran.push(99))).toThrow(/gpujs: 3 kernels are waiting to run: a loop that never yields .* await a read .*FLASHGRAD_MAX_QUEUED/);
    q.run(() => void ran.push(-1), { essential: true });
    expect(q.length).toBe(4);
    release();
    await q.drain();
    expect(ran).toEqual([0, 1, 2, -1]);
    expect(q.length).toBe(0);
    expect(q.idle).toBe(true);
    q.run(() => void ran.push(3)); // idle again: runs at once
    expect(ran.at(-1)).toBe(3);
  });

  it('a deferred task on an idle queue runs once the caller\'s synchronous code is done, in order with later tasks', async () => {
    const q = new KernelQueue();
    const ran: string[] = [];
    q.run(() => void ran.push('deferred'), { deferred: true });
    q.run(() => void ran.push('next'));
    ran.push('caller');
    expect(q.idle).toBe(false);
    await q.drain();
    expect(ran).toEqual(['caller', 'deferred', 'next']);
    expect(q.idle).toBe(true);
  });

  it('a profiled webgpu kernel is replayed on the same inputs (GPU ms per key) and keeps its result', async () => {
    type Profiled = { profile: boolean; profileReplays: number; resetStats(): void; stats(): { byKey?: Record<string, { calls: number; replayMs?: number }> } };
    const device = await setDevice('webgpu') as unknown as Profiled;
    const x = tensor(Float32Array.from({ length: 64 }, (_, i) => i));
    await x.mul(3).data(); // compiled
    device.profile = true;
    device.profileReplays = 2;
    device.resetStats();
    const y = x.mul(3);
    expect(Array.from(await y.data())).toEqual(Array.from({ length: 64 }, (_, i) => 3 * i));
    device.profile = false;
    const mul = Object.entries(device.stats().byKey ?? {}).find(([k]) => k.startsWith('binary:mul'))?.[1];
    expect(mul?.calls).toBe(1);
    expect(mul?.replayMs).toBeGreaterThan(0);
    await setDevice('reference');
  });

  it('a loop that awaits a read keeps the webgpu queue short', async () => {
    await setDevice('webgpu');
    const x = tensor(Float32Array.from({ length: 64 }, (_, i) => i));
    let longest = 0;
    for (let i = 0; i < 30; i++) {
      const y = x.mul(2).add(1).sum();
      await y.item();
      y.dispose();
      longest = Math.max(longest, (x.device as unknown as { queue: KernelQueue }).queue.length);
    }
    expect(longest).toBeLessThanOrEqual(4);
    await setDevice('reference');
  });
});

describe('FLASHGRAD_MAX_QUEUED', () => {
  it('defaults to 50,000 and refuses what is not an integer ≥ 1 (NaN would switch the limit off)', () => {
    expect(maxWaitingFromEnv(undefined)).toBe(50_000);
    expect(maxWaitingFromEnv('7')).toBe(7);
    for (const bad of ['abc', '0', '-3', '2.5', '']) {
      expect(() => maxWaitingFromEnv(bad), bad).toThrow(/FLASHGRAD_MAX_QUEUED must be an integer ≥ 1/);
    }
  });
});
