import { defineConfig } from '@playwright/test';
import { execSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// One free port and one fresh data directory per run. They go into the environment so that the
// worker processes, which load this file again, see the same values.
if (!process.env.E2E_PORT) {
  process.env.E2E_PORT = execSync(
    `node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"`,
  ).toString().trim();
}
if (!process.env.E2E_DATA_DIR) {
  process.env.E2E_DATA_DIR = mkdtempSync(join(tmpdir(), 'vestibule-e2e-'));
}
const port = process.env.E2E_PORT;
const dataDir = process.env.E2E_DATA_DIR;
const serverBin = process.env.SERVER_BIN ?? 'target/debug/server';

export default defineConfig({
  testDir: './tests',
  workers: 1,
  retries: 0,
  reporter: [['list']],
  outputDir: 'test-results',
  use: {
    // WebAuthn needs a real host name, so tests browse localhost; readiness is probed on 127.0.0.1.
    baseURL: `http://localhost:${port}`,
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/lib/chromium/chromium',
      args: ['--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    },
  },
  projects: [{ name: 'chromium', use: { browserName: 'chromium' } }],
  webServer: {
    command: `${serverBin} serve --listen 127.0.0.1:${port} --public-url http://localhost:${port} --site-root target/site`,
    cwd: '..',
    url: `http://127.0.0.1:${port}/readyz`,
    reuseExistingServer: false,
    timeout: 60_000,
    stdout: 'pipe',
    stderr: 'pipe',
    env: { VESTIBULE_DATA_DIR: dataDir, RUST_LOG: 'info' },
  },
});
