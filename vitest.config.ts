import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['core/**/*.test.ts', 'engine/**/*.test.ts', 'chain/**/*.test.ts', 'wallet/**/*.test.ts', 'hub/**/*.test.ts', 'sdk-client/**/*.test.ts', 'demo/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
