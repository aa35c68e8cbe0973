// The receipt printer jams: the confirmation says so with the printer's own message, and
// once the paper is cleared Reprint prints a copy. Runs when this onestopd prints receipts
// (its spooler is linked in) and ippeveprinter is installed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';

import { daemonPrints, openStackAndBrowser, shooter } from './harness.mjs';
import { fillPermit, pageToken, signIn, waitPrint } from './flows.mjs';

const skip = daemonPrints() ? false : 'this onestopd does not print receipts';
const { stack, browser } = await openStackAndBrowser({ printer: 'jam', skip });

test('a jammed printer is shown, and Reprint prints a copy once it is cleared', { skip, timeout: 90000 }, async (t) => {
  if (!stack.printer) return t.skip('ippeveprinter is not installed');
  const { page } = browser;
  const shot = shooter(page, 'print-jam');
  await signIn(page, stack);
  await fillPermit(page, { vrm: 'MN14OPR' });
  await page.getByRole('button', { name: 'Record sale — £41.50' }).waitFor();
  await page.getByRole('radio', { name: 'Cheque' }).check();
  await page.getByRole('button', { name: 'Record sale — £41.50' }).click();
  await page.getByRole('heading', { name: 'Sale recorded' }).waitFor();
  const reference = (await page.locator('.reference').innerText()).replace(/\s/g, '');
  const token = await pageToken(page);

  const failed = await waitPrint(stack, token, reference, ['print_failed'], 60000);
  assert.match(failed.print.last_error || '', /jam/i);
  const state = page.locator('[data-state="print_failed"]');
  await state.waitFor({ timeout: 15000 });
  await page.getByText(/paper jam/i).waitFor();
  await shot('print-failed');

  stack.printer.setBehaviour('ok');
  const before = fs.readdirSync(stack.printer.spool).length;
  await page.getByRole('button', { name: 'Reprint receipt' }).click();
  await page.getByText('Reprint queued.').waitFor();
  await waitPrint(stack, token, reference, ['printed'], 30000);
  await page.locator('[data-state="printed"]').waitFor({ timeout: 15000 });
  assert.ok(fs.readdirSync(stack.printer.spool).length > before, 'the copy reached the printer');
  await shot('reprinted');
  assert.deepEqual(browser.errors.map(String), []);
});
