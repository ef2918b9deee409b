import { test, expect } from '@playwright/test';
import { addApp, generate } from './helpers';

test('console pages carry the security headers', async ({ request }) => {
  const { path } = await generate(request, addApp());
  const res = await request.get(path);
  expect(res.status()).toBe(200);
  const headers = res.headers();
  expect(headers['content-security-policy']).toMatch(/script-src 'self' 'wasm-unsafe-eval' 'nonce-[^']+'/);
  expect(headers['content-security-policy']).toContain("frame-ancestors 'none'");
  expect(headers['content-security-policy']).not.toContain('unsafe-inline');
  expect(headers['referrer-policy']).toBe('no-referrer');
  expect(headers['x-content-type-options']).toBe('nosniff');
  expect(headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
});

test('health and readiness answer JSON', async ({ request }) => {
  const health = await request.get('/healthz');
  expect(health.status()).toBe(200);
  expect(await health.json()).toEqual({ status: 'ok' });
  const ready = await request.get('/readyz');
  expect(ready.status()).toBe(200);
  expect(await ready.json()).toEqual({ status: 'ready', database: 'sqlite' });
});
