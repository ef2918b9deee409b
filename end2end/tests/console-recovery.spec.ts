// Recovery codes a person can copy and type (issue 13, item 8): ten codes of two groups of five
// Crockford base32 symbols, one a line, a text file to download (with and without JavaScript),
// the TOTP key in groups of four, and typed codes read whatever their case, spaces and hyphens.
import { test, expect, type Browser, type Page } from '@playwright/test';
import { readFileSync } from 'node:fs';
import {
  PASSWORD, addApp, addContactUser, addUser, admin, freshStep, generate, hydrated, notNow, totpNow, validate, type App,
} from './helpers';

const CODE = /^[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}$/;

async function signInWithPassword(page: Page, login: string) {
  await page.getByLabel('Login name or email').fill(login);
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

/// A fresh browser signs in with the password and then the recovery code as typed.
async function signInWithRecoveryCode(browser: Browser, js: boolean, request: any, app: App, login: string, typed: string) {
  const link = await generate(request, app);
  const ctx = await browser.newContext({ javaScriptEnabled: js });
  const page = await ctx.newPage();
  await page.goto(new URL(link.path, `http://localhost:${process.env.E2E_PORT}`).toString());
  if (js) await hydrated(page);
  await signInWithPassword(page, login);
  await page.getByRole('radio', { name: 'A recovery code' }).check();
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.getByLabel('Recovery code', { exact: true }).fill(typed);
  await page.getByRole('button', { name: 'Verify' }).click();
  if (js) await notNow(page);
  await expect(page).toHaveTitle('You are signed in');
  const status = await validate(request, link.session_id);
  expect(status.status).toBe('verified');
  expect(status.factors).toContain('recovery_code');
  await ctx.close();
}

for (const js of [true, false]) {
  test(`recovery codes are shown, downloaded and typed loosely ${js ? 'with' : 'without'} JavaScript`, async ({ browser, request }) => {
    test.setTimeout(90_000);
    const ctx = await browser.newContext({ javaScriptEnabled: js, acceptDownloads: true });
    if (js) await ctx.grantPermissions(['clipboard-read', 'clipboard-write']);
    const page = await ctx.newPage();
    const login = addUser();
    const app = addApp({ secondFactor: true });
    const link = await generate(request, app);
    await page.goto(link.path);
    if (js) await hydrated(page);
    await signInWithPassword(page, login);

    // The key to type by hand, in groups of four.
    const shown = (await page.locator('code.secret').textContent())!.trim();
    expect(shown).toMatch(/^([A-Z2-7]{4} ){7}[A-Z2-7]{4}$/);
    const secret = shown.replace(/ /g, '');
    await freshStep();
    await page.getByLabel('Code from the app').fill(totpNow(secret));
    await page.getByRole('button', { name: 'Verify' }).click();
    await expect(page.getByRole('heading', { name: 'Save your recovery codes' })).toBeVisible();

    // Ten codes, each of the two groups, one a line (each below the one before, none beside).
    const items = page.locator('ul.codes li');
    await expect(items).toHaveCount(10);
    const codes = (await items.allTextContents()).map((c) => c.trim());
    for (const c of codes) expect(c).toMatch(CODE);
    expect(new Set(codes).size).toBe(10);
    const boxes = await Promise.all((await items.all()).map((li) => li.boundingBox()));
    for (let i = 1; i < boxes.length; i++) {
      expect(boxes[i]!.x).toBeCloseTo(boxes[0]!.x, 0);
      expect(boxes[i]!.y).toBeGreaterThanOrEqual(boxes[i - 1]!.y + boxes[i - 1]!.height - 1);
    }

    // The text file: the same codes, one a line.
    const file = codes.map((c) => `${c}\n`).join('');
    const download = page.getByRole('link', { name: 'Download as a text file' });
    await expect(download).toHaveAttribute('download', 'recovery-codes.txt');
    const href = (await download.getAttribute('href'))!;
    expect(href.startsWith('data:text/plain;charset=utf-8,')).toBe(true);
    expect(decodeURIComponent(href.slice(href.indexOf(',') + 1))).toBe(file);
    const [saved] = await Promise.all([page.waitForEvent('download'), download.click()]);
    expect(saved.suggestedFilename()).toBe('recovery-codes.txt');
    expect(readFileSync((await saved.path())!, 'utf8')).toBe(file);
    if (js) {
      await page.getByRole('button', { name: 'Copy codes' }).click();
      await expect(page.getByRole('button', { name: 'Copied' })).toBeVisible();
      expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(file);
    }

    await page.getByRole('button', { name: 'I have saved them' }).click();
    if (js) await notNow(page);
    await expect(page).toHaveTitle('You are signed in');
    expect((await validate(request, link.session_id)).status).toBe('verified');
    await ctx.close();

    // Typed in lower case with a space for the hyphen and spaces around; then without the
    // hyphen, in two halves of other cases with an extra hyphen.
    const [a, b] = codes[2].split('-');
    await signInWithRecoveryCode(browser, js, request, app, login, ` ${a.toLowerCase()} ${b.toLowerCase()} `);
    const [c, d] = codes[7].split('-');
    await signInWithRecoveryCode(browser, js, request, app, login, `${c}--${d.toLowerCase()}`);
    // A used code is refused, whatever its spelling.
    const again = await generate(request, app);
    const p = await browser.newPage();
    await p.goto(new URL(again.path, `http://localhost:${process.env.E2E_PORT}`).toString());
    await signInWithPassword(p, login);
    await p.getByRole('radio', { name: 'A recovery code' }).check();
    await p.getByRole('button', { name: 'Continue' }).click();
    await p.getByLabel('Recovery code', { exact: true }).fill(codes[2].toLowerCase());
    await p.getByRole('button', { name: 'Verify' }).click();
    await expect(p.getByRole('alert')).toContainText('That code is not right.');
    await p.close();
  });
}

test('the admin API hands out codes of the same shape', async ({ request }) => {
  const user = addContactUser();
  const { codes } = await admin(request, 'POST', `/users/${user.id}/recovery-codes`);
  expect(codes).toHaveLength(10);
  for (const c of codes) expect(c).toMatch(CODE);
});
