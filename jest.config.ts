/** @jest-config-loader esbuild-register */
import type { Config } from 'jest';

// The project is ESM ("type": "module") because got >= 12 ships only as ESM.
// Jest runs ESM through Node's VM modules (the `test` script passes
// --experimental-vm-modules); ts-jest transpiles each file on its own
// (isolatedModules), and `tsc --noEmit` in `npm run typecheck` does the type checking.
const config: Config = {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: { '^.+\\.ts$': ['ts-jest', { useESM: true }] },
  testMatch: ['<rootDir>/test/**/*.test.ts', '<rootDir>/emulators/**/*.test.ts', '<rootDir>/workers/**/*.test.ts'],
  testTimeout: 30_000,
  // StrykerJS copies the project into sandboxes beside it; jest must not see them twice.
  modulePathIgnorePatterns: ['<rootDir>/.stryker-tmp'],
  // Integration suites share one Redis and a 2-core machine; two files at a time keeps
  // the whole run well under five minutes without starving workers of CPU.
  maxWorkers: 2,
};

export default config;
