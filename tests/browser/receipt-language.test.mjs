// Large print in Urdu, chosen at the counter: the assistant picks "Large print" and Urdu on
// the sale form, the receipt comes out of the (ippeveprinter) printer as a tagged PDF set in
// an Arabic-script font with the Urdu words, and a copy is then asked for in Polish from the
// confirmation page. Runs when this onestopd prints receipts and ippeveprinter is installed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { daemonPrints, openStackAndBrowser, shooter, waitUntil } from './harness.mjs';
import { axeViolations, fillPermit, pageToken, signIn, waitPrint } from './flows.mjs';

const skip = daemonPrints() ? false : 'this onestopd does not print receipts';
const { stack, browser } = await openStackAndBrowser({ printer: 'ok', skip });

function pdfs() {
  return fs.readdirSync(stack.printer.spool).filter((f) => f.endsWith('.pdf')).sort()
    .map((f) => path.join(stack.printer.spool, f));
}
const run = (cmd, args) => execFileSync(cmd, args, { encoding: 'utf8', timeout: 60000 });

test('a large-print Urdu receipt chosen on the sale form, then a Polish copy', { skip, timeout: 90000 }, async (t) => {
  assert.ok(stack.printer, 'ippeveprinter is needed (scripts/deps installs cups-ipp-utils)');
  const { page } = browser;
  const shot = shooter(page, 'receipt-language');
  await signIn(page, stack);
  await fillPermit(page, { vrm: 'UR51LPR' });
  await page.getByRole('button', { name: 'Record sale — £41.50' }).waitFor();
  await page.getByRole('radio', { name: 'Cheque' }).check();

  const choice = page.getByRole('group', { name: 'Receipt for the resident' });
  await choice.getByRole('radio', { name: 'Large print' }).check();
  const language = choice.getByLabel('Language');
  assert.deepEqual(await language.locator('option').allInnerTexts(), ['English', 'Polish — Polski', 'Urdu — اردو']);
  await language.selectOption({ label: 'Urdu — اردو' });
  assert.deepEqual(await axeViolations(page), []);
  await shot('sale-form');
  await page.getByRole('button', { name: 'Record sale — £41.50' }).click();
  await page.getByRole('heading', { name: 'Sale recorded' }).waitFor();
  const reference = (await page.locator('.reference').innerText()).replace(/\s/g, '');
  const token = await pageToken(page);

  await waitPrint(stack, token, reference, ['printed'], 30000);
  const [receipt] = await waitUntil(() => (pdfs().length === 1 ? pdfs() : null), { what: 'the receipt PDF' });
  assert.match(run('pdfinfo', [receipt]), /^Tagged:\s+yes$/m);
  assert.match(run('pdffonts', [receipt]), /NotoNaskhArabic/);
  const text = run('pdftotext', [receipt, '-']);
  assert.ok(text.includes('کاؤنٹر') && text.includes(reference), text);

  /* The copy: Polish, standard size, chosen beside Reprint. */
  await page.locator('[data-state="printed"]').waitFor({ timeout: 15000 });
  await page.getByText(/Large print, Urdu/).waitFor();
  const copy = page.getByRole('group', { name: 'Copy for the resident' });
  await copy.getByLabel('Language').selectOption('pl');
  await shot('copy-choice');
  await page.getByRole('button', { name: 'Reprint receipt' }).click();
  await page.getByText('Reprint queued.').waitFor();
  const files = await waitUntil(() => (pdfs().length === 2 ? pdfs() : null), { timeout: 30000, what: 'the copy PDF' });
  const copyText = run('pdftotext', [files[1], '-']);
  assert.ok(copyText.includes('KOPIA POKWITOWANIA') && copyText.includes('Co dalej'), copyText);
  assert.deepEqual(browser.errors.map(String), []);
});
