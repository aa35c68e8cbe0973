// The counter app over HTTPS: onestopd serves the app and its API with a certificate made
// for the test; an assistant signs in and records a sale in Chromium, every request goes over
// TLS, and the replies carry Strict-Transport-Security.
// Node's own fetch (the harness's health checks and API reads) must accept that certificate.
process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { openStackAndBrowser, shooter } from './harness.mjs';
import { pageToken, signIn } from './flows.mjs';

const { stack, browser } = await openStackAndBrowser({ https: true, browser: { ignoreHTTPSErrors: true } });

test('sign in and record a sale over HTTPS', { timeout: 60000 }, async () => {
  const { page } = browser;
  const shot = shooter(page, 'https');
  assert.match(stack.baseURL, /^https:\/\//);
  const insecure = [];
  page.on('request', (req) => {
    if (!req.url().startsWith('https://') && !req.url().startsWith('data:')) insecure.push(req.url());
  });
  const first = await page.goto(`${stack.baseURL}/`);
  assert.match(first.headers()['strict-transport-security'] || '', /max-age=\d+/);
  await signIn(page, stack);
  const token = await pageToken(page);

  await page.getByRole('link', { name: /^Library sales/ }).click();
  await page.getByRole('heading', { name: 'Library sales' }).waitFor();
  await page.getByLabel('Item', { exact: true }).selectOption('bag');
  await page.getByRole('button', { name: 'Add item' }).click();
  await page.getByLabel('Cash', { exact: true }).check();
  await page.getByLabel('Cash handed over (£)').fill('5');
  await page.getByRole('button', { name: /^Record sale/ }).press('Enter');
  await page.getByRole('heading', { name: 'Sale recorded' }).waitFor();
  await shot('confirmation');
  const reference = (await page.locator('.reference').innerText()).replace(/\s/g, '');

  const t = await stack.api('GET', `/api/v1/transactions/${reference}`, { token });
  assert.equal(t.status, 200);
  assert.equal(t.json.payment.method, 'cash');
  assert.match(t.headers.get('strict-transport-security') || '', /max-age=\d+/);
  assert.deepEqual(insecure, []);
});
