// Copies the workspace's patched gpu.js (node_modules, patched by pnpm's patchedDependencies) into
// packages/core/vendor/gpu.js, so that the packed @flashgrad/core carries it: pnpm patches only
// apply inside this workspace, and a user's `npm i @flashgrad/core` would otherwise get gpu.js
// unpatched. Runs as core's `prepack`; `postpack` removes the copy (`--clean`), so tests in the
// workspace always run the node_modules copy that `pnpm install` patched.
import { cpSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const core = dirname(dirname(fileURLToPath(import.meta.url)));
const dest = join(core, 'vendor', 'gpu.js');
rmSync(join(core, 'vendor'), { recursive: true, force: true });
if (process.argv.includes('--clean')) process.exit(0);

const pkgJson = createRequire(join(core, 'package.json')).resolve('gpu.js/package.json');
const { version } = JSON.parse(readFileSync(pkgJson, 'utf8'));
const expected = readFileSync(join(core, 'src/devices/gpujs/gpujs-module.ts'), 'utf8').match(/PATCHED_GPUJS_VERSION = '([^']+)'/)?.[1];
if (version !== expected) {
  console.error(`vendor-gpujs: node_modules has gpu.js ${version}, core expects ${expected}: run pnpm install at the workspace root`);
  process.exit(1);
}
const src = dirname(pkgJson);
// src/ is all Node loads (package.json's main); dist/ holds browser bundles we do not ship
for (const entry of ['package.json', 'LICENSE', 'src']) cpSync(join(src, entry), join(dest, entry), { recursive: true });
console.log(`vendor-gpujs: gpu.js ${version} copied to ${dest}`);
