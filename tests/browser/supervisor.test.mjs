// Supervisors see the sales a department's system refused and retry them once it is back;
// assistants do not get that view. A supervisor can also waive a fee (with a reason).
// Staff are signed out after the server's idle time without keyboard or mouse activity.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { openStackAndBrowser, shooter, waitUntil } from './harness.mjs';
import { fillPermit, pageToken, signIn } from './flows.mjs';

const { stack, browser } = await openStackAndBrowser({ idleTimeoutS: 30 });

async function deliveryState(token, reference) {
  const r = await stack.api('GET', `/api/v1/transactions/${reference}`, { token });
  return r.json?.delivery?.state;
}

test('a refused delivery is retried by a supervisor from the failed list', { timeout: 60000 }, async () => {
  const { page } = browser;
  const shot = shooter(page, 'supervisor-retry');

  /* The parking system refuses everything (422): the delivery fails at once. */
  const fault = await stack.sim.api('POST', '/_sim/faults', { backend: 'parking', mode: 'reject' });
  assert.equal(fault.status, 200);

  await signIn(page, stack);
  assert.equal(await page.getByRole('link', { name: 'Failed deliveries' }).count(), 0, 'assistants have no failed list');
  await fillPermit(page, { vrm: 'KL62MNO' });
  await page.getByRole('button', { name: 'Record sale — £41.50' }).waitFor();
  await page.getByRole('radio', { name: 'Card' }).check();
  await page.getByLabel('Authorisation code').fill('884211');
  await page.getByRole('button', { name: 'Record sale — £41.50' }).click();
  await page.getByRole('heading', { name: 'Sale recorded' }).waitFor();
  const reference = (await page.locator('.reference').innerText()).replace(/\s/g, '');
  const assistantToken = await pageToken(page);
  await waitUntil(async () => (await deliveryState(assistantToken, reference)) === 'failed', { timeout: 20000, what: 'the delivery to fail' });
  await page.locator('[data-state="failed"]').first().waitFor({ timeout: 10000 });
  await shot('assistant-sees-failed');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { name: 'Sign in to the counter' }).waitFor();

  /* The system is back; the supervisor retries. */
  await stack.sim.api('POST', '/_sim/faults', { backend: 'parking', mode: 'up' });
  await signIn(page, stack, { username: 'supervisor' });
  await page.getByRole('link', { name: 'Failed deliveries' }).click();
  const row = page.locator(`#failed-table tr[data-reference="${reference}"]`);
  await row.waitFor();
  assert.match(await row.innerText(), /Residents' parking permit[\s\S]*parking/);
  await shot('failed-list');
  await row.getByRole('button', { name: `Retry ${reference}` }).click();
  await row.getByText('Retry queued').waitFor();
  await shot('retry-queued');
  const supervisorToken = await pageToken(page);
  await waitUntil(async () => (await deliveryState(supervisorToken, reference)) === 'delivered', { timeout: 20000, what: 'the retried delivery' });
  await page.getByRole('button', { name: 'Refresh' }).click();
  await page.locator('#failed-table').waitFor({ state: 'detached' });
  await page.getByText('No failed deliveries.').waitFor();
  assert.deepEqual(browser.errors.map(String), []);
});

test('a supervisor waives a fee with a reason', { timeout: 60000 }, async () => {
  const { page } = browser;
  const shot = shooter(page, 'supervisor-waive');
  await page.getByRole('link', { name: 'New sale' }).click();
  await fillPermit(page, { vrm: 'PR63STU', uprn: '100011429003' });
  await page.getByRole('button', { name: 'Record sale — £41.50' }).waitFor();
  await page.getByRole('radio', { name: 'Waived' }).check();
  await page.getByRole('button', { name: /Record sale/ }).click();
  await page.locator('.error-summary', { hasText: 'Give the reason for waiving the fee' }).waitFor();
  await page.getByLabel('Reason for waiving the fee').fill('Permit reissued after a council error');
  await shot('waive');
  await page.getByRole('button', { name: /Record sale/ }).click();
  await page.getByRole('heading', { name: 'Sale recorded' }).waitFor();
  const reference = (await page.locator('.reference').innerText()).replace(/\s/g, '');
  const t = (await stack.api('GET', `/api/v1/transactions/${reference}`, { token: await pageToken(page) })).json;
  assert.equal(t.payment.method, 'waived');
  assert.equal(t.payment.amount_pence, 0);
  assert.equal(t.payment.reason, 'Permit reissued after a council error');
  assert.equal(t.payment.authorised_by, 'supervisor');
  await shot('waived');
});

test('staff are signed out after the idle time', { timeout: 60000 }, async () => {
  const { page } = browser;
  const shot = shooter(page, 'idle-sign-out');
  await page.clock.install();
  await page.goto(`${stack.baseURL}/#/`);
  await page.reload(); /* so every timer the app sets runs on the test's clock */
  await page.getByRole('heading', { name: 'Start a sale' }).waitFor();
  const token = await pageToken(page);
  assert.ok(token);
  await page.clock.runFor(25000);
  await page.clock.runFor(6000);
  await page.getByRole('heading', { name: 'Sign in to the counter' }).waitFor();
  await page.getByText('You were signed out after').waitFor();
  await shot('signed-out');
  assert.equal(await pageToken(page), undefined);
  await waitUntil(async () => (await stack.api('GET', '/api/v1/sessions/current', { token })).status === 401,
    { timeout: 5000, what: 'the session to end on the server' });
});
