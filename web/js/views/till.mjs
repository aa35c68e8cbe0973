// till: this counter's till today (GET /api/v1/till). Not open: count the float in and open it.
// Open: the day's figures, and the blind count — how many of each note and coin, with a
// running total — submitted before the expected figure is shown. Counted: a supervisor who
// did not count signs the cash-up off (banking, bag number, note). Closed: the cash-up slip.
import { h, focus, clear, announce } from '../dom.mjs';
import * as api from '../api.mjs';
import { money, parseMoney } from '../format.mjs';

const DENOMINATIONS = [5000, 2000, 1000, 500, 200, 100, 50, 20, 10, 5, 2, 1];
const COUNT_MAX = 100000;

function denominationName(p) {
  return p >= 100 ? `£${p / 100}` : `${p}p`;
}

function row(label, value, attrs = {}) {
  return h('tr', attrs, h('th', { scope: 'row' }, label), h('td', { class: 'num' }, value));
}

/* The figures of a till as a table; the expected cash and variance only when the server sent them. */
function figures(t) {
  const m = (o) => `cash ${money(o.cash)} · card ${money(o.card)} · cheque ${money(o.cheque)}`;
  return h('table', { class: 'table table--compact', id: 'till-figures' }, h('tbody', {},
    row('Float', money(t.float_pence)),
    row('Takings', m(t.takings), { 'data-figure': 'takings' }),
    row('Refunds', m(t.refunds), { 'data-figure': 'refunds' }),
    row('Voids', m(t.voids), { 'data-figure': 'voids' }),
    row('Paid in / out', `${money(t.paid_in_pence)} / ${money(t.paid_out_pence)}`),
    row('Sales', String(t.transactions)),
    t.expected_cash_pence !== undefined ? row('Expected cash', money(t.expected_cash_pence), { 'data-figure': 'expected' }) : null,
    t.counted_pence !== undefined && t.counted_pence !== null ? row('Counted cash', money(t.counted_pence), { 'data-figure': 'counted' }) : null,
    t.variance_pence !== undefined ? row('Variance', money(t.variance_pence), { 'data-figure': 'variance' }) : null,
    t.counted_by ? row('Counted by', t.counted_by) : null,
    t.signed_by ? row('Signed off by', t.signed_by) : null,
    t.banked_pence !== undefined && t.banked_pence !== null ? row('Banked', `${money(t.banked_pence)} (bag ${t.bag_number})`) : null));
}

function field(id, label, input) {
  return h('div', { class: 'field' }, h('label', { class: 'label', for: id }, label), input);
}

export async function tillView(main, params, app) {
  const heading = h('h1', { class: 'heading' }, 'Till');
  const state = h('p', { class: 'lede', id: 'till-state' });
  const body = h('div', {});
  const errorText = h('p', { class: 'field-error', hidden: true, role: 'alert' });
  main.append(heading, state, errorText, body);
  let alive = true;

  function fail(err) {
    errorText.textContent = err.message;
    errorText.hidden = false;
  }

  async function act(button, fn) {
    errorText.hidden = true;
    button.disabled = true;
    try {
      await fn();
      await load();
    } catch (err) {
      fail(err);
    } finally {
      button.disabled = false;
    }
  }

  function openForm(t) {
    const input = h('input', { id: 'till-float', class: 'input', inputmode: 'decimal', autocomplete: 'off',
      value: t.suggested_float_pence ? (t.suggested_float_pence / 100).toFixed(2) : '' });
    const go = h('button', { type: 'submit', class: 'button button--primary' }, 'Open the till');
    const form = h('form', { novalidate: true }, field('till-float', 'Float counted into the drawer (£)', input), go);
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const pence = parseMoney(input.value);
      if (pence === null) return fail(new Error('Enter the float in pounds, like 100.00.'));
      return act(go, () => api.post('/api/v1/till/open', { float_pence: pence }));
    });
    return form;
  }

  function countForm() {
    const inputs = new Map();
    const total = h('output', { id: 'count-total', 'aria-live': 'polite' }, money(0));
    const update = () => {
      let sum = 0;
      for (const [p, i] of inputs) sum += p * (Number.parseInt(i.value, 10) || 0);
      total.textContent = money(sum);
    };
    const grid = h('div', { class: 'count-grid' }, DENOMINATIONS.map((p) => {
      const id = `count-${p}`;
      const i = h('input', { id, type: 'number', min: 0, max: COUNT_MAX, class: 'input input--qty', inputmode: 'numeric', value: '0' });
      i.addEventListener('input', update);
      inputs.set(p, i);
      return field(id, `${denominationName(p)} ×`, i);
    }));
    const card = h('input', { id: 'count-card', class: 'input', inputmode: 'decimal', value: '0' });
    const cheque = h('input', { id: 'count-cheque', class: 'input', inputmode: 'decimal', value: '0' });
    const go = h('button', { type: 'submit', class: 'button button--primary' }, 'Submit the count');
    const form = h('form', { novalidate: true, id: 'count-form' },
      h('h2', { class: 'heading heading--small' }, 'Count the drawer'),
      h('p', { class: 'hint' }, 'Count what is in the drawer. The expected figure is shown once the count is in.'),
      grid, h('p', {}, 'Cash counted: ', total),
      field('count-card', 'Card terminal total (£)', card),
      field('count-cheque', 'Cheques in the drawer (£)', cheque), go);
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const denominations = {};
      for (const [p, i] of inputs) {
        const n = Number.parseInt(i.value, 10);
        if (!Number.isInteger(n) || n < 0) return fail(new Error(`Enter how many ${denominationName(p)} (0 or more).`));
        if (n) denominations[String(p)] = n;
      }
      const cardPence = parseMoney(card.value);
      const chequePence = parseMoney(cheque.value);
      if (cardPence === null || chequePence === null) return fail(new Error('Enter the card and cheque totals in pounds.'));
      return act(go, () => api.post('/api/v1/till/count', { denominations, card_pence: cardPence, cheque_pence: chequePence }));
    });
    return form;
  }

  function signoffForm(t) {
    const banked = h('input', { id: 'cashup-banked', class: 'input', inputmode: 'decimal', autocomplete: 'off' });
    const bag = h('input', { id: 'cashup-bag', class: 'input', maxlength: 32, autocomplete: 'off' });
    const note = h('input', { id: 'cashup-note', class: 'input', maxlength: 200, autocomplete: 'off' });
    const go = h('button', { type: 'submit', class: 'button button--primary' }, 'Sign off the cash-up');
    const form = h('form', { novalidate: true, id: 'cashup-form' },
      h('h2', { class: 'heading heading--small' }, 'Sign off the cash-up'),
      h('p', { class: 'hint' }, `Counted by ${t.counted_by}. Someone else must sign it off.`),
      field('cashup-banked', 'Banked (£)', banked), field('cashup-bag', 'Bag number', bag),
      field('cashup-note', 'Note (optional)', note), go);
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const pence = parseMoney(banked.value);
      if (pence === null) return fail(new Error('Enter the amount banked in pounds.'));
      return act(go, () => api.post('/api/v1/till/cashup', { banked_pence: pence, bag_number: bag.value.trim(), note: note.value.trim() || null }));
    });
    return form;
  }

  /* The cash-up slip as PDF (GET /api/v1/till/slip), opened to print. */
  function slipButton() {
    const b = h('button', { type: 'button', class: 'button button--secondary', id: 'till-slip' }, 'Print the cash-up slip');
    b.addEventListener('click', async () => {
      const r = await fetch('/api/v1/till/slip', { headers: { Authorization: `Bearer ${api.getToken()}` } });
      if (!r.ok) return fail(new Error('The slip could not be made.'));
      window.open(URL.createObjectURL(await r.blob()), '_blank', 'noopener');
      return null;
    });
    return b;
  }

  function render(t) {
    clear(body);
    state.setAttribute('data-state', t.state);
    const words = { not_open: 'Not open yet today', open: 'Open', counted: 'Counted: waiting for the sign-off', closed: 'Cashed up and closed' };
    state.textContent = `${t.counter} · ${words[t.state] || t.state}`;
    if (t.state === 'not_open') return body.append(openForm(t));
    body.append(figures(t));
    if (t.state === 'open') body.append(countForm());
    if (t.state === 'counted' && app.supervisor() && app.session().staff.username !== t.counted_by) body.append(signoffForm(t));
    if (t.state !== 'open') body.append(slipButton());
    if (t.state === 'closed') announce(`Cash-up signed off. Variance ${money(t.variance_pence)}.`);
    return null;
  }

  async function load() {
    try {
      const t = await api.get('/api/v1/till');
      if (alive) render(t);
    } catch (err) {
      if (alive) fail(err);
    }
  }

  focus(heading);
  await load();
  return () => { alive = false; };
}
