/**
 * The patched gpu.js's WebGPU backend, on the adapter this machine has (llvmpipe through Dawn's
 * OpenGL ES backend without a GPU): integer indices, the adapter's limits, and the workgroup
 * features of patches/WORKGROUP-API.md. Each case is built so that the feature missing or wrong
 * gives a visibly wrong value: indices past 2^24 read neighbours when they are float, a shared-
 * memory reduction without its barriers or ids sums the wrong elements, and so on.
 */
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { createGpujsDevice } from '../packages/core/src/devices/gpujs/index.js';
import { SUBMIT_LIMIT, startRuntime, submitLimit, withRangeAnalysis, type GpujsInstance } from '../packages/core/src/devices/gpujs/runtime.js';

const device = await createGpujsDevice('webgpu');
const runtime = await startRuntime('webgpu');
const gpu: GpujsInstance = runtime.gpu;

/** Runs a gpu.js kernel (webgpu: a Promise of its result) and flattens what it returns. */
async function run(source: string, settings: Record<string, unknown>, ...args: unknown[]): Promise<Float32Array> {
  const kernel = gpu.createKernel(source, settings);
  try {
    return flat(await kernel(...args));
  } finally {
    kernel.destroy();
  }
}

/** gpu.js's nested rows (Float32Arrays at the innermost level) as one flat array. */
function flat(out: unknown): Float32Array {
  if (out instanceof Float32Array) return out;
  return Float32Array.from((out as unknown[]).flatMap((row) => Array.from(flat(row))));
}

/** First index where `got` differs from want(i), or -1. */
function firstMismatch(got: ArrayLike<number>, want: (i: number) => number): number {
  for (let i = 0; i < got.length; i++) if (got[i] !== want(i)) return i;
  return -1;
}

describe('webgpu: the submit limit', () => {
  it('the runtime sets gpu.js\'s batches to submit every SUBMIT_LIMIT calls; FLASHGRAD_SUBMIT_LIMIT overrides it, and a bad one is refused by name', () => {
    const { WebGPUContext } = createRequire(new URL('../packages/core/package.json', import.meta.url))('gpu.js') as { WebGPUContext: { submitLimit: number } };
    expect(WebGPUContext.submitLimit).toBe(process.env.FLASHGRAD_SUBMIT_LIMIT ? Number(process.env.FLASHGRAD_SUBMIT_LIMIT) : SUBMIT_LIMIT);
    expect(submitLimit(undefined)).toBe(SUBMIT_LIMIT);
    expect(submitLimit('64')).toBe(64);
    for (const bad of ['0', '2.5', 'many']) expect(() => submitLimit(bad)).toThrow(/^FLASHGRAD_SUBMIT_LIMIT must be a whole number of kernel calls ≥ 1, got/);
  });
});

describe('gpu.js webgpu: integer indices', () => {
  it('index expressions, floor division (negative operands too) and % are exact i32', async () => {
    // q·7 + r = x − 2^25 for a dividend near −2^25, where float32 is exact only to multiples of 4
    const n = 4096;
    const got = await run(`function () {
      const a = this.thread.x - 33554432;
      const q = Math.floor(a / 7);
      const r = a - q * 7;
      const m = a % 5;
      return r * 100 + (m + 4) * 10 + Math.floor(a / 8) - Math.floor((a - 7) / 8);
    }`, { output: [n] });
    const want = (x: number) => {
      const a = x - 33554432;
      return (a - Math.floor(a / 7) * 7) * 100 + ((a % 5) + 4) * 10 + Math.floor(a / 8) - Math.floor((a - 7) / 8);
    };
    expect(firstMismatch(got, want)).toBe(-1);
  });

  it('`/` stays fractional and float locals stay float', async () => {
    const got = await run(`function () {
      let s = 0; s += 0.25;
      let t = 0.5; t++;
      const h = this.thread.x / 2;
      return h + s + t;
    }`, { output: [8] });
    expect(Array.from(got)).toEqual([0, 1, 2, 3, 4, 5, 6, 7].map((x) => x / 2 + 1.75));
  });
});

describe('gpu.js webgpu: releaseOutputBuffer', () => {
  it('frees the output buffer, keeps the kernel; a result still held keeps its values, the next run writes a new buffer', async () => {
    type Handle = { buffer: object; toArray(): Promise<unknown>; delete(): void };
    const kernel = gpu.createKernel('function (x) { return x[this.thread.x] * 2; }', { output: [4], pipeline: true, immutable: false });
    try {
      const first = (await kernel(Float32Array.from([1, 2, 3, 4]))) as Handle;
      const inner = kernel.kernel as unknown as { releaseOutputBuffer(): void; outputBuffer: object | null; computePipeline: object | null };
      const pipeline = inner.computePipeline;
      inner.releaseOutputBuffer();
      expect(inner.outputBuffer).toBeNull();
      const second = (await kernel(Float32Array.from([10, 20, 30, 40]))) as Handle;
      // the same compiled pipeline, a new output buffer: the first result is not overwritten
      expect(inner.computePipeline).toBe(pipeline);
      expect(second.buffer).not.toBe(first.buffer);
      expect(Array.from(flat(await first.toArray()))).toEqual([2, 4, 6, 8]);
      expect(Array.from(flat(await second.toArray()))).toEqual([20, 40, 60, 80]);
      first.delete();
      second.delete();
    } finally {
      kernel.destroy();
    }
  });
});

describe('gpu.js webgpu: buffers past 2^24 elements', () => {
  // llvmpipe allows 128 MiB bindings = 2^25 floats
  const rows = 2 ** 15;
  const cols = 2 ** 10;
  const n = rows * cols;
  /** Index-dependent values, exact in float32: a float index reading a neighbour shows. */
  const value = (i: number) => (i % 1021) - 500;

  it('the device cap is the adapter binding size, not 2^24', () => {
    expect(device.maxElements).toBeGreaterThanOrEqual(n);
  });

  it('an elementwise op, a broadcast op and a row reduction over 2^25 elements are exact', async () => {
    const host = new Float32Array(n);
    for (let i = 0; i < n; i++) host[i] = value(i);
    const x = device.upload(host);
    const bias = device.upload(Float32Array.from({ length: cols }, (_, c) => c * 1000));
    const shifted = device.binary('add', { buf: x, shape: [n] }, 3, [n]);
    const broadcast = device.binary('add', { buf: x, shape: [rows, cols] }, { buf: bias, shape: [cols] }, [rows, cols]);
    const sums = device.reduce('sum', x, [rows, cols], [1]);
    const s = await device.read(shifted);
    expect(firstMismatch(s, (i) => value(i) + 3)).toBe(-1);
    const b = await device.read(broadcast);
    expect(firstMismatch(b, (i) => value(i) + (i % cols) * 1000)).toBe(-1);
    const r = await device.read(sums);
    // integer partial sums below 2^24: float32 adds them exactly in any order
    expect(firstMismatch(r, (row) => {
      let t = 0;
      for (let c = 0; c < cols; c++) t += value(row * cols + c);
      return t;
    })).toBe(-1);
    for (const buf of [x, bias, shifted, broadcast, sums]) device.dispose(buf);
  });
});

describe('Dawn flags', () => {
  it('ask for integer range analysis in the robustness pass, beside any toggles given, unless one names it', () => {
    const toggle = 'enable_integer_range_analysis_in_robustness';
    expect(withRangeAnalysis(['backend=vulkan'])).toEqual(['backend=vulkan', `enable-dawn-features=${toggle}`]);
    expect(withRangeAnalysis(['backend=vulkan', 'enable-dawn-features=dump_shaders'])).toEqual(['backend=vulkan', `enable-dawn-features=dump_shaders,${toggle}`]);
    expect(withRangeAnalysis(['backend=opengles', `disable-dawn-features=${toggle}`])).toEqual(['backend=opengles', `disable-dawn-features=${toggle}`]);
    expect(runtime.description).toContain(toggle);
  });
});

describe('gpu.js webgpu: workgroup features', () => {
  it('a workgroup sums 256 values through shared memory, ids and barriers', async () => {
    const groups = 37;
    const a = Float32Array.from({ length: groups * 256 }, (_, i) => (i * 7919) % 1009);
    // each thread adds 4 strided values into tile[l]; a tree over the tile, one barrier a level
    const got = await run(`function (a) {
      const l = this.localThread.x;
      const base = this.workgroup.x * 256;
      tile[l] = a[base + l] + a[base + l + 64] + a[base + l + 128] + a[base + l + 192];
      workgroupBarrier();
      for (let s = 32; s > 0; s = s >> 1) {
        if (l < s) { tile[l] = tile[l] + tile[l + s]; }
        workgroupBarrier();
      }
      if (l == 0) { storeResult(this.workgroup.x, tile[0]); }
    }`, { output: [groups], workgroupSize: [64], dispatch: [groups], workgroupArrays: { tile: 64 } }, a);
    expect(firstMismatch(got, (g) => a.slice(g * 256, (g + 1) * 256).reduce((x, y) => x + y, 0))).toBe(-1);
  });

  it('a loop bounded by this.workgroup holds barriers: the workgroup id is uniform to Tint', async () => {
    // workgroup w sums w + 1 entries of a shared tile, a barrier each round: a trip count that
    // differs between workgroups and is uniform within one (Dawn rejects the kernel otherwise)
    const groups = 5;
    const got = await run(`function () {
      const l = this.localThread.x;
      const w = this.workgroup.x;
      tile[l] = l * (w + 1);
      workgroupBarrier();
      let acc = 0.0;
      for (let round = 0; round < w + 1; round++) {
        acc += tile[(l + round) % 32];
        workgroupBarrier();
      }
      storeResult(w * 32 + l, acc);
    }`, { output: [groups * 32], workgroupSize: [32], dispatch: [groups], workgroupArrays: { tile: 32 } });
    expect(firstMismatch(got, (i) => {
      const [w, l] = [Math.floor(i / 32), i % 32];
      let sum = 0;
      for (let round = 0; round <= w; round++) sum += ((l + round) % 32) * (w + 1);
      return sum;
    })).toBe(-1);
  });

  it('continue in a loop with a computed start still runs the update', async () => {
    // a loop whose init is not a literal takes gpu.js's guarded form (LOOP_MAX); there a continue
    // skipped the update appended to the body, so i stuck at its first even value
    const got = await run(`function () {
      let acc = 0;
      for (let i = this.thread.x; i < 20; i++) {
        if (i % 2 == 0) { continue; }
        acc += i;
      }
      return acc;
    }`, { output: [8] });
    expect(firstMismatch(got, (x) => {
      let acc = 0;
      for (let i = x; i < 20; i++) if (i % 2 === 1) acc += i;
      return acc;
    })).toBe(-1);
  });

  it('each thread stores 4 outputs; stores past the output are dropped', async () => {
    // 16 workgroups of 64 threads store 4096 values into an output of 4003
    const n = 4003;
    const got = await run(`function () {
      const i = this.thread.x * 4;
      for (let c = 0; c < 4; c++) { storeResult(i + c, (i + c) * 3 + 1); }
      storeResult(-1, 99);
    }`, { output: [n], workgroupSize: [64], dispatch: [16] });
    expect(got.length).toBe(n);
    expect(firstMismatch(got, (i) => i * 3 + 1)).toBe(-1);
  });

  it('a 2D workgroup grid: thread, localThread and workgroup ids agree', async () => {
    const got = await run(`function () {
      const x = this.workgroup.x * 8 + this.localThread.x;
      const y = this.workgroup.y * 4 + this.localThread.y;
      storeResult(y * 24 + x, (this.thread.x - x) * 1000 + (this.thread.y - y) * 100 + x + y * 24);
    }`, { output: [24, 12], workgroupSize: [8, 4], dispatch: [3, 3] });
    expect(firstMismatch(got, (i) => i)).toBe(-1);
  });

  it('workgroupSize without dispatch: implicit outputs, ids per workgroup', async () => {
    const got = await run(`function () { return this.localThread.x + 10 * this.workgroup.y + 100 * this.localThread.y; }`,
      { output: [3, 4], workgroupSize: [2, 2] });
    expect(Array.from(got)).toEqual([0, 1, 0, 100, 101, 100, 10, 11, 10, 110, 111, 110]);
  });

  it('a vec4 argument reads 4 floats at once: b[i] a 4-vector, b[i][c] one float', async () => {
    const b = Float32Array.from({ length: 64 }, (_, i) => i * i);
    const got = await run(`function (b) {
      const q = b[this.thread.x];
      const i = this.thread.x * 4;
      storeResult(i, q[0]); storeResult(i + 1, q[1]); storeResult(i + 2, q[2]); storeResult(i + 3, b[this.thread.x][3]);
    }`, { output: [64], workgroupSize: [4], dispatch: [4], vec4Arguments: ['b'] }, b);
    expect(Array.from(got)).toEqual(Array.from(b));
  });

  it('a vec4 workgroup array: whole 4-vectors and single components, shared across the workgroup', async () => {
    const got = await run(`function (b) {
      const l = this.localThread.x;
      t[l] = b[l];
      t[l][1] = b[l][1] * 10.0;
      workgroupBarrier();
      const q = t[(l + 1) % 4];
      for (let c = 0; c < 4; c++) { storeResult(l * 4 + c, q[c]); }
    }`, { output: [16], workgroupSize: [4], dispatch: [1], vec4Arguments: ['b'], workgroupArrays: { t: { type: 'vec4', length: 4 } } },
    Float32Array.from({ length: 16 }, (_, i) => i));
    // thread l stores its neighbour's vector, component 1 scaled by the neighbour
    expect(Array.from(got)).toEqual([4, 50, 6, 7, 8, 90, 10, 11, 12, 130, 14, 15, 0, 10, 2, 3]);
  });

  it('indices Tint can bound reach it as such: consts are lets, local ids the builtin, integer indices bare i32', async () => {
    // Tint's robustness clamps an array index unless integer range analysis bounds it, and the
    // analysis sees through lets, loop counters, builtins and + * >>, not vars, the private
    // mirror of the ids or an i32() conversion: each of those put a min() into every shared read
    const kernel = gpu.createKernel(`function (a) {
      const l = this.localThread.x;
      const base = this.workgroup.x * 64;
      tile[l] = a[base + l];
      workgroupBarrier();
      let s = 0.0;
      for (let k = 0; k < 8; k++) { s += tile[k * 8 + (l >> 3)]; }
      storeResult(base + l, s);
    }`, { output: [128], workgroupSize: [64], dispatch: [2], workgroupArrays: { tile: 64 } });
    try {
      const a = Float32Array.from({ length: 128 }, (_, i) => i);
      const got = flat(await kernel(a));
      // thread l of group g sums the tile's column l >> 3: 8·64g + 8·(l >> 3) + 8·28
      expect(firstMismatch(got, (i) => 8 * (i - (i % 64)) + 8 * ((i % 64) >> 3) + 224)).toBe(-1);
      const wgsl = (kernel as unknown as { compiledSource: string }).compiledSource;
      expect(wgsl).toContain('let user_l : i32 = i32(lid.x);');
      expect(wgsl).toContain('let user_base : i32 = (i32(wid.x)*64);');
      expect(wgsl).toContain('wg_tile[((user_k*8)+(user_l >> u32(3)))]');
      expect(wgsl).toContain('var user_s : f32');
    } finally {
      kernel.destroy();
    }
  });

  it('stores past 2^24 through integer indices land on their own element', async () => {
    const n = 2 ** 25;
    // 2^23 threads × 4 stores; a float32 index would merge neighbours past 2^24
    const got = await run(`function () {
      const i = (this.thread.x + this.thread.y * 65536) * 4;
      for (let c = 0; c < 4; c++) { storeResult(i + c, (i + c) % 1021); }
    }`, { output: [n], workgroupSize: [256], dispatch: [256, 128] });
    expect(firstMismatch(got, (i) => i % 1021)).toBe(-1);
  });

  it("createPipeline's kernel clone keeps the workgroup settings", async () => {
    const kernel = gpu.createKernel(`function (a) { storeResult(this.thread.x, a[this.thread.x] * 2); }`,
      { output: [8], workgroupSize: [8], dispatch: [1] });
    const pipeline = (gpu as unknown as { createPipeline(fn: (a: unknown) => unknown): ((a: Float32Array) => Promise<unknown>) & { destroy(): void } })
      .createPipeline((a) => kernel(a));
    try {
      // the pipeline runs a clone built from the kernel's settings: without dispatch it would not compile
      expect(Array.from(flat(await pipeline(Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8]))))).toEqual([2, 4, 6, 8, 10, 12, 14, 16]);
    } finally {
      pipeline.destroy();
      kernel.destroy();
    }
  });

  it('clear errors: barriers need dispatch and no return; limits; vec4 lengths', async () => {
    await expect(run(`function () { workgroupBarrier(); return 1; }`, { output: [4] }))
      .rejects.toThrow(/workgroupBarrier\(\) needs the dispatch setting/);
    await expect(run(`function () { if (this.thread.x > 2) { return; } workgroupBarrier(); storeResult(0, 1); }`, { output: [4], dispatch: [1] }))
      .rejects.toThrow(/must not return early/);
    await expect(run(`function () { return 1; }`, { output: [4], dispatch: [1] })).rejects.toThrow(/returns nothing: write with storeResult/);
    await expect(run(`function () { storeResult(0, 1); }`, { output: [4], dispatch: [1], workgroupSize: [4096] }))
      .rejects.toThrow(/workgroupSize \[4096, 1, 1\].*over this device's limits/);
    await expect(run(`function () { t[0] = 1; storeResult(0, t[0]); }`, { output: [4], dispatch: [1], workgroupArrays: { t: 1 << 20 } }))
      .rejects.toThrow(/4194304 bytes of workgroup memory/);
    await expect(run(`function (b) { storeResult(0, b[0][1]); }`, { output: [4], dispatch: [1], vec4Arguments: ['b'] }, new Float32Array(6)))
      .rejects.toThrow(/"b" is in vec4Arguments but has 6 values/);
  });

  it('cpu and webasm refuse the workgroup settings by name', async () => {
    for (const mode of ['cpu', 'wasm'] as const) {
      const other = await startRuntime(mode);
      try {
        expect(() => other.gpu.createKernel('function () { return 1; }', { output: [4], workgroupSize: [4] }))
          .toThrow(`the 'workgroupSize' setting is only supported in webgpu mode, not in ${mode === 'wasm' ? 'webasm' : 'cpu'} mode`);
        expect(() => other.gpu.createKernel('function () { storeResult(0, 1); }', { output: [4], dispatch: [1] }))
          .toThrow(/'dispatch' setting is only supported in webgpu mode/);
      } finally {
        await other.gpu.destroy();
      }
    }
  });
});

describe('webgpu device: views', () => {
  const n = 1000;
  const m = 600;
  const values = (shift: number) => Float32Array.from({ length: n }, (_, i) => i * 3 + shift);

  it('a view reads and binds as its elements, and outlives its parent: the parent instance is not reused while it lives', async () => {
    const before = device.memory();
    const x = device.upload(values(0));
    const y = device.binary('add', { buf: x, shape: [n] }, 1, [n]);
    const head = device.view!(y, 0, m);
    const tail = device.view!(y, 192, n - 192); // starts at byte 768: bound at an offset
    expect([head.size, tail.size]).toEqual([m, n - 192]);
    const doubled = device.binary('mul', { buf: head, shape: [m] }, 2, [m]);
    const shifted = device.binary('add', { buf: tail, shape: [n - 192] }, 0.5, [n - 192]);
    // the parent goes first; the same kernel called again would take its instance and overwrite
    // its buffer if the views did not hold it
    device.dispose(y);
    const x2 = device.upload(values(5000));
    const other = device.binary('add', { buf: x2, shape: [n] }, 1, [n]);
    expect(Array.from(await device.read(other))).toEqual(Array.from(values(5001)));
    expect(Array.from(await device.read(head))).toEqual(Array.from(values(1).subarray(0, m)));
    expect(Array.from(await device.read(tail))).toEqual(Array.from(values(1).subarray(192)));
    expect(Array.from(await device.read(doubled))).toEqual(Array.from(values(1).subarray(0, m), (v) => 2 * v));
    expect(Array.from(await device.read(shifted))).toEqual(Array.from(values(1).subarray(192), (v) => v + 0.5));
    // views own no bytes: the parent's are counted until the last view goes
    const live = (floats: number) => expect(device.memory().bytes - before.bytes).toBe(4 * floats);
    live(n + n + m + (n - 192) + n + n); // x, y, doubled, shifted, x2, other
    device.dispose(head);
    live(n + n + m + (n - 192) + n + n);
    device.dispose(tail);
    live(n + m + (n - 192) + n + n);
    for (const b of [x, doubled, shifted, x2, other]) device.dispose(b);
    expect(device.memory().buffers).toBe(before.buffers);
    expect(device.memory().bytes).toBe(before.bytes);
  });

  it('refuses ranges outside the buffer and offsets off the 64-element alignment, naming them', () => {
    const x = device.upload(values(0));
    expect(() => device.view!(x, 0, n + 1)).toThrow(`view of elements [0, ${n + 1}) of a buffer of ${n}`);
    expect(() => device.view!(x, 0, 0)).toThrow('1 or more elements');
    expect(() => device.view!(x, 960, 64)).toThrow('[960, 1024)');
    expect(() => device.view!(x, 32, 64)).toThrow('a multiple of 64');
    device.dispose(x);
  });
});
