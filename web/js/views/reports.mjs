// reports: for supervisors, the daily report of this site (GET /api/v1/reports/daily) with its
// CSV, and the month's takings by service per day as a bar chart (GET /api/v1/reports/monthly).
import { h, focus, clear } from '../dom.mjs';
import * as api from '../api.mjs';
import { money, todayLondon, PAYMENT_METHODS, words } from '../format.mjs';

const CHART_W = 720;
const CHART_H = 220;
const COLOURS = ['#1d70b8', '#00703c', '#d4351c', '#f47738', '#4c2c92', '#28a197', '#6f72af', '#b58840'];

function table(id, head, rows) {
  return h('table', { class: 'table table--compact', id },
    h('thead', {}, h('tr', {}, head.map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, rows.map((r) => h('tr', {}, r.map((c, i) => h(i ? 'td' : 'th', i ? { class: 'num' } : { scope: 'row' }, c))))));
}

/* Takings by service per day, stacked bars; a table of the same figures for screen readers. */
function chart(month) {
  const days = [...new Set(month.by_day.map((d) => d.day))].sort();
  const services = [...new Set(month.by_day.map((d) => d.service))].sort();
  const totals = days.map((day) => month.by_day.filter((d) => d.day === day).reduce((s, d) => s + d.takings_pence, 0));
  const max = Math.max(1, ...totals);
  const bw = CHART_W / Math.max(days.length, 1);
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('viewBox', `0 0 ${CHART_W} ${CHART_H + 20}`);
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', 'Takings by service per day this month');
  svg.setAttribute('class', 'chart');
  days.forEach((day, i) => {
    let y = CHART_H;
    for (const [si, service] of services.entries()) {
      const d = month.by_day.find((e) => e.day === day && e.service === service);
      if (!d) continue;
      const hgt = (d.takings_pence / max) * CHART_H;
      y -= hgt;
      const r = document.createElementNS('http://www.w3.org/2000/svg', 'rect');
      for (const [k, v] of Object.entries({ x: i * bw + 2, y, width: Math.max(bw - 4, 1), height: hgt, fill: COLOURS[si % COLOURS.length] })) r.setAttribute(k, v);
      const title = document.createElementNS('http://www.w3.org/2000/svg', 'title');
      title.textContent = `${day} ${words(service)} ${money(d.takings_pence)}`;
      r.append(title);
      svg.append(r);
    }
    const label = document.createElementNS('http://www.w3.org/2000/svg', 'text');
    for (const [k, v] of Object.entries({ x: i * bw + bw / 2, y: CHART_H + 15, 'text-anchor': 'middle', 'font-size': 10 })) label.setAttribute(k, v);
    label.textContent = day.slice(8);
    svg.append(label);
  });
  const key = h('ul', { class: 'chart-key' }, services.map((s, i) => h('li', {},
    h('span', { class: 'chart-key__swatch', style: `background:${COLOURS[i % COLOURS.length]}` }), words(s))));
  return h('figure', { class: 'chart-figure', id: 'month-chart' }, svg, key,
    h('figcaption', { class: 'hint' }, `Takings by service per day, ${month.period.month}.`));
}

function daily(rep) {
  const dims = (list) => list.map((e) => [words(e.name) || e.name, String(e.transactions), money(e.takings_pence)]);
  const d = rep.deliveries;
  return h('div', { id: 'daily-report' },
    table('report-totals', ['', 'Figure'], [
      ['Sales', String(rep.sales.transactions)], ['Takings', money(rep.sales.takings_pence)],
      ['Refunds', `${money(rep.refunds.pence)} (${rep.refunds.count})`], ['Voids', `${money(rep.voids.pence)} (${rep.voids.count})`],
      ['Paid in / out', `${money(rep.paid_in_pence)} / ${money(rep.paid_out_pence)}`], ['Net', money(rep.net_pence)],
      ['Deliveries', `${d.delivered} delivered · ${d.waiting} waiting · ${d.failed} failed`]]),
    h('h2', { class: 'heading heading--small' }, 'By service'), table('report-services', ['Service', 'Sales', 'Takings'], dims(rep.by_service)),
    h('h2', { class: 'heading heading--small' }, 'By method'),
    table('report-methods', ['Method', 'Sales', 'Takings'], rep.by_method.map((e) => [PAYMENT_METHODS[e.name] || e.name, String(e.transactions), money(e.takings_pence)])),
    h('h2', { class: 'heading heading--small' }, 'By counter and staff'),
    table('report-counters', ['Counter', 'Sales', 'Takings'], dims(rep.by_counter)),
    table('report-staff', ['Staff', 'Sales', 'Takings'], dims(rep.by_staff)),
    h('h2', { class: 'heading heading--small' }, 'Cash-ups'),
    rep.variances.length ? table('report-variances', ['Counter', 'Day', 'Variance', 'Counted by', 'Signed by'],
      rep.variances.map((v) => [v.counter, v.day, money(v.variance_pence), v.counted_by || '', v.signed_by || ''])) : h('p', { class: 'empty' }, 'No till counted.'));
}

export async function reportsView(main, params, app) {
  const heading = h('h1', { class: 'heading' }, 'Reports');
  if (!app.supervisor()) {
    main.append(heading, h('p', {}, 'Only supervisors can see reports.'));
    focus(heading);
    return null;
  }
  const date = h('input', { id: 'report-date', type: 'date', class: 'input', value: todayLondon() });
  const show = h('button', { type: 'submit', class: 'button button--primary' }, 'Show');
  const csv = h('button', { type: 'button', class: 'button button--secondary', id: 'report-csv' }, 'Download CSV');
  const status = h('p', { class: 'hint', role: 'status' });
  const out = h('div', {});
  const form = h('form', { novalidate: true, class: 'report-form' },
    h('div', { class: 'field' }, h('label', { class: 'label', for: 'report-date' }, 'Day'), date), show, csv);
  main.append(heading, form, status, out);
  let alive = true;

  async function load() {
    status.textContent = 'Loading…';
    try {
      const [rep, month] = await Promise.all([
        api.get(`/api/v1/reports/daily?date=${encodeURIComponent(date.value)}`),
        api.get(`/api/v1/reports/monthly?month=${encodeURIComponent(date.value.slice(0, 7))}`)]);
      if (!alive) return;
      clear(out);
      out.append(daily(rep), h('h2', { class: 'heading heading--small' }, 'This month'), chart(month));
      status.textContent = `Report for ${date.value} at ${rep.period.site || 'every site'}.`;
    } catch (err) {
      if (alive) status.textContent = err.message;
    }
  }

  form.addEventListener('submit', (e) => { e.preventDefault(); load(); });
  csv.addEventListener('click', async () => {
    const r = await fetch(`/api/v1/reports/daily?date=${encodeURIComponent(date.value)}`,
      { headers: { Accept: 'text/csv', Authorization: `Bearer ${api.getToken()}` } });
    if (!r.ok) { status.textContent = 'The CSV could not be made.'; return; }
    const url = URL.createObjectURL(await r.blob());
    const a = h('a', { href: url, download: `onestop-${date.value}.csv` });
    document.body.append(a);
    a.click();
    a.remove();
    URL.revokeObjectURL(url);
  });
  focus(heading);
  await load();
  return () => { alive = false; };
}
