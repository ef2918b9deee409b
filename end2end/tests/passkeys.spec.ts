// Passkeys and security keys on the hosted page, in Chromium with its virtual authenticator
// (CDP WebAuthn domain). Every login is a real handoff: generate by API, open the link, finish,
// validate by API.
import { test, expect, type APIRequestContext, type Page } from '@playwright/test';
import {
  PASSWORD, addApp, addContactUser, addUser, admin, authenticator, cli, credentials, enableTotp,
  freshStep, generate, hydrated, notNow, notices, totpNow, validate, withoutAutofill, type App,
} from './helpers';

async function passwordLogin(page: Page, login: string) {
  await page.getByLabel('Login name or email').fill(login);
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
}

async function signedIn(page: Page) {
  await expect(page).toHaveTitle('You are signed in');
}

/// Password login on a fresh link, then "Create a passkey" on the offer.
async function registerAfterPassword(page: Page, request: APIRequestContext, app: App, login: string) {
  const link = await generate(request, app);
  await page.goto(link.path);
  await hydrated(page);
  await passwordLogin(page, login);
  await expect(page.getByRole('heading', { name: 'Sign in faster with a passkey' })).toBeVisible();
  await page.getByRole('button', { name: 'Create a passkey' }).click();
  await expect(page.getByText('Your passkey is saved. Next time, sign in with it.')).toBeVisible();
  await signedIn(page);
  const status = await validate(request, link.session_id);
  expect(status.status).toBe('verified');
  expect(status.factors).toEqual(['password']);
}

async function userId(login: string, database?: string): Promise<string> {
  const users = cli(['user', 'list'], database);
  const list = Array.isArray(users) ? users : users.users;
  return list.find((u: any) => u.login_name === login).id;
}

test('a passkey registered after a password login signs in from the button, then first for its name', async ({ page, request }) => {
  await withoutAutofill(page);
  const a = await authenticator(page);
  const login = addUser();
  const app = addApp();
  await registerAfterPassword(page, request, app, login);
  const [stored] = await credentials(a);
  expect(stored.isResidentCredential).toBe(true);
  expect(stored.rpId).toBe('localhost');

  // Signed out: a new login, the passkey alone from the first step's button.
  let link = await generate(request, app);
  await page.goto(link.path);
  await hydrated(page);
  await expect(page.getByLabel('Login name or email')).toHaveAttribute('autocomplete', 'username webauthn');
  await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
  await signedIn(page);
  let status = await validate(request, link.session_id);
  expect(status.status).toBe('verified');
  expect(status.user.login_name).toBe(login);
  expect(status.factors).toEqual(['passkey']);
  expect(status.amr).toContain('mfa');
  // The counter moved with the use, on the authenticator and on the server.
  const [used] = await credentials(a);
  expect(used.signCount).toBeGreaterThan(stored.signCount);

  // This browser now remembers the name: typing it leads to the passkey first, with the
  // password as the way out.
  link = await generate(request, app);
  await page.goto(link.path);
  await hydrated(page);
  await page.getByLabel('Login name or email').fill(login);
  await page.getByRole('button', { name: 'Continue' }).click();
  await expect(page.getByRole('heading', { name: 'Use your passkey' })).toBeVisible();
  await page.getByRole('button', { name: 'Use my password instead' }).click();
  await expect(page.getByLabel('Password')).toBeFocused();
  await expect(page.getByText(`Signing in as ${login}`)).toBeVisible();
  await page.getByRole('button', { name: 'Use a passkey instead' }).click();
  await signedIn(page);
  expect((await validate(request, link.session_id)).factors).toEqual(['passkey']);

  link = await generate(request, app);
  await page.goto(link.path);
  await hydrated(page);
  await page.getByLabel('Login name or email').fill(login);
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.getByRole('button', { name: 'Continue with my passkey' }).click();
  await signedIn(page);
  status = await validate(request, link.session_id);
  expect(status.user.login_name).toBe(login);
  expect(status.factors).toEqual(['passkey']);
  // A name the browser does not remember still goes to the password.
  link = await generate(request, app);
  await page.goto(link.path);
  await hydrated(page);
  await page.getByLabel('Login name or email').fill('someone-else');
  await page.getByRole('button', { name: 'Continue' }).click();
  await expect(page.getByLabel('Password')).toBeVisible();
});

test('passkey autofill in the login-name field signs in without a click', async ({ page, request }) => {
  const a = await authenticator(page);
  const login = addUser();
  const app = addApp();
  // No "Not now" cookie yet, but a passkey would be offered: register one.
  await registerAfterPassword(page, request, app, login);
  const link = await generate(request, app);
  let asked = '';
  page.on('request', (r) => {
    if (r.url().endsWith('/console/api/step')) asked += (r.postData() ?? '') + '\n';
  });
  await page.goto(link.path);
  await hydrated(page);
  // The conditional request is answered by the virtual authenticator as if the person picked
  // the passkey from the field's suggestions.
  await signedIn(page);
  expect(asked).toContain('op=webauthn-start');
  expect(asked).toContain('op=webauthn&');
  const status = await validate(request, link.session_id);
  expect(status.status).toBe('verified');
  expect(status.user.login_name).toBe(login);
  expect(status.factors).toEqual(['passkey']);
  expect((await credentials(a))[0].signCount).toBeGreaterThan(1);
});

test('a security key as the second factor', async ({ page, request }) => {
  const key = await authenticator(page, 'security-key');
  const login = addUser();
  const id = await userId(login);
  // The security key is registered through the admin API, with the browser's own create().
  await page.goto('/healthz');
  const started = await admin(request, 'POST', `/users/${id}/webauthn/registrations`, { kind: 'security_key' });
  const credential = await page.evaluate(async (options) => {
    const publicKey = PublicKeyCredential.parseCreationOptionsFromJSON(options.publicKey);
    const created = (await navigator.credentials.create({ publicKey })) as PublicKeyCredential;
    return created.toJSON();
  }, started.options);
  await admin(request, 'POST', `/users/${id}/webauthn/credentials`, {
    registration_id: started.registration_id, credential, name: 'Blue key',
  });
  expect(await credentials(key)).toHaveLength(1);

  const app = addApp({ secondFactor: true });
  const link = await generate(request, app);
  await page.goto(link.path);
  await hydrated(page);
  await passwordLogin(page, login);
  // Its only second factor: straight to it.
  await expect(page.getByRole('heading', { name: 'Use your security key' })).toBeVisible();
  expect((await validate(request, link.session_id)).status).toBe('pending');
  await page.getByRole('button', { name: 'Use my security key' }).click();
  // Signed in with password and key; a passkey is offered next, and declined.
  await notNow(page);
  await signedIn(page);
  const status = await validate(request, link.session_id);
  expect(status.status).toBe('verified');
  expect(status.factors).toEqual(['password', 'security_key']);
});

test('cancelling, an unknown passkey and a browser without WebAuthn read clearly', async ({ page, request, browser }) => {
  await withoutAutofill(page);
  const a = await authenticator(page);
  const login = addUser();
  const app = addApp();
  await registerAfterPassword(page, request, app, login);

  // The person does not confirm (the authenticator fails user verification): cancelled.
  await a.cdp.send('WebAuthn.setUserVerified', { authenticatorId: a.id, isUserVerified: false });
  let link = await generate(request, app);
  await page.goto(link.path);
  await hydrated(page);
  await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
  await expect(page.getByRole('alert')).toHaveText(
    'The passkey request was cancelled or timed out. Try again, or sign in another way.',
  );
  // The step stays usable: the password still works.
  await a.cdp.send('WebAuthn.setUserVerified', { authenticatorId: a.id, isUserVerified: true });

  // The server forgot the passkey (removed by an admin), the authenticator did not.
  const id = await userId(login);
  const { credentials: stored } = await admin(request, 'GET', `/users/${id}/webauthn/credentials`);
  expect(stored).toHaveLength(1);
  await admin(request, 'DELETE', `/users/${id}/webauthn/credentials/${stored[0].id}`);
  await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
  await expect(page.getByRole('alert')).toHaveText(
    'This passkey is not registered here. Choose another one, or sign in another way.',
  );
  expect((await validate(request, link.session_id)).status).toBe('pending');

  // A browser without WebAuthn: no passkey button; a passwordless app says why it cannot go on.
  const context = await browser.newContext();
  const plain = await context.newPage();
  await plain.addInitScript(() => {
    delete (window as any).PublicKeyCredential;
  });
  link = await generate(request, app);
  await plain.goto(link.path);
  await hydrated(plain);
  await expect(plain.getByRole('button', { name: 'Sign in with a passkey' })).toBeHidden();
  await expect(plain.getByText('Passkeys need JavaScript')).toBeHidden();
  const strict = addApp({ passwordless: true });
  const other = addUser();
  link = await generate(request, strict);
  await plain.goto(link.path);
  await hydrated(plain);
  await passwordLogin(plain, other);
  await expect(plain.getByRole('heading', { name: 'Sign in faster with a passkey' })).toBeVisible();
  await expect(plain.getByText('This browser cannot use passkeys. Sign in another way.')).toBeVisible();
  await expect(plain.getByRole('button', { name: 'Create a passkey' })).toBeHidden();
  await expect(plain.getByRole('button', { name: 'Not now' })).toHaveCount(0);
  expect((await validate(request, link.session_id)).status).toBe('pending');
  await context.close();
});

test('a password alone adds no passkey next to TOTP; after the TOTP code it may, and the person is told', async ({ page, request }) => {
  await withoutAutofill(page);
  const a = await authenticator(page);
  const user = addContactUser();
  const secret = await enableTotp(request, user);
  await expect.poll(async () => (await notices(request, user.email)).length).toBe(1);
  expect((await notices(request, user.email))[0]).toContain('authenticator app (TOTP)');

  // App A takes a password alone: signed in, and no passkey is offered to a stolen password.
  let link = await generate(request, addApp());
  await page.goto(link.path);
  await hydrated(page);
  await passwordLogin(page, user.login);
  await signedIn(page);
  await expect(page.getByRole('heading', { name: 'Sign in faster with a passkey' })).toHaveCount(0);
  expect((await validate(request, link.session_id)).factors).toEqual(['password']);
  expect(await credentials(a)).toHaveLength(0);

  // With the TOTP code in the same login, the offer comes, and the new passkey is announced.
  link = await generate(request, addApp({ secondFactor: true }));
  await page.goto(link.path);
  await hydrated(page);
  await passwordLogin(page, user.login);
  // The enrollment used this step's code (a replay is refused): the next step's, within the skew.
  await freshStep();
  await page.getByLabel('6-digit code').fill(totpNow(secret, 1));
  await page.getByRole('button', { name: 'Verify' }).click();
  await expect(page.getByRole('heading', { name: 'Sign in faster with a passkey' })).toBeVisible();
  await page.getByRole('button', { name: 'Create a passkey' }).click();
  await expect(page.getByText('Your passkey is saved. Next time, sign in with it.')).toBeVisible();
  expect(await credentials(a)).toHaveLength(1);
  await expect.poll(async () => (await notices(request, user.email)).length).toBe(2);
  const notice = (await notices(request, user.email))[1];
  expect(notice).toContain('passkey');
  expect(notice).toContain('Chrome');
});

test('a passwordless app: a passkey is required after the password, then used', async ({ page, request }) => {
  await withoutAutofill(page);
  await authenticator(page);
  const login = addUser();
  const app = addApp({ passwordless: true });
  const link = await generate(request, app);
  await page.goto(link.path);
  await hydrated(page);
  await passwordLogin(page, login);
  await expect(page.getByRole('heading', { name: 'Sign in faster with a passkey' })).toBeVisible();
  await expect(page.getByText('signs people in with passkeys. Create one to finish signing in.')).toBeVisible();
  await expect(page.getByRole('button', { name: 'Not now' })).toHaveCount(0);
  // A reload keeps the requirement: the password alone is not a sign-in here.
  await page.reload();
  await hydrated(page);
  await expect(page.getByRole('heading', { name: 'Sign in faster with a passkey' })).toBeVisible();
  expect((await validate(request, link.session_id)).status).toBe('pending');
  await page.getByRole('button', { name: 'Create a passkey' }).click();
  await expect(page.getByText('Your passkey is saved. Next time, sign in with it.')).toBeVisible();
  await expect(page.getByRole('heading', { name: 'Use your passkey' })).toBeVisible();
  expect((await validate(request, link.session_id)).status).toBe('pending');
  await page.getByRole('button', { name: 'Continue with my passkey' }).click();
  await signedIn(page);
  const status = await validate(request, link.session_id);
  expect(status.status).toBe('verified');
  // A passkey never completes the login that made it: the login started again with the user
  // known, and the passkey alone completed the new one.
  expect(status.factors).toEqual(['passkey']);
});

test.describe('without JavaScript', () => {
  test.use({ javaScriptEnabled: false });

  test('the page says passkeys need JavaScript and the other ways work', async ({ page, request }) => {
    const login = addUser();
    const id = await userId(login);
    const codes = await admin(request, 'POST', `/users/${id}/recovery-codes`);
    const app = addApp({ secondFactor: true });
    const link = await generate(request, app);
    await page.goto(link.path);
    await expect(page.getByText('Passkeys need JavaScript. You can sign in another way below.')).toBeVisible();
    await expect(page.getByRole('button', { name: 'Sign in with a passkey' })).toBeHidden();
    await passwordLogin(page, login);
    // Only a recovery code is set up: straight to it, no passkey offer without JavaScript.
    await page.getByLabel('Recovery code').fill(codes.codes[0]);
    await page.getByRole('button', { name: 'Verify' }).click();
    await signedIn(page);
    expect((await validate(request, link.session_id)).status).toBe('verified');
  });

  test('a passwordless app explains that it needs JavaScript', async ({ page, request }) => {
    const login = addUser();
    const link = await generate(request, addApp({ passwordless: true }));
    await page.goto(link.path);
    await passwordLogin(page, login);
    await expect(page.getByText('requires a passkey, and passkeys need JavaScript. Turn JavaScript on and reload this page.')).toBeVisible();
    await expect(page.getByRole('button', { name: 'Create a passkey' })).toBeHidden();
    expect((await validate(request, link.session_id)).status).toBe('pending');
  });
});

test('ceremonies started on one replica finish on another sharing PostgreSQL', async ({ page, playwright }) => {
  const db = process.env.E2E_PG_URL!;
  const replicaA = `http://localhost:${process.env.E2E_PG_A_PORT}`;
  const replicaB = `http://localhost:${process.env.E2E_PG_B_PORT}`; // cookies are per host
  const api = await playwright.request.newContext({ baseURL: replicaA });
  await withoutAutofill(page);
  const a = await authenticator(page);
  const login = addUser([], db);
  const app = addApp({ database: db });
  // Every WebAuthn answer of the browser goes to replica B; everything else to A (the page's
  // origin and public URL).
  const finishedOnB: string[] = [];
  await page.route('**/console/api/step', async (route) => {
    const body = route.request().postData() ?? '';
    const op = new URLSearchParams(body).get('op') ?? '';
    if (op === 'webauthn' || op === 'passkey-registered') {
      const response = await route.fetch({ url: `${replicaB}/console/api/step` });
      finishedOnB.push(`${op} ${response.status()}`);
      await route.fulfill({ response });
    } else {
      await route.continue();
    }
  });
  const open = async () => {
    const res = await api.post('/session/generate/', { data: { app_key: app.app_key, app_secret: app.app_secret } });
    expect(res.status()).toBe(200);
    const body = await res.json();
    await page.goto(`${replicaA}/console/session/${body.token}`);
    await hydrated(page);
    return body.session_id as string;
  };
  const status = async (sessionId: string) =>
    (await (await api.post('/session/validate/', { data: { session_id: sessionId } })).json());

  let sessionId = await open();
  await passwordLogin(page, login);
  await page.getByRole('button', { name: 'Create a passkey' }).click();
  await expect(page.getByText('Your passkey is saved. Next time, sign in with it.')).toBeVisible();
  await signedIn(page);
  expect((await status(sessionId)).status).toBe('verified');

  sessionId = await open();
  await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
  await signedIn(page);
  const result = await status(sessionId);
  expect(result.status).toBe('verified');
  expect(result.user.login_name).toBe(login);
  expect(result.factors).toEqual(['passkey']);
  expect(finishedOnB).toEqual(['passkey-registered 200', 'webauthn 200']);
  expect((await credentials(a))[0].signCount).toBeGreaterThan(0);
  await api.dispose();
});
