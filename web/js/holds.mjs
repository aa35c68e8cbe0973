// holds: the hold on a collection day (a field with "lookup":"slot_holds"). When the assistant
// has picked an address and a day (the form's uprn field and its slots field), the day is held
// with the waste system (POST /api/v1/lookups/slot_holds) and this field's value becomes the
// reservation id the booking sends. It shows until when the day is held; when the hold runs
// out before the sale, the value is cleared and the assistant is asked to pick the day again.
// A pick is held only once the choice has settled for HOLD_DELAY_MS, so arrowing through the
// days does not hold each one. A hold the sale will not use is given back at once (POST
// .../slot_holds/{id}/release) so other counters can book the day: when another day or address
// is picked, when a hold answers after the pick has moved on, and when the sale is abandoned
// (the form's view calls abandon() on Cancel, another page, signing out, or the tab closing).
import { h } from './dom.mjs';
import * as api from './api.mjs';
import { fieldParts, showError } from './fields.mjs';
import { clockTime, shortDate } from './format.mjs';

const HOLD_DELAY_MS = 600;
const MS_PER_MINUTE = 60000;
const RELEASE_TIMEOUT_MS = 5000;

export function holdWidget(field, ctx) {
  const parts = fieldParts(field);
  const status = h('p', { class: 'lookup-status hold-status', role: 'status', 'data-hold': 'none' }, 'Pick a collection day to hold it for the resident.');
  let value = '';
  let wanted = ''; /* "uprn|day" the hold is for */
  let seq = 0;
  let delay = null;
  let expiry = null;
  let held = null; /* {id, uprn, day} the live hold, until it is released or runs out */

  function show(state, text) {
    status.setAttribute('data-hold', state);
    status.textContent = text;
  }

  function clearHold() {
    value = '';
    held = null;
    clearTimeout(expiry);
    expiry = null;
  }

  /* Gives a hold back to the waste system. Resolves when it is done or failed (a hold not
   * released lapses by itself): only signing out waits for it, so the session is still good. */
  function release(hold, { keepalive = false } = {}) {
    if (!hold) return Promise.resolve();
    return api.post(`/api/v1/lookups/slot_holds/${encodeURIComponent(hold.id)}/release`,
      { service: ctx.service.code, uprn: hold.uprn, slot: hold.day }, { keepalive, timeout: RELEASE_TIMEOUT_MS }).catch(() => {});
  }

  async function place(uprn, day) {
    const mine = ++seq;
    show('holding', `Holding ${shortDate(day)} with the waste system…`);
    try {
      const r = await api.post('/api/v1/lookups/slot_holds', { service: ctx.service.code, uprn, slot: day });
      if (mine !== seq) { release({ id: r.reservation_id, uprn, day }); return; } /* moved on meanwhile */
      value = r.reservation_id;
      held = { id: r.reservation_id, uprn, day };
      const minutes = Math.round((r.hold_s || 0) / 60);
      show('held', `${shortDate(day)} is held until ${clockTime(r.expires_at)} (${minutes >= 1 ? `${minutes} minute${minutes === 1 ? '' : 's'}` : `${r.hold_s} seconds`}). Finish the sale before then.`);
      const left = Date.parse(r.expires_at) - Date.now();
      expiry = setTimeout(() => {
        if (mine !== seq) return;
        clearHold();
        wanted = '';
        show('expired', `The hold on ${shortDate(day)} has run out. Pick the day again to hold it.`);
        ctx.changed(field.name);
      }, Math.max(0, Number.isFinite(left) ? left : (r.hold_s || 0) * 1000));
    } catch (err) {
      if (mine !== seq) return;
      show('refused', err.message);
    }
    ctx.changed(field.name);
  }

  const el = h('div', { class: 'field', 'data-field': field.name },
    h('p', { class: 'label' }, parts.labelText), parts.hint, parts.error, status);

  return {
    field, el, parts,
    get: () => value || undefined,
    set(v) { value = v || ''; },
    setError(m) { showError(el, parts, [], m); },
    focus() {},
    controls: [],
    /* the sale form calls this when the sale is left unrecorded; keepalive as the tab closes */
    abandon({ keepalive = false } = {}) {
      seq += 1;
      clearTimeout(delay);
      const done = release(held, { keepalive });
      if (held) show('none', `The hold on ${shortDate(held.day)} was given back.`);
      clearHold();
      wanted = '';
      return done;
    },
    /* the sale form calls this once the sale is recorded: the booking uses the hold */
    keep() {
      seq += 1;
      clearTimeout(delay);
      clearHold();
    },
    /* the sale form calls this when another field changed */
    dependsOn(values) {
      const uprnField = ctx.service.fields.find((f) => f.type === 'uprn');
      const dayField = ctx.service.fields.find((f) => f.lookup === 'slots');
      const uprn = (uprnField && values[uprnField.name]) || '';
      const day = (dayField && values[dayField.name]) || '';
      const key = uprn && day ? `${uprn}|${day}` : '';
      if (key === wanted) return;
      wanted = key;
      seq += 1;
      release(held);
      clearHold();
      clearTimeout(delay);
      if (!key) {
        show('none', 'Pick a collection day to hold it for the resident.');
        return;
      }
      show('waiting', `Holding ${shortDate(day)} in a moment…`);
      delay = setTimeout(() => place(uprn, day), HOLD_DELAY_MS);
    },
  };
}
