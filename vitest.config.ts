import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // End-to-end tests start a server, push with git and build on the real BuildKit: give them time.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Each fetch on its own connection: see the file for the race it removes.
    setupFiles: ['test/helpers/fresh-connections.ts'],
  },
});
