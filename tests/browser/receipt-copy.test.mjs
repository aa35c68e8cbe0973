// A copy of the receipt by e-mail from the confirmation page: a mistyped address is refused
// beside its box, the corrected one reaches the simulator's GOV.UK Notify once (with the PDF),
// and the copy's state on the page follows Notify's delivery report.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { openStackAndBrowser, shooter, waitUntil } from './harness.mjs';
import { fillPermit, signIn } from './flows.mjs';

const { stack, browser } = await openStackAndBrowser();

test('staff send an e-mail copy and see it delivered', { timeout: 90000 }, async () => {
  const { page } = browser;
  const shot = shooter(page, 'receipt-copy');
  await signIn(page, stack);
  await fillPermit(page, { vrm: 'CP12ABC' });
  await page.getByLabel('Cash handed over (£)').fill('50');
  await page.getByRole('button', { name: 'Record sale — £41.50' }).click();
  await page.getByRole('heading', { name: 'Sale recorded' }).waitFor();

  await page.getByRole('heading', { name: 'Send a copy' }).waitFor();
  await page.getByLabel('E-mail address').fill('resident@example');
  await page.getByRole('button', { name: 'Send a copy' }).click();
  await page.locator('[data-field="email"] .field-error', { hasText: 'Enter an e-mail address' }).waitFor();
  assert.equal(await page.getByLabel('E-mail address').getAttribute('aria-invalid'), 'true');
  await shot('bad-address');

  await page.getByLabel('E-mail address').fill('resident.browser@example.org');
  await page.getByRole('button', { name: 'Send a copy' }).click();
  const item = page.locator('.copies__item', { hasText: 'E-mail to r***@example.org' });
  await item.waitFor();
  assert.equal(await page.getByLabel('E-mail address').inputValue(), '', 'the address is not kept on screen');
  await page.locator('.copies__item[data-state="sent"]').waitFor({ timeout: 20000 });

  const got = await stack.sim.api('GET', '/_sim/received?backend=notify');
  assert.equal(got.json.requests.length, 1);
  const sent = JSON.parse(got.json.requests[0].body);
  assert.equal(sent.email_address, 'resident.browser@example.org');
  assert.ok(Buffer.from(sent.personalisation.link_to_file.file, 'base64').subarray(0, 5).equals(Buffer.from('%PDF-')));

  const cb = await stack.sim.api('POST', '/_sim/notify/callback', { reference: sent.reference, status: 'delivered' });
  assert.equal(cb.json.gateway_status, 204);
  await page.locator('.copies__item[data-notify-status="delivered"]', { hasText: 'Delivered' })
    .waitFor({ timeout: 15000 });
  await shot('delivered');
  await waitUntil(async () => (await stack.sim.api('GET', '/_sim/notify')).json.messages === 1, { what: 'one message' });
  assert.deepEqual(browser.errors.map(String), []);
});
