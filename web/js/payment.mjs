// payment: how the resident pays. The methods are the ones the service takes (the
// catalogue's payment_methods); "waived" is offered to supervisors only (the server
// answers 403 to anyone else) and "no payment" only when the fee is nothing. Cash shows the
// change due as the amount handed over is typed.
import { h, uid } from './dom.mjs';
import { money, parseMoney, PAYMENT_METHODS } from './format.mjs';
import { showError } from './fields.mjs';

const QUICK_NOTES = [500, 1000, 2000, 5000];

function part(label, control, id, hintText) {
  const errorText = h('span');
  const error = h('p', { class: 'field-error', id: `${id}-error`, hidden: true }, h('span', { class: 'visually-hidden' }, 'Error: '), errorText);
  const hint = hintText ? h('p', { class: 'hint', id: `${id}-hint`, text: hintText }) : null;
  control.setAttribute('aria-describedby', [hint && `${id}-hint`, `${id}-error`].filter(Boolean).join(' '));
  const el = h('div', { class: 'field' }, h('label', { class: 'label', for: id }, label), hint, error, control);
  return { el, parts: { error, errorText }, control };
}

export function paymentSection(service, { supervisor, changed }) {
  let fee = null;
  const allowed = service.payment_methods || ['cash'];
  const methodsId = uid('pay');
  const radios = new Map();
  const radioEls = [];
  for (const m of allowed) {
    const id = uid(`pay-${m}`);
    const input = h('input', { type: 'radio', id, name: methodsId, value: m, class: 'radio__input' });
    input.addEventListener('change', () => { sync(); changed(); });
    const wrap = h('div', { class: 'radio' }, input, h('label', { class: 'radio__label', for: id }, PAYMENT_METHODS[m] || m));
    radios.set(m, { input, wrap });
    radioEls.push(wrap);
  }
  const methodErrorText = h('span');
  const methodError = h('p', { class: 'field-error', hidden: true }, h('span', { class: 'visually-hidden' }, 'Error: '), methodErrorText);
  const waiveNote = !supervisor && allowed.includes('waived')
    ? h('p', { class: 'hint hint--after' }, 'Only a supervisor can waive a fee.') : null;
  const methodSet = h('fieldset', { class: 'field fieldset', 'data-field': 'payment.method' },
    h('legend', { class: 'legend' }, 'Payment'), methodError,
    h('div', { class: 'radios radios--inline' }, radioEls), waiveNote);

  /* cash */
  const tenderedId = uid('tendered');
  const tendered = h('input', { id: tenderedId, type: 'text', inputmode: 'decimal', class: 'input input--money', autocomplete: 'off' });
  const tenderedPart = part('Cash handed over (£)', tendered, tenderedId);
  const quick = h('div', { class: 'quick-cash', role: 'group', 'aria-label': 'Quick amounts' });
  const change = h('p', { class: 'change-due', 'aria-live': 'polite' });
  const cashBox = h('div', { class: 'pay-detail', 'data-field': 'payment.tendered_pence' }, tenderedPart.el, quick, change);
  tendered.addEventListener('input', () => { showCash(); changed(); });
  tendered.addEventListener('blur', () => {
    const p = parseMoney(tendered.value);
    if (p !== null) tendered.value = (p / 100).toFixed(2);
  });

  /* card */
  const authId = uid('auth');
  /* no maxlength: a card number typed by mistake must be seen whole and refused */
  const auth = h('input', { id: authId, type: 'text', class: 'input input--vrm input--upper', autocomplete: 'off', spellcheck: 'false' });
  const authPart = part('Authorisation code', auth, authId, 'From the card terminal slip. Never type the card number.');
  const cardBox = h('div', { class: 'pay-detail', 'data-field': 'payment.auth_code' }, authPart.el);
  auth.addEventListener('input', changed);

  /* waived */
  const reasonId = uid('reason');
  const reason = h('textarea', { id: reasonId, class: 'textarea', rows: 2, maxlength: 200 });
  const reasonPart = part('Reason for waiving the fee', reason, reasonId);
  const waiveBox = h('div', { class: 'pay-detail', 'data-field': 'payment.reason' }, reasonPart.el);
  reason.addEventListener('input', changed);

  const chequeBox = h('div', { class: 'pay-detail' }, h('p', { class: 'hint' }, 'Cheques payable to Stockport Council. Write the reference on the back.'));
  const noneBox = h('div', { class: 'pay-detail' }, h('p', { class: 'hint' }, 'There is nothing to pay.'));

  const el = h('div', { class: 'payment' }, methodSet, cashBox, cardBox, chequeBox, waiveBox, noneBox);

  function method() {
    for (const [m, r] of radios) if (r.input.checked && !r.wrap.hidden) return m;
    return null;
  }

  function offered(m) {
    if (m === 'waived') return supervisor && fee !== 0;
    if (m === 'none') return fee === 0;
    return fee !== 0;
  }

  function sync() {
    for (const [m, r] of radios) r.wrap.hidden = !offered(m);
    if (waiveNote) waiveNote.hidden = fee === 0;
    if (!method()) {
      const first = allowed.find(offered);
      if (first) radios.get(first).input.checked = true;
    }
    const m = method();
    cashBox.hidden = m !== 'cash';
    cardBox.hidden = m !== 'card';
    chequeBox.hidden = m !== 'cheque';
    waiveBox.hidden = m !== 'waived';
    noneBox.hidden = m !== 'none';
    showCash();
  }

  function showCash() {
    quick.textContent = '';
    if (fee) {
      const exact = h('button', { type: 'button', class: 'button button--small' }, `Exact ${money(fee)}`);
      exact.addEventListener('click', () => setTendered(fee));
      quick.append(exact);
      for (const note of QUICK_NOTES) {
        if (note <= fee) continue;
        const b = h('button', { type: 'button', class: 'button button--small' }, money(note).replace('.00', ''));
        b.addEventListener('click', () => setTendered(note));
        quick.append(b);
      }
    }
    const t = parseMoney(tendered.value);
    change.textContent = '';
    change.classList.remove('change-due--short');
    if (fee !== null && t !== null) {
      if (t >= fee) {
        change.append('Change due ', h('strong', { class: 'change-due__amount' }, money(t - fee)));
      } else {
        change.classList.add('change-due--short');
        change.append(`${money(fee - t)} short`);
      }
    }
  }

  function setTendered(p) {
    tendered.value = (p / 100).toFixed(2);
    showCash();
    changed();
    tendered.focus();
  }

  const errorSlots = {
    'payment.method': { set: (m) => { methodErrorText.textContent = m || ''; methodError.hidden = !m; methodSet.classList.toggle('field--error', Boolean(m)); }, focus: () => radios.get(method() || allowed[0])?.input.focus() },
    'payment.tendered_pence': { set: (m) => showError(tenderedPart.el, tenderedPart.parts, [tendered], m), focus: () => tendered.focus() },
    'payment.auth_code': { set: (m) => showError(authPart.el, authPart.parts, [auth], m), focus: () => auth.focus() },
    'payment.reason': { set: (m) => showError(reasonPart.el, reasonPart.parts, [reason], m), focus: () => reason.focus() },
  };
  errorSlots.payment = errorSlots['payment.method'];

  sync();
  return {
    el,
    setFee(pence) { fee = pence; sync(); },
    /* the body's "payment" object, or undefined when no method is chosen */
    get() {
      const m = method();
      if (!m) return undefined;
      const p = { method: m };
      if (m === 'cash') { const t = parseMoney(tendered.value); p.tendered_pence = t === null ? undefined : t; }
      if (m === 'card') p.auth_code = auth.value.trim().toUpperCase();
      if (m === 'waived') p.reason = reason.value.trim();
      return p;
    },
    /* client-side problems: [{field, message}] */
    problems() {
      const m = method();
      const out = [];
      if (!m) out.push({ field: 'payment.method', message: 'Choose how the resident is paying' });
      if (m === 'cash') {
        const t = parseMoney(tendered.value);
        if (t === null) out.push({ field: 'payment.tendered_pence', message: tendered.value.trim() ? 'Enter the cash as pounds and pence, like 50 or 41.50' : 'Enter the cash handed over' });
        else if (fee !== null && t < fee) out.push({ field: 'payment.tendered_pence', message: `The cash handed over is less than the fee of ${money(fee)}` });
      }
      if (m === 'card' && !/^[A-Za-z0-9]{4,12}$/.test(auth.value.trim())) {
        out.push({ field: 'payment.auth_code', message: /^\d{13,}$/.test(auth.value.replace(/[\s-]/g, '')) ? 'That looks like a card number. Enter only the authorisation code from the terminal slip' : 'Enter the authorisation code from the terminal slip (4 to 12 letters or digits)' });
      }
      if (m === 'waived' && reason.value.trim().length < 3) out.push({ field: 'payment.reason', message: 'Give the reason for waiving the fee' });
      return out;
    },
    setError(field, message) { (errorSlots[field] || errorSlots.payment).set(message); },
    clearErrors() { for (const s of Object.values(errorSlots)) s.set(null); },
    focusError(field) { (errorSlots[field] || errorSlots.payment).focus(); },
    handles(field) { return field === 'payment' || field.startsWith('payment.'); },
    lock(locked) { for (const c of el.querySelectorAll('input, textarea, button')) c.disabled = locked; },
  };
}
