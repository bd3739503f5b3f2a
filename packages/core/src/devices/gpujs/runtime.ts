/**
 * Starting gpu.js in one named mode. Every mode is explicit: gpu.js's own 'gpu' mode silently
 * falls back to webasm when no GL context exists, so we never use it, and a mode that cannot start
 * throws an Error that says why and what to install.
 */
import { constants as bufferConstants } from 'node:buffer';
import { gpujs, requireFromGpujs } from './gpujs-module.js';

export type GpujsMode = 'webgpu' | 'wasm' | 'cpu' | 'headlessgl';
export const gpujsModes: readonly GpujsMode[] = ['webgpu', 'wasm', 'cpu', 'headlessgl'];

/** The slice of a gpu.js kernel object we touch (its .d.ts predates the webasm/webgpu modes). */
export interface GpujsKernelObject {
  constructor: { mode: string };
  fallbackReason?: string | null;
  /** webgpu: set once the asynchronous first build is done. */
  built?: boolean;
  /** webgpu (patched gpu.js): a built pipeline kernel's call, answered with the result handle itself, no Promise. */
  runSync?: (...args: unknown[]) => unknown;
  /** webgpu (patched gpu.js): frees the output buffer, keeps the compiled pipeline. */
  releaseOutputBuffer?: () => void;
}

/** A compiled gpu.js kernel: calling it runs it (a Promise on webgpu and threaded wasm). */
export interface GpujsKernel {
  (...args: unknown[]): unknown;
  kernel: GpujsKernelObject;
  destroy(): void;
}

export interface GpujsInstance {
  createKernel(source: string, settings: Record<string, unknown>): GpujsKernel;
  destroy(): unknown;
}

/** Minimal Dawn device surface: enough to wait for submitted work. */
interface DawnDevice {
  queue: { onSubmittedWorkDone(): Promise<void> };
  limits: {
    maxStorageBufferBindingSize: number; maxBufferSize: number; maxComputeWorkgroupStorageSize: number;
    maxComputeInvocationsPerWorkgroup: number; maxComputeWorkgroupSizeX: number;
  };
}

export interface Runtime {
  mode: GpujsMode;
  /** The gpu.js mode string the instance was created with. */
  gpujsMode: string;
  gpu: GpujsInstance;
  /** Largest buffer in elements. */
  maxElements: number;
  /** webgpu: the most threads a workgroup may have along x (the device's limits); absent elsewhere. */
  maxWorkgroupX?: number;
  /** What the mode runs on, for logs and benchmark tables. */
  description: string;
  /** webgpu only: submits the kernel calls recorded so far and resolves when the GPU has finished them. */
  drain?: () => Promise<void>;
  /** webgpu only: the adapter is a software rasterizer (memory is the host's). */
  software?: boolean;
  /** webgpu only: bytes of workgroup memory a kernel may declare (the device's limit, which gpu.js requests at the adapter's). */
  workgroupBytes?: number;
}

const { GPU } = gpujs as { GPU: new (settings: { mode: string }) => GpujsInstance };

/**
 * Index arithmetic in gpu.js's GL translation is float32, exact for flat indices below 2^24: we
 * cap headlessgl's buffers there rather than return wrong elements silently. The patched WGSL and
 * webasm translations keep integer indices i32, and the cpu mode indexes in float64.
 */
export const INDEX_EXACT_LIMIT = 2 ** 24;

/**
 * webasm, with our gpu.js patch, keeps integer locals, loop counters and Math.floor(i / d) in i32,
 * so indices are exact as far as 32-bit wasm memory reaches: 4 GiB, less the 1 MiB of working
 * space gpu.js adds to every kernel's memory. That is the most one buffer can be; a kernel's
 * memory holds its inputs and output together, and gpu.js names the bytes when they pass 4 GiB.
 */
export const WASM_MAX_ELEMENTS = (2 ** 32 - 2 ** 20) / 4 - 4;

/**
 * The cpu mode indexes in float64 JavaScript numbers (exact to 2^53), so its limit is the largest
 * Float32Array Node allocates: buffer.constants.MAX_LENGTH bytes (4 GiB on Node 20).
 */
export const CPU_MAX_ELEMENTS = Math.floor(bufferConstants.MAX_LENGTH / 4);

export async function startRuntime(mode: GpujsMode): Promise<Runtime> {
  switch (mode) {
    case 'cpu':
      return { mode, gpujsMode: 'cpu', gpu: new GPU({ mode: 'cpu' }), maxElements: CPU_MAX_ELEMENTS, description: 'gpu.js cpu (JavaScript)' };
    case 'wasm':
      return startWasm();
    case 'webgpu':
      return startWebgpu();
    case 'headlessgl':
      return startHeadlessgl();
    default:
      throw new Error(`gpujs: unknown mode '${String(mode)}'; choose one of ${gpujsModes.join(', ')}`);
  }
}

function startWasm(): Runtime {
  if (typeof WebAssembly !== 'object') {
    throw new Error('gpujs wasm: this JavaScript runtime has no WebAssembly');
  }
  const threads = typeof SharedArrayBuffer !== 'undefined';
  return {
    mode: 'wasm',
    gpujsMode: 'webasm',
    gpu: new GPU({ mode: 'webasm' }),
    maxElements: WASM_MAX_ELEMENTS,
    description: `gpu.js webasm (SIMD${threads ? ', worker threads' : ', no threads: SharedArrayBuffer missing'})`,
  };
}

function startHeadlessgl(): Runtime {
  // gpu.js requires 'gl' from its own folder; pnpm 10 installs it but skips its native build
  let createGl: ((w: number, h: number) => unknown) | undefined;
  let why = '';
  try {
    createGl = requireFromGpujs('gl') as (w: number, h: number) => unknown;
  } catch (err) {
    why = (err as Error).message.split('\n')[0];
  }
  const context = createGl?.(1, 1);
  if (!context) {
    throw new Error(
      "gpujs headlessgl needs the 'gl' native addon, which is not built here" +
      (why ? ` (${why})` : ' (it loaded but could not create a context: is an X server running?)') +
      ". To build it: `apt-get install -y build-essential python3 libxi-dev libglu1-mesa-dev libglew-dev pkg-config xvfb`, " +
      'then `pnpm approve-builds` (select gl) and `pnpm rebuild gl` at the repository root; run under an X server, ' +
      'e.g. `xvfb-run -s "-screen 0 1x1x24" node …`.',
    );
  }
  return {
    mode: 'headlessgl',
    gpujsMode: 'headlessgl',
    gpu: new GPU({ mode: 'headlessgl' }),
    maxElements: INDEX_EXACT_LIMIT,
    description: 'gpu.js headlessgl (OpenGL through headless-gl)',
  };
}

interface DawnChoice {
  flags: string[];
  featureLevel: string;
}

type DawnCreate = (flags: string[]) => { requestAdapter(o?: object): Promise<DawnAdapter | null> };
interface DawnAdapter {
  info: { description?: string; vendor?: string; architecture?: string; type?: string; isFallbackAdapter?: boolean };
  isFallbackAdapter?: boolean;
}

async function loadDawn(): Promise<DawnCreate> {
  try {
    const webgpu = (await import('webgpu')) as unknown as { create: DawnCreate; globals: object };
    // gpu.js reads GPUBufferUsage & co. from the global scope, as in a browser
    Object.assign(globalThis, webgpu.globals);
    return webgpu.create;
  } catch (err) {
    throw new Error(`gpujs webgpu: the 'webgpu' package (Dawn for Node) did not load: ${(err as Error).message}. ` +
      'Install it with `pnpm install` (it is a dependency of @flashgrad/core, pinned to 0.6.2).');
  }
}

/** A software rasterizer answering as a GPU does not count as one. */
function isSoftwareAdapter(adapter: DawnAdapter): boolean {
  const info = adapter.info ?? {};
  const text = `${info.description ?? ''} ${info.vendor ?? ''} ${info.architecture ?? ''}`;
  return info.type === 'cpu' || info.isFallbackAdapter === true || adapter.isFallbackAdapter === true ||
    /llvmpipe|lavapipe|softpipe|swiftshader|software/i.test(text);
}

/** True only when a real (not software) WebGPU adapter answers over Vulkan. */
export async function probeRealGpu(): Promise<{ ok: boolean; reason: string }> {
  let create: DawnCreate;
  try {
    create = await loadDawn();
  } catch (err) {
    return { ok: false, reason: (err as Error).message };
  }
  try {
    const adapter = await create(['backend=vulkan']).requestAdapter({ featureLevel: 'core' });
    if (!adapter) return { ok: false, reason: 'no Vulkan WebGPU adapter answered (no GPU, or libvulkan missing)' };
    const name = adapter.info?.description || adapter.info?.vendor || 'unnamed adapter';
    if (isSoftwareAdapter(adapter)) return { ok: false, reason: `only a software adapter answered (${name})` };
    return { ok: true, reason: `WebGPU adapter over Vulkan: ${name}` };
  } catch (err) {
    return { ok: false, reason: `Vulkan WebGPU probe failed: ${(err as Error).message}` };
  }
}

async function chooseDawn(): Promise<DawnChoice> {
  const envFlags = process.env.DAWN_FLAGS;
  const envLevel = process.env.WGPU_FEATURE_LEVEL;
  if (envFlags !== undefined) {
    const flags = envFlags.split(',').map((f) => f.trim()).filter(Boolean);
    const gles = flags.some((f) => /backend=opengles|backend=gl/.test(f));
    return { flags, featureLevel: envLevel ?? (gles ? 'compatibility' : 'core') };
  }
  const probe = await probeRealGpu();
  if (probe.ok) return { flags: ['backend=vulkan'], featureLevel: envLevel ?? 'core' };
  return { flags: ['backend=opengles'], featureLevel: envLevel ?? 'compatibility' };
}

/**
 * Dawn's robustness pass clamps every array index; with this toggle it first bounds the index by
 * integer range analysis and drops the clamp where no access can fall outside (a tiled kernel's
 * shared-memory reads, indexed by loop counters and local ids). It was on by default on the
 * OpenGL ES backend here; asked for by name so that no backend's default decides.
 */
const RANGE_ANALYSIS_TOGGLE = 'enable_integer_range_analysis_in_robustness';

/** `flags` with the toggle enabled: added to an `enable-dawn-features=` list, or as one; kept out if named anywhere already. */
export function withRangeAnalysis(flags: string[]): string[] {
  if (flags.some((f) => f.includes(RANGE_ANALYSIS_TOGGLE))) return flags;
  const at = flags.findIndex((f) => f.startsWith('enable-dawn-features='));
  if (at === -1) return [...flags, `enable-dawn-features=${RANGE_ANALYSIS_TOGGLE}`];
  return flags.map((f, i) => (i === at ? `${f},${RANGE_ANALYSIS_TOGGLE}` : f));
}

/**
 * Kernel calls a webgpu batch records before it submits them: gpu.js's 64. A smaller bound starts
 * the GPU sooner in a step (at `small` B64 the host records a call in ~0.13 ms: 16 calls start it
 * after ~2 ms where 64 take ~8.6) for more submissions (8–20 µs each); on the H200 (BENCHMARKS.md,
 * session 6, run 3) small B64's step measured the same at both (64: 72.4 ms; 16: 71.9 and 73.1),
 * so the default stays. FLASHGRAD_SUBMIT_LIMIT sets another (benchmarks compare them in one run).
 */
export const SUBMIT_LIMIT = 64;

export function submitLimit(env: string | undefined = process.env.FLASHGRAD_SUBMIT_LIMIT): number {
  if (env === undefined || env === '') return SUBMIT_LIMIT;
  const n = Number(env);
  if (!Number.isInteger(n) || n < 1) throw new Error(`FLASHGRAD_SUBMIT_LIMIT must be a whole number of kernel calls ≥ 1, got '${env}'`);
  return n;
}

async function startWebgpu(): Promise<Runtime> {
  const create = await loadDawn();
  const chosen = await chooseDawn();
  const choice = { ...chosen, flags: withRangeAnalysis(chosen.flags) };
  // Mesa's EGL needs a platform without a display; the variable must be set before Dawn loads EGL
  if (choice.flags.some((f) => f.includes('opengles')) && process.env.EGL_PLATFORM === undefined) {
    process.env.EGL_PLATFORM = 'surfaceless';
  }
  const dawn = create(choice.flags);
  const adapter = await dawn.requestAdapter({ featureLevel: choice.featureLevel });
  if (!adapter) {
    throw new Error(`gpujs webgpu: no WebGPU adapter answered with Dawn flags [${choice.flags.join(', ')}] and ` +
      `featureLevel '${choice.featureLevel}'. Without a GPU use DAWN_FLAGS=backend=opengles ` +
      'WGPU_FEATURE_LEVEL=compatibility EGL_PLATFORM=surfaceless (needs Mesa: apt libegl1 libgles2 libgl1-mesa-dri); ' +
      'with one, DAWN_FLAGS=backend=vulkan (needs libvulkan1 and the driver).');
  }
  const g = globalThis as { navigator?: unknown };
  // gpu.js reads navigator.gpu as a browser would; Node 20 has no navigator at all
  Object.defineProperty(globalThis, 'navigator', {
    value: {
      ...(typeof g.navigator === 'object' ? g.navigator : {}),
      gpu: { requestAdapter: (o?: object) => dawn.requestAdapter({ featureLevel: choice.featureLevel, ...o }) },
    },
    configurable: true,
    writable: true,
  });
  // gpu.js keeps its WebGPU device in a module singleton; its kernels acquire it lazily on first
  // build, and we need the same device to size buffers and to wait on its queue.
  const { WebGPUContext } = requireFromGpujs('./src/backend/web-gpu/context.js') as {
    WebGPUContext: { acquire(): Promise<{ device: DawnDevice }>; flush?: () => void; setSubmitLimit(calls: number): void };
  };
  const { device } = await WebGPUContext.acquire();
  WebGPUContext.setSubmitLimit(submitLimit());
  const limitBytes = Math.min(device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize);
  const name = adapter.info?.description || adapter.info?.vendor || 'adapter';
  return {
    mode: 'webgpu',
    gpujsMode: 'webgpu',
    gpu: new GPU({ mode: 'webgpu' }),
    maxElements: Math.floor(limitBytes / 4),
    maxWorkgroupX: Math.min(device.limits.maxComputeInvocationsPerWorkgroup, device.limits.maxComputeWorkgroupSizeX),
    description: `gpu.js webgpu over Dawn [${choice.flags.join(', ')}] ${choice.featureLevel}: ${name}`,
    // gpu.js records kernel calls into one open command buffer; waiting on the queue alone would
    // wait for none of them
    drain: () => {
      WebGPUContext.flush?.();
      return device.queue.onSubmittedWorkDone();
    },
    software: isSoftwareAdapter(adapter),
    workgroupBytes: device.limits.maxComputeWorkgroupStorageSize,
  };
}
