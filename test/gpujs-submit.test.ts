/**
 * gpu.js's webgpu backend, patched to record consecutive kernel calls into one command encoder
 * (node_modules/gpu.js/src/backend/web-gpu/command-batch.js): these test gpu.js itself, below our
 * engine. What batching must not break: uploads stay ordered with the dispatches that read them
 * (queue.writeBuffer would run before the whole batch), a buffer deleted after its last use lives
 * until that use is submitted, a readback submits the calls it depends on, a long un-awaited chain
 * submits at the submit limit, and a submission WebGPU rejects fails the readback instead of reading
 * zeros. Runs on whatever adapter the engine picks (Mesa llvmpipe through OpenGL ES here).
 */
import fc from 'fast-check';
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRuntime, type Runtime } from '../packages/core/src/devices/gpujs/runtime.js';
import { runs } from './helpers/arbitraries.js';

interface Handle {
  buffer: { destroy(): void };
  toArray(): Promise<Float32Array>;
  delete(): void;
}
type Kernel = ((...args: unknown[]) => Promise<Handle>) & {
  kernel: { runSync(...args: unknown[]): Handle; built: boolean };
  destroy(): void;
};
interface GpujsModule {
  WebGPUContext: {
    acquire(): Promise<{ device: { queue: { submit(buffers: unknown[]): void } } }>;
    flush(): void;
    setSubmitLimit(calls: number): void;
    submitLimit: number;
  };
}

const gpujs = createRequire(new URL('../packages/core/package.json', import.meta.url))('gpu.js') as GpujsModule;
const { WebGPUContext } = gpujs;

let rt: Runtime | null = null;
let startError = '';
try {
  rt = await startRuntime('webgpu');
} catch (err) {
  startError = (err as Error).message;
}

/** Counts queue.submit calls (each batch is one), by wrapping the shared device's queue. */
let submits = 0;
const macrotask = () => new Promise<void>((resolve) => setImmediate(resolve));

const pipelineSettings = (output: number[], extra: Record<string, unknown> = {}) => ({
  output, pipeline: true, immutable: false, precision: 'single', ...extra,
});

describe.runIf(rt !== null)(`gpu.js webgpu: one submission for many kernels (${rt?.description ?? startError})`, () => {
  const gpu = rt!.gpu as unknown as { createKernel(source: string, settings: object): Kernel };
  const kernels: Kernel[] = [];
  const make = (source: string, settings: object): Kernel => {
    const k = gpu.createKernel(source, settings);
    kernels.push(k);
    return k;
  };
  const defaultLimit = WebGPUContext.submitLimit;

  beforeAll(async () => {
    const { device } = await WebGPUContext.acquire();
    const queue = device.queue;
    const submit = queue.submit.bind(queue);
    queue.submit = (buffers: unknown[]) => {
      submits++;
      submit(buffers);
    };
  });
  afterAll(() => {
    WebGPUContext.setSubmitLimit(defaultLimit);
    for (const k of kernels) k.destroy();
  });

  /** Builds `k` (its first call is asynchronous); the readback leaves nothing unsubmitted. */
  async function warm(k: Kernel, ...args: unknown[]): Promise<void> {
    await (await k(...args)).toArray();
  }

  it('the same kernel twice in one batch, on different host inputs, gives both answers', async () => {
    const twice = make('function (a) { return a[this.thread.x] * 2; }', pipelineSettings([4], { immutable: true }));
    await warm(twice, [0, 0, 0, 0]);
    const s0 = submits;
    const first = twice([10, 20, 30, 40]);
    const second = twice([1, 2, 3, 4]);
    // both calls are still unsubmitted: only then can the second upload overtake the first's
    expect(submits).toBe(s0);
    const [a, b] = await Promise.all([(await first).toArray(), (await second).toArray()]);
    expect(Array.from(a)).toEqual([20, 40, 60, 80]);
    expect(Array.from(b)).toEqual([2, 4, 6, 8]);
  });

  it('params differ per call within one batch (scalars and input sizes)', async () => {
    const scale = make('function (a, s) { return a[this.thread.x] * s + this.thread.x; }',
      pipelineSettings([8], { immutable: true, dynamicArguments: true }));
    const x = [1, 2, 3, 4, 5, 6, 7, 8];
    await warm(scale, x, 1);
    await fc.assert(fc.asyncProperty(
      fc.array(fc.integer({ min: -50, max: 50 }), { minLength: 2, maxLength: 12 }),
      async (scalars) => {
        const s0 = submits;
        const pending = scalars.map((s) => scale(x, s));
        expect(submits).toBe(s0);
        const got = await Promise.all(pending.map(async (p) => Array.from(await (await p).toArray())));
        got.forEach((values, i) => expect(values).toEqual(x.map((v, j) => v * scalars[i] + j)));
      }), runs(8));
  });

  it('a buffer deleted after its last use is not destroyed before that use is submitted', async () => {
    const produce = make('function () { return this.thread.x + 1; }', pipelineSettings([16], { immutable: true }));
    const consume = make('function (a) { return a[this.thread.x] * 3; }', pipelineSettings([16]));
    const warmInput = await produce();
    await warm(consume, warmInput);
    warmInput.delete();
    const s0 = submits;
    const p = await produce();
    const c = await consume(p);
    // p's only reader is recorded, not submitted; deleting the handle and producing the next
    // output drops p's buffer's last reference, and its destruction must wait for the submit
    p.delete();
    const next = await produce();
    expect(submits).toBe(s0);
    const values = await c.toArray();
    expect(Array.from(values)).toEqual(Array.from({ length: 16 }, (_, i) => (i + 1) * 3));
    next.delete();
  });

  it('a readback submits the calls recorded before it, in one submission', async () => {
    const inc = make('function (a) { return a[this.thread.x] + 1; }', pipelineSettings([64]));
    const inc2 = make('function (a) { return a[this.thread.x] + 1; }', pipelineSettings([64]));
    const x = await make('function () { return this.thread.x; }', pipelineSettings([64]))();
    await warm(inc, x);
    await warm(inc2, await inc(x));
    const s0 = submits;
    let y = await inc(x);
    for (let i = 0; i < 5; i++) y = await (i % 2 === 0 ? inc2 : inc)(y);
    expect(submits).toBe(s0);
    const read = y.toArray();
    // submitted synchronously by the readback itself, not by a later macrotask
    expect(submits).toBe(s0 + 1);
    expect(Array.from(await read)).toEqual(Array.from({ length: 64 }, (_, i) => i + 6));
  });

  it('a long chain of calls that is never awaited submits at the submit limit, then on the next macrotask', async () => {
    const limit = 8;
    WebGPUContext.setSubmitLimit(limit);
    try {
      const a = make('function (a) { return a[this.thread.x] * 0.5 + 1; }', pipelineSettings([32]));
      const b = make('function (a) { return a[this.thread.x] * 0.5 + 1; }', pipelineSettings([32]));
      const x = await make('function () { return this.thread.x; }', pipelineSettings([32]))();
      await warm(a, x);
      await warm(b, await a(x));
      const calls = 21;
      const s0 = submits;
      // runSync: no Promise, no microtask between the calls, so nothing but the bound can submit
      let y = a.kernel.runSync(x);
      for (let i = 1; i < calls; i++) y = (i % 2 === 0 ? a : b).kernel.runSync(y);
      expect(submits).toBe(s0 + Math.floor(calls / limit));
      await macrotask();
      expect(submits).toBe(s0 + Math.ceil(calls / limit));
      let expected = Array.from({ length: 32 }, (_, i) => i);
      for (let i = 0; i < calls; i++) expected = expected.map((v) => v * 0.5 + 1);
      const got = await y.toArray();
      got.forEach((v, i) => expect(v).toBeCloseTo(expected[i], 5));
    } finally {
      WebGPUContext.setSubmitLimit(defaultLimit);
    }
  });

  it('a kernel fed alternating buffers reads the one it was given at every call (bind groups are cached per buffer set)', async () => {
    const n = 8;
    const fill = make('function (v) { return v + this.thread.x; }', pipelineSettings([n], { immutable: true }));
    // one output buffer, so only the input buffers tell the bind groups apart
    const sum = make('function (a, b) { return a[this.thread.x] * 10 + b[this.thread.x]; }', pipelineSettings([n]));
    const sources: Handle[] = [];
    for (let v = 0; v < 4; v++) sources.push(await fill(v * 100));
    await warm(sum, sources[0], sources[1]);
    await fc.assert(fc.asyncProperty(
      fc.array(fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 3 })), { minLength: 2, maxLength: 16 }),
      async (pairs) => {
        const got: number[][] = [];
        for (const [i, j] of pairs) got.push(Array.from(await (await sum(sources[i], sources[j])).toArray()));
        got.forEach((values, c) => {
          const [i, j] = pairs[c];
          expect(values).toEqual(Array.from({ length: n }, (_, x) => (i * 100 + x) * 10 + j * 100 + x));
        });
      }), runs(10));
    for (const h of sources) h.delete();
  });

  it('host uploads between dispatches of one batch land between them (a copy splits the compute pass)', async () => {
    const n = 16;
    const addInput = make('function (a, b) { return a[this.thread.x] + b[this.thread.x]; }', pipelineSettings([n], { immutable: true }));
    const seed = await make('function () { return 0; }', pipelineSettings([n]))();
    await warm(addInput, seed, new Float32Array(n));
    const s0 = submits;
    // every call uploads into the same argument buffer, which the previous call's dispatch reads
    let acc = await addInput(seed, new Float32Array(n).fill(1));
    for (let k = 2; k <= 6; k++) acc = await addInput(acc, new Float32Array(n).fill(k));
    expect(submits).toBe(s0);
    expect(Array.from(await acc.toArray())).toEqual(new Array(n).fill(21));
  });

  it('a submission WebGPU rejects fails the readback instead of resolving zeros', async () => {
    const produce = make('function () { return this.thread.x + 1; }', pipelineSettings([16], { immutable: true }));
    const consume = make('function (a) { return a[this.thread.x] * 3; }', pipelineSettings([16]));
    const warmInput = await produce();
    await warm(consume, warmInput);
    warmInput.delete();
    const p = await produce();
    const c = await consume(p);
    // behind gpu.js's back: the recorded call now references a destroyed buffer
    p.buffer.destroy();
    const errors: unknown[] = [];
    const log = console.error;
    console.error = (...args: unknown[]) => errors.push(args);
    try {
      await expect(c.toArray()).rejects.toThrow(/WebGPU rejected a batched submission/);
    } finally {
      console.error = log;
    }
    expect(errors.length).toBeGreaterThan(0);
    // the failure is reported once; the device keeps working
    const again = await consume(await produce());
    expect(Array.from(await again.toArray())).toEqual(Array.from({ length: 16 }, (_, i) => (i + 1) * 3));
  });

  it('runSync needs a built pipeline kernel and says so', () => {
    const k = make('function (a) { return a[this.thread.x]; }', pipelineSettings([4]));
    expect(() => k.kernel.runSync([1, 2, 3, 4])).toThrow(/runSync needs a built kernel/);
    expect(() => WebGPUContext.setSubmitLimit(0)).toThrow(/submit limit must be an integer number of calls ≥ 1, got 0/);
  });
});

it.runIf(rt === null)('gpu.js webgpu did not start', () => {
  throw new Error(`gpu.js webgpu must start for these tests (Mesa llvmpipe without a GPU): ${startError}`);
});
