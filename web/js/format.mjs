// format: money, dates and words as the counter shows them (Europe/London, pounds).

const LONDON = 'Europe/London';

/* 4150 -> "£41.50"; -50 -> "-£0.50". */
export function money(pence) {
  if (pence === null || pence === undefined || Number.isNaN(pence)) return '';
  const sign = pence < 0 ? '-' : '';
  const abs = Math.abs(pence);
  const pounds = Math.floor(abs / 100).toLocaleString('en-GB');
  return `${sign}£${pounds}.${String(abs % 100).padStart(2, '0')}`;
}

/* "41.5", "£41.50", "41" -> pence, or null when it is not an amount of money. */
export function parseMoney(text) {
  const t = String(text ?? '').trim().replace(/^£/, '').replace(/,/g, '');
  if (!/^\d{1,7}(\.\d{1,2})?$/.test(t)) return null;
  const [pounds, pence = ''] = t.split('.');
  return Number(pounds) * 100 + Number(pence.padEnd(2, '0'));
}

/* Today's date in London as YYYY-MM-DD (en-CA formats dates that way). */
export function todayLondon(now = new Date()) {
  return new Intl.DateTimeFormat('en-CA', { timeZone: LONDON, year: 'numeric', month: '2-digit', day: '2-digit' }).format(now);
}

/* YYYY-MM-DD plus n days, as YYYY-MM-DD (calendar arithmetic in UTC, no clock involved). */
export function addDays(ymd, n) {
  const d = new Date(`${ymd}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}

/* "2026-11-27" -> "Friday 27 November 2026". */
export function longDate(ymd) {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(ymd || '')) return ymd || '';
  return new Intl.DateTimeFormat('en-GB', { timeZone: 'UTC', weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' })
    .format(new Date(`${ymd}T00:00:00Z`));
}

/* "2026-11-27" -> "Fri 27 Nov". */
export function shortDate(ymd) {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(ymd || '')) return ymd || '';
  return new Intl.DateTimeFormat('en-GB', { timeZone: 'UTC', weekday: 'short', day: 'numeric', month: 'short' })
    .format(new Date(`${ymd}T00:00:00Z`));
}

/* An ISO time from the API -> "14:05" in London. */
export function clockTime(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return new Intl.DateTimeFormat('en-GB', { timeZone: LONDON, hour: '2-digit', minute: '2-digit' }).format(d);
}

/* "2026-11-27T14:05:00Z" -> "27 Nov 2026, 14:05". */
export function dateTime(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return new Intl.DateTimeFormat('en-GB', { timeZone: LONDON, day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit' }).format(d);
}

/* "residents-parking-permit" style codes and enum values as words: "leisure_key" -> "Leisure key". */
export function words(code) {
  const s = String(code ?? '').replace(/[_-]+/g, ' ').trim();
  return s ? s[0].toUpperCase() + s.slice(1) : '';
}

export const PAYMENT_METHODS = {
  cash: 'Cash', card: 'Card', cheque: 'Cheque', waived: 'Waived', none: 'No payment',
};

/* Delivery and print states in words an assistant uses. */
export const DELIVERY_STATES = {
  pending: 'Waiting to send', sending: 'Sending', delivered: 'Delivered', failed: 'Failed',
  in_flight: 'Sending', dead: 'Failed',
};
export const PRINT_STATES = {
  pending: 'Waiting to print', printing: 'Printing', printed: 'Printed', print_failed: 'Print failed',
};
export function stateWords(table, state) {
  if (!state) return 'None';
  return table[state] || words(state);
}
