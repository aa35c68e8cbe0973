// An assistant sells a new Leisure Key for cash: the form says "Cash only" before anything
// is typed, the only way to pay offered is cash, the fee for Band A shows, the change is
// worked out, and the gateway records the proof seen as a code and the card handed over.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { openStackAndBrowser, shooter } from './harness.mjs';
import { pageToken, signIn } from './flows.mjs';

const { stack, browser } = await openStackAndBrowser();

test('sell a Leisure Key for cash', { timeout: 60000 }, async () => {
  const { page } = browser;
  const shot = shooter(page, 'leisure-key-cash');
  await signIn(page, stack);
  const token = await pageToken(page);

  await page.getByRole('link', { name: /^Leisure Key/ }).click();
  await page.getByRole('heading', { name: 'Leisure Key' }).waitFor();
  /* the cash-only rule is visible before payment */
  await page.locator('#only-method', { hasText: 'Cash only.' }).waitFor();
  const methods = await page.locator('.payment input[type=radio]').evaluateAll((els) => els.map((e) => e.value));
  assert.deepEqual(methods, ['cash']);

  await page.getByLabel('New card', { exact: true }).check();
  await page.getByLabel(/^Band A/).check();
  await page.getByLabel('Proof of entitlement seen').selectOption('pension_credit');
  await page.getByLabel("Resident's full name").fill('Mary Smith');
  await page.getByLabel('Date of birth').fill('1950-02-01');
  await page.getByLabel('Leisure Key card number').fill('5000000001');
  await page.locator('.quote__amount', { hasText: '£2.65' }).waitFor();
  await page.getByLabel('Cash', { exact: true }).check();
  await page.getByLabel('Cash handed over (£)').fill('5');
  await page.locator('.change-due', { hasText: 'Change due £2.35' }).waitFor();
  await shot('form-complete');

  /* Enter on the focused button: on this long form a pointer click lands while the sticky fee
   * panel is still settling after the scroll, and the click goes to the panel instead */
  await page.getByRole('button', { name: 'Record sale — £2.65' }).press('Enter');
  await page.getByRole('heading', { name: 'Sale recorded' }).waitFor();
  const reference = (await page.locator('.reference').innerText()).replace(/\s/g, '');
  assert.match(reference, /^KY-[0-9A-Z]{4}-[0-9A-Z]{4}$/);
  await shot('confirmation');

  const t = await stack.api('GET', `/api/v1/transactions/${reference}`, { token });
  assert.equal(t.status, 200);
  assert.equal(t.json.service, 'leisure-key');
  assert.equal(t.json.fields.proof, 'pension_credit');
  assert.equal(t.json.fields.card_number, '5000000001');
  assert.equal(t.json.fee_pence, 265);
  assert.equal(t.json.payment.method, 'cash');
  assert.equal(t.json.payment.change_pence, 235);
});
