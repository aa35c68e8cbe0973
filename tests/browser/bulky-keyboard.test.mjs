// A bulky refuse collection booked with the keyboard alone: typing, Tab, Shift+Tab, Enter,
// Space and the arrow keys — no mouse click anywhere. Sign-in, search, address by postcode,
// items, collection day, the concession, card payment and the confirmation.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { openStackAndBrowser, shooter, waitUntil } from './harness.mjs';
import { active, pageToken, tabTo } from './flows.mjs';

const { stack, browser } = await openStackAndBrowser();

test('book a bulky collection with the keyboard only', { timeout: 90000 }, async () => {
  const { page } = browser;
  const kb = page.keyboard;
  const shot = shooter(page, 'bulky-keyboard');
  /* Any mouse click would be a failure of this test's premise: count them. */
  await page.addInitScript(() => {
    window.__clicks = 0;
    document.addEventListener('mousedown', () => { window.__clicks += 1; }, true);
  });

  await page.goto(`${stack.baseURL}/`);
  await page.getByRole('heading', { name: 'Sign in to the counter' }).waitFor();
  assert.equal((await active(page)).label, 'Username', 'the username box has focus');
  await kb.type('assistant');
  await kb.press('Tab');
  await kb.type('onestop-demo');
  await tabTo(page, (a) => a.label.startsWith('Counter'), { what: 'the counter box' });
  await kb.type('sd-01');
  await kb.press('Enter');

  await page.getByRole('heading', { name: 'Start a sale' }).waitFor();
  assert.equal((await active(page)).label, 'Find a service');
  await kb.type('bulky');
  await kb.press('Enter');

  await page.getByRole('heading', { name: 'Bulky refuse collection' }).waitFor();
  assert.equal((await active(page)).label, 'Postcode', 'the first field has focus');
  await kb.type('sk1 3xe');
  await kb.press('Enter');
  await page.getByText('6 addresses found for SK1 3XE.').waitFor();
  assert.equal((await active(page)).label, 'Choose the address');
  await kb.press('ArrowDown');
  await kb.press('ArrowDown');
  await page.getByText('UPRN 100011429002').waitFor();
  await shot('address');

  /* items: pick with the arrows, Enter adds */
  await tabTo(page, (a) => a.tag === 'select' && a.label === 'Item', { what: 'the item list' });
  await kb.press('ArrowDown'); /* Sofa */
  await tabTo(page, (a) => a.label === 'How many', { what: 'the quantity' });
  await kb.press('Backspace');
  await kb.type('2');
  await kb.press('Enter');
  await page.locator('.item-line[data-code="sofa"]').waitFor();
  assert.equal((await active(page)).label, 'Item', 'focus returns to the item list');
  for (let i = 0; i < 3; i += 1) await kb.press('ArrowDown'); /* Mattress */
  await kb.press('Enter');
  await page.locator('.item-line[data-code="mattress"]').waitFor();
  await page.getByText('3 items of at most 6.').waitFor();
  await page.getByText('Upholstered seating').first().waitFor();
  await shot('items');

  /* the collection day: Tab into the group, arrows choose */
  await page.locator('.slot').first().waitFor();
  const slotsAvailable = await page.locator('.slot input:not([disabled])').count();
  assert.ok(slotsAvailable >= 2, 'the waste system offers free days');
  await tabTo(page, (a) => a.type === 'radio' && a.id.startsWith('slot-opt'), { what: 'the collection days' });
  await kb.press('ArrowRight');
  const day = await active(page);
  assert.equal(day.checked, true, 'the arrow key chose a day');
  /* picking the day holds it with the waste system, and says for how long */
  const held = page.locator('.hold-status[data-hold="held"]');
  await held.waitFor({ timeout: 10000 });
  assert.match(await held.innerText(), /is held until \d\d:\d\d \(15 minutes\)/);
  await shot('slot');

  await tabTo(page, (a) => a.label.startsWith('Where the items will be left'), { what: 'the location box' });
  await kb.type('Front garden, by the gate');
  await kb.press('Tab');
  assert.equal((await active(page)).label, 'Contact phone');
  await kb.type('0161 480 4949');
  await kb.press('Tab');
  assert.equal((await active(page)).label, 'Receives Council Tax Support');
  await kb.press('Space');
  /* 1 to 3 items £40, half price for Council Tax Support */
  await page.locator('.quote__amount', { hasText: '£20.00' }).waitFor();

  /* pay by card: arrows move the payment choice, the auth code, Enter records */
  await tabTo(page, (a) => a.type === 'radio' && a.label === 'Cash', { what: 'the payment choice' });
  await kb.press('ArrowRight');
  assert.equal((await active(page)).label, 'Card');
  await tabTo(page, (a) => a.label === 'Authorisation code', { what: 'the auth code box' });
  await kb.type('a1b2c3');
  await shot('ready');
  await kb.press('Enter');

  await page.getByRole('heading', { name: 'Sale recorded' }).waitFor({ timeout: 15000 });
  const reference = (await page.locator('.reference').innerText()).replace(/\s/g, '');
  assert.match(reference, /^BR-/);
  assert.equal((await active(page)).label, 'Next resident', 'focus is ready for the next resident');
  await shot('confirmation');

  /* what the gateway and the waste system hold */
  const token = await pageToken(page);
  const t = (await stack.api('GET', `/api/v1/transactions/${reference}`, { token })).json;
  assert.equal(t.service, 'bulky-refuse');
  assert.equal(t.fields.uprn, '100011429002');
  assert.deepEqual(t.fields.items, [{ code: 'sofa', quantity: 2 }, { code: 'mattress', quantity: 1 }]);
  assert.equal(t.fields.slot, day.value);
  assert.equal(t.fields.council_tax_support, true);
  assert.equal(t.fee_pence, 2000);
  assert.equal(t.payment.method, 'card');
  assert.equal(t.payment.auth_code, 'A1B2C3');
  const booked = await waitUntil(async () => {
    const r = await stack.sim.api('GET', '/_sim/received?backend=bulky');
    return r.json.requests.find((q) => q.reference === reference);
  }, { timeout: 15000, what: 'the booking at the waste system' });
  const form = new URLSearchParams(booked.body);
  assert.equal(form.get('attribute[slot]'), day.value);
  /* the booking confirms the hold the day got */
  assert.match(form.get('attribute[reservation_id]') || '', /^RS-\d+$/);
  assert.equal(t.fields.slot_hold, form.get('attribute[reservation_id]'));

  /* Enter on "Next resident" starts again */
  await kb.press('Enter');
  await page.getByRole('heading', { name: 'Start a sale' }).waitFor();
  assert.equal(await page.evaluate(() => window.__clicks), 0, 'no mouse was used');
  assert.deepEqual(browser.errors.map(String), []);
});
