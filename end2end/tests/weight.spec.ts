// The weight of the console's first load in the release build (issue 6, item 8; issue 13,
// item 10): everything a browser transfers to show the login page and hydrate it, as served
// (gzip or brotli where the server compresses), at most 120 KiB in all and at most 20 KiB for
// the HTML and CSS that a browser without JavaScript needs. The page itself comes compressed,
// and every file it loads is named after its content and may be kept for good (`immutable`).
//
// The release site is built by `SITE_DIR=target/site-release scripts/build-site.sh release`
// (scripts/test.sh does it); playwright.config.ts then starts a server on it. Without that
// build the test is skipped, unless E2E_REQUIRE_RELEASE=1 (set by scripts/test.sh) makes it fail.
import { test, expect } from '@playwright/test';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { createHash } from 'node:crypto';
import { addApp, generate } from './helpers';

const KiB = 1024;
const TOTAL_BUDGET = 120 * KiB;
const NO_JS_BUDGET = 20 * KiB;

test('first load of the release console fits the budget', async ({ browser, playwright }) => {
  const built = existsSync(join(__dirname, '..', '..', 'target', 'site-release', 'pkg'));
  if (!built && process.env.E2E_REQUIRE_RELEASE !== '1') {
    test.skip(true, 'no release site: run SITE_DIR=target/site-release scripts/build-site.sh release');
  }
  expect(built, 'target/site-release is missing (scripts/build-site.sh release)').toBe(true);

  const base = `http://localhost:${process.env.E2E_RELEASE_PORT}`;
  const api = await playwright.request.newContext({ baseURL: base });
  const link = await generate(api, addApp());
  await api.dispose();

  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  const cdp = await ctx.newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
  type Row = { url: string; type: string; encoding: string; cache: string; transferred: number; body: number; gzip: number; bytes: Buffer };
  const meta = new Map<string, { url: string; type: string; encoding: string; cache: string }>();
  const rows: Row[] = [];
  const finished: Promise<void>[] = [];
  cdp.on('Network.responseReceived', (e: any) => {
    const headers = Object.fromEntries(Object.entries(e.response.headers).map(([k, v]) => [k.toLowerCase(), v]));
    meta.set(e.requestId, {
      url: e.response.url, type: e.type,
      encoding: String(headers['content-encoding'] ?? 'identity'), cache: String(headers['cache-control'] ?? ''),
    });
  });
  cdp.on('Network.loadingFinished', (e: any) => {
    const m = meta.get(e.requestId);
    if (!m) return;
    finished.push((async () => {
      const { body, base64Encoded } = await cdp.send('Network.getResponseBody', { requestId: e.requestId });
      const bytes = Buffer.from(body, base64Encoded ? 'base64' : 'utf8');
      rows.push({ ...m, transferred: e.encodedDataLength, body: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length, bytes });
    })());
  });

  await page.goto(base + link.path);
  await expect(page.locator('.steps[data-hydrated="true"]')).toHaveCount(1);
  await page.waitForLoadState('networkidle');
  await Promise.all(finished);
  await ctx.close();

  const kind = (r: Row) =>
    r.type === 'Document' ? 'html' : r.url.endsWith('.css') ? 'css' : r.url.endsWith('.wasm') ? 'wasm' : r.url.endsWith('.js') ? 'js' : 'other';
  const sum = (f: (r: Row) => boolean, k: keyof Row = 'transferred') =>
    rows.filter(f).reduce((n, r) => n + (r[k] as number), 0);
  const lines = rows.map((r) =>
    `  ${kind(r).padEnd(5)} ${String(r.transferred).padStart(8)} B transferred (${r.encoding}), ` +
    `${String(r.body).padStart(8)} B decoded, ${String(r.gzip).padStart(8)} B gzip -9  ${new URL(r.url).pathname.slice(0, 60)}`);
  const total = sum(() => true);
  const noJs = sum((r) => ['html', 'css'].includes(kind(r)));
  console.log(
    `first load of the release console (${rows.length} responses; transferred includes headers):\n` +
    lines.join('\n') +
    `\n  total    ${total} B = ${(total / KiB).toFixed(1)} KiB (budget ${TOTAL_BUDGET / KiB} KiB)` +
    `\n  HTML+CSS ${noJs} B = ${(noJs / KiB).toFixed(1)} KiB (budget ${NO_JS_BUDGET / KiB} KiB)` +
    `\n  gzip -9 of every body: ${(sum(() => true, 'gzip') / KiB).toFixed(1)} KiB`,
  );
  for (const k of ['html', 'css', 'js', 'wasm']) expect(rows.some((r) => kind(r) === k), `a ${k} response`).toBe(true);
  expect(noJs, 'HTML and CSS of the first load').toBeLessThanOrEqual(NO_JS_BUDGET);
  expect(total, 'whole first load').toBeLessThanOrEqual(TOTAL_BUDGET);
  // The page is compressed; every file it loads has a name that carries a hash of its content
  // (16 hex digits), is sent compressed and is kept for good.
  const document = rows.filter((r) => kind(r) === 'html');
  expect(document).toHaveLength(1);
  expect(["br", "gzip"]).toContain(document[0].encoding);
  const hashed = [
    /^\/pkg\/vestibule-[0-9a-f]{16}(_bg\.wasm|\.js|\.css)$/,
    /^\/pkg\/snippets\/[a-z_]+-[0-9a-f]{16}-[0-9a-f]{16}\/[\w/.-]+\.js$/,
    /^\/texts\/(en|de|fr|es)-[0-9a-f]{16}\.js$/,
  ];
  // (The island's own request, the passkey autofill's `webauthn-start`, is an answer, not a file.)
  for (const r of rows.filter((r) => ['css', 'js', 'wasm'].includes(kind(r)))) {
    const path = new URL(r.url).pathname;
    expect(hashed.some((re) => re.test(path)), `a content-hashed name: ${path}`).toBe(true);
    expect(r.cache, path).toBe('public, max-age=31536000, immutable');
    expect(['br', 'gzip'], path).toContain(r.encoding);
    // Where one file's hash is its own: the hash is the first 16 hex digits of its SHA-256.
    if (path.endsWith('.css') || path.startsWith('/texts/')) {
      const name = path.slice(path.lastIndexOf('-') + 1, path.lastIndexOf('.'));
      expect(createHash('sha256').update(r.bytes).digest('hex').slice(0, 16), path).toBe(name);
    }
  }
});
