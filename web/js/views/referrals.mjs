// referrals: the two referral services, which do not fit the generic sale form.
//
//   #/sale/nhs-referral      look an NHS referral up (UBRN and NHS number, sent in a POST body,
//                            never in the address), show where it stands in plain words, and
//                            record the hand-off from that look-up, which prints the slip
//   #/sale/partner-referral  a referral to a partner agency: the partner, the resident's name
//                            and contact, a reason the partner takes, and the consent step
//                            (the wording read out, its version sent with the referral)
//
// Both record through sale-sender (one Idempotency-Key, the form locked while sending) and then
// show the transaction view, which follows the slip's print and the e-mail's delivery.
import { h, focus, announce, append } from '../dom.mjs';
import * as api from '../api.mjs';
import * as sender from '../sale-sender.mjs';
import { fieldParts, showError } from '../fields.mjs';
import { errorSummary, sendingPanel } from './sale.mjs';

/* A labelled control with its hint and error line: {el, control, setError, focus}. */
function field(name, label, control, help) {
  const parts = fieldParts({ name, label, help });
  control.id = parts.id;
  control.setAttribute('aria-describedby', parts.describedBy);
  const el = h('div', { class: 'field', 'data-field': name },
    h('label', { class: 'label', for: parts.id }, parts.labelText), parts.hint, parts.error, control);
  return { el, control, setError: (m) => showError(el, parts, [control], m), focus: () => control.focus() };
}

/* Shows an ApiError's field messages beside the fields (by name) and in the summary. */
function showApiError(err, fields, summary) {
  for (const f of Object.values(fields)) f.setError(null);
  const items = [];
  for (const fe of err.fields || []) {
    const name = (fe.field || '').replace(/^fields\./, '');
    const f = fields[name];
    if (f) f.setError(fe.message);
    if (!items.some((i) => i.message === fe.message)) items.push({ message: fe.message, focus: f?.focus });
  }
  summary.show(items.length ? items : [{ message: err.message }]);
}

/* Records a free service's transaction and opens its confirmation. */
async function record(app, service, fields, sending, onRefused) {
  let sale;
  try {
    sale = sender.prepare({ service, fields, payment: { method: 'none' } });
  } catch (err) {
    onRefused(err);
    return;
  }
  try {
    const reply = await sending.run(sale);
    app.justSold(reply);
    location.hash = `#/transaction/${encodeURIComponent(reply.reference)}`;
  } catch (err) {
    sending.hide();
    if (!(err instanceof api.ApiError && err.status === 401)) onRefused(err);
  }
}

export async function referralLookupView(main, params, app) {
  const heading = h('h1', { class: 'heading' }, 'NHS referral hand-off');
  const summary = errorSummary();
  const ubrn = field('ubrn', 'Booking reference (UBRN)', h('input', { type: 'text', inputmode: 'numeric', autocomplete: 'off', class: 'input input--medium', maxlength: 20 }),
    'The 12 digits on the referral letter.');
  const nhs = field('nhs_number', 'NHS number', h('input', { type: 'text', inputmode: 'numeric', autocomplete: 'off', class: 'input input--medium', maxlength: 14 }),
    "The resident's 10-digit NHS number.");
  const look = h('button', { type: 'submit', class: 'button button--primary' }, 'Look up referral');
  const result = h('section', { class: 'panel', hidden: true, 'aria-labelledby': 'referral-title', role: 'status' });
  const sending = sendingPanel();
  const form = h('form', { class: 'sale', novalidate: true }, summary.el, ubrn.el, nhs.el, look);
  append(main, [heading,
    h('p', { class: 'lede' }, 'The counter cannot book an NHS appointment. Check the referral with the resident, then print the slip they use to book through Manage your referral on a library PC.'),
    form, result, sending.el]);
  const fields = { ubrn, nhs_number: nhs };

  function showResult(r) {
    result.textContent = '';
    const print = h('button', { type: 'button', class: 'button button--primary', id: 'print-slip' }, 'Print hand-off slip');
    const row = (k, v) => [h('dt', {}, k), h('dd', {}, v)];
    append(result, [
      h('h2', { class: 'panel__title', id: 'referral-title' }, 'Referral found'),
      h('dl', { class: 'facts' },
        row('Booking reference', r.ubrn.replace(/(\d{4})(\d{4})(\d{4})/, '$1 $2 $3')),
        row('Where it stands', r.state_label), row('Priority', r.priority),
        row('Specialty', r.specialty), row('Clinic type', r.clinic_type)),
      h('p', { class: 'hint' }, 'The slip shows the booking reference and how to book. The password (access code) stays on the letter.'),
      print]);
    result.hidden = false;
    print.addEventListener('click', async () => {
      print.disabled = true;
      look.disabled = true;
      await record(app, 'nhs-referral', { lookup_id: r.lookup_id }, sending, (err) => {
        print.disabled = false;
        look.disabled = false;
        if (err instanceof api.ApiError && err.fields.length) {
          summary.show(err.fields.map((f) => ({ message: f.message, focus: () => ubrn.focus() })));
        } else summary.show([{ message: err.message }]);
      });
    });
    announce(`Referral found: ${r.state_label}.`);
    focus(result.querySelector('h2'));
  }

  /* The NHS said when to come back (Retry-After): the button waits that long, counting down. */
  let waitTimer = null;
  function lookAgainAfter(seconds) {
    let left = seconds;
    const tick = () => {
      if (left <= 0) {
        waitTimer = null;
        look.disabled = false;
        look.textContent = 'Look up referral';
        return;
      }
      look.disabled = true;
      look.textContent = `Try again in ${left} second${left === 1 ? '' : 's'}`;
      left -= 1;
      waitTimer = setTimeout(tick, 1000);
    };
    tick();
  }

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (waitTimer) return;
    result.hidden = true;
    const body = { ubrn: ubrn.control.value.trim(), nhs_number: nhs.control.value.trim() };
    look.disabled = true;
    look.textContent = 'Looking up…';
    let after = 0;
    try {
      const r = await api.post('/api/v1/referrals/lookup', body);
      for (const f of Object.values(fields)) f.setError(null);
      summary.show([]);
      showResult(r);
    } catch (err) {
      if (err instanceof api.ApiError && err.status === 401) return;
      showApiError(err, fields, summary);
      after = err instanceof api.ApiError && err.status === 503 ? Number.parseInt(err.retryAfter, 10) : 0;
    } finally {
      look.disabled = false;
      look.textContent = 'Look up referral';
    }
    if (after > 0) lookAgainAfter(after);
  });
  focus(heading);
  ubrn.focus();
  return () => clearTimeout(waitTimer);
}

export async function partnerReferralView(main, params, app) {
  const services = await app.catalogue();
  const service = services.find((s) => s.code === 'partner-referral');
  if (!service) {
    main.append(h('h1', { class: 'heading' }, 'Service not found'), h('a', { href: '#/' }, 'Choose a service'));
    return null;
  }
  const def = (name) => service.fields.find((f) => f.name === name) || { values: [] };
  const labelOf = (name, code) => def(name).values.find((v) => v.code === code)?.label || code;
  const heading = h('h1', { class: 'heading' }, service.name);
  const summary = errorSummary();
  const partnerSelect = h('select', { class: 'select select--wide' }, h('option', { value: '' }, 'Choose a partner'),
    (service.partners || []).map((p) => h('option', { value: p.code }, labelOf('partner', p.code))));
  const reasonSelect = h('select', { class: 'select select--wide', disabled: true }, h('option', { value: '' }, 'Choose the partner first'));
  const f = {
    partner: field('partner', def('partner').label, partnerSelect),
    resident_name: field('resident_name', def('resident_name').label, h('input', { type: 'text', class: 'input input--medium', autocomplete: 'off', maxlength: 100 })),
    contact: field('contact', def('contact').label, h('input', { type: 'text', class: 'input input--medium', autocomplete: 'off', maxlength: 120 }),
      'The phone number or e-mail address the partner should use.'),
    reason: field('reason', def('reason').label, reasonSelect, def('reason').help),
    details: field('details', `${def('details').label} (optional)`, h('textarea', { class: 'textarea', rows: 3, maxlength: 500 })),
  };
  const next = h('p', { class: 'hint', id: 'partner-next' });
  const consentBox = h('input', { type: 'checkbox', class: 'checkbox__input', id: 'consent' });
  const consentError = h('p', { class: 'field-error', hidden: true });
  const consent = service.consent || {};
  const consentField = h('fieldset', { class: 'fieldset field', 'data-field': 'consent' },
    h('legend', { class: 'legend' }, 'Consent'),
    h('p', { class: 'hint' }, `Read this to the resident (wording version ${consent.version}):`),
    h('blockquote', { class: 'notice consent-wording', id: 'consent-wording' }, consent.wording),
    consentError,
    h('div', { class: 'checkbox' }, consentBox,
      h('label', { class: 'checkbox__label', for: 'consent' }, 'The resident has heard this and agrees to their details being shared')));
  f.consent = {
    setError(m) { consentError.textContent = m || ''; consentError.hidden = !m; consentField.classList.toggle('field--error', Boolean(m)); },
    focus: () => consentBox.focus(),
  };
  const send = h('button', { type: 'submit', class: 'button button--primary' }, 'Send referral');
  const sending = sendingPanel();
  const form = h('form', { class: 'sale', novalidate: true }, summary.el, f.partner.el, next,
    f.resident_name.el, f.contact.el, f.reason.el, f.details.el, consentField, send);
  append(main, [heading, h('p', { class: 'lede' }, service.description), form, sending.el]);

  partnerSelect.addEventListener('change', () => {
    const p = (service.partners || []).find((x) => x.code === partnerSelect.value);
    reasonSelect.textContent = '';
    append(reasonSelect, [h('option', { value: '' }, p ? 'Choose a reason' : 'Choose the partner first'),
      (p?.reasons || []).map((code) => h('option', { value: code }, labelOf('reason', code)))]);
    reasonSelect.disabled = !p;
    next.textContent = p ? p.next_steps : '';
  });

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const value = (w) => w.control.value.trim() || undefined;
    const fields = {
      partner: value(f.partner), resident_name: value(f.resident_name), contact: value(f.contact),
      reason: value(f.reason), details: value(f.details), consent: consentBox.checked,
      consent_version: consent.version,
    };
    if (!consentBox.checked) {
      f.consent.setError('Ask the resident whether they agree. Without their consent no referral can be sent.');
      summary.show([{ message: 'Confirm the resident agrees to their details being shared.', focus: f.consent.focus }]);
      return;
    }
    f.consent.setError(null);
    send.disabled = true;
    await record(app, service.code, fields, sending, (err) => {
      send.disabled = false;
      if (err instanceof api.ApiError) showApiError(err, f, summary); else summary.show([{ message: err.message }]);
    });
  });
  focus(heading);
  partnerSelect.focus();
  return null;
}
