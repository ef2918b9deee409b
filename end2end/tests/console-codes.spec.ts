// Second factors through the app handoff, each path end to end: generate by API, open the link,
// finish, validate by API. Email codes are read from the SMTP sink the test run starts, SMS codes
// from the HTTP endpoint standing in for the SMS provider (see sink.js and playwright.config.ts).
import { test, expect, type Page } from '@playwright/test';
import {
  PASSWORD, addApp, addContactUser, admin, enableTotp, freshStep, generate, hydrated,
  notNow, receivedCode, totpNow, validate,
} from './helpers';

async function passwordStep(page: Page, login: string, js: boolean) {
  await page.getByLabel('Login name or email').fill(login);
  await page.getByRole('button', { name: 'Continue' }).click();
  if (js) await expect(page.getByLabel('Password')).toBeFocused();
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

/// With JavaScript a passkey is offered first (declined here; passkeys.spec.ts takes it).
async function signedIn(page: Page, js = true) {
  if (js) await notNow(page);
  await expect(page).toHaveTitle('You are signed in');
}

for (const js of [true, false]) {
  test.describe(js ? 'with JavaScript' : 'without JavaScript', () => {
    test.use({ javaScriptEnabled: js });

    test('password then email code from a real SMTP server', async ({ page, request }) => {
      const user = addContactUser();
      await admin(request, 'PUT', `/users/${user.id}/otp-email`, { enabled: true });
      const link = await generate(request, addApp({ secondFactor: true }));
      await page.goto(link.path);
      if (js) await hydrated(page);
      await passwordStep(page, user.login, js);
      // The only factor is sent by email: the choice shows it checked; continuing sends the code.
      await expect(page.getByRole('radio', { name: /Code by email to/ })).toBeChecked();
      await page.getByRole('button', { name: 'Continue' }).click();
      // The step says where the code went and who is signing in; the field points to it.
      await expect(page.locator('#code-hint')).toHaveText(/^We sent a code by email to .\u2022\u2022\u2022@mail\.test\.$/);
      await expect(page.getByLabel('6-digit code')).toHaveAttribute('aria-describedby', 'code-hint');
      await expect(page.getByText(`Signing in as ${user.login}`)).toBeVisible();
      if (js) await expect(page.getByLabel('6-digit code')).toBeFocused();
      // A wrong code first: refused with a plain sentence, the step stays.
      await page.getByLabel('6-digit code').fill('000000');
      await page.getByRole('button', { name: 'Verify' }).click();
      await expect(page.getByRole('alert')).toHaveText(/^That code is not right\. 4 attempts left/);
      const code = await receivedCode(request, user.email);
      await page.getByLabel('6-digit code').fill(code);
      await page.getByRole('button', { name: 'Verify' }).click();
      await signedIn(page, js);
      const status = await validate(request, link.session_id);
      expect(status.status).toBe('verified');
      expect(status.user.login_name).toBe(user.login);
      expect(status.factors).toHaveLength(2);
      expect(status.factors).toContain('password');
    });

    test('password then TOTP set up through the admin API', async ({ page, request }) => {
      test.setTimeout(90_000);
      const user = addContactUser();
      const secret = await enableTotp(request, user);
      const link = await generate(request, addApp({ secondFactor: true }));
      await page.goto(link.path);
      if (js) await hydrated(page);
      await passwordStep(page, user.login, js);
      // The only factor needs no sending: straight to the code.
      await expect(page.getByLabel('6-digit code')).toBeVisible();
      if (js) await expect(page.getByLabel('6-digit code')).toBeFocused();
      // Enabling used the current step's code; the login needs the next one.
      await new Promise((r) => setTimeout(r, 30_000 - (Date.now() % 30_000) + 500));
      await page.getByLabel('6-digit code').fill(totpNow(secret));
      await page.getByRole('button', { name: 'Verify' }).click();
      await signedIn(page, js);
      const status = await validate(request, link.session_id);
      expect(status.status).toBe('verified');
      expect(status.factors).toEqual(['password', 'totp']);
    });
  });
}

test('password then SMS code from the provider endpoint, after a resend', async ({ page, request }) => {
  const user = addContactUser();
  await admin(request, 'PUT', `/users/${user.id}/otp-sms`, { enabled: true });
  const link = await generate(request, addApp({ secondFactor: true }));
  await page.goto(link.path);
  await hydrated(page);
  await passwordStep(page, user.login, true);
  await page.getByRole('radio', { name: /Code by text message to/ }).check();
  await page.getByRole('button', { name: 'Continue' }).click();
  // The number as the person knows it, all but the country code and the last two digits hidden.
  const masked = new RegExp(`^We sent a code by text message to \\+49 [\u2022 ]+${user.phone.slice(-2)}\\.$`);
  await expect(page.locator('#code-hint')).toHaveText(masked);
  const first = await receivedCode(request, user.phone);
  // Asking again at once is refused with the time to wait, and nothing new is sent.
  await page.getByRole('button', { name: 'Send a new code' }).click();
  await expect(page.getByText(/Wait \d+ seconds?\.|in \d+ seconds?\./)).toBeVisible();
  await page.getByLabel('6-digit code').fill(first);
  await page.getByRole('button', { name: 'Verify' }).click();
  await signedIn(page);
  const status = await validate(request, link.session_id);
  expect(status.status).toBe('verified');
  expect(status.factors).toHaveLength(2);
});

test('recovery code instead of the authenticator', async ({ page, request }) => {
  test.setTimeout(60_000);
  const user = addContactUser();
  await enableTotp(request, user);
  const { codes } = await admin(request, 'POST', `/users/${user.id}/recovery-codes`);
  expect(codes).toHaveLength(10);
  const link = await generate(request, addApp({ secondFactor: true }));
  await page.goto(link.path);
  await hydrated(page);
  await passwordStep(page, user.login, true);
  await page.getByRole('radio', { name: 'A recovery code' }).check();
  await page.getByRole('button', { name: 'Continue' }).click();
  await expect(page.getByLabel('Recovery code')).toBeFocused();
  await page.getByLabel('Recovery code').fill(codes[3]);
  await page.getByRole('button', { name: 'Verify' }).click();
  await signedIn(page);
  const status = await validate(request, link.session_id);
  expect(status.status).toBe('verified');
  expect(status.factors).toHaveLength(2);
  expect(status.factors).toContain('password');
  // The code is used up.
  const after = await admin(request, 'GET', `/users/${user.id}/factors`);
  expect(after.recovery_codes_left).toBe(9);
});

test('a whole login with the keyboard alone', async ({ page, request }) => {
  const user = addContactUser();
  await admin(request, 'PUT', `/users/${user.id}/otp-email`, { enabled: true });
  const callback = 'https://shop.example/kb';
  const seen: string[] = [];
  await page.route('https://shop.example/**', async (route) => {
    seen.push(route.request().url());
    await route.fulfill({ status: 200, contentType: 'text/html', body: '<p>back at the shop</p>' });
  });
  const link = await generate(request, addApp({ secondFactor: true, redirect: callback }), { state: 'k' });
  await page.goto(link.path);
  await hydrated(page);
  // The first Tab reaches the login name field.
  await page.keyboard.press('Tab');
  await expect(page.getByLabel('Login name or email')).toBeFocused();
  await page.keyboard.type(user.login);
  await page.keyboard.press('Enter');
  await expect(page.getByLabel('Password')).toBeFocused();
  await page.keyboard.type(PASSWORD);
  await page.keyboard.press('Enter');
  // The radio group: focus moves into it, Enter submits the choice.
  await expect(page.getByRole('radio', { name: /Code by email to/ })).toBeFocused();
  await page.keyboard.press('Enter');
  await expect(page.getByLabel('6-digit code')).toBeFocused();
  await page.keyboard.type(await receivedCode(request, user.email));
  await page.keyboard.press('Enter');
  // The passkey offer: focus on its first button, Tab to "Not now".
  await expect(page.getByRole('button', { name: 'Create a passkey' })).toBeFocused();
  await page.keyboard.press('Tab');
  await expect(page.getByRole('button', { name: 'Not now' })).toBeFocused();
  await page.keyboard.press('Enter');
  await expect.poll(() => seen.length).toBeGreaterThan(0);
  expect(seen[0]).toBe(`${callback}?state=k`);
  expect((await validate(request, link.session_id)).status).toBe('verified');
});

test('a link opened after its time is up gets the expired page', async ({ browser, playwright }) => {
  // A second server on the same database whose links live 3 seconds (see playwright.config.ts).
  const base = `http://localhost:${process.env.E2E_SHORT_PORT}`;
  const api = await playwright.request.newContext({ baseURL: base });
  const link = await generate(api, addApp());
  await new Promise((r) => setTimeout(r, 4_000));
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  const res = await page.goto(base + link.path);
  expect(res!.status()).toBe(410);
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('This sign-in link has expired');
  expect((await validate(api, link.session_id)).status).toBe('expired');
  await ctx.close();
  await api.dispose();
});
