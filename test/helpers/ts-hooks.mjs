// Module hooks for ts-register.mjs: @flashgrad/* → packages/*/src/index.ts, `./x.js` → `./x.ts`
// where only the .ts exists, and .ts transpiled on load (types stripped, nothing checked). The
// output is cached by content hash in the temp dir: loading TypeScript itself costs seconds, so a
// test that starts many processes pays it once.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const packages = new URL('../../packages/', import.meta.url);
const cacheDir = join(tmpdir(), 'flashgrad-ts-cache');
let ts;

export async function resolve(specifier, context, next) {
  const pkg = /^@flashgrad\/([a-z]+)$/.exec(specifier);
  if (pkg) return { url: new URL(`${pkg[1]}/src/index.ts`, packages).href, shortCircuit: true };
  if (specifier.startsWith('.') && specifier.endsWith('.js') && context.parentURL?.endsWith('.ts')) {
    const asTs = new URL(specifier.slice(0, -3) + '.ts', context.parentURL);
    if (existsSync(fileURLToPath(asTs))) return { url: asTs.href, shortCircuit: true };
  }
  return next(specifier, context);
}

export async function load(url, context, next) {
  if (!url.endsWith('.ts')) return next(url, context);
  const path = fileURLToPath(url);
  const source = readFileSync(path, 'utf8');
  const cached = join(cacheDir, createHash('sha256').update(path).update('\0').update(source).digest('hex') + '.js');
  if (existsSync(cached)) return { format: 'module', source: readFileSync(cached, 'utf8'), shortCircuit: true };
  ts ??= (await import('typescript')).default;
  const { outputText } = ts.transpileModule(source, {
    fileName: path,
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, sourceMap: false },
  });
  mkdirSync(cacheDir, { recursive: true });
  const tmp = `${cached}.${process.pid}.tmp`; // concurrent processes may fill the cache at once
  writeFileSync(tmp, outputText);
  renameSync(tmp, cached);
  return { format: 'module', source: outputText, shortCircuit: true };
}
