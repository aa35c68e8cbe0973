// benefit-evidence: an assistant scans three documents (chooses the files the scanner saved),
// sees each upload's progress, preview and page count, is told beside a renamed executable
// why it was refused and removes it, gives each document its type and records the evidence;
// the simulator's document system receives the three files with matching hashes. The page
// with its uploads, refusal and previews passes axe (WCAG 2.1 AA).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';

import { openStackAndBrowser, shooter, waitUntil } from './harness.mjs';
import { axeViolations, pageToken, signIn } from './flows.mjs';

const { stack, browser } = await openStackAndBrowser({ evidence: true });

function pdf(pages) {
  let body = '%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj << /Type /Pages >> endobj\n';
  for (let i = 0; i < pages; i += 1) body += `${i + 3} 0 obj << /Type /Page /Parent 2 0 R >> endobj\n`;
  return Buffer.from(`${body}%%EOF\n`);
}

/* A 2x2 PNG the browser can draw as a preview. */
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAFklEQVQI12P8z8DAwMDAxMDAwMDAAAANHQEDasKb6QAAAABJRU5ErkJggg==', 'base64');
const FILES = [
  { name: 'passport.png', mimeType: 'image/png', buffer: PNG },
  { name: 'payslip-april.pdf', mimeType: 'application/pdf', buffer: pdf(2) },
  { name: 'bank-statement.pdf', mimeType: 'application/pdf', buffer: pdf(3) },
];
const ELF = { name: 'statement.pdf', mimeType: 'application/pdf', buffer: Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]), crypto.randomBytes(400)]) };
const sha256 = (b) => crypto.createHash('sha256').update(b).digest('hex');

test('upload three documents and record the evidence', { timeout: 90000 }, async () => {
  const { page } = browser;
  const shot = shooter(page, 'benefit-evidence');
  await signIn(page, stack);
  const token = await pageToken(page);

  await page.getByRole('link', { name: /^Benefit evidence/ }).click();
  await page.getByRole('heading', { name: 'Benefit evidence' }).waitFor();
  await page.getByLabel('Claim reference', { exact: true }).fill('CTS123456');
  await page.getByLabel('National Insurance number').fill('AB 12 34 56 C');
  await page.getByLabel("Claimant's full name").fill('Alex Example');

  await page.locator('[data-field="documents"] input[type=file]').setInputFiles([...FILES, ELF]);
  for (const f of FILES) {
    await page.locator('.doc-line--done', { hasText: f.name }).waitFor();
  }
  await page.locator('.doc-line', { hasText: 'payslip-april.pdf' }).getByText('Uploaded (PDF, 2 pages)').waitFor();
  await page.locator('.doc-line--done .doc-preview__img').waitFor(); /* the PNG's thumbnail */
  const refused = page.locator('.doc-line--refused', { hasText: 'statement.pdf' });
  await refused.getByText('is not a PDF, JPEG, PNG or TIFF file').waitFor();
  assert.equal(await page.locator('.doc-line--done progress').first().getAttribute('max'), '100');
  await shot('uploaded');
  assert.deepEqual(await axeViolations(page), [], 'axe on the uploaded documents');
  await refused.getByRole('button', { name: 'Remove statement.pdf' }).click();
  await waitUntil(async () => (await page.locator('.doc-line').count()) === 3, { what: 'the refused file removed' });

  for (const [name, type] of [['passport.png', 'identity'], ['payslip-april.pdf', 'income'], ['bank-statement.pdf', 'capital']]) {
    await page.locator('.doc-line', { hasText: name }).getByLabel('Type').selectOption(type);
  }
  await page.locator('.quote__amount', { hasText: '£0.00' }).waitFor();
  await page.getByLabel('No payment', { exact: true }).check();
  await shot('form-complete');
  await page.getByRole('button', { name: 'Record sale' }).press('Enter');
  await page.getByRole('heading', { name: 'Recorded', exact: true }).waitFor();
  const reference = (await page.locator('.reference').innerText()).replace(/\s/g, '');
  assert.match(reference, /^BE-/);
  await shot('confirmation');

  await waitUntil(async () => (await stack.api('GET', `/api/v1/transactions/${reference}`, { token })).json.status === 'forwarded',
    { timeout: 20000, what: 'the evidence forwarded' });
  const got = await stack.sim.api('GET', '/_sim/received?backend=documents');
  const requests = got.json.requests || got.json;
  assert.equal(requests.length, 1);
  const kept = JSON.parse(requests[0].body);
  assert.deepEqual(kept.manifest.documents.map((d) => d.type), ['identity', 'income', 'capital']);
  assert.deepEqual(kept.received.map((f) => f.sha256), FILES.map((f) => sha256(f.buffer)));
  assert.deepEqual(kept.manifest.documents.map((d) => d.sha256), FILES.map((f) => sha256(f.buffer)));
});
