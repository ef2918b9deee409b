// The Ziqx "Session Login" example from the seed, kept verbatim in server/tests/python (only the
// host and the credentials are replaced when it runs), against the server Playwright started:
// the example generates a link, a real browser signs in on the hosted page, and the example's
// validate call then sees the signed-in user.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { test, expect } from '@playwright/test';
import { PASSWORD, addApp, addUser, hydrated, notNow } from './helpers';

const root = join(__dirname, '..', '..');

function python(): string {
  const venv = join(root, '.tools', 'venv', 'bin', 'python');
  return existsSync(venv) ? venv : 'python3';
}

test("the seed's Python example validates a login finished in the browser", async ({ page }) => {
  const login = addUser();
  const app = addApp();
  const base = `http://localhost:${process.env.E2E_PORT}`;
  const child = spawn(python(), [join(root, 'server', 'tests', 'python', 'run_example.py')], {
    env: {
      ...process.env,
      VESTIBULE_URL: base,
      VESTIBULE_APP_KEY: app.app_key,
      VESTIBULE_APP_SECRET: app.app_secret,
    },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const next = async () => {
    const { value, done } = await lines.next();
    expect(done, 'the example printed a line').toBeFalsy();
    return value as string;
  };

  const linkLine = await next();
  expect(linkLine).toMatch(/^LINK /);
  const link = linkLine.slice('LINK '.length);
  expect(link.startsWith(`${base}/console/session/`)).toBeTruthy();

  await page.goto(link);
  await hydrated(page);
  await page.getByLabel('Login name or email').fill(login);
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await notNow(page);
  // No redirect URI: the page says the person is signed in.
  await expect(page.getByRole('heading', { name: /signed in/i })).toBeVisible();

  child.stdin!.write('done\n');
  const validated = await next();
  expect(validated).toMatch(/^VALIDATED /);
  const answer = JSON.parse(validated.slice('VALIDATED '.length));
  console.log(`the seed example printed: ${validated}`);
  expect(answer.status).toBe('verified');
  expect(answer.user.login_name).toBe(login);
  const code = await new Promise((resolve) => child.on('exit', resolve));
  expect(code).toBe(0);
});
