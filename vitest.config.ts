import { configDefaults, defineConfig } from 'vitest/config';

const IMAGE_TEST = 'test/e2e/image.test.ts';

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
        // First, two files at a time: the unit tests share nothing (no stack, temp folders of their own).
        extends: true,
        test: { name: 'unit', include: ['test/unit/**/*.test.ts'], maxWorkers: 2, sequence: { groupOrder: 0 } },
      },
      {
        // Then one file at a time: the end-to-end and browser tests share the stack's dockerd and registry, and
        // some stop them (a builder stopped, a registry down) or time what they do.
        extends: true,
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts', 'test/browser/**/*.test.ts'],
          exclude: [...configDefaults.exclude, IMAGE_TEST],
          maxWorkers: 1,
          sequence: { groupOrder: 1 },
        },
      },
      {
        // Last, the server image's test: .ci/run builds the image beside the tests from the start, and this test's
        // own scripts/image.sh waits for that build's lock, so by the end it finds the image made and waits for nothing;
        // among the others, a cold build (debootstrap, Node, SQLite compiled) still running would hold up the one
        // end-to-end worker.
        extends: true,
        test: { name: 'image', include: [IMAGE_TEST], maxWorkers: 1, sequence: { groupOrder: 2 } },
      },
    ],
  },
});
