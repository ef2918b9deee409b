// Shared set-up for console tests: users and apps through the real CLI, links through the real
// handoff API, TOTP codes computed from the secret the page shows.
import { execFileSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { expect, type APIRequestContext, type CDPSession, type Page } from '@playwright/test';
import * as OTPAuth from 'otpauth';

const root = join(__dirname, '..', '..');
const bin = resolve(root, process.env.SERVER_BIN ?? 'target/debug/server');

let counter = 0;
/// A name unique to this run, so tests never share users or apps.
export function unique(prefix: string): string {
  counter += 1;
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${counter}`;
}

/// Runs the CLI on the main server's database, or with `--database-url` on another.
export function cli(args: string[], database?: string): any {
  const where = database ? ['--database-url', database] : ['--data-dir', process.env.E2E_DATA_DIR!];
  const out = execFileSync(bin, [...args, '--json', ...where], {
    cwd: root,
    env: { ...process.env, RUST_LOG: 'error' },
  });
  return JSON.parse(out.toString());
}

export const PASSWORD = 'correct horse battery staple';

export function addUser(extra: string[] = [], database?: string): string {
  const login = unique('user');
  cli(['user', 'add', '--login-name', login, '--password', PASSWORD, ...extra], database);
  return login;
}

export type App = { app_key: string; app_secret: string };

export function addApp(
  opts: { redirect?: string; secondFactor?: boolean; passwordless?: boolean; database?: string } = {},
): App {
  const args = ['app', 'add', '--name', unique('Shop')];
  if (opts.redirect) args.push('--redirect-uri', opts.redirect);
  if (opts.secondFactor) args.push('--require-second-factor');
  if (opts.passwordless) args.push('--passwordless');
  return cli(args, opts.database);
}

export async function generate(
  request: APIRequestContext,
  app: App,
  extra: Record<string, string> = {},
): Promise<{ path: string; session_id: string }> {
  const res = await request.post('/session/generate/', {
    data: { app_key: app.app_key, app_secret: app.app_secret, ...extra },
  });
  expect(res.status()).toBe(200);
  const body = await res.json();
  return { path: `/console/session/${body.token}`, session_id: body.session_id };
}

export async function validate(request: APIRequestContext, sessionId: string): Promise<any> {
  const res = await request.post('/session/validate/', { data: { session_id: sessionId } });
  expect(res.status()).toBe(200);
  return res.json();
}

export async function hydrated(page: Page) {
  await expect(page.locator('.steps[data-hydrated="true"]')).toHaveCount(1);
}

export function totpNow(secret: string, offsetSteps = 0): string {
  const totp = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(secret), digits: 6, period: 30 });
  return totp.generate({ timestamp: Date.now() + offsetSteps * 30_000 });
}

/// Waits until the next 30-second step starts when the current one is almost over, so a code
/// computed now is still good when the server checks it.
export async function freshStep() {
  const into = (Date.now() / 1000) % 30;
  if (into > 25) await new Promise((r) => setTimeout(r, (30 - into + 0.5) * 1000));
}

let adminKey: string | undefined;
/// Calls the admin API (/admin/v1) with an admin API key made once per worker through the CLI.
export async function admin(request: APIRequestContext, method: 'POST' | 'PUT' | 'PATCH' | 'GET' | 'DELETE', path: string, data?: unknown): Promise<any> {
  adminKey ??= cli(['apikey', 'add', '--name', unique('e2e'), '--scope', 'admin']).key;
  const res = await request.fetch(`/admin/v1${path}`, {
    method,
    data,
    headers: { Authorization: `Bearer ${adminKey}` },
  });
  expect(res.ok(), `${method} ${path}: ${res.status()} ${await res.text()}`).toBeTruthy();
  return res.status() === 204 ? null : res.json();
}

/// After a password sign-in with JavaScript the page offers a passkey: decline it.
export async function notNow(page: Page) {
  await expect(page.getByRole('heading', { name: 'Sign in faster with a passkey' })).toBeVisible();
  await page.getByRole('button', { name: 'Not now' }).click();
}

export type User = { login: string; id: string; email: string; phone: string };

/// A user with a verified email and phone (unique to the test), made through the CLI.
export function addContactUser(): User {
  const login = unique('user');
  const phone = '+4915' + String(Date.now() % 1e9).padStart(9, '0') + String(counter % 10);
  const email = `${login}@mail.test`;
  const out = cli(['user', 'add', '--login-name', login, '--password', PASSWORD, '--email', email, '--phone', phone]);
  return { login, id: out.id, email, phone };
}

/// Turns on TOTP for the user through the admin API; returns the secret.
export async function enableTotp(request: APIRequestContext, user: User): Promise<string> {
  const started = await admin(request, 'POST', `/users/${user.id}/totp`);
  await freshStep();
  await admin(request, 'POST', `/users/${user.id}/totp/verify`, { code: totpNow(started.secret) });
  return started.secret;
}

const sink = () => `http://127.0.0.1:${process.env.E2E_SINK_PORT}`;

const CODE = /\b(\d{6})\b/;
/// Code messages say so ("Your sign-in code is …", "… is your sign-in code."); notices do not.
const isCode = (text: string) => /sign-in code/.test(text);

async function inbox(request: APIRequestContext, to: string): Promise<{ to: string; text: string }[]> {
  return (await request.get(`${sink()}/inbox?to=${encodeURIComponent(to)}`)).json();
}

/// Waits for code message number `nth` (from 1) to `to` at the sink (SMTP or SMS) and returns
/// the code in it. Other mail to the address (sign-in method notices) is not counted.
export async function receivedCode(request: APIRequestContext, to: string, nth = 1): Promise<string> {
  let text = '';
  await expect
    .poll(async () => {
      const codes = (await inbox(request, to)).filter((m) => isCode(m.text));
      text = codes[nth - 1]?.text ?? '';
      return codes.length;
    }, { message: `code message ${nth} to ${to}`, timeout: 15_000 })
    .toBeGreaterThanOrEqual(nth);
  const m = text.match(CODE);
  expect(m, text).not.toBeNull();
  return m![1];
}

/// The sign-in method notices sent to `to` so far (mail without a code), oldest first.
export async function notices(request: APIRequestContext, to: string): Promise<string[]> {
  return (await inbox(request, to)).filter((m) => !isCode(m.text)).map((m) => m.text);
}

// --- WebAuthn: Chromium's virtual authenticator (CDP WebAuthn domain) ---

export type Authenticator = { cdp: CDPSession; id: string };

/// A platform authenticator with resident keys and user verification (a passkey provider), or
/// a USB security key without either.
export async function authenticator(page: Page, kind: 'platform' | 'security-key' = 'platform'): Promise<Authenticator> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('WebAuthn.enable', { enableUI: false });
  const platform = kind === 'platform';
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      ctap2Version: 'ctap2_1',
      transport: platform ? 'internal' : 'usb',
      hasResidentKey: platform,
      hasUserVerification: platform,
      isUserVerified: platform,
      automaticPresenceSimulation: true,
    },
  });
  return { cdp, id: authenticatorId };
}

export async function credentials(a: Authenticator) {
  return (await a.cdp.send('WebAuthn.getCredentials', { authenticatorId: a.id })).credentials;
}

/// A browser whose WebAuthn has no autofill (conditional mediation): passkeys come only from
/// the button. Chromium's virtual authenticator answers an autofill request at once, so tests of
/// the button turn it off this way.
export async function withoutAutofill(page: Page) {
  await page.addInitScript(() => {
    if (window.PublicKeyCredential) {
      PublicKeyCredential.isConditionalMediationAvailable = async () => false;
    }
  });
}
