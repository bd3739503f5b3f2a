/**
 * The gpu.js patch lives twice in patches/: as the series of upstream-style commits (gpu.js/*.patch,
 * what would be sent to gpujs/gpu.js) and as the one diff pnpm applies (gpu.js@2.24.1.patch). The
 * series applied to the published 2.24.1 must give exactly the gpu.js that pnpm installed here.
 */
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const sh = (cmd: string, args: string[], cwd: string) => execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

async function files(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await files(p)));
    else out.push(p);
  }
  return out;
}

describe('patches/gpu.js (the series) and gpu.js@2.24.1.patch (what pnpm applies)', () => {
  it('give the same gpu.js', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'flashgrad-gpujs-'));
    try {
      sh('npm', ['pack', '-q', '--pack-destination', dir, 'gpu.js@2.24.1'], dir);
      const pkg = join(dir, 'package');
      sh('tar', ['-xzf', join(dir, 'gpu.js-2.24.1.tgz'), '-C', dir], dir);
      const series = (await readdir(join(root, 'patches/gpu.js'))).filter((f) => f.endsWith('.patch')).sort();
      expect(series.length).toBeGreaterThan(0);
      sh('git', ['apply', ...series.map((f) => join(root, 'patches/gpu.js', f))], pkg);
      const installed = dirname(createRequire(join(root, 'packages/core/package.json')).resolve('gpu.js/package.json'));
      const mine = (await files(join(pkg, 'src'))).map((f) => relative(pkg, f)).sort();
      const theirs = (await files(join(installed, 'src'))).map((f) => relative(installed, f)).sort();
      expect(mine).toEqual(theirs);
      for (const f of [...mine, 'package.json']) {
        expect(await readFile(join(pkg, f), 'utf8'), f).toBe(await readFile(join(installed, f), 'utf8'));
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
