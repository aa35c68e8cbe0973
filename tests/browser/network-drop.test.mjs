// The network drops while a sale is being recorded. The app must send the same sale again
// with the same Idempotency-Key until the gateway answers, and the resident must be charged
// once: one transaction in the gateway, one request at the department's system.
import { beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';

import { openStackAndBrowser, shooter, waitUntil } from './harness.mjs';
import { fillPermit, pageToken, signIn, todayLondon } from './flows.mjs';

const { stack, browser } = await openStackAndBrowser();
beforeEach(async () => {
  await browser.page.unrouteAll({ behavior: 'ignoreErrors' });
});

/* Records every POST /api/v1/transactions the page makes; `drop(n, request, route)` decides
 * how the n-th one (from 1) is handled. */
async function interceptSales(page, drop) {
  const sent = [];
  await page.route('**/api/v1/transactions', async (route, request) => {
    if (request.method() !== 'POST') return route.continue();
    sent.push({ key: request.headers()['idempotency-key'], body: request.postData() });
    return drop(sent.length, request, route);
  });
  return sent;
}

async function sellOnce(page, shot, vrm, uprn) {
  await page.getByRole('link', { name: 'New sale' }).click();
  await fillPermit(page, { vrm, uprn });
  await page.locator('.quote__amount', { hasText: '£41.50' }).waitFor();
  await page.getByLabel('Cash handed over (£)').fill('41.50');
  await page.getByRole('button', { name: 'Record sale — £41.50' }).click();
  return page.locator('form.sale button[type="submit"]');
}

async function parkingRequests(reference) {
  const r = await stack.sim.api('GET', '/_sim/received?backend=parking');
  return r.json.requests.filter((q) => q.reference === reference);
}

test('the answer is lost after the gateway stored the sale: retried, recorded once', { timeout: 60000 }, async () => {
  const { page } = browser;
  const shot = shooter(page, 'network-drop-after');
  await signIn(page, stack);
  const token = await pageToken(page);

  /* The first POST reaches the gateway (which stores the sale) but its answer is thrown
   * away and the browser sees the connection reset. */
  let stored = null;
  const sent = await interceptSales(page, async (n, request, route) => {
    if (n === 1) {
      const res = await route.fetch();
      stored = { status: res.status(), body: await res.json() };
      await shot('first-answer-lost');
      return route.abort('connectionreset');
    }
    return route.continue();
  });
  const button = await sellOnce(page, shot, 'CD51ABC', '100011429003');
  await page.getByRole('heading', { name: 'Sale recorded' }).waitFor({ timeout: 20000 });
  await shot('recorded');
  assert.equal(stored.status, 201, 'the first attempt was stored');
  const reference = (await page.locator('.reference').innerText()).replace(/\s/g, '');
  assert.equal(reference, stored.body.reference, 'the retry got the same transaction back');
  assert.equal(sent.length, 2);
  assert.ok(sent[0].key && sent[0].key.length >= 16);
  assert.equal(sent[1].key, sent[0].key, 'the retry carried the same Idempotency-Key');
  assert.equal(sent[1].body, sent[0].body, 'the retry carried the same body');
  assert.equal(await button.count(), 0);

  const list = await stack.api('GET', `/api/v1/transactions?date=${todayLondon()}&counter=SD-01`, { token });
  const mine = list.json.transactions.filter((t) => t.reference === reference);
  assert.equal(mine.length, 1);
  assert.equal(list.json.transactions.length, 1, 'exactly one transaction for the sale');
  await waitUntil(async () => (await parkingRequests(reference)).length === 1, { timeout: 15000, what: 'delivery to parking' });
  await new Promise((r) => setTimeout(r, 500));
  assert.equal((await parkingRequests(reference)).length, 1, 'the department got it once');
  assert.equal(await page.evaluate(() => sessionStorage.getItem('onestop.pendingSale')), null, 'the key is dropped once answered');
  assert.deepEqual(browser.errors.map(String), []);
});

test('the connection fails before the gateway hears: the form stays locked, retried, recorded once', { timeout: 60000 }, async () => {
  const { page } = browser;
  const shot = shooter(page, 'network-drop-before');
  const token = await pageToken(page);
  const before = (await stack.api('GET', `/api/v1/transactions?date=${todayLondon()}&counter=SD-01`, { token })).json.transactions.length;

  /* The first three attempts never reach the gateway. */
  const sent = await interceptSales(page, async (n, request, route) => {
    if (n <= 3) return route.abort('internetdisconnected');
    return route.continue();
  });
  const button = await sellOnce(page, shot, 'EF61XYZ', '100011429004');
  const panel = page.locator('.sending');
  await panel.filter({ hasText: 'trying again' }).waitFor({ timeout: 5000 });
  assert.equal(await button.isDisabled(), true, 'no second sale can be started while the first is unanswered');
  assert.equal(await button.innerText(), 'Recording…');
  assert.equal(await page.getByLabel('Vehicle registration').isDisabled(), true, 'the form is locked');
  const pending = JSON.parse(await page.evaluate(() => sessionStorage.getItem('onestop.pendingSale')));
  assert.equal(pending.key, sent[0].key, 'the key is kept in sessionStorage until answered');
  await shot('retrying');

  await page.getByRole('heading', { name: 'Sale recorded' }).waitFor({ timeout: 20000 });
  await shot('recorded');
  assert.equal(sent.length, 4);
  assert.equal(new Set(sent.map((s) => s.key)).size, 1, 'every attempt carried the same key');
  const reference = (await page.locator('.reference').innerText()).replace(/\s/g, '');
  const list = (await stack.api('GET', `/api/v1/transactions?date=${todayLondon()}&counter=SD-01`, { token })).json.transactions;
  assert.equal(list.length, before + 1, 'exactly one more transaction');
  assert.equal(list.filter((t) => t.reference === reference).length, 1);
  assert.deepEqual(browser.errors.map(String), []);
});

test('the page is reloaded before the answer came: the sale is finished, not repeated', { timeout: 60000 }, async () => {
  const { page } = browser;
  const shot = shooter(page, 'network-drop-reload');
  const token = await pageToken(page);
  const before = (await stack.api('GET', `/api/v1/transactions?date=${todayLondon()}&counter=SD-01`, { token })).json.transactions.length;

  /* The gateway stores the sale but the page never hears; the assistant reloads. */
  let stored = null;
  await interceptSales(page, async (n, request, route) => {
    const res = await route.fetch();
    stored = await res.json();
    return route.abort('connectionreset');
  });
  await sellOnce(page, shot, 'GH71JKL', '100011429005');
  await page.locator('.sending', { hasText: 'trying again' }).waitFor({ timeout: 5000 });
  await page.unrouteAll({ behavior: 'ignoreErrors' });
  await page.reload();
  await page.getByRole('heading', { name: 'Sale recorded' }).waitFor({ timeout: 20000 });
  await shot('recorded-after-reload');
  const reference = (await page.locator('.reference').innerText()).replace(/\s/g, '');
  assert.equal(reference, stored.reference);
  const list = (await stack.api('GET', `/api/v1/transactions?date=${todayLondon()}&counter=SD-01`, { token })).json.transactions;
  assert.equal(list.length, before + 1, 'exactly one more transaction');
  assert.deepEqual(browser.errors.map(String), []);
});
