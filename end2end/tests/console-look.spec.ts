// Every step of the console, looked at: axe finds no accessibility violations in the light and
// the dark theme, and a screenshot of each step is saved for a phone (320 and 375 px wide) and a
// desktop, in both themes, under test-results/screenshots/.
import { test, expect, type Page } from '@playwright/test';
import AxeBuilder from '@axe-core/playwright';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  PASSWORD, addApp, addContactUser, addUser, admin, authenticator, enableTotp, freshStep, generate,
  hydrated, receivedCode, totpNow, withoutAutofill,
} from './helpers';

const shots = join(__dirname, '..', 'test-results', 'screenshots');
const widths = [
  { name: 'phone320', width: 320, height: 640 },
  { name: 'phone375', width: 375, height: 740 },
  { name: 'desktop', width: 1280, height: 800 },
];

/// Axe in both themes, then the screenshots; leaves the page light and desktop-sized.
async function look(page: Page, step: string) {
  mkdirSync(shots, { recursive: true });
  for (const colorScheme of ['light', 'dark'] as const) {
    await page.emulateMedia({ colorScheme });
    await page.setViewportSize({ width: 1280, height: 800 });
    const result = await new AxeBuilder({ page }).analyze();
    const found = result.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.map((n) => `${n.target.join(' ')}: ${n.failureSummary}`),
    }));
    expect(found, `axe on "${step}" (${colorScheme})`).toEqual([]);
    for (const size of widths) {
      await page.setViewportSize({ width: size.width, height: size.height });
      // Nothing may stick out sideways on a phone.
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      expect(overflow, `"${step}" scrolls sideways at ${size.width} px (${colorScheme})`).toBeLessThanOrEqual(0);
      await page.screenshot({ path: join(shots, `${step}-${colorScheme}-${size.name}.png`), fullPage: true });
    }
  }
  await page.emulateMedia({ colorScheme: 'light' });
  await page.setViewportSize({ width: 1280, height: 800 });
}

test('login name, password, choice, email code, signed in', async ({ page, request }) => {
  test.setTimeout(120_000);
  const user = addContactUser();
  await enableTotp(request, user);
  await admin(request, 'PUT', `/users/${user.id}/otp-email`, { enabled: true });
  await admin(request, 'PUT', `/users/${user.id}/otp-sms`, { enabled: true });
  await admin(request, 'POST', `/users/${user.id}/recovery-codes`);
  const link = await generate(request, addApp({ secondFactor: true }));
  await page.goto(link.path);
  await hydrated(page);
  await look(page, '01-login-name');
  await page.getByLabel('Login name or email').fill(user.login);
  await page.getByRole('button', { name: 'Continue' }).click();
  await expect(page.getByLabel('Password')).toBeFocused();
  await look(page, '02-password');
  await page.getByLabel('Password').fill('not the password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('alert')).toBeVisible();
  await look(page, '03-password-wrong');
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('radiogroup').or(page.locator('fieldset'))).toBeVisible();
  await look(page, '04-choose-factor');
  await page.getByRole('radio', { name: /Code by email to/ }).check();
  await page.getByRole('button', { name: 'Continue' }).click();
  await expect(page.getByLabel('6-digit code')).toBeFocused();
  await look(page, '05-email-code');
  await page.getByLabel('6-digit code').fill('000000');
  await page.getByRole('button', { name: 'Verify' }).click();
  await expect(page.getByRole('alert')).toBeVisible();
  await look(page, '06-code-wrong');
  await page.getByLabel('6-digit code').fill(await receivedCode(request, user.email));
  await page.getByRole('button', { name: 'Verify' }).click();
  await expect(page.getByRole('heading', { name: 'Sign in faster with a passkey' })).toBeVisible();
  await look(page, '07-passkey-offer');
  await page.getByRole('button', { name: 'Not now' }).click();
  await expect(page).toHaveTitle('You are signed in');
  await look(page, '08-done');
  // Opening the link again after the login: the gate's signed-in page.
  await page.reload();
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('You are signed in');
  await look(page, '08-gate-signed-in');
});

test('enrollment forced by policy and the recovery codes', async ({ page, request }) => {
  test.setTimeout(90_000);
  const login = addUser();
  const link = await generate(request, addApp({ secondFactor: true }));
  await page.goto(link.path);
  await hydrated(page);
  await page.getByLabel('Login name or email').fill(login);
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.locator('code.secret')).toBeVisible();
  await look(page, '09-enroll-totp');
  const secret = (await page.locator('code.secret').textContent())!.replace(/\s/g, '');
  await freshStep();
  await page.getByLabel('Code from the app').fill(totpNow(secret));
  await page.getByRole('button', { name: 'Verify' }).click();
  await expect(page.getByRole('heading', { name: 'Save your recovery codes' })).toBeVisible();
  await look(page, '10-recovery-codes');
});

test('the recovery code and TOTP code steps', async ({ page, request }) => {
  test.setTimeout(60_000);
  const user = addContactUser();
  await enableTotp(request, user);
  await admin(request, 'POST', `/users/${user.id}/recovery-codes`);
  const link = await generate(request, addApp({ secondFactor: true }));
  await page.goto(link.path);
  await hydrated(page);
  await page.getByLabel('Login name or email').fill(user.login);
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: 'Continue' }).click();
  await expect(page.getByLabel('6-digit code')).toBeVisible();
  await look(page, '11-totp-code');
  await page.getByRole('button', { name: 'Not you? Start again' }).click();
  await expect(page.getByLabel('Login name or email')).toBeVisible();
  await page.getByLabel('Login name or email').fill(user.login);
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('radio', { name: 'A recovery code' }).check();
  await page.getByRole('button', { name: 'Continue' }).click();
  await expect(page.getByLabel('Recovery code')).toBeVisible();
  await look(page, '12-recovery-code');
});

test('German, and the pages for links that do not work', async ({ page, browser, request }) => {
  test.setTimeout(90_000); // many axe runs: about 25 s on a quiet 2-core machine
  const link = await generate(request, addApp(), { ui_locales: 'de' });
  await page.goto(link.path);
  await hydrated(page);
  await expect(page.locator('html')).toHaveAttribute('lang', 'de');
  await look(page, '13-login-name-de');
  // The first step binds the link to this browser; then another browser is refused.
  await page.getByLabel('Benutzername oder E-Mail').fill('jemand');
  await page.getByRole('button', { name: 'Weiter' }).click();
  await expect(page.locator('#password')).toBeVisible();
  const other = await browser.newContext();
  const p2 = await other.newPage();
  await p2.goto(new URL(link.path, page.url()).toString());
  await expect(p2.getByRole('heading', { level: 1 })).toBeVisible();
  await look(p2, '14-link-used');
  await other.close();
  // The gate's pages speak the browser's language too.
  const german = await browser.newContext({ locale: 'de-DE', extraHTTPHeaders: { 'Accept-Language': 'de-DE,de;q=0.9' } });
  const p3 = await german.newPage();
  const refused = await p3.goto(new URL(link.path, page.url()).toString());
  expect(refused!.status()).toBe(403);
  await expect(p3.locator('html')).toHaveAttribute('lang', 'de');
  await expect(p3.getByRole('heading', { level: 1 })).toHaveText('Dieser Anmeldelink wurde bereits verwendet');
  await look(p3, '14-link-used-de');
  await german.close();
  await page.goto('/console/session/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA');
  await look(page, '15-link-not-valid');
  const base = `http://localhost:${process.env.E2E_SHORT_PORT}`;
  const short = await generate(await (await import('@playwright/test')).request.newContext({ baseURL: base }), addApp());
  await new Promise((r) => setTimeout(r, 4_000));
  await page.goto(base + short.path);
  await expect(page.getByRole('heading', { level: 1 })).toContainText('expired');
  await look(page, '16-link-expired');
});

test('passkey steps: offer, passkey first, required by a passwordless app, no WebAuthn', async ({ page, browser, request }) => {
  test.setTimeout(90_000); // many axe runs: about 25 s on a quiet 2-core machine
  await authenticator(page);
  // No autofill here, so each step stays on screen to be looked at.
  await withoutAutofill(page);
  const login = addUser();
  const app = addApp();
  let link = await generate(request, app);
  await page.goto(link.path);
  await hydrated(page);
  await page.getByLabel('Login name or email').fill(login);
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.getByRole('button', { name: 'Create a passkey' }).click();
  await expect(page.getByText('Your passkey is saved. Next time, sign in with it.')).toBeVisible();
  await look(page, '17-passkey-saved');
  link = await generate(request, app);
  await page.goto(link.path);
  await hydrated(page);
  await page.getByLabel('Login name or email').fill(login);
  await page.getByRole('button', { name: 'Continue' }).click();
  await expect(page.getByRole('heading', { name: 'Use your passkey' })).toBeVisible();
  await look(page, '18-passkey-first');
  // A passwordless app, in a browser without WebAuthn.
  const context = await browser.newContext();
  const plain = await context.newPage();
  await plain.addInitScript(() => {
    delete (window as any).PublicKeyCredential;
  });
  link = await generate(request, addApp({ passwordless: true }));
  await plain.goto(new URL(link.path, page.url()).toString());
  await hydrated(plain);
  await plain.getByLabel('Login name or email').fill(addUser());
  await plain.getByRole('button', { name: 'Continue' }).click();
  await plain.getByLabel('Password').fill(PASSWORD);
  await plain.getByRole('button', { name: 'Sign in', exact: true }).click();
  await expect(plain.getByText('This browser cannot use passkeys. Sign in another way.')).toBeVisible();
  await look(plain, '19-passkey-required-no-webauthn');
  await context.close();
});
