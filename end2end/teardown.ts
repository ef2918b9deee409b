// After the run: drops the PostgreSQL database the two replicas shared (FORCE: they may still
// be connected while Playwright stops them).
import { execSync } from 'node:child_process';

export default async function teardown() {
  const url = process.env.E2E_PG_URL;
  if (!url) return;
  const name = new URL(url).pathname.slice(1);
  const admin = process.env.VESTIBULE_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  if (!/^vestibule_e2e_\d+$/.test(name)) return;
  execSync(`psql "${admin}" -qc 'DROP DATABASE IF EXISTS ${name} WITH (FORCE)'`, { stdio: 'pipe' });
}
