// failed: for supervisors, the transactions whose delivery to a department failed after
// every retry, with Retry (POST /api/v1/transactions/{ref}/retry) for each.
import { h, focus, clear, announce } from '../dom.mjs';
import * as api from '../api.mjs';
import { dateTime, words } from '../format.mjs';

export async function failedView(main, params, app) {
  const heading = h('h1', { class: 'heading' }, 'Failed deliveries');
  if (!app.supervisor()) {
    main.append(heading, h('p', {}, 'Only supervisors can see and retry failed deliveries.'));
    focus(heading);
    return null;
  }
  const status = h('p', { class: 'hint', role: 'status' });
  const refresh = h('button', { type: 'button', class: 'button button--secondary button--small' }, 'Refresh');
  const wrap = h('div', { class: 'table-wrap' });
  main.append(heading, h('div', { class: 'toolbar' }, h('p', { class: 'lede' }, 'Requests a department system did not accept after every retry. Retry once the department says its system is back.'), refresh), status, wrap);
  const services = await app.catalogue().catch(() => []);
  const nameOf = (code) => services.find((s) => s.code === code)?.name || words(code);
  let alive = true;

  async function load() {
    try {
      const r = await api.get('/api/v1/deliveries/failed');
      if (alive) render(r.deliveries || []);
    } catch (err) {
      if (alive) status.textContent = err.message;
    }
  }

  function render(list) {
    clear(wrap);
    if (!list.length) {
      wrap.append(h('p', { class: 'empty' }, 'No failed deliveries. Everything has reached its department.'));
      return;
    }
    wrap.append(h('table', { class: 'table', id: 'failed-table' },
      h('thead', {}, h('tr', {}, ['Reference', 'Service', 'Counter', 'System', 'Tries', 'Last error', 'Failed', 'Action'].map((c) => h('th', { scope: 'col', class: c === 'Tries' ? 'num' : null }, c)))),
      h('tbody', {}, list.map((d) => {
        const retry = h('button', { type: 'button', class: 'button button--small', 'aria-label': `Retry ${d.reference}` }, 'Retry');
        const cell = h('td', {}, retry);
        retry.addEventListener('click', async () => {
          retry.disabled = true;
          try {
            await api.post(`/api/v1/transactions/${encodeURIComponent(d.reference)}/retry`, {});
            cell.textContent = 'Retry queued';
            announce(`${d.reference}: retry queued`);
          } catch (err) {
            retry.disabled = false;
            status.textContent = `${d.reference}: ${err.message}`;
          }
        });
        return h('tr', { 'data-reference': d.reference },
          h('td', {}, h('a', { href: `#/transaction/${encodeURIComponent(d.reference)}`, class: 'mono' }, d.reference)),
          h('td', {}, nameOf(d.service)),
          h('td', {}, d.counter || ''),
          h('td', {}, d.backend || ''),
          h('td', { class: 'num' }, String(d.attempts ?? '')),
          h('td', {}, d.last_error || (d.last_status ? `HTTP ${d.last_status}` : ''),
            /* what to do about it, e.g. the next free days when a held day was lost */
            d.note ? h('p', { class: 'hint failed__note' }, d.note) : null),
          h('td', {}, dateTime(d.failed_at)),
          cell);
      }))));
  }

  refresh.addEventListener('click', () => { status.textContent = ''; load(); });
  focus(heading);
  await load();
  return () => { alive = false; };
}
