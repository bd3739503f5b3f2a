/**
 * What a user of the published packages gets: the three packages packed as `pnpm publish` would,
 * installed with npm into an empty folder outside the workspace (so no pnpm patch, no workspace
 * link can help), then a script there that only the patched gpu.js runs correctly. pnpm's
 * patchedDependencies apply inside this workspace alone; this proves core's vendored copy reaches
 * the user instead.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const packages = ['core', 'attention', 'models'];
let dir: string;

// a user's shell: no NODE_PATH or npm_* settings leaking in from the workspace's runner
const userEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_PATH' && !k.startsWith('npm_')));
const sh = (cmd: string, args: string[], cwd: string) =>
  execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...userEnv, npm_config_loglevel: 'error' } });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'flashgrad-user-'));
  sh('npx', ['-y', 'pnpm@10.20.0', 'build'], root);
  for (const p of packages) sh('npx', ['-y', 'pnpm@10.20.0', 'pack', '--pack-destination', dir], join(root, 'packages', p));
  const tarballs = (await readdir(dir)).filter((f) => f.endsWith('.tgz')).map((f) => join(dir, f));
  expect(tarballs).toHaveLength(3);
  await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'user', private: true, type: 'module' }));
  sh('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', ...tarballs], dir);
}, 600_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('published packages, installed by npm outside the workspace', () => {
  it('carry the patched gpu.js, and nothing from the workspace', async () => {
    const script = `
      import { readFileSync } from 'node:fs';
      import { createRequire } from 'node:module';
      const require = createRequire(import.meta.url);
      const core = import.meta.resolve('@flashgrad/core');
      const vendored = JSON.parse(readFileSync(new URL('../vendor/gpu.js/package.json', core), 'utf8'));
      let plain = 'absent';
      try { plain = require.resolve('gpu.js'); } catch {}
      console.log(JSON.stringify({ core, vendored: vendored.version, plain }));`;
    await writeFile(join(dir, 'where.mjs'), script);
    const out = JSON.parse(sh('node', ['where.mjs'], dir));
    expect(out.core.startsWith(`file://${dir}/`)).toBe(true);
    expect(out.vendored).toMatch(/-flashgrad\.\d+$/);
    expect(out.plain).toBe('absent');
  });

  it('run kernels on the cpu and wasm devices, and a GPT forward', async () => {
    const script = `
      import { setDevice, tensor, manualSeed } from '@flashgrad/core';
      import { GPT } from '@flashgrad/models';
      const out = {};
      for (const d of ['cpu', 'wasm']) {
        await setDevice(d);
        out[d] = Array.from(await tensor([[1, 2], [3, 4]]).matmul(tensor([[5, 6], [7, 8]])).data());
      }
      manualSeed(0);
      const gpt = new GPT({ vocabSize: 11, blockSize: 8, nLayer: 1, nHead: 2, nEmbd: 8, dropout: 0, bias: true, attention: 'flash' });
      out.logits = (await gpt.forward([[1, 2, 3]]).logits.data()).length;
      console.log(JSON.stringify(out));`;
    await writeFile(join(dir, 'use.mjs'), script);
    const out = JSON.parse(sh('node', ['use.mjs'], dir));
    expect(out.cpu).toEqual([19, 22, 43, 50]);
    expect(out.wasm).toEqual([19, 22, 43, 50]);
    expect(out.logits).toBe(3 * 11);
  });
});
