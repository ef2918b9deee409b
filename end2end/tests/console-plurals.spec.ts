// Counted sentences agree with their number (issue 13, item 6): with one wrong password left
// the page says "1 attempt left" (English) and "Noch 1 Versuch" (German), as the server renders
// it without JavaScript and as the island renders the server's answer with JavaScript.
import { test, expect, type Page } from '@playwright/test';
import { addApp, addUser, generate, hydrated } from './helpers';

const words = {
  en: {
    login: 'Login name or email', continue: 'Continue', password: 'Password', signIn: 'Sign in',
    left: (n: number) => `${n} ${n === 1 ? 'attempt' : 'attempts'} left before the account is locked for a while.`,
    locked: /Too many failed attempts\. Try again in 1[45] minutes\./,
  },
  de: {
    login: 'Benutzername oder E-Mail', continue: 'Weiter', password: 'Passwort', signIn: 'Anmelden',
    left: (n: number) => `Noch ${n} ${n === 1 ? 'Versuch' : 'Versuche'}, bevor das Konto vorübergehend gesperrt wird.`,
    locked: /Zu viele Fehlversuche\. Versuchen Sie es in 1[45] Minuten wieder\./,
  },
} as const;

async function wrongPassword(page: Page, w: (typeof words)['en' | 'de'], i: number) {
  await page.getByLabel(w.password, { exact: true }).fill(`wrong ${i}`);
  await page.getByRole('button', { name: w.signIn, exact: true }).click();
}

for (const lang of ['en', 'de'] as const) {
  for (const js of [true, false]) {
    test(`the attempts left are counted in ${lang} ${js ? 'with' : 'without'} JavaScript`, async ({ browser, request }) => {
      const w = words[lang];
      const ctx = await browser.newContext({ javaScriptEnabled: js });
      const page = await ctx.newPage();
      const login = addUser();
      const link = await generate(request, addApp(), { ui_locales: lang });
      await page.goto(link.path);
      if (js) await hydrated(page);
      await expect(page.locator('html')).toHaveAttribute('lang', lang);
      await page.getByLabel(w.login).fill(login);
      await page.getByRole('button', { name: w.continue, exact: true }).click();
      // Four wrong passwords: 4, 3, 2 attempts left, then one (the singular).
      for (let i = 0; i < 4; i++) {
        await wrongPassword(page, w, i);
        const alert = page.getByRole('alert');
        await expect(alert).toContainText(w.left(4 - i));
        if (!js) expect(new URL(page.url()).search).toContain(`n=left-${4 - i}`);
      }
      const last = (await page.getByRole('alert').textContent())!;
      expect(last).toContain(lang === 'en' ? '1 attempt left' : 'Noch 1 Versuch,');
      expect(last).not.toContain(lang === 'en' ? '1 attempts' : '1 Versuche');
      // The fifth locks the account for 15 minutes (the plural again).
      await wrongPassword(page, w, 4);
      await expect(page.getByRole('alert')).toHaveText(w.locked);
      await ctx.close();
    });
  }
}

// A hand-edited notice code renders through the same rules (no-JS path): one minute, singular.
test('a one-minute lock reads in the singular', async ({ page, request }) => {
  const link = await generate(request, addApp(), { ui_locales: 'de' });
  await page.goto(`${link.path}?n=locked-1`);
  await expect(page.getByRole('alert')).toHaveText('Zu viele Fehlversuche. Versuchen Sie es in 1 Minute wieder.');
  await page.goto(`${link.path}?n=locked-1&lang=en`);
  await expect(page.getByRole('alert')).toHaveText('Too many failed attempts. Try again in 1 minute.');
});
