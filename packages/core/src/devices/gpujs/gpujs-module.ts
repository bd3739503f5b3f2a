/**
 * Where gpu.js comes from. flashgrad runs on a patched gpu.js 2.24.1 (patches/README.md lists the
 * changes): inside this workspace pnpm applies the patch to node_modules/gpu.js
 * (`patchedDependencies`), but that only holds here — `npm i @flashgrad/core` elsewhere would fetch
 * gpu.js unpatched. So the published package carries the patched copy in `vendor/gpu.js`
 * (written by scripts/vendor-gpujs.mjs at pack time), and this module prefers it. Either way the
 * copy must say it is patched, or we stop with an Error rather than run kernels it cannot compile.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** The version our patch writes into gpu.js's package.json; bump it with every patch change. */
export const PATCHED_GPUJS_VERSION = '2.24.1-flashgrad.1';

// src/devices/gpujs/ and dist/devices/gpujs/ sit at the same depth below the package root
const vendored = fileURLToPath(new URL('../../../vendor/gpu.js/package.json', import.meta.url));
const ownRequire = createRequire(import.meta.url);

/** package.json of the gpu.js copy in use: the vendored one when it exists, else node_modules'. */
export const gpujsPackageJson: string = existsSync(vendored) ? vendored : ownRequire.resolve('gpu.js/package.json');

/** `require` as seen from inside gpu.js (its own modules, its optional 'gl' addon). */
export const requireFromGpujs = createRequire(gpujsPackageJson);

const version = (JSON.parse(readFileSync(gpujsPackageJson, 'utf8')) as { version?: string }).version;
if (version !== PATCHED_GPUJS_VERSION) {
  throw new Error(`@flashgrad/core needs gpu.js ${PATCHED_GPUJS_VERSION} (2.24.1 with flashgrad's patch), but ` +
    `${gpujsPackageJson} is version ${version ?? 'unknown'}. In the flashgrad workspace run \`pnpm install\` ` +
    '(it applies patches/gpu.js@2.24.1.patch); a published @flashgrad/core carries the patched copy in vendor/.');
}

/** gpu.js's CommonJS exports. */
export const gpujs: Record<string, unknown> = requireFromGpujs('./src/index.js') as Record<string, unknown>;
