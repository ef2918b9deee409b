// The hosted page's rate limits as a person meets them (server/tests/console_throttle.rs covers
// the attack itself): past the link's budget, the page's script keeps the step and says how long
// to wait; without JavaScript the refusal is a page of its own. The short-link server takes 6
// requests per link an hour (see playwright.config.ts); its links must be claimed within 3 s.
import { test, expect } from '@playwright/test';
import { addApp, addUser, generate, hydrated, withoutAutofill } from './helpers';

const base = () => `http://localhost:${process.env.E2E_SHORT_PORT}`;

test('past the link budget the island keeps the step and says when to try again', async ({ browser, playwright }) => {
  const api = await playwright.request.newContext({ baseURL: base() });
  const login = addUser();
  const link = await generate(api, addApp());
  await api.dispose();
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  await withoutAutofill(page);
  await page.goto(base() + link.path);
  await hydrated(page);
  await page.getByLabel('Login name or email').fill(login);
  await page.getByRole('button', { name: 'Continue' }).click();
  const alert = page.getByRole('alert');
  let text = '';
  for (let i = 0; i < 8 && !text.startsWith('Too many attempts'); i++) {
    await page.getByLabel('Password').fill('not the password');
    const answered = page.waitForResponse((r) => r.url().includes('/console/api/step'));
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    const res = await answered;
    await expect(alert).toBeVisible();
    if (res.status() === 429) {
      expect(Number(res.headers()['retry-after'])).toBeGreaterThan(0);
      await expect(alert).toHaveText(/^Too many attempts/);
    }
    text = (await alert.textContent()) ?? '';
  }
  expect(text).toMatch(/^Too many attempts\. Try again in \d+ seconds?\.$/);
  // The step stays: the password field is still there to try again later.
  await expect(page.getByLabel('Password')).toBeVisible();

  // Without JavaScript, a view of that link is refused with a page of its own.
  const plain = await browser.newContext({ javaScriptEnabled: false, locale: 'de-DE' });
  const other = await plain.newPage();
  const res = await other.goto(base() + link.path);
  expect(res!.status()).toBe(429);
  expect(Number(res!.headers()['retry-after'])).toBeGreaterThan(0);
  await expect(other.getByRole('heading', { level: 1 })).toHaveText('Zu viele Versuche');
  await expect(other.getByRole('alert')).toHaveText(/^Zu viele Versuche\. Versuchen Sie es in \d+ Sekunden? wieder\.$/);
  await plain.close();
  await ctx.close();
});
