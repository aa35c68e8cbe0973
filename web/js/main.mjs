// main: the counter app's shell. Hash routes (the gateway serves files only, so every view
// lives at index.html#/...), the header with the counter, the signed-in assistant and the
// navigation, the idle sign-out, and the catalogue cache.
//
//   #/sign-in              sign in with the counter id
//   #/                     choose a service
//   #/sale/<code>          the form for a service (the two referral services: views/referrals)
//   #/resume               a sale that was being sent when the page or session was lost
//   #/transaction/<ref>    confirmation / detail, print state, reprint
//   #/today                today's transactions at this counter
//   #/failed               supervisors: failed deliveries with Retry
//   #/stock                supervisors: stock on hand at this site, stock received
//   #/till                 this counter's till: open, blind count, sign-off
//   #/reports              supervisors: the daily report, its CSV, the month's chart
import { h, clear, focus, announce, append } from './dom.mjs';
import * as api from './api.mjs';
import * as session from './session.mjs';
import * as sender from './sale-sender.mjs';
import { signinView } from './views/signin.mjs';
import { servicesView } from './views/services.mjs';
import { saleView, resumeView } from './views/sale.mjs';
import { transactionView } from './views/transaction.mjs';
import { todayView } from './views/today.mjs';
import { failedView } from './views/failed.mjs';
import { stockView } from './views/stock.mjs';
import { referralLookupView, partnerReferralView } from './views/referrals.mjs';
import { tillView } from './views/till.mjs';
import { reportsView } from './views/reports.mjs';

const routes = [
  { pattern: /^#\/sign-in$/, view: signinView, public: true },
  { pattern: /^#?\/?$/, view: servicesView, nav: 'sale' },
  { pattern: /^#\/sale\/nhs-referral$/, view: referralLookupView, nav: 'sale' },
  { pattern: /^#\/sale\/partner-referral$/, view: partnerReferralView, nav: 'sale' },
  { pattern: /^#\/sale\/([^/]+)$/, view: saleView, keys: ['code'], nav: 'sale' },
  { pattern: /^#\/resume$/, view: resumeView, nav: 'sale' },
  { pattern: /^#\/transaction\/([^/]+)$/, view: transactionView, keys: ['reference'], nav: 'today' },
  { pattern: /^#\/today$/, view: todayView, nav: 'today' },
  { pattern: /^#\/failed$/, view: failedView, nav: 'failed' },
  { pattern: /^#\/stock$/, view: stockView, nav: 'stock' },
  { pattern: /^#\/till$/, view: tillView, nav: 'till' },
  { pattern: /^#\/reports$/, view: reportsView, nav: 'reports' },
];

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const who = document.getElementById('who');
const banner = document.getElementById('banner');
let cleanup = null;
let catalogue = null;
const justSold = new Map();

const app = {
  signedOutBecause: null,
  session: () => session.get(),
  supervisor: () => session.isSupervisor(),
  async catalogue() {
    if (!catalogue) {
      catalogue = api.get('/api/v1/services').then((r) => r.services || []).catch((err) => { catalogue = null; throw err; });
    }
    return catalogue;
  },
  justSold(reply) { justSold.set(reply.reference, reply); },
  takeJustSold(ref) { const r = justSold.get(ref); justSold.delete(ref); return r; },
  signedIn() {
    startIdle();
    renderChrome();
    const to = sender.pending() ? '#/resume' : '#/';
    if (location.hash === to) route(); else location.hash = to;
  },
};

function renderChrome() {
  const s = session.get();
  clear(nav);
  clear(who);
  nav.hidden = !s;
  who.hidden = !s;
  if (!s) return;
  const link = (href, text, key) => h('a', { href, class: 'nav__link', 'data-nav': key }, text);
  append(nav, [link('#/', 'New sale', 'sale'), link('#/today', "Today's transactions", 'today'),
    session.isSupervisor() ? link('#/failed', 'Failed deliveries', 'failed') : null,
    session.isSupervisor() ? link('#/stock', 'Stock received', 'stock') : null,
    link('#/till', 'Till', 'till'),
    session.isSupervisor() ? link('#/reports', 'Reports', 'reports') : null]);
  const out = h('button', { type: 'button', class: 'button button--header' }, 'Sign out');
  out.addEventListener('click', () => signOut('You have signed out.'));
  who.append(
    h('span', { class: 'who__counter', title: 'Counter' }, s.counter),
    h('span', { class: 'who__staff' }, s.staff.username,
      s.staff.role !== 'assistant' ? h('span', { class: 'who__role' }, s.staff.role) : null),
    out);
}

function markNav(key) {
  for (const a of nav.querySelectorAll('a')) {
    if (a.dataset.nav === key) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
}

/* Ends the current view first (a sale form gives back what it holds while the session is
 * still good); a view's cleanup may return a promise. */
async function endView() {
  const c = cleanup;
  cleanup = null;
  if (c) { try { await c(); } catch { /* a view's cleanup must not block the next */ } }
}

async function signOut(message) {
  await endView();
  app.signedOutBecause = message;
  catalogue = null;
  hideBanner();
  await session.signOut();
  renderChrome();
  if (location.hash !== '#/sign-in') location.hash = '#/sign-in'; else route();
}

function showBanner(text, kind = 'warning') {
  banner.textContent = text;
  banner.className = `banner banner--${kind}`;
  banner.hidden = false;
}
function hideBanner() { banner.hidden = true; banner.textContent = ''; }

function startIdle() {
  session.startIdle({
    onWarn(seconds) { showBanner(`No activity: you will be signed out in ${seconds} seconds. Press any key to stay signed in.`); },
    onActive() { hideBanner(); },
    onIdle() {
      const mins = Math.round((session.get()?.idle_timeout_s || 0) / 60);
      signOut(`You were signed out after ${mins >= 1 ? `${mins} minute${mins === 1 ? '' : 's'}` : 'a while'} without activity.`);
    },
  });
}

api.setUnauthorizedHandler(() => {
  if (!session.get()) return;
  session.forget();
  catalogue = null;
  app.signedOutBecause = 'Your session has ended. Sign in again to carry on.';
  renderChrome();
  location.hash = '#/sign-in';
});

async function route() {
  endView();
  const hash = location.hash || '#/';
  let match = null;
  let r = null;
  for (const candidate of routes) {
    match = hash.match(candidate.pattern);
    if (match) { r = candidate; break; }
  }
  if (!session.get() && !(r && r.public)) {
    if (hash !== '#/sign-in') { location.hash = '#/sign-in'; return; }
  }
  if (session.get() && r && r.public) { location.hash = '#/'; return; }
  clear(main);
  if (!r) {
    main.append(h('h1', { class: 'heading' }, 'Page not found'), h('a', { href: '#/' }, 'Start a sale'));
    focus(main.firstChild);
    return;
  }
  markNav(r.nav);
  const params = {};
  (r.keys || []).forEach((k, i) => { params[k] = decodeURIComponent(match[i + 1]); });
  document.title = `${titleOf(r)} — Counter — onestop`;
  try {
    const c = await r.view(main, params, app);
    if (typeof c === 'function') cleanup = c;
  } catch (err) {
    if (err instanceof api.ApiError && err.status === 401) return;
    clear(main);
    const again = h('button', { type: 'button', class: 'button' }, 'Try again');
    again.addEventListener('click', route);
    main.append(h('h1', { class: 'heading' }, 'Something went wrong'), h('p', {}, err.message), again);
    again.focus();
  }
}

function titleOf(r) {
  return { signinView: 'Sign in', servicesView: 'Start a sale', saleView: 'Sale', resumeView: 'Finishing a sale', transactionView: 'Transaction', todayView: "Today's transactions", failedView: 'Failed deliveries', stockView: 'Stock received', referralLookupView: 'NHS referral', partnerReferralView: 'Referral to a partner' }[r.view.name] || 'Counter';
}

/* Keyboard: Alt+N new sale, Alt+T today's list (also in the header), Escape closes nothing
 * but returns focus to the page heading. The skip link focuses <main>. */
document.addEventListener('keydown', (e) => {
  if (!session.get() || !e.altKey || e.ctrlKey || e.metaKey) return;
  const k = e.key.toLowerCase();
  if (k === 'n') { e.preventDefault(); location.hash = '#/'; }
  if (k === 't') { e.preventDefault(); location.hash = '#/today'; }
});
document.querySelector('.skip-link')?.addEventListener('click', (e) => { e.preventDefault(); focus(main.querySelector('h1') || main); });

window.addEventListener('hashchange', route);
session.load();
if (session.get()) startIdle();
/* A sale sent but not answered before the page was reloaded: finish it first. */
if (session.get() && sender.pending()?.uncertain) location.replace('#/resume');
renderChrome();
route();
announce('Counter app ready.');
