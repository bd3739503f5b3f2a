import { defineConfig } from 'vitest/config';
import { fileURLToPath } from 'node:url';

const src = (pkg: string) => fileURLToPath(new URL(`../packages/${pkg}/src/index.ts`, import.meta.url));

// Tests run on source: the packages resolve to their TypeScript entry points, no build needed.
export default defineConfig({
  resolve: {
    alias: {
      '@flashgrad/core': src('core'),
      '@flashgrad/attention': src('attention'),
      '@flashgrad/models': src('models'),
    },
  },
  test: {
    root: fileURLToPath(new URL('..', import.meta.url)),
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
