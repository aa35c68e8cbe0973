// slots: the bulky collection day. Once an address is chosen the free collection days for
// it come from the waste system (GET /api/v1/lookups/slots?service=&uprn=, the look-up the field declares) and show
// as a group of radio buttons: arrow keys move between the days that are free. When the
// look-up is not there or not answering, a plain date box takes over.
import { h, uid } from './dom.mjs';
import * as api from './api.mjs';
import { fieldParts, showError } from './fields.mjs';
import { shortDate, longDate } from './format.mjs';

export function slotWidget(field, ctx, fallbackFactory) {
  const parts = fieldParts(field);
  const status = h('p', { class: 'lookup-status', role: 'status' }, 'Choose the address first to see the free collection days.');
  const group = h('div', { class: 'slots' });
  const fallback = fallbackFactory({ ...field, help: null, label: 'Collection day (type the date)' }, ctx);
  fallback.el.hidden = true;
  let radios = [];
  let forUprn = null;
  let seq = 0;
  let value = '';

  function render(slots) {
    group.textContent = '';
    const name = uid('slot');
    radios = slots.map((s) => {
      const id = uid('slot-opt');
      const input = h('input', {
        type: 'radio', id, name, value: s.date, class: 'radio__input', disabled: !s.available,
        checked: s.available && s.date === value,
      });
      input.addEventListener('change', () => { value = input.value; ctx.changed(field.name); ctx.touched(field.name); });
      return h('div', { class: ['slot', !s.available && 'slot--full'] }, input,
        h('label', { class: 'slot__label', for: id, title: longDate(s.date) },
          h('span', { class: 'slot__date' }, shortDate(s.date)),
          h('span', { class: 'slot__window' }, s.available ? (s.window || 'All day') : 'Full')));
    });
    group.append(...radios);
    if (!slots.some((s) => s.available && s.date === value)) value = '';
  }

  async function load(uprn) {
    const mine = ++seq;
    forUprn = uprn;
    fallback.el.hidden = true;
    if (!uprn) {
      render([]);
      status.textContent = 'Choose the address first to see the free collection days.';
      return;
    }
    status.textContent = 'Finding free collection days…';
    try {
      const r = await api.get(`/api/v1/lookups/slots?${api.query({ service: ctx.service.code, uprn })}`);
      if (mine !== seq) return;
      const slots = r.slots || [];
      render(slots);
      const free = slots.filter((s) => s.available).length;
      status.textContent = free ? `${free} free collection day${free === 1 ? '' : 's'}. Use the arrow keys to move between them.` : 'No free collection days for this address.';
    } catch (err) {
      if (mine !== seq) return;
      render([]);
      status.textContent = err.message;
      fallback.el.hidden = false;
    }
    ctx.changed(field.name);
  }

  const el = h('fieldset', { class: 'field fieldset', 'data-field': field.name },
    h('legend', { class: 'legend' }, parts.labelText), parts.hint, parts.error, status, group, fallback.el);

  return {
    field, el, parts,
    get() {
      if (!fallback.el.hidden) return fallback.get();
      return value || undefined;
    },
    set(v) { value = v || ''; for (const r of group.querySelectorAll('input')) r.checked = r.value === value; },
    setError(m) { showError(el, parts, radios.map((r) => r.querySelector('input')), m); fallback.setError(fallback.el.hidden ? null : m); },
    focus() {
      const inputs = [...group.querySelectorAll('input:not([disabled])')];
      (inputs.find((i) => i.checked) || inputs[0] || (fallback.el.hidden ? null : fallback) || { focus() {} }).focus();
    },
    get controls() { return [...group.querySelectorAll('input')]; },
    /* the sale form calls this when another field changed */
    dependsOn(values) {
      const uprnField = ctx.service.fields.find((f) => f.type === 'uprn');
      const uprn = (uprnField && values[uprnField.name]) || '';
      if (uprn !== forUprn) load(uprn);
    },
  };
}
