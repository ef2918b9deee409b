import { defineConfig } from '@playwright/test';
import { execSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// Free ports and one fresh data directory per run. They go into the environment so that the
// worker processes, which load this file again, see the same values.
//   E2E_PORT          the server under test (debug site, codes delivered to the sink)
//   E2E_SMTP_PORT     the sink's SMTP server        E2E_SINK_PORT   the sink's HTTP side (SMS, inbox)
//   E2E_SHORT_PORT    a second server on the same database whose links expire after 3 seconds
//   E2E_RELEASE_PORT  a third server serving the release site (target/site-release), for the weight test
//   E2E_PG_A_PORT, E2E_PG_B_PORT  two replicas on one PostgreSQL database (E2E_PG_URL) with one
//                     server key and one public URL (A's), for ceremonies that move between them
if (!process.env.E2E_PORT) {
  const ports = execSync(
    `node -e "const net=require('net');const ss=[0,1,2,3,4,5,6].map(()=>net.createServer());` +
      `Promise.all(ss.map(s=>new Promise(r=>s.listen(0,'127.0.0.1',()=>r(s.address().port)))))` +
      `.then(p=>{console.log(p.join(' '));ss.forEach(s=>s.close())})"`,
  ).toString().trim().split(' ');
  [process.env.E2E_PORT, process.env.E2E_SMTP_PORT, process.env.E2E_SINK_PORT,
    process.env.E2E_SHORT_PORT, process.env.E2E_RELEASE_PORT, process.env.E2E_PG_A_PORT,
    process.env.E2E_PG_B_PORT] = ports;
}
if (!process.env.E2E_DATA_DIR) {
  process.env.E2E_DATA_DIR = mkdtempSync(join(tmpdir(), 'vestibule-e2e-'));
}
// A fresh PostgreSQL database for the two replicas (the server at VESTIBULE_TEST_POSTGRES_URL,
// as for the Rust tests; scripts/bootstrap.sh makes sure it runs).
if (!process.env.E2E_PG_URL) {
  const admin = process.env.VESTIBULE_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const name = `vestibule_e2e_${process.pid}`;
  execSync(`psql "${admin}" -qc 'DROP DATABASE IF EXISTS ${name}' -c 'CREATE DATABASE ${name}'`, { stdio: 'pipe' });
  const url = new URL(admin);
  url.pathname = `/${name}`;
  process.env.E2E_PG_URL = url.toString();
}
const port = process.env.E2E_PORT;
const dataDir = process.env.E2E_DATA_DIR;
const serverBin = process.env.SERVER_BIN ?? 'target/debug/server';
export const releaseSite = join(__dirname, '..', 'target', 'site-release');
// The suite signs in far more often from one address than a person does: the hosted page's
// rate limits (tested in server/tests/console_throttle.rs) are widened for its servers.
const wideLimits = '[rate_limits]\n' +
  ['console_per_address', 'console_pages_per_address', 'console_per_link']
    .map((rule) => `${rule} = { limit = 1000000, window_secs = 60 }\n`).join('');
const e2eConfig = join(dataDir, 'e2e.toml');
writeFileSync(e2eConfig, wideLimits);
// The short-link server also takes few requests per link, for console-throttle.spec.ts.
const shortConfig = join(dataDir, 'short-links.toml');
writeFileSync(shortConfig, 'handoff_link_ttl_secs = 3\n' +
  wideLimits.replace(/console_per_link = .*\n/, 'console_per_link = { limit = 6, window_secs = 3600 }\n'));

const serve = (p: string, extra: string) =>
  `${serverBin} serve --listen 127.0.0.1:${p} --public-url http://localhost:${p} ${extra}`;
const server = (p: string, command: string) => ({
  command,
  cwd: '..',
  url: `http://127.0.0.1:${p}/readyz`,
  reuseExistingServer: false,
  timeout: 60_000,
  stdout: 'pipe' as const,
  stderr: 'pipe' as const,
  env: { VESTIBULE_DATA_DIR: dataDir, RUST_LOG: 'info' },
});

export default defineConfig({
  testDir: './tests',
  globalTeardown: './teardown.ts',
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
  webServer: [
    {
      command: `node sink.js ${process.env.E2E_SMTP_PORT} ${process.env.E2E_SINK_PORT}`,
      url: `http://127.0.0.1:${process.env.E2E_SINK_PORT}/ready`,
      reuseExistingServer: false,
      timeout: 20_000,
      stdout: 'pipe',
    },
    server(
      port!,
      serve(port!, `--site-root target/site --config ${e2eConfig}` +
        ` --smtp-url smtp://127.0.0.1:${process.env.E2E_SMTP_PORT} --smtp-from "Sign-in <login@vestibule.test>"` +
        ` --sms-url http://127.0.0.1:${process.env.E2E_SINK_PORT}/sms`),
    ),
    server(
      process.env.E2E_SHORT_PORT!,
      serve(process.env.E2E_SHORT_PORT!, `--site-root target/site --no-demo --config ${shortConfig}`),
    ),
    // Two replicas: B serves nothing a browser opens, but finishes what A's page started.
    ...[process.env.E2E_PG_A_PORT!, process.env.E2E_PG_B_PORT!].map((p) =>
      server(p, `${serverBin} serve --listen 127.0.0.1:${p} --public-url http://localhost:${process.env.E2E_PG_A_PORT}` +
        ` --site-root target/site --no-demo --config ${e2eConfig} --database-url ${process.env.E2E_PG_URL}` +
        ` --key-file ${join(dataDir, 'replicas.key')}`)),
    ...(existsSync(join(releaseSite, 'pkg'))
      ? [server(process.env.E2E_RELEASE_PORT!,
          serve(process.env.E2E_RELEASE_PORT!, '--site-root target/site-release --no-demo'))]
      : []),
  ],
});
