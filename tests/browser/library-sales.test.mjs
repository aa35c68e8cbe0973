// library-sales is a service made from its definition file alone (no C file, no web-app
// code): an assistant sells 12 black and white photocopies and a bag for cash with the same
// generic form every service uses.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { openStackAndBrowser, shooter } from './harness.mjs';
import { pageToken, signIn } from './flows.mjs';

const { stack, browser } = await openStackAndBrowser();

test('sell photocopies and a bag from the library price list', { timeout: 60000 }, async () => {
  const { page } = browser;
  const shot = shooter(page, 'library-sales');
  await signIn(page, stack);
  const token = await pageToken(page);

  await page.getByRole('link', { name: /^Library sales/ }).click();
  await page.getByRole('heading', { name: 'Library sales' }).waitFor();
  await page.getByLabel('Item', { exact: true }).selectOption('copy_bw');
  await page.getByLabel('How many', { exact: true }).fill('12');
  await page.getByRole('button', { name: 'Add item' }).click();
  await page.getByLabel('Item', { exact: true }).selectOption('bag');
  await page.getByRole('button', { name: 'Add item' }).click();
  await page.locator('.quote__amount', { hasText: '£2.20' }).waitFor();
  await page.getByLabel('Cash', { exact: true }).check();
  await page.getByLabel('Cash handed over (£)').fill('5');
  await page.locator('.change-due', { hasText: 'Change due £2.80' }).waitFor();
  await shot('form-complete');
  await page.getByRole('button', { name: 'Record sale — £2.20' }).press('Enter');
  await page.getByRole('heading', { name: 'Sale recorded' }).waitFor();
  const reference = (await page.locator('.reference').innerText()).replace(/\s/g, '');
  assert.match(reference, /^SA-/);
  await shot('confirmation');

  const t = await stack.api('GET', `/api/v1/transactions/${reference}`, { token });
  assert.equal(t.status, 200);
  assert.equal(t.json.status, 'completed');
  assert.equal(t.json.fee_pence, 220);
  assert.deepEqual(t.json.lines.map((l) => l.amount_pence), [120, 100]);
});
