// Makes docs/counter.png, the README's picture of the counter app: a bulky collection being
// booked (address found, items, collection day, the fee and the change due), against a real
// onestopd and simulator. Run: (cd tests/browser && ONESTOP_BUILD_DIR=build node readme-screenshot.mjs)
import path from 'node:path';

import { launchBrowser, ROOT, startStack } from './harness.mjs';
import { signIn } from './flows.mjs';

const OUT = path.join(ROOT, 'docs', 'counter.png');

const stack = await startStack();
const browser = await launchBrowser({ viewport: { width: 1200, height: 1420 } });
try {
  const { page } = browser;
  await signIn(page, stack);
  await page.getByRole('link', { name: /Bulky refuse collection/ }).click();
  await page.getByLabel('Postcode').fill('SK1 3XE');
  await page.getByLabel('Postcode').press('Enter');
  await page.getByLabel('Choose the address').selectOption('100011429004');
  for (const [code, n] of [['sofa', '1'], ['fridge', '1'], ['wardrobe', '2']]) {
    await page.getByLabel('Item', { exact: true }).selectOption(code);
    await page.getByLabel('How many').fill(n);
    await page.getByRole('button', { name: 'Add item' }).click();
  }
  await page.locator('.slot input:not([disabled])').nth(1).check({ force: true });
  await page.getByLabel('Where the items will be left').fill('Front garden, by the gate');
  await page.getByLabel('Contact phone').fill('0161 480 4949');
  await page.locator('.quote__amount').waitFor();
  await page.getByLabel('Cash handed over (£)').fill('100');
  await page.locator('.change-due', { hasText: 'Change due' }).waitFor();
  await page.evaluate(() => { document.activeElement.blur(); window.scrollTo(0, 0); });
  await page.screenshot({ path: OUT });
  console.log(`wrote ${OUT}`);
} finally {
  await browser.close();
  await stack.stop();
}
