// Referrals in the counter app (issue 12), against the real onestopd, onestop-sim (NHS token
// endpoint, e-RS reads, SMTP sink) and an ippeveprinter:
// - a new user looks up the sandbox referral 000000070000 with its NHS number, sees where it
//   stands in plain words and prints the hand-off slip (a PDF at the printer, without the
//   full NHS number); a wrong NHS number is refused without a word about the referral;
// - a referral to Citizens Advice with the consent step arrives at the simulator's SMTP sink.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { daemonPrints, openStackAndBrowser, PARTNER_ADDRESSES, shooter, waitUntil } from './harness.mjs';
import { axeViolations, pageToken, signIn, waitPrint } from './flows.mjs';

const { stack, browser } = await openStackAndBrowser({ printer: daemonPrints(), referrals: true });

test('look up the sandbox referral and print its hand-off slip', { timeout: 90000 }, async (t) => {
  const { page } = browser;
  const shot = shooter(page, 'referral-lookup');
  await signIn(page, stack);
  await page.getByRole('link', { name: /NHS referral hand-off/ }).click();
  await page.getByRole('heading', { name: 'NHS referral hand-off' }).waitFor();

  // a wrong NHS number (valid, someone else's) is refused and nothing about the referral shows
  await page.getByLabel('Booking reference (UBRN)').fill('0000 0007 0000');
  await page.getByLabel('NHS number').fill('943 476 5919');
  await page.getByRole('button', { name: 'Look up referral' }).click();
  await page.getByRole('alert').getByText('No referral matches this UBRN and NHS number').waitFor();
  assert.equal(await page.getByText('Not booked yet').count(), 0);
  await shot('no-match');

  await page.getByLabel('NHS number').fill('991 200 3888');
  await page.getByRole('button', { name: 'Look up referral' }).click();
  await page.getByRole('heading', { name: 'Referral found' }).waitFor();
  await page.getByText('Not booked yet').waitFor();
  await page.getByText('Routine').waitFor();
  assert.ok(!page.url().includes('9912003888') && !page.url().includes('3888'), page.url());
  await shot('found');
  assert.deepEqual(await axeViolations(page), []);

  await page.getByRole('button', { name: 'Print hand-off slip' }).click();
  /* the confirmation says what happened, and a hand-off has nothing to pay */
  await page.getByRole('heading', { name: 'Referral handed off' }).waitFor();
  assert.equal(await page.getByRole('heading', { name: 'Sale recorded' }).count(), 0);
  assert.equal(await page.getByRole('heading', { name: 'Payment' }).count(), 0);
  assert.equal(await page.getByText('Paid by').count(), 0);
  await page.getByText('No fee: nothing to pay.').waitFor();
  const reference = (await page.locator('.reference').innerText()).replace(/\s/g, '');
  assert.match(reference, /^NR-/);
  assert.ok(stack.printer, 'ippeveprinter is needed (scripts/deps installs cups-ipp-utils)');
  const token = await pageToken(page);
  await waitPrint(stack, token, reference, ['printed'], 30000);
  await page.locator('[data-state="printed"]').waitFor({ timeout: 15000 });
  const [pdf] = fs.readdirSync(stack.printer.spool).filter((n) => n.endsWith('.pdf'));
  const text = spawnSync('pdftotext', ['-layout', path.join(stack.printer.spool, pdf), '-'], { encoding: 'utf8' }).stdout
    .split(/\s+/).join(' ');
  for (const expected of ['0000 0007 0000', 'Not booked yet', 'Routine', '*** *** *888', 'Manage your referral', reference]) {
    assert.ok(text.includes(expected), `${expected} not on the slip: ${text}`);
  }
  assert.ok(!text.replace(/ /g, '').includes('9912003888'), 'the full NHS number is printed');
  await shot('printed');
  assert.deepEqual(browser.errors.map(String), []);
});

test('send a referral to Citizens Advice with the resident\'s consent', { timeout: 90000 }, async () => {
  const { page } = browser;
  const shot = shooter(page, 'partner-referral');
  await page.goto(`${stack.baseURL}/#/`);
  await page.getByRole('heading', { name: 'Start a sale' }).waitFor();
  await page.getByRole('link', { name: /Referral to a partner/ }).click();
  await page.getByRole('heading', { name: 'Referral to a partner' }).waitFor();
  await page.getByLabel('Who to refer to').selectOption('citizens-advice');
  await page.getByText('Citizens Advice Stockport will contact you within 5 working days.').waitFor();
  await page.getByLabel("Resident's name").fill('Sam Example');
  await page.getByLabel('How to contact them (phone or e-mail)').fill('07700 900456');
  await page.getByLabel('Reason').selectOption('debt');
  // the consent step: not ticked is refused in the page
  await page.getByRole('button', { name: 'Send referral' }).click();
  await page.getByRole('alert').getByText('Confirm the resident agrees').waitFor();
  await page.getByText('Stockport Council will e-mail your name').waitFor();
  await shot('consent');
  assert.deepEqual(await axeViolations(page), []);
  await page.getByLabel('The resident has heard this and agrees').check();
  await page.getByRole('button', { name: 'Send referral' }).click();
  await page.getByRole('heading', { name: 'Referral sent to Citizens Advice Stockport' }).waitFor();
  assert.equal(await page.getByRole('heading', { name: 'Payment' }).count(), 0);
  assert.equal(await page.getByText('£0.00').count(), 0);
  const reference = (await page.locator('.reference').innerText()).replace(/\s/g, '');
  assert.match(reference, /^PR-/);
  await page.getByText(/Referral e-mailed to Citizens Advice Stockport/).waitFor();

  const mail = await waitUntil(async () => {
    const r = await stack.sim.api('GET', '/_sim/received?backend=mail');
    return (r.json?.requests || []).find((m) => m.reference === reference);
  }, { timeout: 20000, what: 'the referral at the SMTP sink' });
  assert.deepEqual(mail.rcpt_to, [PARTNER_ADDRESSES['partner-citizens-advice']]);
  assert.ok(mail.body.includes(reference));
  assert.match(mail.body, /Sam Example/);
  await shot('sent');
  assert.deepEqual(browser.errors.map(String), []);
});

test('the NHS being busy says when to try again; a request it cannot take is not "no match"', { timeout: 60000 }, async () => {
  const { page } = browser;
  await page.goto(`${stack.baseURL}/#/`);
  const first = await page.locator('h1').first().innerText();
  if (first.startsWith('Sign in')) await signIn(page, stack); /* run on its own */
  await page.goto(`${stack.baseURL}/#/sale/nhs-referral`);
  await page.getByRole('heading', { name: 'NHS referral hand-off' }).waitFor();
  await page.getByLabel('Booking reference (UBRN)').fill('0000 0007 0000');
  await page.getByLabel('NHS number').fill('991 200 3888');
  const look = page.locator('form.sale button[type="submit"]');

  /* an NHS 429 with Retry-After: 3 — the message says so and the button counts down */
  await stack.sim.api('POST', '/_sim/nhs', { ers_error: 429, ers_retry_after_s: 3 });
  await look.click();
  await page.getByRole('alert').getByText('The NHS e-Referral Service is busy. Try again in 3 seconds.').waitFor();
  await waitUntil(async () => /^Try again in [1-3] seconds?$/.test(await look.innerText()) && look.isDisabled(),
    { timeout: 5000, what: 'the button counting down' });
  await stack.sim.api('POST', '/_sim/nhs', { ers_error: 0 });
  await waitUntil(async () => (await look.innerText()) === 'Look up referral' && look.isEnabled(),
    { timeout: 8000, what: 'the button back after 3 seconds' });

  /* an NHS 400: a request problem, not a missing referral */
  await stack.sim.api('POST', '/_sim/nhs', { ers_error: 400 });
  await look.click();
  await page.getByRole('alert').getByText(/could not take this look-up \(it answered 400 INVALID_HEADER\)/).waitFor();
  assert.equal(await page.getByText('No referral matches').count(), 0);
  await stack.sim.api('POST', '/_sim/nhs', { ers_error: 0 });
  await look.click();
  await page.getByRole('heading', { name: 'Referral found' }).waitFor();
  assert.deepEqual(browser.errors.map(String), []);
});
