// Accessibility: axe-core's WCAG 2.1 A/AA rules on every screen (labels, contrast, ARIA,
// landmarks), a visible focus ring for keyboard users, and no sideways scrolling at 200%
// zoom (a 640 px wide window is what a 1280 px screen shows at 200%).
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { openStackAndBrowser, shooter } from './harness.mjs';
import { axeViolations, fillPermit, signIn } from './flows.mjs';

const { stack, browser } = await openStackAndBrowser();

async function noSidewaysScroll(page, where) {
  const { scroll, client } = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth }));
  assert.ok(scroll <= client + 1, `${where}: the page is ${scroll}px wide in a ${client}px window`);
}

test('every screen passes axe, shows focus, and reflows at 200% zoom', { timeout: 90000 }, async () => {
  const { page } = browser;
  const shot = shooter(page, 'accessibility');
  const check = async (where) => assert.deepEqual(await axeViolations(page), [], `axe on ${where}`);

  await page.goto(`${stack.baseURL}/`);
  await page.getByRole('heading', { name: 'Sign in to the counter' }).waitFor();
  await check('sign-in');
  /* a keyboard user sees where focus is */
  await page.keyboard.press('Tab');
  const ring = await page.evaluate(() => {
    const s = getComputedStyle(document.activeElement);
    return { outline: s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2, shadow: s.boxShadow !== 'none', bg: s.backgroundColor };
  });
  assert.ok(ring.outline || ring.shadow, `focus is visible (${JSON.stringify(ring)})`);

  await signIn(page, stack);
  await check('services');
  await fillPermit(page, { vrm: 'I0' });
  await page.locator('[data-field="vrm"] .field-error').waitFor();
  await check('sale form with an error');
  await page.getByLabel('Vehicle registration').fill('AB12CDE');
  await page.getByLabel('Cash handed over (£)').fill('45');
  await page.locator('.change-due', { hasText: '£3.50' }).waitFor();
  await page.getByRole('button', { name: 'Record sale — £41.50' }).click();
  await page.getByRole('heading', { name: 'Sale recorded' }).waitFor();
  await check('confirmation');
  await page.getByRole('link', { name: "Today's transactions" }).first().click();
  await page.locator('#today-table').waitFor();
  await check("today's list");

  await page.getByRole('link', { name: 'New sale' }).click();
  await page.getByRole('link', { name: /Bulky refuse collection/ }).click();
  await page.getByLabel('Postcode').fill('SK1 3XE');
  await page.getByLabel('Postcode').press('Enter');
  await page.getByLabel('Choose the address').selectOption('100011429004');
  await page.locator('.slot').first().waitFor();
  await check('bulky form with collection days');

  /* 200% zoom */
  await page.setViewportSize({ width: 640, height: 800 });
  await noSidewaysScroll(page, 'bulky form');
  await shot('bulky-200');
  await page.getByRole('link', { name: "Today's transactions" }).first().click();
  await page.locator('#today-table tr[data-reference]').first().locator('a').click();
  await page.locator('.reference').waitFor();
  await noSidewaysScroll(page, 'transaction');
  await shot('transaction-200');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { name: 'Sign in to the counter' }).waitFor();
  await noSidewaysScroll(page, 'sign-in');
  await page.setViewportSize({ width: 1280, height: 860 });
  assert.deepEqual(browser.errors.map(String), []);
});
