// receipt-choice: the receipt the resident asks for — standard or large print, and the
// language of its words ("what happens next" included). The choices come from the gateway
// (GET /api/v1/receipt-options): the languages the council offers, less any this counter's
// printer cannot print (a thermal printer prints English only). Standard English is the
// default, so an assistant who skips it prints what every counter always printed.
import { h, uid } from './dom.mjs';
import * as api from './api.mjs';

/* The options for this counter, or null when it has no receipt printer or they could not
 * be read (the sale goes ahead with a standard English receipt). */
export async function loadReceiptOptions() {
  try {
    const o = await api.get('/api/v1/receipt-options');
    return o && o.printer ? o : null;
  } catch {
    return null;
  }
}

/* A fieldset with the size radios and the language list; get() gives the API's
 * {"size", "language"}. */
export function receiptChoice(options, { legend = 'Receipt for the resident' } = {}) {
  const group = uid('receipt-size');
  const radios = options.sizes.map((s, i) => {
    const id = uid(`receipt-${s.code}`);
    return h('div', { class: 'radio' },
      h('input', { type: 'radio', id, name: group, value: s.code, class: 'radio__input', checked: i === 0 }),
      h('label', { class: 'radio__label', for: id }, s.name));
  });
  const languages = options.languages.filter((l) => l.printable);
  const selectId = uid('receipt-language');
  const hintId = `${selectId}-hint`;
  const select = h('select', { id: selectId, class: 'select', 'aria-describedby': hintId },
    languages.map((l) => h('option', { value: l.code },
      l.code === 'en' ? l.name : `${l.english_name} — ${l.name}`)));
  const refused = options.languages.filter((l) => !l.printable).map((l) => l.english_name);
  const hint = h('p', { class: 'hint', id: hintId },
    refused.length
      ? `This counter's printer cannot print ${refused.join(' or ')}.`
      : 'The reference, amounts and QR code are the same in every language.');
  const el = h('fieldset', { class: 'field fieldset', 'data-field': 'receipt' },
    h('legend', { class: 'legend' }, legend),
    h('div', { class: 'radios radios--inline' }, radios),
    h('div', { class: 'field' }, h('label', { class: 'label', for: selectId }, 'Language'), hint, select));
  return {
    el,
    get() {
      const size = el.querySelector(`input[name="${group}"]:checked`);
      return { size: size ? size.value : 'standard', language: select.value || 'en' };
    },
  };
}
