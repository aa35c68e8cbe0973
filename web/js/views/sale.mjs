// sale: the form for one service, built from the catalogue, with the live fee, the payment
// and the one button that records the sale.
//
// Checks run as the assistant goes: the simple ones here (required, formats), and once the
// form looks complete a quote from the gateway (POST /api/v1/quotes), whose 422 messages —
// the server's word — are shown beside their fields. Recording goes through sale-sender, so
// the form is locked from the moment a sale is sent until the gateway has answered.
import { h, focus, announce, clear, append } from '../dom.mjs';
import * as api from '../api.mjs';
import * as sender from '../sale-sender.mjs';
import { createField } from '../fields.mjs';
import { paymentSection } from '../payment.mjs';
import { fieldProblem, isRequired, isShown } from '../checks.mjs';
import { money, PAYMENT_METHODS } from '../format.mjs';
import { loadReceiptOptions, receiptChoice } from '../receipt-choice.mjs';

const QUOTE_DELAY_MS = 300;

/* Turns the gateway's field name into a widget name: "fields.vrm" -> "vrm". */
function fieldName(serverField) {
  if (!serverField) return null;
  return serverField.startsWith('fields.') ? serverField.slice(7) : serverField;
}

/* The "There is a problem" box with a link to each field. */
export function errorSummary() {
  const list = h('ul', { class: 'error-summary__list' });
  const box = h('div', { class: 'error-summary', role: 'alert', tabindex: '-1', hidden: true, 'aria-labelledby': 'error-summary-title' },
    h('h2', { class: 'error-summary__title', id: 'error-summary-title' }, 'There is a problem'), list);
  return {
    el: box,
    show(items) {
      clear(list);
      for (const it of items) {
        const a = h('a', { href: '#', class: 'error-summary__link' }, it.message);
        a.addEventListener('click', (e) => { e.preventDefault(); it.focus?.(); });
        list.append(h('li', {}, it.focus ? a : it.message));
      }
      box.hidden = items.length === 0;
      if (items.length) box.focus();
    },
    hide() { box.hidden = true; clear(list); },
  };
}

/* A panel that tells the assistant what is happening while a sale is being recorded, and
 * offers "Try again" when the gateway could not be reached. Used by the form and by the
 * resume view. Resolves to the transaction, or rejects with the settling ApiError. */
export function sendingPanel() {
  const text = h('p', { class: 'sending__text' });
  const again = h('button', { type: 'button', class: 'button', hidden: true }, 'Try again');
  const el = h('div', { class: 'sending', role: 'status', 'aria-live': 'assertive', hidden: true }, text, again);
  return {
    el,
    async run(sale) {
      el.hidden = false;
      el.classList.remove('sending--problem');
      again.hidden = true;
      text.textContent = 'Recording the sale…';
      for (;;) {
        try {
          return await sender.send(sale, {
            onRetry(attempt, delay) {
              el.classList.add('sending--problem');
              text.textContent = `No answer from the gateway — trying again (attempt ${attempt + 1}). The sale is recorded at most once, so it is safe to wait.`;
            },
          });
        } catch (err) {
          if (!err.retryable || (err instanceof api.ApiError && err.status === 401)) {
            el.hidden = true;
            throw err;
          }
          el.classList.add('sending--problem');
          text.textContent = `${err.message} The sale may not be recorded yet. Keep the resident's payment to hand and press Try again — the gateway records it only once, whatever happened.`;
          again.hidden = false;
          again.focus();
          await new Promise((resolve) => again.addEventListener('click', resolve, { once: true }));
          again.hidden = true;
          el.classList.remove('sending--problem');
          text.textContent = 'Recording the sale…';
        }
      }
    },
    hide() { el.hidden = true; },
  };
}

export async function saleView(main, params, app) {
  const services = await app.catalogue();
  const service = services.find((s) => s.code === params.code);
  if (!service) {
    main.append(h('h1', { class: 'heading' }, 'Service not found'),
      h('p', {}, 'This counter does not offer that service. '), h('a', { href: '#/' }, 'Choose a service'));
    return null;
  }
  if (sender.pending()?.uncertain) { location.hash = '#/resume'; return null; }
  const receiptOptions = await loadReceiptOptions();

  const widgets = new Map();
  const touched = new Set();
  const serverErrors = new Map();
  let submitted = false;
  let busy = false;
  let quote = null;
  let quoteSeq = 0;
  let quoteTimer = null;
  let alive = true;

  const defaults = {};
  for (const f of service.fields) if (f.default !== undefined) defaults[f.name] = f.default;

  function values() {
    const v = { ...defaults };
    for (const [name, w] of widgets) {
      const x = w.get();
      if (x === undefined) delete v[name]; else v[name] = x;
    }
    return v;
  }

  /* The fields object to send: the shown fields that have a value. */
  function body() {
    const all = values();
    const out = {};
    for (const f of service.fields) {
      if (!isShown(f, all)) continue;
      const w = widgets.get(f.name);
      const x = w ? w.get() : undefined;
      if (x !== undefined) out[f.name] = x;
    }
    return out;
  }

  function clientProblems() {
    const all = values();
    const out = [];
    for (const f of service.fields) {
      if (!isShown(f, all)) continue;
      const w = widgets.get(f.name);
      const m = fieldProblem(f, w?.get(), isRequired(f, all));
      if (m) out.push({ field: f.name, message: m });
    }
    return out;
  }

  function refreshErrors() {
    const problems = new Map(clientProblems().map((p) => [p.field, p.message]));
    for (const [name, w] of widgets) {
      const client = (submitted || touched.has(name)) ? problems.get(name) : null;
      w.setError(client || serverErrors.get(name) || null);
    }
  }

  function refreshVisibility() {
    const all = values();
    for (const f of service.fields) {
      const w = widgets.get(f.name);
      if (w) w.el.hidden = !isShown(f, all);
    }
    for (const w of widgets.values()) w.dependsOn?.(all);
  }

  const ctx = {
    service,
    values,
    required: (f) => isRequired(f, values()),
    changed(name) {
      if (!alive) return;
      serverErrors.delete(name);
      refreshVisibility();
      refreshErrors();
      scheduleQuote();
    },
    touched(name) {
      touched.add(name);
      refreshErrors();
    },
  };

  /* ---- layout ---- */
  const summary = errorSummary();
  const heading = h('h1', { class: 'heading' }, service.name);
  const fieldsCol = h('div', { class: 'sale__fields' });
  for (const f of service.fields) {
    const w = createField(f, ctx);
    widgets.set(f.name, w);
    fieldsCol.append(w.el);
  }

  const quoteLines = h('table', { class: 'quote__lines' });
  const quoteTotal = h('p', { class: 'quote__total' });
  const quoteNote = h('p', { class: 'quote__note' }, 'The fee shows here once the form is complete.');
  const quoteBox = h('section', { class: 'quote', 'aria-labelledby': 'quote-title', 'aria-live': 'polite' },
    h('h2', { class: 'quote__title', id: 'quote-title' }, 'Fee'), quoteNote, quoteLines, quoteTotal);

  const payment = paymentSection(service, { supervisor: app.supervisor(), changed: () => { if (submitted) refreshPaymentErrors(); } });
  /* Only where the counter prints: its size and language, chosen with the resident. */
  const receipt = receiptOptions ? receiptChoice(receiptOptions) : null;
  const submit = h('button', { type: 'submit', class: 'button button--primary button--wide' }, 'Record sale');
  const cancel = h('a', { href: '#/', class: 'button button--secondary button--wide' }, 'Cancel');
  const sending = sendingPanel();

  const form = h('form', { class: 'sale', novalidate: true, 'aria-labelledby': heading.id || undefined },
    summary.el,
    h('div', { class: 'sale__grid' },
      fieldsCol,
      h('aside', { class: 'sale__side', 'aria-label': 'Fee and payment' },
        quoteBox, payment.el, receipt?.el, sending.el, h('div', { class: 'sale__actions' }, submit, cancel))));

  /* Shown before payment: a service that takes one way of paying says so at the top. */
  const methods = service.payment_methods || [];
  const onlyMethod = methods.length === 1 && methods[0] !== 'none'
    ? h('p', { class: 'notice notice--warning', id: 'only-method' },
      h('strong', {}, `${PAYMENT_METHODS[methods[0]] || methods[0]} only.`),
      ` This service cannot be paid by any other method: tell the resident before you start.`)
    : null;
  /* A service that draws on stock shows what this site has left. */
  const stockLine = service.stock ? h('p', { class: 'notice', id: 'stock-on-hand', role: 'status' }, 'Checking stock…') : null;
  async function loadStock() {
    if (!stockLine) return;
    try {
      const r = await api.get('/api/v1/stock');
      const item = (r.items || []).find((i) => i.code === service.stock.item);
      if (!alive || !item) return;
      stockLine.textContent = item.on_hand > 0
        ? `${item.name} at this site: ${item.on_hand} left.${item.low ? ' Low stock: tell a supervisor.' : ''}`
        : `${item.name}: none left at this site. Tell a supervisor.`;
      stockLine.classList.toggle('notice--warning', item.low);
      stockLine.dataset.onHand = String(item.on_hand);
    } catch (err) {
      if (alive) stockLine.textContent = `Stock could not be read: ${err.message}`;
    }
  }

  append(main, [
    h('nav', { class: 'breadcrumbs', 'aria-label': 'Breadcrumb' }, h('a', { href: '#/' }, 'Services'), ' › ', service.name),
    heading,
    h('p', { class: 'lede' }, service.description),
    onlyMethod,
    stockLine,
    service.fee_rules?.length ? h('details', { class: 'details details--compact' },
      h('summary', { class: 'details__summary' }, 'How the fee is worked out'),
      h('ul', { class: 'details__body' }, service.fee_rules.map((r) => h('li', {}, r)))) : null,
    form]);

  function refreshPaymentErrors() {
    payment.clearErrors();
    for (const p of payment.problems()) payment.setError(p.field, p.message);
  }

  /* ---- live quote ---- */
  function showQuote(q) {
    quote = q;
    clear(quoteLines);
    quoteTotal.textContent = '';
    if (!q) {
      quoteNote.hidden = false;
      payment.setFee(null);
      submit.textContent = 'Record sale';
      return;
    }
    quoteNote.hidden = true;
    for (const line of q.lines || []) {
      quoteLines.append(h('tr', {}, h('td', {}, line.description), h('td', { class: 'num' }, money(line.amount_pence))));
    }
    quoteTotal.append('Total ', h('strong', { class: 'quote__amount' }, money(q.fee_pence)));
    payment.setFee(q.fee_pence);
    submit.textContent = q.fee_pence ? `Record sale — ${money(q.fee_pence)}` : 'Record sale';
  }

  function scheduleQuote() {
    clearTimeout(quoteTimer);
    quoteTimer = setTimeout(runQuote, QUOTE_DELAY_MS);
  }

  async function runQuote() {
    if (!alive || busy) return;
    const mine = ++quoteSeq;
    if (clientProblems().length) {
      showQuote(null);
      quoteNote.textContent = 'The fee shows here once the form is complete.';
      return;
    }
    try {
      const q = await api.post('/api/v1/quotes', { service: service.code, fields: body() });
      if (mine !== quoteSeq || !alive) return;
      showQuote(q);
    } catch (err) {
      if (mine !== quoteSeq || !alive) return;
      showQuote(null);
      if (err instanceof api.ApiError && err.status === 422) {
        for (const f of err.fields) {
          const name = fieldName(f.field);
          if (widgets.has(name)) serverErrors.set(name, f.message);
        }
        quoteNote.textContent = 'Check the fields marked in red; the fee shows once they are right.';
        refreshErrors();
      } else {
        quoteNote.textContent = `The fee could not be worked out just now (${err.message}). You can still record the sale; the gateway works out the fee.`;
      }
    }
  }

  /* ---- recording ---- */
  function lock(locked) {
    busy = locked;
    for (const c of form.querySelectorAll('input, select, textarea, button')) {
      if (!sending.el.contains(c)) c.disabled = locked;
    }
    cancel.classList.toggle('is-disabled', locked);
    if (locked) cancel.setAttribute('aria-disabled', 'true'); else cancel.removeAttribute('aria-disabled');
    submit.setAttribute('aria-busy', String(locked));
    if (!locked) payment.setFee(quote ? quote.fee_pence : null);
  }
  cancel.addEventListener('click', (e) => { if (busy) e.preventDefault(); });

  function showServerErrors(err) {
    const items = [];
    payment.clearErrors();
    for (const f of err.fields || []) {
      const name = fieldName(f.field);
      if (name && widgets.has(name)) {
        serverErrors.set(name, f.message);
        const w = widgets.get(name);
        items.push({ message: f.message, focus: () => w.focus() });
      } else if (f.field && payment.handles(f.field)) {
        payment.setError(f.field, f.message);
        items.push({ message: f.message, focus: () => payment.focusError(f.field) });
      } else {
        items.push({ message: f.message });
      }
    }
    if (!items.length) items.push({ message: err.message });
    refreshErrors();
    summary.show(items);
  }

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (busy) return;
    submitted = true;
    refreshErrors();
    refreshPaymentErrors();
    const problems = [
      ...clientProblems().map((p) => ({ message: p.message, focus: () => widgets.get(p.field).focus() })),
      ...payment.problems().map((p) => ({ message: p.message, focus: () => payment.focusError(p.field) })),
    ];
    if (problems.length) { summary.show(problems); return; }
    summary.hide();
    let sale;
    try {
      sale = sender.prepare({ service: service.code, fields: body(), payment: payment.get(), ...(receipt ? { receipt: receipt.get() } : {}) });
    } catch (err) {
      summary.show([{ message: err.message }]);
      return;
    }
    lock(true);
    submit.textContent = 'Recording…';
    try {
      const reply = await sending.run(sale);
      app.justSold(reply);
      for (const w of widgets.values()) w.keep?.();
      alive = false;
      location.hash = `#/transaction/${encodeURIComponent(reply.reference)}`;
    } catch (err) {
      if (!alive) return;
      lock(false);
      showQuote(quote);
      if (err instanceof api.ApiError && err.status === 401) return; /* the app signs out */
      showServerErrors(err);
    }
  });

  refreshVisibility();
  scheduleQuote();
  focus(heading);
  const first = service.fields.find((f) => widgets.get(f.name) && !widgets.get(f.name).el.hidden);
  if (first) widgets.get(first.name).focus();
  announce(`${service.name}. Fill in the form.`);
  loadStock();
  /* Leaving the sale unrecorded (Cancel, another page, signing out, the tab closing) gives
   * back what its fields hold, such as a collection day. A sale being sent, or sent without an
   * answer (finished by the resume view), keeps them. The cleanup resolves once they are given
   * back, so signing out can wait while the session is still good. */
  const abandon = (opts) => {
    if (busy || sender.pending()?.uncertain) return Promise.resolve();
    return Promise.all([...widgets.values()].map((w) => w.abandon?.(opts)));
  };
  const onPageHide = () => abandon({ keepalive: true });
  /* back from the browser's page cache: hold again what the form still shows */
  const onPageShow = (e) => { if (e.persisted && alive) refreshVisibility(); };
  window.addEventListener('pagehide', onPageHide);
  window.addEventListener('pageshow', onPageShow);
  return () => {
    alive = false;
    clearTimeout(quoteTimer);
    window.removeEventListener('pagehide', onPageHide);
    window.removeEventListener('pageshow', onPageShow);
    return abandon();
  };
}

/* #/resume: a sale that was being sent when the page closed or the session ended. */
export async function resumeView(main, params, app) {
  const sale = sender.pending();
  const heading = h('h1', { class: 'heading' }, 'Finishing a sale');
  main.append(heading);
  if (!sale) {
    main.append(h('p', {}, 'There is no unfinished sale.'), h('a', { href: '#/', class: 'button' }, 'Start a sale'));
    focus(heading);
    return null;
  }
  const services = await app.catalogue().catch(() => []);
  const name = services.find((s) => s.code === sale.service)?.name || sale.service;
  const panel = sendingPanel();
  main.append(h('p', { class: 'lede' }, `A ${name} sale was being recorded when the connection or the page was lost. It is being sent again with the same key, so it is recorded once only.`), panel.el);
  focus(heading);
  let alive = true;
  (async () => {
    try {
      const reply = await panel.run(sale);
      if (!alive) return;
      app.justSold(reply);
      location.hash = `#/transaction/${encodeURIComponent(reply.reference)}`;
    } catch (err) {
      if (!alive || (err instanceof api.ApiError && err.status === 401)) return;
      main.append(h('div', { class: 'error-summary', role: 'alert' },
        h('h2', { class: 'error-summary__title' }, 'The sale was not recorded'),
        h('p', {}, err.message)),
      h('a', { href: `#/sale/${encodeURIComponent(sale.service)}`, class: 'button' }, 'Start the sale again'));
    }
  })();
  return () => { alive = false; };
}
