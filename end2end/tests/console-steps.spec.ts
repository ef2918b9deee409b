// What each step tells the person: what to do and where a code comes from, who is signing in,
// the way to another method, a lock that disables what would only be refused, a password field
// emptied after a wrong try, and a signed-in page with its own title and the way back to the app.
// English and German, with and without JavaScript.
import { test, expect, type Page } from '@playwright/test';
import {
  PASSWORD, addApp, addContactUser, addUser, admin, enableTotp, generate, hydrated, notNow,
} from './helpers';

const EN = {
  login: 'Login name or email', continue: 'Continue', password: 'Password', signIn: 'Sign in',
  totp: 'Code from an authenticator app', recovery: 'A recovery code', another: 'Choose another way',
  totpHint: 'Enter the 6-digit code from your authenticator app.',
  recoveryHint: 'Enter one of the recovery codes you saved. Each works once.',
  who: (name: string) => `Signing in as ${name}`,
  verify: 'Verify', notNow: 'Not now', signedIn: 'You are signed in',
  locked: /^Too many failed attempts\. Try again in 1[45] minutes\.$/,
  back: (app: string) => `Go back to ${app}`,
};
const DE = {
  login: 'Benutzername oder E-Mail', continue: 'Weiter', password: 'Passwort', signIn: 'Anmelden',
  totp: 'Code aus einer Authenticator-App', recovery: 'Ein Wiederherstellungscode',
  another: 'Einen anderen Weg wählen',
  totpHint: 'Geben Sie den 6-stelligen Code aus Ihrer Authenticator-App ein.',
  recoveryHint: 'Geben Sie einen Ihrer gespeicherten Wiederherstellungscodes ein. Jeder gilt nur einmal.',
  who: (name: string) => `Anmeldung als ${name}`,
  verify: 'Bestätigen', notNow: 'Jetzt nicht', signedIn: 'Sie sind angemeldet',
  locked: /^Zu viele Fehlversuche\. Versuchen Sie es in 1[45] Minuten wieder\.$/,
  back: (app: string) => `Zurück zu ${app}`,
};
type Words = typeof EN;

async function password(page: Page, w: Words, login: string, secret: string) {
  await page.getByLabel(w.login).fill(login);
  await page.getByRole('button', { name: w.continue }).click();
  await page.getByLabel(w.password).fill(secret);
  await page.getByRole('button', { name: w.signIn, exact: true }).click();
}

for (const js of [true, false]) {
  for (const [lang, w] of [['en', EN], ['de', DE]] as const) {
    test.describe(`${js ? 'with' : 'without'} JavaScript, ${lang}`, () => {
      test.use({ javaScriptEnabled: js });

      test('each factor step says what to do, who is signing in, and offers another way', async ({ page, request }) => {
        test.setTimeout(60_000);
        const user = addContactUser();
        await enableTotp(request, user);
        const { codes } = await admin(request, 'POST', `/users/${user.id}/recovery-codes`);
        const link = await generate(request, addApp({ secondFactor: true }));
        await page.goto(`${link.path}?lang=${lang}`);
        if (js) await hydrated(page);
        await password(page, w, user.login, PASSWORD);

        await expect(page.getByText(w.who(user.login))).toBeVisible();
        await page.getByRole('radio', { name: w.totp }).check();
        await page.getByRole('button', { name: w.continue }).click();
        await expect(page.locator('#code-hint')).toHaveText(w.totpHint);
        await expect(page.getByText(w.who(user.login))).toBeVisible();
        await page.getByRole('button', { name: w.another }).click();

        // Back at the choice; the recovery code says what it is and offers the way back too.
        await page.getByRole('radio', { name: w.recovery }).check();
        await page.getByRole('button', { name: w.continue }).click();
        await expect(page.locator('#code-hint')).toHaveText(w.recoveryHint);
        await expect(page.getByText(w.who(user.login))).toBeVisible();
        await expect(page.getByRole('button', { name: w.another })).toBeVisible();
        await page.locator('#code').fill(codes[0]);
        await page.getByRole('button', { name: w.verify }).click();
        if (js) await page.getByRole('button', { name: w.notNow }).click();
        await expect(page).toHaveTitle(w.signedIn);
      });

      test('a wrong password empties the field; a lock disables it and says when to try again', async ({ page, request }) => {
        const login = addUser();
        const link = await generate(request, addApp());
        await page.goto(`${link.path}?lang=${lang}`);
        if (js) await hydrated(page);
        await page.getByLabel(w.login).fill(login);
        await page.getByRole('button', { name: w.continue }).click();
        const field = page.getByLabel(w.password);
        const button = page.getByRole('button', { name: w.signIn, exact: true });
        for (let i = 0; i < 4; i++) {
          await field.fill(`wrong ${i}`);
          await button.click();
          await expect(page.getByRole('alert')).toContainText(`${4 - i}`);
          await expect(field).toHaveValue('');
          await expect(field).toBeEnabled();
          await expect(button).toBeEnabled();
        }
        await field.fill('wrong 4');
        await button.click();
        await expect(page.getByRole('alert')).toHaveText(w.locked);
        await expect(field).toBeDisabled();
        await expect(button).toBeDisabled();
        // A reload keeps the lock in view.
        if (!js) {
          await page.reload();
          await expect(page.getByLabel(w.password)).toBeDisabled();
        }
      });

      test('the signed-in page has its own title and leads back to the app', async ({ page, request }) => {
        const login = addUser();
        const app = addApp();
        const shown = (await admin(request, 'PATCH', `/apps/${(app as any).id}`, {
          branding: { display_name: 'Corner Shop', home_url: 'https://shop.example/home' },
        })).branding.display_name;
        expect(shown).toBe('Corner Shop');
        const link = await generate(request, app);
        await page.goto(`${link.path}?lang=${lang}`);
        if (js) await hydrated(page);
        await password(page, w, login, PASSWORD);
        if (js) await page.getByRole('button', { name: w.notNow }).click();
        await expect(page).toHaveTitle(w.signedIn);
        await expect(page.getByRole('heading', { level: 1 })).toHaveText(w.signedIn);
        const back = page.getByRole('link', { name: w.back('Corner Shop') });
        await expect(back).toHaveAttribute('href', 'https://shop.example/home');
      });
    });
  }
}

test('an app without a home URL gets no link on the signed-in page', async ({ page, request }) => {
  const login = addUser();
  const link = await generate(request, addApp());
  await page.goto(link.path);
  await hydrated(page);
  await password(page, EN, login, PASSWORD);
  await notNow(page);
  await expect(page).toHaveTitle(EN.signedIn);
  await expect(page.getByRole('link')).toHaveCount(0);
});
