// An assistant signs in, sells a residents' parking permit for cash (address by postcode),
// sees the change due and the reference, finds the sale in today's list, and signs out.
// The gateway's own record is checked through the API; when this build prints, the receipt
// must reach "printed" on a real (ipp everywhere) printer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';

import { daemonPrints, openStackAndBrowser, shooter } from './harness.mjs';
import { fillPermit, pageToken, PERMIT_UPRN, signIn, todayLondon, waitPrint } from './flows.mjs';

const { stack, browser } = await openStackAndBrowser({ printer: true });

test('sell a residents parking permit for cash, then sign out', { timeout: 60000 }, async () => {
  const { page } = browser;
  const shot = shooter(page, 'parking-cash');

  await signIn(page, stack);
  await shot('signed-in');
  const token = await pageToken(page);
  assert.ok(token, 'the session token is kept in sessionStorage');
  assert.equal(await page.evaluate(() => Object.keys(localStorage).filter((k) => /session|token/i.test(k)).length), 0,
    'nothing about the session is kept in localStorage');

  await fillPermit(page, { vrm: 'ab12 cde' });
  await page.getByText('UPRN 100011429002').waitFor();
  /* the live quote */
  await page.locator('.quote__amount', { hasText: '£41.50' }).waitFor();
  await page.getByLabel('Cash handed over (£)').fill('50');
  await page.locator('.change-due', { hasText: 'Change due £8.50' }).waitFor();
  await shot('form-complete');

  await page.getByRole('button', { name: 'Record sale — £41.50' }).click();
  await page.getByRole('heading', { name: 'Sale recorded' }).waitFor();
  const reference = (await page.locator('.reference').innerText()).replace(/\s/g, '');
  assert.match(reference, /^RP-[0-9A-Z]{4}-[0-9A-Z]{4}$/);
  assert.equal((await page.locator('.change-big').innerText()).trim(), '£8.50');
  await shot('confirmation');

  /* what the gateway stored */
  const t = await stack.api('GET', `/api/v1/transactions/${reference}`, { token });
  assert.equal(t.status, 200);
  assert.equal(t.json.service, 'residents-parking-permit');
  assert.equal(t.json.counter, 'SD-01');
  assert.equal(t.json.staff, 'assistant');
  assert.equal(t.json.fields.uprn, PERMIT_UPRN);
  assert.equal(t.json.fields.vrm, 'AB12CDE');
  assert.equal(t.json.fields.permit_type, 'resident');
  assert.equal(t.json.fields.start_date, todayLondon());
  assert.equal(t.json.fee_pence, 4150);
  assert.deepEqual(
    { method: t.json.payment.method, tendered: t.json.payment.tendered_pence, change: t.json.payment.change_pence },
    { method: 'cash', tendered: 5000, change: 850 });

  if (stack.printer && daemonPrints()) {
    await waitPrint(stack, token, reference, ['printed'], 20000);
    await page.locator('[data-state="printed"]', { hasText: 'Printed' }).waitFor({ timeout: 15000 });
    await page.getByRole('button', { name: 'Reprint receipt' }).waitFor();
    assert.ok(fs.readdirSync(stack.printer.spool).length >= 1, 'the printer kept the receipt');
    await shot('printed');
  }

  /* today's list at this counter */
  await page.getByRole('link', { name: "Today's transactions" }).first().click();
  const row = page.locator(`#today-table tr[data-reference="${reference}"]`);
  await row.waitFor();
  assert.match(await row.innerText(), /Residents' parking permit[\s\S]*£41\.50[\s\S]*Cash[\s\S]*assistant/);
  await shot('today');

  /* sign out: back to sign-in, and the token is dead */
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { name: 'Sign in to the counter' }).waitFor();
  await page.getByText('You have signed out.').waitFor();
  assert.equal(await pageToken(page), undefined);
  const after = await stack.api('GET', '/api/v1/sessions/current', { token });
  assert.equal(after.status, 401);
  await shot('signed-out');
  assert.deepEqual(browser.errors.map(String), []);
});
