// fields: one widget per catalogue field type. The form is built from GET /api/v1/services,
// so a new field in config/services/*.json appears here without a code change.
//
// Every widget has the same shape: {field, el, get(), set(v), setError(message|null),
// focus(), reset()}. get() returns the value to send (undefined when empty). Widgets call
// ctx.changed(name) when their value changes and read other fields through ctx.values().
import { h, uid } from './dom.mjs';
import { words, todayLondon, addDays } from './format.mjs';
import { addressWidget } from './address.mjs';
import { slotWidget } from './slots.mjs';
import { holdWidget } from './holds.mjs';
import { itemsWidget } from './items.mjs';
import { documentsWidget } from './documents.mjs';
import { normaliseVrm, normalisePostcode } from './checks.mjs';

/* The label, hint and error parts every widget shares. */
export function fieldParts(field, { optional } = {}) {
  const id = uid(`f-${field.name}`);
  const hintId = field.help ? `${id}-hint` : null;
  const errorId = `${id}-error`;
  const labelText = [field.label || words(field.name), optional ? h('span', { class: 'optional' }, ' (optional)') : null];
  const hint = field.help ? h('p', { class: 'hint', id: hintId, text: field.help }) : null;
  const errorText = h('span');
  const error = h('p', { class: 'field-error', id: errorId, hidden: true },
    h('span', { class: 'visually-hidden' }, 'Error: '), errorText);
  const describedBy = [hintId, errorId].filter(Boolean).join(' ');
  return { id, hintId, errorId, labelText, hint, error, errorText, describedBy };
}

/* Shows or hides a field's error and marks its controls invalid. */
export function showError(wrapper, parts, controls, message) {
  parts.errorText.textContent = message || '';
  parts.error.hidden = !message;
  wrapper.classList.toggle('field--error', Boolean(message));
  for (const c of controls) {
    if (message) c.setAttribute('aria-invalid', 'true');
    else c.removeAttribute('aria-invalid');
  }
}

function textWidget(field, ctx, { type = 'text', inputmode, autocomplete = 'off', transform, width, upper } = {}) {
  const parts = fieldParts(field, { optional: !field.required && !field.required_when });
  const c = field.constraints || {};
  const input = h('input', {
    id: parts.id, name: field.name, type, inputmode, autocomplete, spellcheck: 'false',
    class: ['input', width && `input--${width}`, upper && 'input--upper'],
    'aria-describedby': parts.describedBy,
    maxlength: c.max_length || (field.type === 'vrm' ? 10 : undefined),
  });
  if (field.default !== undefined && field.default !== null) input.value = String(field.default);
  input.addEventListener('input', () => ctx.changed(field.name, { typing: true }));
  input.addEventListener('blur', () => {
    if (transform && input.value) input.value = transform(input.value);
    ctx.touched(field.name);
  });
  const el = h('div', { class: 'field', 'data-field': field.name },
    h('label', { class: 'label', for: parts.id }, parts.labelText), parts.hint, parts.error, input);
  return {
    field, el, parts,
    get() {
      const v = input.value.trim();
      if (!v) return undefined;
      return transform ? transform(v) : v;
    },
    set(v) { input.value = v ?? ''; },
    setError(m) { showError(el, parts, [input], m); },
    focus() { input.focus(); },
    controls: [input],
  };
}

function integerWidget(field, ctx) {
  const w = textWidget(field, ctx, { inputmode: 'numeric', width: 'short' });
  const get = w.get;
  w.get = () => {
    const v = get();
    if (v === undefined) return undefined;
    return /^-?\d+$/.test(v) ? Number(v) : v;
  };
  return w;
}

function dateWidget(field, ctx) {
  const w = textWidget(field, ctx, { type: 'date', width: 'date' });
  const input = w.controls[0];
  const c = field.constraints || {};
  const today = todayLondon();
  if (c.min_days_ahead !== undefined) input.min = addDays(today, c.min_days_ahead);
  if (c.max_days_ahead !== undefined) input.max = addDays(today, c.max_days_ahead);
  if (c.min_days_ahead === 0 && field.required) input.value = today; /* most start today */
  input.addEventListener('change', () => ctx.changed(field.name));
  return w;
}

function booleanWidget(field, ctx) {
  const parts = fieldParts(field);
  const box = h('input', {
    id: parts.id, type: 'checkbox', name: field.name, class: 'checkbox__input',
    'aria-describedby': parts.describedBy, checked: field.default === true,
  });
  box.addEventListener('change', () => { ctx.changed(field.name); ctx.touched(field.name); });
  const el = h('div', { class: 'field', 'data-field': field.name },
    h('div', { class: 'checkbox' }, box, h('label', { class: 'checkbox__label', for: parts.id }, parts.labelText)),
    parts.hint, parts.error);
  return {
    field, el, parts,
    get: () => box.checked,
    set(v) { box.checked = Boolean(v); },
    setError(m) { showError(el, parts, [box], m); },
    focus() { box.focus(); },
    controls: [box],
  };
}

const RADIO_MAX = 6;

/* The catalogue sends enum values as {code, label}. */
function enumValues(field) {
  return (field.values || []).map((v) => (typeof v === 'string' ? { code: v, label: v } : v));
}

function enumWidget(field, ctx) {
  const values = enumValues(field);
  const parts = fieldParts(field, { optional: !field.required && !field.required_when });
  if (values.length > RADIO_MAX) {
    const select = h('select', { id: parts.id, name: field.name, class: 'select', 'aria-describedby': parts.describedBy },
      h('option', { value: '' }, 'Choose…'),
      values.map((v) => h('option', { value: v.code, selected: v.code === field.default }, v.label)));
    select.addEventListener('change', () => { ctx.changed(field.name); ctx.touched(field.name); });
    const el = h('div', { class: 'field', 'data-field': field.name },
      h('label', { class: 'label', for: parts.id }, parts.labelText), parts.hint, parts.error, select);
    return {
      field, el, parts,
      get: () => select.value || undefined,
      set(v) { select.value = v ?? ''; },
      setError(m) { showError(el, parts, [select], m); },
      focus() { select.focus(); },
      controls: [select],
    };
  }
  const radios = values.map((v) => {
    const id = uid(`r-${field.name}`);
    const input = h('input', { type: 'radio', id, name: `${field.name}-${parts.id}`, value: v.code, class: 'radio__input', checked: v.code === field.default });
    input.addEventListener('change', () => { ctx.changed(field.name); ctx.touched(field.name); });
    return { input, el: h('div', { class: 'radio' }, input, h('label', { class: 'radio__label', for: id }, v.label)) };
  });
  const el = h('fieldset', { class: 'field fieldset', 'data-field': field.name, 'aria-describedby': parts.describedBy },
    h('legend', { class: 'legend' }, parts.labelText), parts.hint, parts.error,
    h('div', { class: ['radios', values.length <= 5 && 'radios--inline'] }, radios.map((r) => r.el)));
  return {
    field, el, parts,
    get: () => radios.find((r) => r.input.checked)?.input.value,
    set(v) { for (const r of radios) r.input.checked = r.input.value === v; },
    setError(m) { showError(el, parts, radios.map((r) => r.input), m); },
    focus() { (radios.find((r) => r.input.checked) || radios[0])?.input.focus(); },
    controls: radios.map((r) => r.input),
  };
}

/* Builds the widget for one catalogue field. */
export function createField(field, ctx) {
  if (field.lookup === 'slot_holds') return holdWidget(field, ctx);
  switch (field.type) {
    case 'uprn': return addressWidget(field, ctx);
    case 'items': return itemsWidget(field, ctx);
    case 'documents': return documentsWidget(field, ctx);
    case 'date': return field.lookup === 'slots' ? slotWidget(field, ctx, dateWidget) : dateWidget(field, ctx);
    case 'boolean': return booleanWidget(field, ctx);
    case 'enum': return enumWidget(field, ctx);
    case 'integer': return integerWidget(field, ctx);
    case 'vrm': return textWidget(field, ctx, { width: 'vrm', transform: normaliseVrm, upper: true });
    case 'postcode': return textWidget(field, ctx, { width: 'postcode', transform: normalisePostcode, upper: true });
    case 'phone': return textWidget(field, ctx, { type: 'tel', inputmode: 'tel', width: 'phone' });
    case 'nhs_number': case 'ubrn':
      return textWidget(field, ctx, { inputmode: 'numeric', width: 'phone', transform: (v) => v.replace(/[\s-]/g, '') });
    case 'nino': return textWidget(field, ctx, { width: 'vrm', upper: true, transform: (v) => v.toUpperCase().replace(/\s/g, '') });
    default: {
      const c = field.constraints || {};
      const long = c.max_length && c.max_length > 80;
      return textWidget(field, ctx, { width: long ? undefined : 'medium' });
    }
  }
}

