// session: who is signed in at this counter. The token lives in memory and in this tab's
// sessionStorage (so a reload keeps the assistant signed in, and closing the tab forgets
// it) — never in localStorage. The idle timer signs out after the server's idle_timeout_s
// of no keyboard, mouse or touch activity, with a warning a minute before.
import * as api from './api.mjs';

const KEY = 'onestop.session';
const WARN_BEFORE_S = 60;
const ACTIVITY_EVENTS = ['keydown', 'mousedown', 'mousemove', 'wheel', 'touchstart', 'focusin'];

let current = null;
let idleTimer = null;
let warnTimer = null;
let lastActivity = 0;
let hooks = { onIdle: () => {}, onWarn: () => {}, onActive: () => {} };

export function load() {
  try {
    const s = JSON.parse(sessionStorage.getItem(KEY) || 'null');
    if (s && s.token && s.staff) {
      current = s;
      api.setToken(s.token);
    }
  } catch { current = null; }
  return current;
}

export function get() { return current; }
export function isSupervisor() { return current?.staff?.role === 'supervisor' || current?.staff?.role === 'admin'; }

/* Signs in; resolves to the session or rejects with ApiError/NetworkError. */
export async function signIn(username, password, counter) {
  const s = await api.post('/api/v1/sessions', { username, password, counter }, { auth: false });
  current = {
    token: s.token, expires_at: s.expires_at, idle_timeout_s: s.idle_timeout_s || 900,
    staff: s.staff, counter: s.counter || counter,
  };
  sessionStorage.setItem(KEY, JSON.stringify(current));
  api.setToken(s.token);
  return current;
}

/* Ends the session on the server (best effort) and forgets it here. */
export async function signOut() {
  const had = current;
  forget();
  if (had) {
    try {
      await api.request('DELETE', '/api/v1/sessions/current', { headers: { Authorization: `Bearer ${had.token}` }, auth: false, timeout: 5000 });
    } catch { /* the session ends on the server by itself */ }
  }
}

/* Forgets the session without telling the server (it already said 401). */
export function forget() {
  current = null;
  api.setToken(null);
  sessionStorage.removeItem(KEY);
  stopIdle();
}

/* Starts watching for activity; onIdle runs once the idle time has passed. */
export function startIdle(h) {
  hooks = { ...hooks, ...h };
  stopIdle();
  for (const e of ACTIVITY_EVENTS) document.addEventListener(e, activity, { passive: true, capture: true });
  lastActivity = 0;
  activity();
}

export function stopIdle() {
  for (const e of ACTIVITY_EVENTS) document.removeEventListener(e, activity, { capture: true });
  clearTimeout(idleTimer);
  clearTimeout(warnTimer);
  idleTimer = warnTimer = null;
}

function activity() {
  if (!current) return;
  const now = Date.now();
  if (now - lastActivity < 1000 && idleTimer) return; /* mousemove fires a lot */
  const wasWarned = warnTimer === null && idleTimer !== null;
  lastActivity = now;
  clearTimeout(idleTimer);
  clearTimeout(warnTimer);
  const idle = Math.max(5, current.idle_timeout_s) * 1000;
  const warnAt = idle - WARN_BEFORE_S * 1000;
  warnTimer = warnAt > 0 ? setTimeout(() => { warnTimer = null; hooks.onWarn(WARN_BEFORE_S); }, warnAt) : null;
  idleTimer = setTimeout(() => hooks.onIdle(), idle);
  if (wasWarned) hooks.onActive();
}
