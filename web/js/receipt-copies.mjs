// receipt-copies: "Send a copy" on the confirmation page — the receipt by e-mail and/or text
// message through GOV.UK Notify (POST /api/v1/transactions/{ref}/receipt-copies), and each
// copy's state as it changes (waiting, sent, then Notify's report: delivered or not).
// The address and number typed here go to the gateway only; the page shows them back masked,
// as the gateway answers them, and clears the inputs once the copy is asked for.
import { h, uid, announce } from './dom.mjs';
import * as api from './api.mjs';
import { fieldParts, showError } from './fields.mjs';

const COPY_STATES = { pending: 'Waiting to send', sent: 'Sent to GOV.UK Notify', failed: 'Could not be sent' };
const NOTIFY_STATES = {
  delivered: 'Delivered',
  'permanent-failure': 'Not delivered: the address or number does not exist',
  'temporary-failure': 'Not delivered: the inbox or phone was not taking messages',
  'technical-failure': 'Not delivered: a fault at GOV.UK Notify',
};
const CHANNELS = { email: 'E-mail', sms: 'Text message' };

/* True while a copy may still change (the page keeps polling). */
export function copiesSettling(copies) {
  return (copies || []).some((c) => c.state === 'pending' || (c.state === 'sent' && !c.notify_status));
}

function input(name, label, type, hintText, autocomplete) {
  const parts = fieldParts({ name, label, help: hintText });
  const el = h('input', {
    id: parts.id, name, type, class: ['input', type === 'tel' ? 'input--phone' : 'input--medium'],
    autocomplete, spellcheck: 'false', 'aria-describedby': parts.describedBy,
    inputmode: type === 'tel' ? 'tel' : 'email',
  });
  const wrapper = h('div', { class: 'field', 'data-field': name },
    h('label', { class: 'label', for: parts.id }, parts.labelText), parts.hint, parts.error, el);
  return { el, wrapper, setError: (m) => showError(wrapper, parts, [el], m) };
}

/* The panel for transaction ref: {el, show(copies)}. */
export function copiesPanel(ref, { onAsked } = {}) {
  const titleId = uid('copies-title');
  const email = input('email', 'E-mail address', 'email', 'Optional. Gets the receipt as a PDF with the status link.', 'off');
  const phone = input('phone', 'UK mobile number', 'tel', 'Optional. Gets the reference and the status link.', 'off');
  const send = h('button', { type: 'submit', class: 'button button--secondary', id: 'send-copy' }, 'Send a copy');
  const note = h('p', { class: 'hint', role: 'status' });
  const list = h('ul', { class: 'list copies', 'aria-label': 'Copies sent' });
  const masked = new Map(); /* copy id -> masked contact, from the full read or the POST reply */
  let key = null;

  const form = h('form', { class: 'copies__form', novalidate: true }, email.wrapper, phone.wrapper, send, note);
  for (const i of [email, phone]) i.el.addEventListener('input', () => { key = null; });

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    email.setError(null);
    phone.setError(null);
    const body = {};
    if (email.el.value.trim()) body.email = email.el.value.trim();
    if (phone.el.value.trim()) body.phone = phone.el.value.trim();
    key = key || crypto.randomUUID(); /* the same key when a lost answer is sent again */
    send.disabled = true;
    note.textContent = 'Asking for the copy…';
    try {
      const r = await api.post(`/api/v1/transactions/${encodeURIComponent(ref)}/receipt-copies`, body, { headers: { 'Idempotency-Key': key } });
      key = null;
      email.el.value = '';
      phone.el.value = '';
      for (const c of r.copies || []) masked.set(c.id, c.to);
      note.textContent = `Copy asked for: ${(r.copies || []).map((c) => `${CHANNELS[c.channel]} to ${c.to}`).join(', ')}.`;
      show(r.copies || [], { merge: true });
      if (onAsked) onAsked();
    } catch (err) {
      note.textContent = '';
      if (err instanceof api.ApiError && err.fields.length) {
        for (const f of err.fields) {
          if (f.field === 'phone') phone.setError(f.message);
          else email.setError(f.message);
        }
        (err.fields[0].field === 'phone' ? phone.el : email.el).focus();
      } else {
        if (err instanceof api.ApiError) key = null; /* refused: a fresh request next time */
        note.textContent = err.message;
      }
    } finally {
      send.disabled = false;
    }
  });

  let shown = [];
  function show(copies, { merge } = {}) {
    if (!copies) return;
    if (merge) {
      const byId = new Map(shown.map((c) => [c.id, c]));
      for (const c of copies) byId.set(c.id, { ...byId.get(c.id), ...c });
      copies = [...byId.values()];
    }
    for (const c of copies) if (c.to) masked.set(c.id, c.to);
    const before = new Map(shown.map((c) => [c.id, `${c.state}/${c.notify_status || ''}`]));
    shown = copies;
    list.replaceChildren(...copies.map((c) => {
      const words = c.notify_status ? NOTIFY_STATES[c.notify_status] || c.notify_status : COPY_STATES[c.state] || c.state;
      const state = c.notify_status === 'delivered' ? 'delivered' : c.state === 'failed' || c.notify_status ? 'failed' : c.state;
      return h('li', { class: 'copies__item', 'data-copy': c.id, 'data-state': c.state, 'data-notify-status': c.notify_status || '' },
        h('span', {}, `${CHANNELS[c.channel] || c.channel}${masked.get(c.id) ? ` to ${masked.get(c.id)}` : ''}: `),
        h('span', { class: `state state--${state}` }, words),
        c.state === 'failed' && c.last_error ? h('span', { class: 'hint' }, ` ${c.last_error}`) : null);
    }));
    for (const c of copies) {
      const was = before.get(c.id);
      if (was && was !== `${c.state}/${c.notify_status || ''}`) {
        announce(`${CHANNELS[c.channel]} copy: ${c.notify_status ? NOTIFY_STATES[c.notify_status] : COPY_STATES[c.state]}`);
      }
    }
  }

  const el = h('section', { class: 'panel', 'aria-labelledby': titleId },
    h('h2', { class: 'panel__title', id: titleId }, 'Send a copy'),
    h('p', { class: 'hint' }, 'Only when the resident asks. The address or number is used for this message only.'),
    form, list);
  return { el, show };
}
