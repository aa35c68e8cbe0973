// stock: for supervisors, what this counter's site holds of the items services draw on
// (GET /api/v1/stock), and a form to record stock received (POST /api/v1/stock/deliveries).
import { h, focus, clear, announce } from '../dom.mjs';
import * as api from '../api.mjs';

const NOTE_MAX = 200;
const QUANTITY_MAX = 10000;

export async function stockView(main, params, app) {
  const heading = h('h1', { class: 'heading' }, 'Stock received');
  if (!app.supervisor()) {
    main.append(heading, h('p', {}, 'Only supervisors can record stock received.'));
    focus(heading);
    return null;
  }
  const status = h('p', { class: 'hint', role: 'status' });
  const wrap = h('div', { class: 'table-wrap' });
  const itemId = 'stock-item';
  const qtyId = 'stock-quantity';
  const noteId = 'stock-note';
  const item = h('select', { id: itemId, class: 'select' });
  const quantity = h('input', { id: qtyId, type: 'number', min: 1, max: QUANTITY_MAX, class: 'input input--qty', inputmode: 'numeric' });
  const note = h('input', { id: noteId, type: 'text', class: 'input', maxlength: NOTE_MAX, autocomplete: 'off' });
  const errorText = h('p', { class: 'field-error', hidden: true, role: 'alert' });
  const save = h('button', { type: 'submit', class: 'button button--primary' }, 'Record stock received');
  const form = h('form', { class: 'stock-form', novalidate: true },
    h('div', { class: 'field' }, h('label', { class: 'label', for: itemId }, 'Item'), item),
    h('div', { class: 'field' }, h('label', { class: 'label', for: qtyId }, 'Packs received'), quantity),
    h('div', { class: 'field' }, h('label', { class: 'label', for: noteId }, 'Note (optional)'), note),
    errorText, save);
  const siteLine = h('p', { class: 'lede' });
  main.append(heading, siteLine, wrap, h('h2', { class: 'heading heading--small' }, 'Record a delivery'), form, status);
  let alive = true;

  function render(r) {
    siteLine.textContent = `At ${r.site}.`;
    clear(wrap);
    clear(item);
    if (!r.items.length) {
      wrap.append(h('p', { class: 'empty' }, 'No service here draws on stock.'));
      return;
    }
    wrap.append(h('table', { class: 'table', id: 'stock-table' },
      h('thead', {}, h('tr', {}, ['Item', 'On hand', 'Low at', ''].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, r.items.map((i) => h('tr', { 'data-item': i.code },
        h('td', {}, i.name), h('td', { class: 'num', 'data-on-hand': String(i.on_hand) }, String(i.on_hand)),
        h('td', { class: 'num' }, String(i.low_at)), h('td', {}, i.low ? h('strong', { class: 'stock-low' }, 'Low stock') : ''))))));
    for (const i of r.items) item.append(h('option', { value: i.code }, i.name));
  }

  async function load() {
    try {
      const r = await api.get('/api/v1/stock');
      if (alive) render(r);
    } catch (err) {
      if (alive) status.textContent = err.message;
    }
  }

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    errorText.hidden = true;
    const n = Number.parseInt(quantity.value, 10);
    if (!Number.isInteger(n) || n < 1 || n > QUANTITY_MAX) {
      errorText.textContent = `Enter how many packs arrived (1 to ${QUANTITY_MAX}).`;
      errorText.hidden = false;
      quantity.focus();
      return;
    }
    save.disabled = true;
    try {
      const r = await api.post('/api/v1/stock/deliveries', { item: item.value, quantity: n, note: note.value.trim() || null });
      quantity.value = '';
      note.value = '';
      announce(`Recorded. ${r.on_hand} on hand now.`);
      status.textContent = `Recorded: ${r.on_hand} on hand now.`;
      await load();
    } catch (err) {
      errorText.textContent = err.message;
      errorText.hidden = false;
    } finally {
      save.disabled = false;
    }
  });

  focus(heading);
  await load();
  return () => { alive = false; };
}
