import { test, expect, type Page } from '@playwright/test';

const consoleUrl = '/console/session/e2e-link-token';

async function submitLoginName(page: Page, name: string) {
  await page.getByLabel('Login name').fill(name);
  await page.getByRole('button', { name: 'Continue' }).click();
}

test.describe('with JavaScript', () => {
  test('the login-name form goes through the server function without a page load', async ({ page }) => {
    await page.goto(consoleUrl);
    await expect(page.locator('[data-hydrated="true"]')).toBeVisible();
    await submitLoginName(page, 'alice');
    await expect(page.getByRole('status')).toHaveText('Hello, alice. Next: your password.');
    // The form was sent by fetch: the address did not change.
    expect(new URL(page.url()).search).toBe('');
  });

  test('a blank login name gets a clear error', async ({ page }) => {
    await page.goto(consoleUrl);
    await expect(page.locator('[data-hydrated="true"]')).toBeVisible();
    await submitLoginName(page, '   ');
    await expect(page.getByRole('alert')).toHaveText('Enter your login name.');
  });
});

test.describe('without JavaScript', () => {
  test.use({ javaScriptEnabled: false });

  test('the same form works as a plain form post', async ({ page }) => {
    await page.goto(consoleUrl);
    await expect(page.locator('[data-hydrated]')).toHaveCount(0);
    await submitLoginName(page, 'bob');
    await expect(page).toHaveURL(/\/console\/session\/e2e-link-token\?reply=/);
    await expect(page.getByRole('status')).toHaveText('Hello, bob. Next: your password.');
  });
});

test('pages carry the security headers', async ({ request }) => {
  const res = await request.get(consoleUrl);
  expect(res.status()).toBe(200);
  const headers = res.headers();
  expect(headers['content-security-policy']).toMatch(/script-src 'self' 'wasm-unsafe-eval' 'nonce-[^']+'/);
  expect(headers['content-security-policy']).toContain("frame-ancestors 'none'");
  expect(headers['content-security-policy']).not.toContain('unsafe-inline');
  expect(headers['referrer-policy']).toBe('no-referrer');
  expect(headers['x-content-type-options']).toBe('nosniff');
  expect(headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
});

test('health and readiness answer JSON', async ({ request }) => {
  const health = await request.get('/healthz');
  expect(health.status()).toBe(200);
  expect(await health.json()).toEqual({ status: 'ok' });
  const ready = await request.get('/readyz');
  expect(ready.status()).toBe(200);
  expect(await ready.json()).toEqual({ status: 'ready', database: 'sqlite' });
});
