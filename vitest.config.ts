import { defineConfig } from 'vitest/config';

/**
 * End-to-end files that may run beside the unit tests and each other: each starts its own server, data dir and
 * token registry, stops or fills nothing it shares, counts nothing global (no docker image or container lists),
 * and times nothing; what they share (dockerd's BuildKit, the open registry on :5000) takes concurrent builds
 * and pulls. Any file not named here runs alone, after them.
 */
const SHARES_WELL = [
  'test/e2e/admin-api.test.ts',
  'test/e2e/audit.test.ts',
  'test/e2e/deploy-manifests.test.ts',
  'test/e2e/hostile.test.ts',
  'test/e2e/secrets.test.ts',
  'test/e2e/security-admin.test.ts',
  'test/e2e/security-forges.test.ts',
  'test/e2e/sso.test.ts',
  'test/e2e/tenancy.test.ts',
  'test/e2e/vulndb.test.ts',
];

export default defineConfig({
  test: {
    // End-to-end tests start a server, push with git and build on the real BuildKit: give them time.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Each fetch on its own connection: see the file for the race it removes.
    setupFiles: ['test/helpers/fresh-connections.ts'],
    projects: [
      {
        // First, two files at a time: the unit tests share nothing (no stack, temp folders of their own), and the
        // end-to-end files above share well. The project keeps the name `unit` its reports have always had.
        extends: true,
        test: { name: 'unit', include: ['test/unit/**/*.test.ts', ...SHARES_WELL], maxWorkers: 2, sequence: { groupOrder: 0 } },
      },
      {
        // Then one file at a time: the other end-to-end and browser tests share the stack's dockerd and registry,
        // and some stop them (a builder stopped, a registry down), fill a disk, count dockerd's images or time
        // what they do.
        extends: true,
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts', 'test/browser/**/*.test.ts'],
          exclude: SHARES_WELL,
          maxWorkers: 1,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
