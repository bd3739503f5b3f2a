import { defineConfig } from 'vitest/config';
import { fileURLToPath } from 'node:url';

const src = (pkg: string) => fileURLToPath(new URL(`../packages/${pkg}/src/index.ts`, import.meta.url));

/**
 * The suites that check ops end to end, run a second time with FLASHGRAD_FUSION=off: every fused
 * op (layerNorm, crossEntropy, linear's epilogue) then takes its composite path on every device,
 * the path of any vocabulary above the fused row limit. Fewer cases per property there
 * (FC_RUNS_COMPOSITE, default 10) and a shorter training loop keep the added time modest.
 */
const compositeSuites = ['test/gradients.test.ts', 'test/device-ops-equivalence.test.ts', 'test/gpt.test.ts'];

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
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    projects: [
      { extends: true, test: { name: 'fused', include: ['test/**/*.test.ts'] } },
      {
        extends: true,
        test: {
          name: 'composite',
          include: compositeSuites,
          env: { FLASHGRAD_FUSION: 'off', FC_RUNS: process.env.FC_RUNS_COMPOSITE ?? '10', LEAK_STEPS: '200' },
        },
      },
    ],
  },
});
