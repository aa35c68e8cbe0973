// checks: the simple client-side checks that mirror the server's, so an assistant hears
// about a missing or mistyped value at once. The server still judges every sale: its 422
// messages are shown beside the fields just the same. Each check returns a message or null.
import { todayLondon, addDays } from './format.mjs';

const POSTCODE = /^([A-PR-UWYZ][0-9][0-9]?|[A-PR-UWYZ][A-HK-Y][0-9][0-9]?|[A-PR-UWYZ][0-9][A-HJKPSTUW]|[A-PR-UWYZ][A-HK-Y][0-9][ABEHMNPRVWXY]) ?[0-9][ABD-HJLNP-UW-Z]{2}$/;

/* "sk13xe" -> "SK1 3XE" (or the upper-cased text when it is not a postcode). */
export function normalisePostcode(text) {
  const t = String(text || '').toUpperCase().replace(/\s+/g, '');
  if (t === 'GIR0AA') return 'GIR 0AA';
  if (t.length < 5) return t;
  return `${t.slice(0, -3)} ${t.slice(-3)}`;
}

export function postcodeProblem(text) {
  const p = normalisePostcode(text);
  if (!p) return 'Enter a postcode';
  if (p === 'GIR 0AA' || POSTCODE.test(p)) return null;
  return 'Enter a real postcode, like SK1 3XE';
}

export function normaliseVrm(text) {
  return String(text || '').toUpperCase().replace(/[\s-]+/g, '');
}

/* "Vehicle registration" -> "vehicle registration", but "Leisure Key number" stays: a
 * capital later on marks a name. */
function lower(label) {
  if (!label) return 'value';
  return /[A-Z]/.test(label.slice(1)) ? label : label[0].toLowerCase() + label.slice(1);
}

/* A field's visible-value problem, or null. value is what the widget holds. */
export function fieldProblem(field, value, required) {
  const label = field.label || field.name;
  const c = field.constraints || {};
  const empty = value === undefined || value === null || value === '' ||
    (Array.isArray(value) && value.length === 0);
  if (empty) {
    if (!required) return null;
    switch (field.type) {
      case 'uprn': return `Find and choose the ${lower(label)}`;
      case 'enum': return `Choose the ${lower(label)}`;
      case 'items': return 'Add at least one item';
      case 'documents': return 'Upload at least one document';
      case 'date': return field.lookup === 'slots' ? `Choose a ${lower(label)}` : `Enter the ${lower(label)}`;
      default: return `Enter the ${lower(label)}`;
    }
  }
  switch (field.type) {
    case 'documents':
      return value.some((d) => !d.type) ? 'Choose the type of each document' : null;
    case 'uprn':
      return /^\d{1,12}$/.test(String(value)) ? null : `${label}: a UPRN is 1 to 12 digits`;
    case 'postcode':
      return postcodeProblem(value) ? `${label}: enter a real postcode, like SK1 3XE` : null;
    case 'vrm': {
      const v = normaliseVrm(value);
      if (!/^[A-Z0-9]{2,8}$/.test(v) || !/[A-Z]/.test(v) || !/[0-9]/.test(v)) {
        return `${label} must be letters and numbers, like AB12 CDE`;
      }
      return null;
    }
    case 'phone': {
      const digits = String(value).replace(/[\s()-]/g, '').replace(/^\+44/, '0');
      return /^0\d{9,10}$/.test(digits) ? null : `${label}: enter a UK phone number, like 0161 480 4949`;
    }
    case 'integer': {
      if (!/^-?\d+$/.test(String(value).trim())) return `${label} must be a whole number`;
      const n = Number(value);
      if (c.min !== undefined && n < c.min) return `${label} must be ${c.min} or more`;
      if (c.max !== undefined && n > c.max) return `${label} must be ${c.max} or fewer`;
      return null;
    }
    case 'date': {
      if (!/^\d{4}-\d{2}-\d{2}$/.test(value)) return `${label} must be a real date`;
      const today = todayLondon();
      if (c.min_days_ahead !== undefined && value < addDays(today, c.min_days_ahead)) {
        return c.min_days_ahead === 0 ? `${label} cannot be in the past` : `${label} must be at least ${c.min_days_ahead} day${c.min_days_ahead === 1 ? '' : 's'} ahead`;
      }
      if (c.max_days_ahead !== undefined && value > addDays(today, c.max_days_ahead)) {
        return `${label} must be within ${c.max_days_ahead} days from today`;
      }
      return null;
    }
    case 'items': {
      const total = value.reduce((n, it) => n + it.quantity, 0);
      if (c.max_total_quantity && total > c.max_total_quantity) {
        return `A booking can have at most ${c.max_total_quantity} items (this one has ${total}); book another collection for the rest`;
      }
      return null;
    }
    case 'string': {
      const s = String(value);
      if (c.min_length && s.length < c.min_length) return `${label} must be at least ${c.min_length} characters`;
      if (c.max_length && s.length > c.max_length) return `${label} must be ${c.max_length} characters or fewer`;
      if (c.pattern) {
        let re = null;
        try { re = new RegExp(c.pattern); } catch { re = null; }
        if (re && !re.test(s)) return `${label} ${c.pattern_hint || 'is not in the right form'}`;
      }
      return null;
    }
    default:
      return null;
  }
}

/* Is field required given the other values (required, or required_when holds)? */
export function isRequired(field, values) {
  if (field.required) return true;
  const rw = field.required_when;
  if (!rw || !rw.field) return false;
  const v = values[rw.field];
  if (Array.isArray(rw.in)) return rw.in.map(String).includes(String(v));
  if (rw.equals !== undefined) return String(v) === String(rw.equals);
  return v !== undefined && v !== '' && v !== false;
}

/* A required_when field is only asked for while its condition holds. */
export function isShown(field, values) {
  if (!field.required_when) return true;
  return isRequired(field, values);
}
