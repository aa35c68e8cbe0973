// items: the bulky items list. Pick an item from the catalogue's list, set how many, press
// Add; each line can have its quantity changed or be removed. The catalogue's notes (POPs
// seating, fridges) show beside the chosen items, and the items we refuse are listed with
// the reason, so the assistant can tell the resident at once.
import { h, uid, announce } from './dom.mjs';
import { fieldParts, showError } from './fields.mjs';

const QUANTITY_MAX = 6;

export function itemsWidget(field, ctx) {
  const parts = fieldParts(field);
  const catalogue = (field.values || []).map((v) => (typeof v === 'string' ? { code: v, label: v } : v));
  const max = (field.constraints && field.constraints.max_total_quantity) || QUANTITY_MAX;
  const lines = []; /* {code, quantity} */

  const pickId = uid('item');
  const qtyId = uid('qty');
  const pick = h('select', { id: pickId, class: 'select', 'aria-describedby': parts.describedBy },
    h('option', { value: '' }, 'Choose an item…'),
    catalogue.map((it) => h('option', { value: it.code }, it.label)));
  const qty = h('input', { id: qtyId, type: 'number', min: 1, max, value: '1', class: 'input input--qty', inputmode: 'numeric' });
  const add = h('button', { type: 'button', class: 'button button--secondary' }, 'Add item');
  const list = h('ul', { class: 'item-list', 'aria-label': field.label || 'Items' });
  const total = h('p', { class: 'item-total', 'aria-live': 'polite' });
  const notes = h('ul', { class: 'item-notes' });
  const refused = (field.refused || []).length
    ? h('details', { class: 'details' },
      h('summary', { class: 'details__summary' }, 'Items we cannot collect'),
      h('ul', { class: 'details__body refused-list' },
        field.refused.map((r) => h('li', {}, h('strong', {}, r.label), ` — ${r.reason}`))))
    : null;

  function labelOf(code) { return catalogue.find((c) => c.code === code)?.label || code; }
  function count() { return lines.reduce((n, l) => n + l.quantity, 0); }

  function render(focusCode) {
    list.textContent = '';
    for (const line of lines) {
      const id = uid('line-qty');
      const q = h('input', { id, type: 'number', min: 1, max, value: String(line.quantity), class: 'input input--qty', inputmode: 'numeric' });
      q.addEventListener('change', () => {
        const n = Number.parseInt(q.value, 10);
        if (Number.isInteger(n) && n >= 1) line.quantity = n;
        else q.value = String(line.quantity);
        update();
      });
      const remove = h('button', { type: 'button', class: 'button button--link', 'aria-label': `Remove ${labelOf(line.code)}` }, 'Remove');
      remove.addEventListener('click', () => {
        lines.splice(lines.indexOf(line), 1);
        render();
        update();
        announce(`${labelOf(line.code)} removed`);
        pick.focus();
      });
      list.append(h('li', { class: 'item-line', 'data-code': line.code },
        h('span', { class: 'item-line__name' }, labelOf(line.code)),
        h('label', { class: 'visually-hidden', for: id }, `Number of ${labelOf(line.code)}`),
        q, remove));
      if (focusCode === line.code) q.focus();
    }
    list.hidden = lines.length === 0;
  }

  function update() {
    const n = count();
    total.textContent = lines.length ? `${n} item${n === 1 ? '' : 's'} of at most ${max}.` : `No items yet (at most ${max}).`;
    total.classList.toggle('item-total--over', n > max);
    notes.textContent = '';
    for (const line of lines) {
      const note = catalogue.find((c) => c.code === line.code)?.note;
      if (note) notes.append(h('li', {}, h('strong', {}, `${labelOf(line.code)}: `), note));
    }
    ctx.changed(field.name);
    ctx.touched(field.name);
  }

  function addPicked() {
    const code = pick.value;
    if (!code) { showError(el, parts, [pick], 'Choose an item to add'); pick.focus(); return; }
    const n = Number.parseInt(qty.value, 10);
    if (!Number.isInteger(n) || n < 1) { showError(el, parts, [pick], 'Enter how many, 1 or more'); qty.focus(); return; }
    showError(el, parts, [pick], null);
    const existing = lines.find((l) => l.code === code);
    if (existing) existing.quantity += n;
    else lines.push({ code, quantity: n });
    render();
    update();
    announce(`${n} × ${labelOf(code)} added. ${count()} item${count() === 1 ? '' : 's'} in all.`);
    pick.value = '';
    qty.value = '1';
    pick.focus();
  }

  add.addEventListener('click', addPicked);
  for (const c of [pick, qty]) {
    c.addEventListener('keydown', (e) => { if (e.key === 'Enter') { e.preventDefault(); addPicked(); } });
  }

  const el = h('fieldset', { class: 'field fieldset', 'data-field': field.name },
    h('legend', { class: 'legend' }, parts.labelText), parts.hint, parts.error,
    h('div', { class: 'inline-row inline-row--items' },
      h('div', {}, h('label', { class: 'label label--small', for: pickId }, 'Item'), pick),
      h('div', {}, h('label', { class: 'label label--small', for: qtyId }, 'How many'), qty),
      add),
    list, total, notes, refused);
  render();
  total.textContent = `No items yet (at most ${max}).`;

  return {
    field, el, parts,
    get: () => (lines.length ? lines.map((l) => ({ code: l.code, quantity: l.quantity })) : undefined),
    set(v) { lines.length = 0; for (const l of v || []) lines.push({ code: l.code, quantity: l.quantity || 1 }); render(); },
    setError(m) { showError(el, parts, [pick], m); },
    focus() { pick.focus(); },
    controls: [pick, qty],
  };
}
