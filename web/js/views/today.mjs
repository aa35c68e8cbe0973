// today: the transactions taken at this counter today, newest first, with where each one
// has got to (sent to the department? receipt printed?) and the takings by method.
import { h, focus, clear } from '../dom.mjs';
import * as api from '../api.mjs';
import { money, clockTime, todayLondon, stateWords, DELIVERY_STATES, PRINT_STATES, PAYMENT_METHODS, words, longDate } from '../format.mjs';

const REFRESH_MS = 15000;

export async function todayView(main, params, app) {
  const counter = app.session().counter;
  const date = todayLondon();
  const heading = h('h1', { class: 'heading' }, "Today's transactions");
  const refresh = h('button', { type: 'button', class: 'button button--secondary button--small' }, 'Refresh');
  const updated = h('p', { class: 'hint', role: 'status' });
  const totals = h('div', { class: 'totals' });
  const tableWrap = h('div', { class: 'table-wrap' });
  main.append(heading, h('div', { class: 'toolbar' }, h('p', { class: 'lede' }, `Counter ${counter} · ${longDate(date)}`), refresh), updated, totals, tableWrap);

  let alive = true;
  let timer = null;
  const services = await app.catalogue().catch(() => []);
  const nameOf = (code) => services.find((s) => s.code === code)?.name || words(code);

  async function load() {
    clearTimeout(timer);
    try {
      const r = await api.get(`/api/v1/transactions?${api.query({ date, counter, limit: 200 })}`);
      if (!alive) return;
      render(r.transactions || []);
      updated.textContent = `Updated ${clockTime(new Date().toISOString())}.`;
    } catch (err) {
      if (!alive) return;
      updated.textContent = err.message;
    }
    if (alive) timer = setTimeout(load, REFRESH_MS);
  }

  function render(list) {
    clear(totals);
    const byMethod = new Map();
    for (const t of list) {
      if (t.status === 'voided') continue;
      const m = t.payment_method || 'none';
      byMethod.set(m, (byMethod.get(m) || 0) + (m === 'waived' ? 0 : t.fee_pence));
    }
    totals.append(h('p', { class: 'totals__item' }, h('span', { class: 'totals__label' }, 'Transactions'), h('strong', {}, String(list.length))));
    for (const [m, pence] of byMethod) {
      totals.append(h('p', { class: 'totals__item' }, h('span', { class: 'totals__label' }, PAYMENT_METHODS[m] || m), h('strong', {}, money(pence))));
    }
    clear(tableWrap);
    if (!list.length) {
      tableWrap.append(h('p', { class: 'empty' }, 'No transactions at this counter yet today.'));
      return;
    }
    tableWrap.append(h('table', { class: 'table', id: 'today-table' },
      h('caption', { class: 'visually-hidden' }, `Transactions at counter ${counter} today, newest first`),
      h('thead', {}, h('tr', {}, ['Time', 'Reference', 'Service', 'Fee', 'Paid by', 'Staff', 'Department', 'Receipt'].map((c) => h('th', { scope: 'col', class: c === 'Fee' ? 'num' : null }, c)))),
      h('tbody', {}, list.map((t) => h('tr', { 'data-reference': t.reference },
        h('td', {}, clockTime(t.created_at)),
        h('td', {}, h('a', { href: `#/transaction/${encodeURIComponent(t.reference)}`, class: 'mono' }, t.reference)),
        h('td', {}, nameOf(t.service)),
        h('td', { class: 'num' }, money(t.fee_pence)),
        h('td', {}, PAYMENT_METHODS[t.payment_method] || t.payment_method || ''),
        h('td', {}, t.staff || ''),
        h('td', {}, h('span', { class: `state state--${t.delivery_state || 'none'}`, 'data-state': t.delivery_state || 'none' }, t.delivery_state ? stateWords(DELIVERY_STATES, t.delivery_state) : '—')),
        h('td', {}, h('span', { class: `state state--${t.print_state || 'none'}`, 'data-state': t.print_state || 'none' }, t.print_state ? stateWords(PRINT_STATES, t.print_state) : '—')))))));
  }

  refresh.addEventListener('click', load);
  focus(heading);
  await load();
  return () => { alive = false; clearTimeout(timer); };
}
