// sale-sender: records a sale exactly once, however the network behaves.
//
// Each sale gets one Idempotency-Key (a random UUID), made when it is first sent and kept
// in this tab's sessionStorage together with the exact body, until the gateway's answer
// has been seen. Every retry — automatic after a dropped connection or a 5xx, by hand with
// "Try again", or after a page reload or a fresh sign-in — sends the same key and the same
// bytes, so the gateway answers with the one transaction it stored (200, same body) and the
// resident is never charged twice. The key is dropped only when the gateway has answered
// in a way that proves what happened: 2xx (recorded), or a 4xx other than 401 (the gateway
// checks the key first, so a 4xx means nothing is stored under it).
import * as api from './api.mjs';

const KEY = 'onestop.pendingSale';
const RETRY_DELAYS_MS = [500, 1000, 2000, 4000, 8000];

function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const x = [...b].map((v) => v.toString(16).padStart(2, '0')).join('');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

/* The sale still waiting for an answer, or null: {key, body (text), service, uncertain};
 * uncertain is true once it has been sent (the gateway may have it). */
export function pending() {
  try { return JSON.parse(sessionStorage.getItem(KEY) || 'null'); } catch { return null; }
}

function save(sale) { sessionStorage.setItem(KEY, JSON.stringify(sale)); }
export function forget() { sessionStorage.removeItem(KEY); }

/* Makes (or, for the same body, keeps) the pending sale for this body object. */
export function prepare(bodyObject) {
  const body = JSON.stringify(bodyObject);
  const p = pending();
  if (p && p.body === body) return p;
  if (p && p.uncertain) {
    /* A different sale while an earlier one is unconfirmed: the app locks the form so this
     * cannot happen; if it does, keep the earlier one's key and refuse. */
    throw new Error('An earlier sale is not confirmed yet. Finish it first.');
  }
  const sale = { key: newKey(), body, service: bodyObject.service, uncertain: false, created: Date.now() };
  save(sale);
  return sale;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/* Sends the sale until the gateway answers. onRetry(attempt, delayMs, error) is told about
 * each automatic retry. Resolves to the gateway's transaction; rejects with the ApiError
 * that settled it (nothing recorded), or — after the automatic retries — with the last
 * NetworkError/5xx ApiError, the sale still pending (retryable: true on the error). */
export async function send(sale, { onRetry = () => {} } = {}) {
  /* From here until an answer is seen nobody can know whether the gateway has it. */
  sale.uncertain = true;
  if (pending()?.key === sale.key) save(sale);
  for (let attempt = 0; ; attempt += 1) {
    try {
      const reply = await api.request('POST', '/api/v1/transactions', {
        body: sale.body, headers: { 'Idempotency-Key': sale.key }, timeout: 30000,
      });
      forget();
      return reply;
    } catch (err) {
      const transient = err instanceof api.NetworkError || (err instanceof api.ApiError && (err.status >= 500 || err.status === 429 || err.status === 408));
      if (transient) {
        if (attempt >= RETRY_DELAYS_MS.length) {
          err.retryable = true;
          throw err;
        }
        onRetry(attempt + 1, RETRY_DELAYS_MS[attempt], err);
        await sleep(RETRY_DELAYS_MS[attempt]);
        continue;
      }
      if (err instanceof api.ApiError && err.status === 401) {
        err.retryable = true; /* kept: sent again after signing in */
        throw err;
      }
      forget();
      throw err;
    }
  }
}
