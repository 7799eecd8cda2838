import { configDefaults, defineConfig } from 'vitest/config';

// Four projects so each suite provisions only what it needs: unit tests run bare; chart tests (the
// Helm chart and the examples, offline) need helm alone, built in minutes; e2e tests start real
// redis-server and emulators themselves; k8s tests share one real control plane, whose build takes ten
// minutes cold. `npx vitest run --project unit --project chart` therefore never waits for kube-apiserver.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['src/**/*.test.ts', 'cmd/**/*.test.ts'],
          // A bound on a hung test, not a speed assertion: property tests and the compile thread's
          // tests took 5.8 s on the shared 2-core box, past vitest's default 5 s.
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'chart',
          include: ['test/k8s/offline/**/*.test.ts'],
          globalSetup: ['test/env/control-plane/helm-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 600_000,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts', 'test/hostile/**/*.test.ts'],
          // The canary scan: every output of the suite is captured, and scanned for the suite's
          // vault tokens and upstream keys after the last test (docs/security.md, "Secrets").
          globalSetup: ['test/env/canary-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'k8s',
          include: ['test/k8s/**/*.test.ts'],
          exclude: [...configDefaults.exclude, 'test/k8s/offline/**'],
          globalSetup: ['test/env/control-plane/global-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 300_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
