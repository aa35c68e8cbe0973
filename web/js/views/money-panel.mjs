// money-panel: on a transaction's page, for supervisors — void a sale of today
// (POST .../void) or refund part or all of it (POST .../refunds, stating the amount the page
// believes is still available, so a refund made meanwhile elsewhere is caught, not doubled).
import { h, announce } from '../dom.mjs';
import * as api from '../api.mjs';
import { money, parseMoney, PAYMENT_METHODS } from '../format.mjs';

function field(id, label, input) {
  return h('div', { class: 'field' }, h('label', { class: 'label', for: id }, label), input);
}

export function moneyPanel(t, reload) {
  const note = h('p', { class: 'hint', role: 'status', id: 'money-note' });
  const errorText = h('p', { class: 'field-error', hidden: true, role: 'alert' });
  const section = h('section', { class: 'panel', 'aria-labelledby': 'money-title' },
    h('h2', { class: 'panel__title', id: 'money-title' }, 'Void or refund'), errorText, note);
  if (t.status === 'voided') {
    note.textContent = 'This sale has been voided.';
    return section;
  }
  const available = t.refundable_pence ?? 0;
  const act = async (button, fn, done) => {
    errorText.hidden = true;
    button.disabled = true;
    try {
      const r = await fn();
      announce(done(r));
      await reload();
    } catch (err) {
      errorText.textContent = err.message;
      errorText.hidden = false;
      button.disabled = false;
    }
  };

  const voidReason = h('input', { id: 'void-reason', class: 'input', maxlength: 200, autocomplete: 'off' });
  const voidButton = h('button', { type: 'submit', class: 'button button--secondary' }, 'Void this sale');
  const voidForm = h('form', { novalidate: true, id: 'void-form' }, field('void-reason', 'Reason for the void', voidReason), voidButton);
  voidForm.addEventListener('submit', (e) => {
    e.preventDefault();
    act(voidButton, () => api.post(`/api/v1/transactions/${encodeURIComponent(t.reference)}/void`, { reason: voidReason.value.trim() }),
      (r) => `Voided. ${money(r.reversed_pence)} back to the resident.`);
  });
  section.append(voidForm);

  if (available > 0) {
    const method = t.payment?.method;
    const amount = h('input', { id: 'refund-amount', class: 'input', inputmode: 'decimal', autocomplete: 'off' });
    const how = h('select', { id: 'refund-method', class: 'select' },
      h('option', { value: 'cash' }, 'Cash'),
      method && method !== 'cash' ? h('option', { value: method }, PAYMENT_METHODS[method] || method) : null);
    const reason = h('input', { id: 'refund-reason', class: 'input', maxlength: 200, autocomplete: 'off' });
    const go = h('button', { type: 'submit', class: 'button button--secondary' }, 'Refund');
    const form = h('form', { novalidate: true, id: 'refund-form' },
      h('p', { class: 'hint' }, `Up to ${money(available)} can be refunded.`),
      field('refund-amount', 'Amount to refund (£)', amount), field('refund-method', 'Refund by', how),
      field('refund-reason', 'Reason for the refund', reason), go);
    const key = crypto.randomUUID();
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const pence = parseMoney(amount.value);
      if (pence === null || pence <= 0) {
        errorText.textContent = 'Enter the amount to refund in pounds, like 5.00.';
        errorText.hidden = false;
        return;
      }
      act(go, () => api.post(`/api/v1/transactions/${encodeURIComponent(t.reference)}/refunds`,
        { amount_pence: pence, method: how.value, reason: reason.value.trim(), amount_available_pence: available },
        { headers: { 'Idempotency-Key': key } }),
      (r) => `Refunded ${money(r.refund_pence)}. ${money(r.remaining_pence)} left.`);
    });
    section.append(form);
  }
  return section;
}
