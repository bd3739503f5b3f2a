/**
 * Import rules checked in CI (`pnpm lint`): no circle anywhere, and the package layering
 * models → attention → core, never back. Type-only imports are left out (they vanish in the
 * build: tsPreCompilationDeps false), so a circle here is one that runs.
 */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'A circle means no file in it can be read (or loaded) alone.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'core-stands-alone',
      severity: 'error',
      comment: '@flashgrad/core knows nothing of attention or models.',
      from: { path: '^packages/core/' },
      to: { path: '^packages/(attention|models)/|@flashgrad/(attention|models)' },
    },
    {
      name: 'attention-below-models',
      severity: 'error',
      comment: '@flashgrad/attention builds on core only.',
      from: { path: '^packages/attention/' },
      to: { path: '^packages/models/|@flashgrad/models' },
    },
    {
      name: 'through-the-package-entry',
      severity: 'error',
      comment: 'Another package is imported by its name, not by a path into its sources.',
      from: { path: '^packages/([^/]+)/' },
      to: { path: '^packages/([^/]+)/src/', pathNot: '^packages/$1/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // another package resolves through node_modules to its dist/ (or, unbuilt, stays its name):
    // the rules above match both
    tsPreCompilationDeps: false,
  },
};
