// Problems are shown where the assistant is looking: the client's own checks (a missing
// address) and the gateway's judgement (a VRM that is no registration) beside the field,
// and in the summary at the top on submit. Nothing is recorded while the form is wrong.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { openStackAndBrowser, shooter } from './harness.mjs';
import { fillPermit, pageToken, signIn, todayLondon } from './flows.mjs';

const { stack, browser } = await openStackAndBrowser();

test('a missing address and a bad VRM are shown beside their fields', { timeout: 60000 }, async () => {
  const { page } = browser;
  const shot = shooter(page, 'validation');
  await signIn(page, stack);

  /* submit an empty form: the client's checks, summary first */
  await page.getByRole('link', { name: /Residents' parking permit/ }).click();
  await page.getByRole('button', { name: /Record sale/ }).click();
  const summary = page.locator('.error-summary');
  await summary.waitFor();
  assert.match(await summary.innerText(), /Find and choose the address/);
  assert.match(await summary.innerText(), /Choose the permit type/);
  assert.match(await summary.innerText(), /Enter the cash handed over/);
  assert.equal(await page.evaluate(() => document.activeElement.classList.contains('error-summary')), true,
    'focus moves to the summary');
  await page.getByRole('link', { name: 'Find and choose the address' }).click();
  assert.equal(await page.evaluate(() => document.activeElement.closest('[data-field]')?.dataset.field), 'uprn',
    'the summary link takes focus to the field');
  await shot('empty-form');

  /* the gateway says the VRM is wrong: its message is beside the VRM box */
  await page.getByRole('link', { name: 'Services' }).click();
  await fillPermit(page, { vrm: 'I0' });
  const vrmField = page.locator('[data-field="vrm"]');
  const vrmError = vrmField.locator('.field-error');
  await vrmError.waitFor();
  assert.match(await vrmError.innerText(), /not a valid UK vehicle registration/);
  assert.equal(await page.getByLabel('Vehicle registration').getAttribute('aria-invalid'), 'true');
  const describedBy = await page.getByLabel('Vehicle registration').getAttribute('aria-describedby');
  assert.ok(describedBy.split(' ').includes(await vrmError.getAttribute('id')), 'the error is announced with the box');
  await page.locator('.quote__note', { hasText: 'Check the fields marked in red' }).waitFor();
  await shot('bad-vrm-live');

  /* recording anyway: the gateway refuses, the summary repeats it, nothing is stored */
  await page.getByLabel('Cash handed over (£)').fill('50');
  await page.getByRole('button', { name: /Record sale/ }).click();
  await summary.waitFor();
  await page.locator('.error-summary', { hasText: 'not a valid UK vehicle registration' }).waitFor();
  assert.match(await vrmError.innerText(), /not a valid UK vehicle registration/);
  await shot('bad-vrm-submitted');
  const token = await pageToken(page);
  const list = await stack.api('GET', `/api/v1/transactions?date=${todayLondon()}&counter=SD-01`, { token });
  assert.equal(list.status, 200);
  assert.equal(list.json.transactions.length, 0);

  /* correcting it clears the error and the sale goes through */
  await page.getByLabel('Vehicle registration').fill('AB12CDE');
  await page.locator('.quote__amount', { hasText: '£41.50' }).waitFor();
  assert.equal(await vrmError.isVisible(), false);
  await page.getByRole('button', { name: 'Record sale — £41.50' }).click();
  await page.getByRole('heading', { name: 'Sale recorded' }).waitFor();
  await shot('corrected');
  assert.deepEqual(browser.errors.map(String), []);
});

test('sign-in problems are told plainly', { timeout: 30000 }, async () => {
  const { page } = browser;
  const shot = shooter(page, 'sign-in-problems');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { name: 'Sign in to the counter' }).waitFor();

  await page.getByRole('button', { name: 'Sign in' }).click();
  assert.match(await page.locator('.field-error').first().innerText(), /Enter your username/);

  await page.getByLabel('Username').fill('assistant');
  await page.getByLabel('Password').fill('not-the-password');
  await page.getByRole('textbox', { name: 'Counter' }).fill('SD-01');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('.error-summary', { hasText: 'The username or password is not right.' }).waitFor();
  assert.equal(await page.getByLabel('Password').inputValue(), '', 'the wrong password is cleared');
  await shot('bad-password');

  await page.getByLabel('Password').fill('onestop-demo');
  await page.getByRole('textbox', { name: 'Counter' }).fill('XX-99');
  await page.getByRole('button', { name: 'Sign in' }).click();
  const counterField = page.locator('.field', { has: page.getByRole('textbox', { name: 'Counter' }) });
  await counterField.locator('.field-error', { hasText: 'There is no counter with this id' }).waitFor();
  await shot('unknown-counter');

  await page.getByLabel('Password').fill('onestop-demo');
  await page.getByRole('textbox', { name: 'Counter' }).fill('lib-cen');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Start a sale' }).waitFor();
  assert.equal(await page.locator('.who__counter').innerText(), 'LIB-CEN');
  assert.deepEqual(browser.errors.map(String), []);
});
