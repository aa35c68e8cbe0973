// The till's day in the browser (issue 10, "Done when"): an assistant opens the till and sells
// for cash and by card; a supervisor voids the card sale and refunds part of the cash one from
// their pages; the assistant counts the drawer blind (the expected figure appears only after
// the count); a second supervisor signs the cash-up off. The till, the daily report and its
// CSV then agree to the penny with the sales, and the month's chart is drawn.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';

import { DEMO_PASSWORD, ONESTOP, openStackAndBrowser, shooter } from './harness.mjs';
import { pageToken, signIn, todayLondon } from './flows.mjs';

const { stack, browser } = await openStackAndBrowser({
  tills: false,
  prepare: (started) => execFileSync(ONESTOP, ['--config', started.configPath, 'user', 'add', 'supervisor2',
    '--role', 'supervisor'], { input: `${DEMO_PASSWORD}\n` }),
});

/* The cells of one CSV line (quoted cells may hold commas; "" is a quote). */
function csvCells(line) {
  const cells = [];
  const re = /("((?:[^"]|"")*)"|[^,]*)(,|$)/g;
  let m;
  while ((m = re.exec(line)) && m[0] !== '') {
    cells.push(m[2] !== undefined ? m[2].replace(/""/g, '"') : m[1]);
    if (m[3] === '') break;
  }
  return cells;
}

async function sellLibrary(page, code, pay) {
  await page.getByRole('link', { name: 'New sale' }).click();
  await page.getByRole('link', { name: /^Library sales/ }).click();
  await page.getByRole('heading', { name: 'Library sales' }).waitFor();
  await page.getByLabel('Item', { exact: true }).selectOption(code);
  await page.getByRole('button', { name: 'Add item' }).click();
  await pay();
  await page.getByRole('button', { name: /^Record sale/ }).click();
  await page.getByRole('heading', { name: 'Sale recorded' }).waitFor();
  return (await page.locator('.reference').innerText()).replace(/\s/g, '');
}

test('open, sell, void, refund, count blind, sign off: the figures agree', { timeout: 120000 }, async () => {
  const { page, context } = browser;
  const shot = shooter(page, 'till');
  await signIn(page, stack);
  const token = await pageToken(page);

  await page.getByRole('link', { name: 'Till' }).click();
  await page.locator('#till-state[data-state="not_open"]').waitFor();
  await page.getByLabel('Float counted into the drawer (£)').fill('100');
  await page.getByRole('button', { name: 'Open the till' }).click();
  await page.locator('#till-state[data-state="open"]').waitFor();
  assert.equal(await page.locator('[data-figure="expected"]').count(), 0, 'the assistant counts blind');

  const cashRef = await sellLibrary(page, 'bag', async () => {
    await page.getByLabel('Cash', { exact: true }).check();
    await page.getByLabel('Cash handed over (£)').fill('5');
  });
  const cardRef = await sellLibrary(page, 'replacement_card', async () => {
    await page.getByLabel('Card', { exact: true }).check();
    await page.getByLabel('Authorisation code').fill('A1B2C3');
  });

  /* a supervisor voids the card sale and refunds 40p of the cash one */
  const sup = await context.newPage();
  await signIn(sup, stack, { username: 'supervisor' });
  await sup.goto(`${stack.baseURL}/#/transaction/${cardRef}`);
  await sup.getByLabel('Reason for the void').fill('Resident changed their mind');
  await sup.getByRole('button', { name: 'Void this sale' }).click();
  await sup.locator('#money-note', { hasText: 'This sale has been voided.' }).waitFor();
  await sup.goto(`${stack.baseURL}/#/transaction/${cashRef}`);
  await sup.locator('#refund-form', { hasText: 'Up to £1.00 can be refunded.' }).waitFor();
  await sup.getByLabel('Amount to refund (£)').fill('0.40');
  await sup.getByLabel('Reason for the refund').fill('Bag was torn');
  await sup.getByRole('button', { name: 'Refund' }).click();
  await sup.locator('#refund-form', { hasText: 'Up to £0.60 can be refunded.' }).waitFor();

  /* the blind count: £100.60 expected (float 100.00 + bag 1.00 - refund 0.40) */
  await page.getByRole('link', { name: 'Till' }).click();
  await page.locator('#till-state[data-state="open"]').waitFor();
  await page.getByLabel('£50 ×').fill('2');
  await page.getByLabel('50p ×').fill('1');
  await page.getByLabel('10p ×').fill('1');
  await page.locator('#count-total', { hasText: '£100.60' }).waitFor();
  assert.equal(await page.locator('[data-figure="expected"]').count(), 0);
  await shot('blind-count');
  await page.getByRole('button', { name: 'Submit the count' }).click();
  await page.locator('#till-state[data-state="counted"]').waitFor();
  await page.locator('[data-figure="expected"]', { hasText: '£100.60' }).waitFor();
  await page.locator('[data-figure="variance"]', { hasText: '£0.00' }).waitFor();

  /* a second supervisor signs off */
  const sup2 = await context.newPage();
  await signIn(sup2, stack, { username: 'supervisor2' });
  await sup2.getByRole('link', { name: 'Till' }).click();
  await sup2.getByLabel('Banked (£)').fill('0.60');
  await sup2.getByLabel('Bag number').fill('B-001');
  await sup2.getByRole('button', { name: 'Sign off the cash-up' }).click();
  await sup2.locator('#till-state[data-state="closed"]').waitFor();

  /* the till, the report and its CSV agree to the penny */
  const till = (await stack.api('GET', '/api/v1/till', { token })).json;
  assert.equal(till.state, 'closed');
  assert.equal(till.signed_by, 'supervisor2');
  assert.equal(till.counted_by, 'assistant');
  assert.deepEqual(till.takings, { cash: 100, card: 250, cheque: 0 });
  assert.deepEqual(till.voids, { cash: 0, card: 250, cheque: 0 });
  assert.deepEqual(till.refunds, { cash: 40, card: 0, cheque: 0 });
  assert.equal(till.expected_cash_pence, 10060);
  assert.equal(till.variance_pence, 0);
  const supToken = await pageToken(sup);
  const rep = (await stack.api('GET', `/api/v1/reports/daily?date=${todayLondon()}`, { token: supToken })).json;
  assert.equal(rep.sales.transactions, 2);
  assert.equal(rep.sales.takings_pence, till.takings.cash + till.takings.card);
  assert.equal(rep.refunds.pence, 40);
  assert.equal(rep.voids.pence, 250);
  assert.equal(rep.net_pence, 60);
  assert.equal(rep.variances[0].variance_pence, 0);
  const csv = await stack.api('GET', `/api/v1/reports/daily?date=${todayLondon()}`, { token: supToken, headers: { Accept: 'text/csv' } });
  const [head, ...rows] = csv.text.trim().split('\r\n').map(csvCells);
  const col = (name) => head.indexOf(name);
  const sum = (name) => rows.reduce((s, r) => s + Number(r[col(name)]), 0);
  assert.equal(rows.length, 2);
  assert.equal(sum('amount_pence'), rep.sales.takings_pence);
  assert.equal(sum('refunded_pence'), rep.refunds.pence);
  assert.equal(sum('voided_pence'), rep.voids.pence);

  /* the supervisor's reports page: the figures and the month's chart */
  await sup.getByRole('link', { name: 'Reports' }).click();
  await sup.locator('#report-totals').waitFor();
  await sup.locator('#month-chart rect').first().waitFor();
  assert.match(await sup.locator('#report-totals').innerText(), /£0\.60/);
  await shot('reports');
});
