import { defineConfig } from 'vitest/config';

// `npm run test:vagrant`: two libvirt VMs (test/vagrant). Its own config, not a project of vitest.config.ts:
// under software emulation the VMs keep both cores busy for many minutes, which the integration files'
// timeouts do not allow for beside them (README "Vagrant").
export default defineConfig({
  test: {
    reporters: ['default', './test/support/summary-reporter.ts'],
    include: ['test/vagrant/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 900_000,
    hookTimeout: 1_800_000,
  },
});
