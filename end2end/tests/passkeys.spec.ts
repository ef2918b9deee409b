// Passkeys and security keys on the hosted page, in Chromium with its virtual authenticator
// (CDP WebAuthn domain: ctap2, internal transport, resident keys, user verification).
import { test, expect, type Page, type CDPSession } from '@playwright/test';
import { PASSWORD, addApp, addUser, generate, hydrated, validate } from './helpers';

async function authenticator(page: Page, opts: { transport?: string; residentKey?: boolean; uv?: boolean } = {}) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('WebAuthn.enable', { enableUI: false });
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      ctap2Version: 'ctap2_1',
      transport: (opts.transport ?? 'internal') as any,
      hasResidentKey: opts.residentKey ?? true,
      hasUserVerification: opts.uv ?? true,
      isUserVerified: opts.uv ?? true,
      automaticPresenceSimulation: true,
    },
  });
  return { cdp, authenticatorId };
}

test('experiment', async ({ page, request }) => {
  const login = addUser();
  const app = addApp();
  let link = await generate(request, app);
  const { cdp, authenticatorId } = await authenticator(page);
  page.on('console', (m) => console.log('console:', m.text()));
  await page.goto(link.path);
  await hydrated(page);
  await expect(page.locator('.steps[data-webauthn="true"]')).toHaveCount(1);
  await page.getByLabel('Login name or email').fill(login);
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('heading', { name: 'Sign in faster with a passkey' })).toBeVisible();
  await page.getByRole('button', { name: 'Create a passkey' }).click();
  await expect(page.getByRole('status').first()).toContainText('Your passkey is saved');
  await expect(page.getByRole('heading', { name: 'You are signed in' })).toBeVisible();
  const creds = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
  console.log('credentials', JSON.stringify(creds.credentials.map((c) => [c.isResidentCredential, c.signCount])));
  link = await generate(request, app);
  await page.goto(link.path);
  await hydrated(page);
  await page.waitForTimeout(2000);
  console.log('after load:', await page.locator('main').innerText());
});
