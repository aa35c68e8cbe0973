// flows: steps the browser tests share — signing in through the page, filling the parking
// permit form, and moving focus with the keyboard alone.
import assert from 'node:assert/strict';
import fs from 'node:fs';

import { DEMO_PASSWORD, waitUntil } from './harness.mjs';

export const PERMIT_POSTCODE = 'SK1 3XE';
export const PERMIT_UPRN = '100011429002';

/* Today in London, as the gateway judges dates. */
export function todayLondon() {
  return new Intl.DateTimeFormat('en-CA', { timeZone: 'Europe/London', year: 'numeric', month: '2-digit', day: '2-digit' }).format(new Date());
}

export async function signIn(page, stack, { username = 'assistant', counter = 'SD-01' } = {}) {
  await page.goto(`${stack.baseURL}/`);
  await page.getByRole('heading', { name: 'Sign in to the counter' }).waitFor();
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(DEMO_PASSWORD);
  await page.getByRole('textbox', { name: 'Counter' }).fill(counter);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Start a sale' }).waitFor();
}

/* The session token the page holds (sessionStorage), to ask the API what it recorded. */
export async function pageToken(page) {
  return page.evaluate(() => JSON.parse(sessionStorage.getItem('onestop.session') || 'null')?.token);
}

/* Opens the residents' parking permit form and fills it for a resident permit starting
 * today, the address found by postcode. Leaves the payment to the caller. */
export async function fillPermit(page, { vrm = 'AB12CDE', uprn = PERMIT_UPRN } = {}) {
  await page.getByRole('link', { name: /Residents' parking permit/ }).click();
  await page.getByRole('heading', { name: "Residents' parking permit" }).waitFor();
  await page.getByLabel('Postcode').fill(PERMIT_POSTCODE);
  await page.getByRole('button', { name: 'Find address' }).click();
  await page.getByLabel('Choose the address').selectOption(uprn);
  await page.getByLabel('Resident', { exact: true }).check();
  await page.getByLabel('Vehicle registration').fill(vrm);
  assert.equal(await page.getByLabel('Start date').inputValue(), todayLondon());
}

/* What has focus: tag, type, id, its label text and its value. */
export async function active(page) {
  return page.evaluate(() => {
    const el = document.activeElement;
    if (!el) return null;
    const labels = el.labels ? [...el.labels].map((l) => l.textContent.trim()).join(' ') : '';
    return {
      tag: el.tagName.toLowerCase(), type: el.type || '', id: el.id, value: el.value ?? '',
      label: labels || el.getAttribute('aria-label') || el.textContent.trim().slice(0, 80),
      checked: Boolean(el.checked),
    };
  });
}

/* Presses Tab (Shift+Tab when back) until the focused element matches, or fails. */
export async function tabTo(page, matches, { max = 40, back = false, what = 'element' } = {}) {
  const seen = [];
  for (let i = 0; i < max; i += 1) {
    const a = await active(page);
    if (a && matches(a)) return a;
    seen.push(a ? `${a.tag}${a.type ? `[${a.type}]` : ''} "${a.label}"` : 'nothing');
    await page.keyboard.press(back ? 'Shift+Tab' : 'Tab');
  }
  throw new Error(`Tab never reached ${what}; focus went: ${seen.join(' → ')}`);
}

/* Waits for the transaction's print state to be one of states, through the API. */
export async function waitPrint(stack, token, reference, states, timeout = 20000) {
  return waitUntil(async () => {
    const r = await stack.api('GET', `/api/v1/transactions/${reference}`, { token });
    return r.json?.print && states.includes(r.json.print.state) ? r.json : null;
  }, { timeout, what: `print state ${states.join('|')} for ${reference}` });
}

const AXE_SOURCE = fs.readFileSync(new URL('./node_modules/axe-core/axe.min.js', import.meta.url), 'utf8');

/* Runs axe-core (WCAG 2.1 A and AA rules) on the page as it is now; returns the violations
 * as short strings ("color-contrast: .hint (Elements must meet minimum color contrast)"). */
export async function axeViolations(page) {
  await page.evaluate(AXE_SOURCE);
  const violations = await page.evaluate(async () => {
    const r = await window.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } });
    return r.violations.map((v) => ({ id: v.id, help: v.help, nodes: v.nodes.map((n) => n.target.join(' ')) }));
  });
  return violations.map((v) => `${v.id}: ${v.nodes.slice(0, 3).join(', ')} (${v.help})`);
}
