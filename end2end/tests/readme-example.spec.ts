// The app handoff example in README.md, run as a reader would copy it: only BASE and the app's
// credentials are filled in. A real browser does the signing in while the example long-polls.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { test, expect } from '@playwright/test';
import { PASSWORD, addApp, addUser, hydrated } from './helpers';

const root = join(__dirname, '..', '..');

function readmeExample(): string {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## App handoff'));
  const match = section.match(/```python\n([\s\S]*?)```/);
  expect(match, 'README.md has a Python example under "App handoff"').toBeTruthy();
  return match![1];
}

test('the README handoff example works when copied', async ({ page }) => {
  const login = addUser();
  const app = addApp();
  const base = `http://localhost:${process.env.E2E_PORT}`;
  const source = readmeExample()
    .replace('"http://localhost:3000"', JSON.stringify(base))
    .replace('"<app_key>"', JSON.stringify(app.app_key))
    .replace('"<app_secret>"', JSON.stringify(app.app_secret));
  expect(source).toContain(app.app_secret);
  const file = join(mkdtempSync(join(tmpdir(), 'vestibule-readme-')), 'example.py');
  writeFileSync(file, source);
  const venv = join(root, '.tools', 'venv', 'bin', 'python');
  const child = spawn(existsSync(venv) ? venv : 'python3', ['-u', file], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const first = (await lines.next()).value as string;
  const link = first.slice(first.indexOf('http'));
  expect(link.startsWith(`${base}/console/session/`), first).toBeTruthy();

  await page.goto(link);
  await hydrated(page);
  await page.getByLabel('Login name or email').fill(login);
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();

  const last = (await lines.next()).value as string;
  console.log(`the README example printed: ${last}`);
  expect(last.startsWith('verified ')).toBeTruthy();
  expect(last).toContain(login);
  expect(await new Promise((resolve) => child.on('exit', resolve))).toBe(0);
});
