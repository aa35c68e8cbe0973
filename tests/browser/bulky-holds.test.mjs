// A held collection day is given back at once: picking another day releases the first, and
// leaving the sale unrecorded (Cancel, the tab reloading, signing out) releases the hold. The waste
// system (the simulator) is asked for each day's free places after each step; nothing waits for
// the 15-minute hold to lapse.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { openStackAndBrowser, waitUntil } from './harness.mjs';
import { signIn } from './flows.mjs';

const UPRN = '100011429002';
const env = await openStackAndBrowser();

async function remaining(token, day) {
  const r = await env.stack.api('GET', `/api/v1/lookups/slots?service=bulky-refuse&uprn=${UPRN}`, { token });
  assert.equal(r.status, 200);
  return r.json.slots.find((s) => s.date === day).remaining;
}

async function waitRemaining(token, day, n, what) {
  await waitUntil(async () => (await remaining(token, day)) === n, { timeout: 10000, interval: 100, what });
}

async function openForm(page) {
  await page.goto(`${env.stack.baseURL}/#/sale/bulky-refuse`);
  await page.getByRole('heading', { name: 'Bulky refuse collection' }).waitFor();
  await page.getByLabel('Postcode').fill('SK1 3XE');
  await page.getByRole('button', { name: 'Find address' }).click();
  await page.getByLabel('Choose the address').selectOption(UPRN);
  await page.locator('.slot input:not([disabled])').first().waitFor();
}

/* Picks a day as an assistant would (its label) and waits until the waste system holds it. */
async function pick(page, token, day) {
  await page.locator(`.slot:has(input[value="${day}"]) label`).click();
  await waitRemaining(token, day, 2, `${day} held`);
  await page.locator('.hold-status[data-hold="held"]', { hasText: /is held until/ }).waitFor({ timeout: 10000 });
}

test('a held day is free again once another day is picked or the sale is left', { timeout: 90000 }, async () => {
  const { page } = env.browser;
  await signIn(page, env.stack);
  const token = await env.stack.signIn(); /* the test's own session: the page's ends below */
  await openForm(page);
  const days = await page.locator('.slot input:not([disabled])').evaluateAll((els) => els.map((e) => e.value));
  assert.ok(days.length >= 3, 'the waste system offers free days');
  const [first, second, third] = days;
  for (const d of [first, second, third]) assert.equal(await remaining(token, d), 3);

  await pick(page, token, first);

  /* another day: the first is given back at once */
  await pick(page, token, second);
  await waitRemaining(token, first, 3, 'the first day free again');
  assert.equal(await remaining(token, second), 2);

  /* Cancel leaves the sale: the second day is given back */
  await page.getByRole('link', { name: 'Cancel' }).click();
  await page.getByRole('heading', { name: 'Start a sale' }).waitFor();
  await waitRemaining(token, second, 3, 'the second day free after Cancel');

  /* the tab reloading (or closing) gives the hold back too */
  await openForm(page);
  await pick(page, token, third);
  await page.reload();
  await waitRemaining(token, third, 3, 'the third day free after the page went away');

  /* signing out gives the hold back before the session ends */
  await openForm(page);
  await pick(page, token, first);
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { name: 'Sign in to the counter' }).waitFor();
  await waitRemaining(token, first, 3, 'the first day free after signing out');

  const released = (await env.stack.sim.api('GET', '/_sim/received?backend=bulky')).json.requests
    .filter((q) => q.method === 'POST' && q.path.endsWith('/release'));
  assert.equal(released.length, 4, 'one release for each abandoned hold');
  assert.deepEqual(env.browser.errors.map(String), []);
});
