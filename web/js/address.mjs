// address: the UPRN field. The assistant types the resident's postcode, presses Enter (or
// "Find address"), and picks the address from the council gazetteer's list (GET
// /api/v1/lookups/addresses). When the gazetteer is down the UPRN can be typed by hand.
import { h, uid, announce } from './dom.mjs';
import * as api from './api.mjs';
import { fieldParts, showError } from './fields.mjs';
import { normalisePostcode, postcodeProblem } from './checks.mjs';

export function addressWidget(field, ctx) {
  const parts = fieldParts(field);
  const pcId = uid('postcode');
  const postcode = h('input', {
    id: pcId, type: 'text', class: 'input input--postcode input--upper', autocomplete: 'off',
    spellcheck: 'false', 'aria-describedby': parts.describedBy, maxlength: 10,
  });
  const find = h('button', { type: 'button', class: 'button button--secondary' }, 'Find address');
  const status = h('p', { class: 'lookup-status', role: 'status' });
  const selectId = uid('address');
  const select = h('select', { id: selectId, class: 'select select--wide', 'aria-describedby': parts.errorId });
  const selectRow = h('div', { class: 'address-choice', hidden: true },
    h('label', { class: 'label label--small', for: selectId }, 'Choose the address'), select);
  const chosen = h('p', { class: 'address-chosen', hidden: true });
  const manualId = uid('uprn');
  const manual = h('input', {
    id: manualId, type: 'text', inputmode: 'numeric', class: 'input input--phone', autocomplete: 'off',
    'aria-describedby': parts.errorId, maxlength: 12,
  });
  const manualBox = h('details', { class: 'details' },
    h('summary', { class: 'details__summary' }, 'Enter the UPRN by hand'),
    h('div', { class: 'details__body' },
      h('label', { class: 'label label--small', for: manualId }, 'UPRN (Unique Property Reference Number)'),
      manual));

  let addresses = [];
  let uprn = '';
  let seq = 0;

  function describe(a) {
    return [a.line1, a.street && !String(a.line1).includes(a.street) ? a.street : null, a.town, a.postcode].filter(Boolean).join(', ');
  }

  function choose(value, { silent } = {}) {
    uprn = value || '';
    const a = addresses.find((x) => String(x.uprn) === uprn);
    chosen.hidden = !uprn;
    chosen.textContent = '';
    if (uprn) {
      chosen.append(h('span', { class: 'address-chosen__label' }, 'Address: '),
        a ? describe(a) : 'entered by hand', h('span', { class: 'address-chosen__uprn' }, ` UPRN ${uprn}`));
    }
    if (!silent) { ctx.changed(field.name); ctx.touched(field.name); }
  }

  async function lookup() {
    const problem = postcodeProblem(postcode.value);
    if (problem) {
      showError(el, parts, [postcode], problem);
      postcode.focus();
      return;
    }
    const pc = normalisePostcode(postcode.value);
    postcode.value = pc;
    showError(el, parts, [postcode], null);
    const mine = ++seq;
    find.disabled = true;
    status.textContent = `Looking up ${pc}…`;
    try {
      const r = await api.get(`/api/v1/lookups/addresses?${api.query({ postcode: pc })}`);
      if (mine !== seq) return;
      addresses = r.addresses || [];
      select.textContent = '';
      select.append(h('option', { value: '' }, `${addresses.length} address${addresses.length === 1 ? '' : 'es'} found — choose one`));
      for (const a of addresses) select.append(h('option', { value: String(a.uprn) }, describe(a)));
      selectRow.hidden = addresses.length === 0;
      status.textContent = addresses.length ? `${addresses.length} address${addresses.length === 1 ? '' : 'es'} found for ${pc}.` : `No addresses found for ${pc}.`;
      announce(status.textContent);
      if (addresses.length === 1) { select.value = String(addresses[0].uprn); choose(select.value); }
      if (addresses.length) select.focus();
    } catch (err) {
      if (mine !== seq) return;
      status.textContent = '';
      showError(el, parts, [postcode], err.message);
      if (err instanceof api.ApiError && (err.status === 503 || err.status === 404)) manualBox.open = true;
      postcode.focus();
    } finally {
      if (mine === seq) find.disabled = false;
    }
  }

  postcode.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') { e.preventDefault(); lookup(); }
  });
  find.addEventListener('click', lookup);
  select.addEventListener('change', () => { manual.value = ''; choose(select.value); });
  manual.addEventListener('input', () => { select.value = ''; choose(manual.value.trim()); });

  const el = h('fieldset', { class: 'field fieldset', 'data-field': field.name },
    h('legend', { class: 'legend' }, parts.labelText), parts.hint, parts.error,
    h('label', { class: 'label label--small', for: pcId }, 'Postcode'),
    h('div', { class: 'inline-row' }, postcode, find),
    status, selectRow, chosen, manualBox);

  return {
    field, el, parts,
    get: () => uprn || undefined,
    set(v) { manual.value = v || ''; choose(v || '', { silent: true }); },
    setError(m) { showError(el, parts, [postcode, select, manual], m); },
    focus() { (selectRow.hidden ? postcode : select).focus(); },
    controls: [postcode, select, manual],
    /* the chosen address in words, for the summary and the slot picker */
    describe: () => { const a = addresses.find((x) => String(x.uprn) === uprn); return a ? describe(a) : uprn; },
  };
}
