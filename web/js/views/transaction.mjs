// transaction: the confirmation after a sale (the big reference to read to the resident,
// the change due) and the detail of any transaction: delivery to the department, and the
// receipt's print state, polled until it is printed or has failed, with Reprint.
import { h, focus, announce, clear } from '../dom.mjs';
import * as api from '../api.mjs';
import { money, dateTime, stateWords, DELIVERY_STATES, PRINT_STATES, PAYMENT_METHODS, words } from '../format.mjs';
import { loadReceiptOptions, receiptChoice } from '../receipt-choice.mjs';
import { copiesPanel, copiesSettling } from '../receipt-copies.mjs';
import { moneyPanel } from './money-panel.mjs';

const POLL_MS = 1000;
const POLL_SLOW_MS = 5000;
const POLL_FAST_FOR_MS = 60000;
const PRINT_FINAL = new Set(['printed', 'print_failed']);

/* A service that takes no money (payment "none" only, like the referrals) has nothing to pay. */
function takesNoFee(service, t) {
  const methods = service?.payment_methods || [];
  return methods.length > 0 && methods.every((m) => m === 'none') && !t.fee_pence;
}

/* What the confirmation says happened: a referral is handed off or sent, not sold. */
function doneHeading(service, t) {
  if (t.service === 'nhs-referral') return 'Referral handed off';
  if (t.service === 'partner-referral') {
    return t.fields?.partner_name ? `Referral sent to ${t.fields.partner_name}` : 'Referral sent';
  }
  return takesNoFee(service, t) ? 'Recorded' : 'Sale recorded';
}

/* "RP-3DGC-W05B" with the groups kept apart, for reading over the phone. */
function referenceBlock(ref) {
  return h('p', { class: 'reference', 'aria-label': `Reference ${ref.split('').join(' ')}` },
    ref.split('-').map((g, i) => [i ? h('span', { class: 'reference__dash', 'aria-hidden': 'true' }, '-') : null, h('span', { class: 'reference__group' }, g)]));
}

export async function transactionView(main, params, app) {
  const ref = params.reference;
  const fresh = app.takeJustSold(ref); /* the POST reply, when this is the sale just made */
  const heading = h('h1', { class: 'heading' }, fresh ? 'Recorded' : `Transaction ${ref}`);
  const body = h('div', { class: 'txn' });
  main.append(h('nav', { class: 'breadcrumbs', 'aria-label': 'Breadcrumb' },
    h('a', { href: '#/today' }, "Today's transactions"), ' › ', ref), heading, body);

  let alive = true;
  let timer = null;
  const started = Date.now();
  const printState = h('p', { class: 'state' });
  const printDetail = h('p', { class: 'hint' });
  const reprint = h('button', { type: 'button', class: 'button button--secondary', hidden: true }, 'Reprint receipt');
  const reprintNote = h('p', { class: 'hint', role: 'status' });
  const deliveryState = h('p', { class: 'state' });
  const deliveryDetail = h('p', { class: 'hint' });
  const services = await app.catalogue().catch(() => []);
  /* A copy may be asked for in another size or language than the first receipt. */
  const receiptOptions = await loadReceiptOptions();
  const copyChoice = receiptOptions ? receiptChoice(receiptOptions, { legend: 'Copy for the resident' }) : null;
  if (copyChoice) copyChoice.el.hidden = true;
  /* "Large print, Urdu" for a receipt that is not standard English. */
  function receiptWords(r) {
    if (!r || (r.size === 'standard' && r.language === 'en')) return null;
    const lang = receiptOptions?.languages.find((l) => l.code === r.language);
    return [r.size === 'large' ? 'Large print' : 'Standard', lang ? lang.english_name : r.language].join(', ');
  }
  /* "Send a copy": asking for one starts the poll again so its state shows as it changes */
  const copies = copiesPanel(ref, { onAsked: () => { clearTimeout(timer); timer = setTimeout(poll, POLL_MS); } });

  function render(t) {
    clear(body);
    const pay = t.payment || {};
    const method = pay.method || fresh?.payment_method;
    const changeDue = pay.change_pence ?? fresh?.change_pence;
    const service = services.find((s) => s.code === t.service);
    const noFee = takesNoFee(service, t);
    if (fresh) heading.textContent = doneHeading(service, t);
    const newSale = h('a', { href: '#/', class: 'button button--primary', id: 'new-sale' }, 'Next resident');
    body.append(
      h('div', { class: 'txn__top' },
        h('section', { class: 'panel panel--reference', 'aria-labelledby': 'ref-title' },
          h('h2', { class: 'panel__title', id: 'ref-title' }, 'Reference for the resident'),
          referenceBlock(t.reference),
          h('p', { class: 'hint' }, `${service?.name || words(t.service)} · ${dateTime(t.created_at)} · ${t.counter || ''} · ${t.staff || ''}`)),
        method === 'cash' ? h('section', { class: 'panel panel--change', 'aria-labelledby': 'change-title' },
          h('h2', { class: 'panel__title', id: 'change-title' }, fresh ? 'Change due' : 'Change given'),
          h('p', { class: 'change-big' }, money(changeDue || 0)),
          h('p', { class: 'hint' }, `Cash handed over ${money(pay.tendered_pence ?? (fresh ? fresh.amount_pence + fresh.change_pence : 0))}`)) : null),
      h('div', { class: 'txn__grid' },
        noFee ? h('section', { class: 'panel', 'aria-labelledby': 'next-title' },
          h('h2', { class: 'panel__title', id: 'next-title' }, 'What was done'),
          (t.lines || []).map((l) => h('p', {}, l.description)),
          h('p', { class: 'hint' }, 'No fee: nothing to pay.')) : h('section', { class: 'panel', 'aria-labelledby': 'paid-title' },
          h('h2', { class: 'panel__title', id: 'paid-title' }, 'Payment'),
          h('table', { class: 'table table--compact' },
            h('tbody', {},
              (t.lines || []).map((l) => h('tr', {}, h('td', {}, l.description), h('td', { class: 'num' }, money(l.amount_pence)))),
              h('tr', { class: 'total' }, h('th', { scope: 'row' }, 'Fee'), h('td', { class: 'num' }, money(t.fee_pence))),
              h('tr', {}, h('th', { scope: 'row' }, 'Paid by'), h('td', { class: 'num' }, `${PAYMENT_METHODS[method] || method || ''}${pay.auth_code ? ` (auth ${pay.auth_code})` : ''}`)),
              pay.reason ? h('tr', {}, h('th', { scope: 'row' }, 'Waived because'), h('td', {}, pay.reason)) : null))),
        h('section', { class: 'panel', 'aria-labelledby': 'print-title' },
          h('h2', { class: 'panel__title', id: 'print-title' }, 'Receipt'),
          printState, printDetail, copyChoice?.el, reprint, reprintNote),
        h('section', { class: 'panel', 'aria-labelledby': 'delivery-title' },
          h('h2', { class: 'panel__title', id: 'delivery-title' }, 'Sent to the department'),
          deliveryState, deliveryDetail,
          t.status_url ? h('p', {}, h('a', { href: t.status_url, target: '_blank', rel: 'noopener' }, "Resident's status page (opens in a new tab)")) : null),
        copies.el),
      h('div', { class: 'actions' }, newSale, h('a', { href: '#/today', class: 'button button--secondary' }, "Today's transactions")));
    if (app.supervisor() && t.status) body.append(moneyPanel(t, reload));
    showStates(t);
    return newSale;
  }

  function showStates(t) {
    const p = t.print;
    const ps = p ? p.state : (fresh && fresh.print_state) || null;
    printState.className = `state state--${ps || 'none'}`;
    printState.textContent = ps ? stateWords(PRINT_STATES, ps) : 'No receipt printer at this counter';
    printState.setAttribute('data-state', ps || 'none');
    printDetail.textContent = p ? [p.printer && `Printer ${p.printer}`, receiptWords(p.receipt), p.attempts ? `${p.attempts} attempt${p.attempts === 1 ? '' : 's'}` : null, p.last_error].filter(Boolean).join(' · ') : '';
    reprint.hidden = !ps || !PRINT_FINAL.has(ps);
    if (copyChoice) copyChoice.el.hidden = reprint.hidden;
    const d = t.delivery;
    deliveryState.className = `state state--${d?.state || 'none'}`;
    deliveryState.setAttribute('data-state', d?.state || 'none');
    deliveryState.textContent = d ? stateWords(DELIVERY_STATES, d.state) : 'Not sent to a back-end';
    deliveryDetail.textContent = d ? [
      d.backend_reference && `Their reference ${d.backend_reference}`,
      d.attempts ? `${d.attempts} attempt${d.attempts === 1 ? '' : 's'}` : null,
      d.state === 'pending' && d.next_attempt_at ? `next try ${dateTime(d.next_attempt_at)}` : null,
      d.last_error,
    ].filter(Boolean).join(' · ') : '';
    copies.show(t.receipt_copies);
  }

  /* After a void or refund: read the transaction again and show it. */
  async function reload() {
    const again = await api.get(`/api/v1/transactions/${encodeURIComponent(ref)}`);
    if (alive) render(again);
  }

  let lastPrint = null;
  async function poll() {
    if (!alive) return;
    try {
      /* states only: polling the full record would audit a personal-data read a second */
      const t = await api.get(`/api/v1/transactions/${encodeURIComponent(ref)}/status`);
      if (!alive) return;
      showStates(t);
      const ps = t.print?.state || null;
      if (ps !== lastPrint && lastPrint !== null) announce(`Receipt: ${stateWords(PRINT_STATES, ps)}`);
      lastPrint = ps;
      const waiting = (ps && !PRINT_FINAL.has(ps)) || t.delivery?.state === 'pending' || copiesSettling(t.receipt_copies);
      if (waiting) {
        timer = setTimeout(poll, Date.now() - started < POLL_FAST_FOR_MS ? POLL_MS : POLL_SLOW_MS);
      }
    } catch (err) {
      if (alive && !(err instanceof api.ApiError && err.status === 401)) timer = setTimeout(poll, POLL_SLOW_MS);
    }
  }

  reprint.addEventListener('click', async () => {
    reprint.disabled = true;
    reprintNote.textContent = 'Asking the printer…';
    try {
      await api.post(`/api/v1/transactions/${encodeURIComponent(ref)}/reprint`, copyChoice ? { receipt: copyChoice.get() } : {});
      reprintNote.textContent = 'Reprint queued.';
      lastPrint = null;
      clearTimeout(timer);
      timer = setTimeout(poll, POLL_MS);
    } catch (err) {
      reprintNote.textContent = err.message;
    } finally {
      reprint.disabled = false;
    }
  });

  let t;
  try {
    t = await api.get(`/api/v1/transactions/${encodeURIComponent(ref)}`);
  } catch (err) {
    if (!fresh) {
      body.append(h('div', { class: 'error-summary', role: 'alert' }, h('p', {}, err.message)));
      focus(heading);
      return () => { alive = false; };
    }
    /* The sale is recorded (we hold its reply) even if this read failed. */
    t = { reference: fresh.reference, service: fresh.service, fee_pence: fresh.fee_pence, lines: fresh.lines, payment: { method: fresh.payment_method, amount_pence: fresh.amount_pence, change_pence: fresh.change_pence }, status_url: fresh.status_url };
  }
  if (!alive) return null;
  const next = render(t);
  lastPrint = t.print?.state || null;
  focus(heading);
  if (fresh) {
    announce(`${heading.textContent}. Reference ${t.reference}.${t.payment?.method === 'cash' ? ` Change due ${money(t.payment.change_pence || 0)}.` : ''}`);
    next.focus();
  }
  timer = setTimeout(poll, POLL_MS);
  return () => { alive = false; clearTimeout(timer); };
}

