// api: the one way the app talks to onestopd. Every answer that is not 2xx becomes an
// ApiError carrying the server's {"error":{code,message,fields}} — the message is written
// for assistants, so views show it as it is. A request that got no answer at all (the
// network dropped, the server went away) becomes a NetworkError: the caller cannot know
// whether the server acted on it.

const TIMEOUT_MS = 20000;

export class ApiError extends Error {
  constructor(status, code, message, fields, retryAfter) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.fields = fields || [];
    this.retryAfter = retryAfter;
  }
}

export class NetworkError extends Error {
  constructor(cause) {
    super('The connection to the gateway was lost. Check the network cable or Wi-Fi; the app will keep trying.');
    this.name = 'NetworkError';
    this.cause = cause;
  }
}

let token = null;
let onUnauthorized = () => {};

export function setToken(t) { token = t; }
export function getToken() { return token; }
/* Called once when any request (other than signing in) answers 401. */
export function setUnauthorizedHandler(fn) { onUnauthorized = fn; }

/* method, path ("/api/v1/..."), {body, headers, auth=true, keepalive}. Resolves to the parsed
 * JSON (null for 204), rejects with ApiError or NetworkError. keepalive lets a small request
 * outlive the page (sent as the tab closes). */
export async function request(method, path, { body, headers = {}, auth = true, timeout = TIMEOUT_MS, keepalive = false } = {}) {
  const h = { Accept: 'application/json', ...headers };
  if (body !== undefined) h['Content-Type'] = 'application/json';
  if (auth && token) h.Authorization = `Bearer ${token}`;
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeout);
  let res;
  try {
    res = await fetch(path, {
      method, headers: h, body: body === undefined ? undefined : (typeof body === 'string' ? body : JSON.stringify(body)),
      signal: controller.signal, cache: 'no-store', credentials: 'omit', keepalive,
    });
  } catch (err) {
    throw new NetworkError(err);
  } finally {
    clearTimeout(timer);
  }
  let data = null;
  const text = await res.text().catch(() => '');
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (res.ok) return data;
  const e = (data && data.error) || {};
  const err = new ApiError(res.status, e.code || `http_${res.status}`,
    e.message || defaultMessage(res.status), e.fields, res.headers.get('Retry-After'));
  if (res.status === 401 && auth) onUnauthorized(err);
  throw err;
}

function defaultMessage(status) {
  if (status === 404) return 'The gateway does not offer this yet.';
  if (status >= 500) return 'The gateway could not do this just now; try again in a moment.';
  return `The gateway refused this (HTTP ${status}).`;
}

export const get = (path, opts) => request('GET', path, opts);
export const post = (path, body, opts) => request('POST', path, { ...opts, body });
export const del = (path, opts) => request('DELETE', path, opts);

export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, v);
  return q.toString();
}
