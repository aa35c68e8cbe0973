// harness: starts a real onestop-sim and onestopd (and, when asked, an ippeveprinter on a
// private D-Bus) in a temporary folder with its own keys, config, data and loopback ports,
// creates the demo users, launches Debian's chromium through playwright-core, and ends
// every process it started — on success, on failure and when node exits early.
//
// The config has the same shape as tests/system/onestop_env.py writes: services from the
// repository's config/services, web_dir = the repository's web/. Binaries come from
// <repo>/<ONESTOP_BUILD_DIR or "build">/.
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after } from 'node:test';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BUILD = path.join(ROOT, process.env.ONESTOP_BUILD_DIR || 'build');
export const ONESTOPD = path.join(BUILD, 'gateway', 'onestopd');
export const ONESTOP = path.join(BUILD, 'gateway', 'onestop');
export const SIM = path.join(BUILD, 'sim', 'onestop-sim');
export const CHROMIUM = process.env.ONESTOP_CHROMIUM || '/usr/bin/chromium';
export const DEMO_PASSWORD = 'onestop-demo';
/* sim/data/notify.json's templates */
export const NOTIFY_EMAIL_TEMPLATE = '5b2a1c8e-3d4f-4a6b-9c7d-1e2f3a4b5c6d';
export const NOTIFY_SMS_TEMPLATE = '6c3b2d9f-4e5a-4b7c-8d8e-2f3a4b5c6d7e';
export const ARTIFACTS = path.join(ROOT, 'tests', 'browser', 'artifacts');

const START_TIMEOUT_MS = 20000;
const STOP_TIMEOUT_MS = 5000;
const COMMAND_TIMEOUT_MS = 60000;

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
  '--no-first-run', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--lang=en-GB'];

/* Every process started here, so an early exit can still end them. */
const live = new Set();
process.on('exit', () => {
  for (const p of live) {
    try { process.kill(-p.pid, 'SIGKILL'); } catch { /* already gone */ }
  }
});
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => process.exit(130));
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export async function waitUntil(predicate, { timeout = 10000, interval = 50, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  while (Date.now() < deadline) {
    try {
      last = await predicate();
      if (last) return last;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, interval));
  }
  throw new Error(`timed out after ${timeout} ms waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
}

/* A process in its own process group, logging to a file. */
class Proc {
  constructor(name, argv, logPath, env) {
    this.name = name;
    this.logPath = logPath;
    const fd = fs.openSync(logPath, 'a');
    this.child = spawn(argv[0], argv.slice(1), {
      stdio: ['ignore', fd, fd], env: env || process.env, detached: true,
    });
    fs.closeSync(fd);
    this.pid = this.child.pid;
    this.exited = new Promise((resolve) => this.child.once('exit', (code, sig) => resolve(code ?? sig)));
    this.done = false;
    this.child.once('exit', () => { this.done = true; });
    live.add(this);
  }

  log() {
    try { return fs.readFileSync(this.logPath, 'utf8').slice(-4000); } catch { return ''; }
  }

  async stop() {
    for (const [sig, wait] of [['SIGTERM', STOP_TIMEOUT_MS], ['SIGKILL', STOP_TIMEOUT_MS]]) {
      try { process.kill(-this.pid, sig); } catch { break; }
      if (this.done) break;
      const t = new Promise((r) => setTimeout(() => r('timeout'), wait));
      if ((await Promise.race([this.exited, t])) !== 'timeout') break;
    }
    try { process.kill(-this.pid, 'SIGKILL'); } catch { /* group gone */ }
    live.delete(this);
  }
}

function run(argv, { input, env } = {}) {
  const r = spawnSync(argv[0], argv.slice(1), {
    input, env: env || process.env, encoding: 'utf8', timeout: COMMAND_TIMEOUT_MS,
  });
  if (r.status !== 0) {
    throw new Error(`${argv.join(' ')} failed (${r.status ?? r.signal}): ${r.stdout}${r.stderr}`);
  }
  return r;
}

function portOpen(port) {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

/* True when this onestopd was built with the receipt spooler wired in (it links the
 * printing module's submit call), so a configured printer's jobs reach "printed". */
export function daemonPrints() {
  try {
    return fs.readFileSync(ONESTOPD).includes(Buffer.from('printer_submit'));
  } catch {
    return false;
  }
}

function haveCommand(name) {
  return spawnSync('sh', ['-c', `command -v ${name}`]).status === 0;
}

/* An ippeveprinter (an IPP Everywhere printer without hardware) on a private D-Bus,
 * keeping every document it prints in its spool folder. */
const PRINTER_HOOKS = {
  ok: '#!/bin/sh\nexit 0\n',
  jam: '#!/bin/sh\necho "ERROR: paper jam" >&2\nexit 1\n',
};

async function startPrinter(stack, behaviour) {
  const dir = path.join(stack.dir, 'printer');
  const spool = path.join(dir, 'spool');
  fs.mkdirSync(spool, { recursive: true });
  const hook = path.join(dir, 'hook.sh');
  /* ippeveprinter runs the hook for each job: exit 0 prints, exit 1 aborts the job with the
   * ERROR: line as its message. Rewriting it changes how the next job goes. */
  const setBehaviour = (b) => {
    fs.writeFileSync(`${hook}.new`, PRINTER_HOOKS[b], { mode: 0o755 });
    fs.renameSync(`${hook}.new`, hook);
  };
  setBehaviour(behaviour);
  const dbusSock = path.join(dir, 'dbus.sock');
  const dbus = new Proc('dbus-daemon', ['dbus-daemon', '--session', `--address=unix:path=${dbusSock}`,
    '--nofork', '--nopidfile'], path.join(dir, 'dbus.log'));
  stack.procs.push(dbus);
  await waitUntil(() => fs.existsSync(dbusSock), { timeout: START_TIMEOUT_MS, what: 'dbus-daemon' });
  const port = await freePort();
  const printer = new Proc('ippeveprinter', ['ippeveprinter', '-r', 'off', '-n', 'localhost',
    '-p', String(port), '-d', spool, '-k', '-c', hook,
    '-f', 'application/pdf,application/vnd.escpos,application/octet-stream', 'counter-receipt'],
  path.join(dir, 'ippeveprinter.log'), { ...process.env, DBUS_SYSTEM_BUS_ADDRESS: `unix:path=${dbusSock}` });
  stack.procs.push(printer);
  await waitUntil(async () => {
    if (printer.done) throw new Error(`ippeveprinter exited: ${printer.log()}`);
    return portOpen(port);
  }, { timeout: START_TIMEOUT_MS, what: 'ippeveprinter' });
  return { uri: `ipp://localhost:${port}/ipp/print`, spool, setBehaviour };
}

/* Starts a simulator, a daemon and (with printer: 'ok' or 'jam' — true means 'ok' — when
 * the tools are here) a receipt printer for counter SD-01. Always call stack.stop() (in a
 * finally or an after() hook). */
/* The referral services (issue 12): the NHS e-RS back-end (oauth2-jwt with a key pair made
 * here; the simulator checks its assertions) and one email back-end per partner, all on the
 * simulator's SMTP sink. Returns [backends, services, simArgs]. */
export const PARTNER_ADDRESSES = {
  'partner-stockport-homes': 'referrals@stockporthomes.example',
  'partner-citizens-advice': 'referrals@citizensadvicestockport.example',
  'partner-age-uk': 'referrals@ageukstockport.example',
  'partner-welfare-rights': 'welfare.rights@stockport.example',
};
function referralParts(stack, keysDir) {
  const key = path.join(keysDir, 'nhs-ers.pem');
  const pub = path.join(keysDir, 'nhs-ers.pub.pem');
  run(['openssl', 'genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', key]);
  fs.chmodSync(key, 0o600);
  run(['openssl', 'pkey', '-in', key, '-pubout', '-out', pub]);
  const clientId = 'onestop-browser-client';
  const backends = [{ name: 'nhs-ers', connector: 'fhir', url: `${stack.simURL}/nhs-ers`, auth: 'oauth2-jwt',
    token_url: `${stack.simURL}/nhs-token/oauth2/token`, client_id: clientId, kid: 'test-1',
    private_key_file: 'keys/nhs-ers.pem', lookup_timeout_ms: 3000 }];
  for (const [name, address] of Object.entries(PARTNER_ADDRESSES)) {
    backends.push({ name, connector: 'email', url: `smtp://127.0.0.1:${stack.smtpPort}`, smtp_tls: 'none',
      mail_from: 'counters@stockport.example', mail_to: [address], retry_schedule_s: [1, 1, 2] });
  }
  return [backends, ['nhs-referral', 'partner-referral'], ['--nhs-public-key', pub, '--nhs-client-id', clientId]];
}

/* tills: open both counters' tills for today (a float of £100) once the stack is up, as a
 * counter does first thing: sales with a fee need it. Till tests pass false. */
export async function startStack({ printer = false, idleTimeoutS, https = false, referrals = false, tills = true,
  evidence = false } = {}) {
  for (const bin of [ONESTOPD, ONESTOP, SIM]) {
    if (!fs.existsSync(bin)) throw new Error(`${bin} is missing: build first (scripts/build ${path.basename(BUILD)})`);
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'onestop-browser-'));
  const stack = { dir, procs: [], printer: null };
  try {
    const keysDir = path.join(dir, 'keys');
    fs.mkdirSync(keysDir);
    for (const name of ['status-token', 'parking', 'leisure', 'gazetteer', 'bulky', 'bulky-open311', 'data-1', 'documents']) {
      fs.writeFileSync(path.join(keysDir, `${name}.key`), `${crypto.randomBytes(32).toString('hex')}\n`,
        { mode: 0o600 });
    }
    /* GOV.UK Notify (receipt copies): a key in Notify's shape, and its callbacks' token */
    stack.notifyKey = `onestop_test-${crypto.randomUUID()}-${crypto.randomUUID()}`;
    fs.writeFileSync(path.join(keysDir, 'notify.key'), `${stack.notifyKey}\n`, { mode: 0o600 });
    fs.writeFileSync(path.join(keysDir, 'notify-callback.token'), `${crypto.randomBytes(24).toString('hex')}\n`,
      { mode: 0o600 });
    stack.port = await freePort();
    stack.simPort = await freePort();
    stack.smtpPort = await freePort(); /* audiology's e-mails: the simulator's SMTP sink */
    /* https: a certificate made here for 127.0.0.1, and onestopd serves HTTPS with it */
    const tls = https ? makeTestCertificate(keysDir) : null;
    stack.baseURL = `${tls ? 'https' : 'http'}://127.0.0.1:${stack.port}`;
    stack.simURL = `http://127.0.0.1:${stack.simPort}`;

    if (printer && haveCommand('ippeveprinter') && haveCommand('dbus-daemon')) {
      stack.printer = await startPrinter(stack, printer === true ? 'ok' : printer);
    }
    const sim = stack.simURL;
    const [moreBackends, moreServices, moreSimArgs] = referrals ? referralParts(stack, keysDir) : [[], [], []];
    const config = {
      council: { name: 'Stockport Council', public_base_url: stack.baseURL },
      listen: `127.0.0.1:${stack.port}`,
      data_dir: 'data',
      web_dir: path.join(ROOT, 'web'),
      auth: { lockout_s: 2, max_failures_per_user: 5, ...(idleTimeoutS ? { idle_timeout_s: idleTimeoutS } : {}) },
      ...(tls ? { http: { tls_cert_file: tls.cert, tls_key_file: tls.key } } : {}),
      keys: { status_token_file: 'keys/status-token.key' },
      counters: [
        { id: 'SD-01', site: 'Stockport Direct, Fred Perry House', ...(stack.printer ? { printer: 'counter-receipt' } : {}) },
        { id: 'LIB-CEN', site: 'Stockport Central Library' },
      ],
      printers: stack.printer ? [{ name: 'counter-receipt', uri: stack.printer.uri, format: 'pdf', paper: '80mm' }] : [],
      backends: [
        { name: 'parking', connector: 'json-rest', url: `${sim}/parking`, signing_key_file: 'keys/parking.key',
          retry_schedule_s: [1, 1, 2, 2, 3], give_up_after_s: 600, breaker_failures: 5, breaker_open_s: 2 },
        { name: 'leisure', connector: 'json-rest', url: `${sim}/leisure`, signing_key_file: 'keys/leisure.key',
          retry_schedule_s: [1, 1, 2, 2, 3], give_up_after_s: 600 },
        { name: 'audiology', connector: 'email', url: `smtp://127.0.0.1:${stack.smtpPort}`, smtp_tls: 'none',
          mail_from: 'counters@stockport.example', mail_to: ['audiology@stockport.example'] },
        { name: 'gazetteer', connector: 'json-rest', url: `${sim}/gazetteer`, signing_key_file: 'keys/gazetteer.key' },
        { name: 'bulky', connector: 'open311', url: `${sim}/bulky`, signing_key_file: 'keys/bulky.key',
          api_key_file: 'keys/bulky-open311.key', retry_schedule_s: [1, 1, 2, 2, 3], poll_interval_s: 1 },
        ...moreBackends,
      ],
      notify: { url: `${sim}/notify`, api_key_file: 'keys/notify.key', callback_token_file: 'keys/notify-callback.token',
        templates: [{ service: '*', language: 'en', email: NOTIFY_EMAIL_TEMPLATE, sms: NOTIFY_SMS_TEMPLATE }] },
      services: { dir: path.join(ROOT, 'config', 'services'), enabled: ['residents-parking-permit', 'bulky-refuse', 'leisure-key', 'bowling-permit',
        'hearing-aid-batteries', 'library-sales', ...moreServices] },
      receipts: { text_dir: path.join(ROOT, 'config', 'receipt-text'), languages: ['pl', 'ur'] },
    };
    /* evidence: benefit-evidence with its data key and the simulator's document system */
    if (evidence) {
      config.keys.data_key_file = 'keys/data-1.key';
      config.backends.push({ name: 'documents', connector: 'multipart', url: `${sim}/documents`,
        signing_key_file: 'keys/documents.key', retry_schedule_s: [1, 1, 2, 2, 3] });
      config.services.enabled.push('benefit-evidence');
    }
    stack.configPath = path.join(dir, 'onestop.json');
    fs.writeFileSync(stack.configPath, JSON.stringify(config, null, 2));

    const simArgs = [SIM, '--listen', `127.0.0.1:${stack.simPort}`, '--data', path.join(ROOT, 'sim', 'data'),
      '--open311-api-key', path.join(keysDir, 'bulky-open311.key'), '--callback-url', stack.baseURL,
      '--smtp-listen', `127.0.0.1:${stack.smtpPort}`,
      '--notify-api-key', path.join(keysDir, 'notify.key'),
      '--notify-callback-token', path.join(keysDir, 'notify-callback.token'), ...moreSimArgs];
    for (const name of ['parking', 'leisure', 'gazetteer', 'bulky', ...(evidence ? ['documents'] : [])]) {
      simArgs.push('--key', `${name}=${path.join(keysDir, `${name}.key`)}`);
    }
    stack.sim = new Proc('onestop-sim', simArgs, path.join(dir, 'sim.log'));
    stack.procs.push(stack.sim);
    await waitUntil(async () => {
      if (stack.sim.done) throw new Error(`onestop-sim exited: ${stack.sim.log()}`);
      return (await fetch(`${sim}/_sim/received?backend=parking`)).ok;
    }, { timeout: START_TIMEOUT_MS, what: 'onestop-sim' });

    stack.daemon = new Proc('onestopd', [ONESTOPD, '--config', stack.configPath], path.join(dir, 'onestopd.log'));
    stack.procs.push(stack.daemon);
    await waitUntil(async () => {
      if (stack.daemon.done) throw new Error(`onestopd exited: ${stack.daemon.log()}`);
      return (await fetch(`${stack.baseURL}/healthz`)).ok;
    }, { timeout: START_TIMEOUT_MS, what: 'onestopd /healthz' });

    for (const [name, role] of [['assistant', 'assistant'], ['supervisor', 'supervisor']]) {
      run([ONESTOP, '--config', stack.configPath, 'user', 'add', name, '--role', role], { input: `${DEMO_PASSWORD}\n` });
    }
  } catch (err) {
    await stopStack(stack);
    throw err;
  }
  stack.stop = () => stopStack(stack);
  stack.api = (method, p, opts) => api(stack.baseURL, method, p, opts);
  stack.sim.api = (method, p, body) => api(stack.simURL, method, p, { body });
  stack.signIn = async (username = 'assistant', counter = 'SD-01') => {
    const r = await stack.api('POST', '/api/v1/sessions', { body: { username, password: DEMO_PASSWORD, counter } });
    if (r.status !== 201) throw new Error(`sign-in failed: ${r.status} ${JSON.stringify(r.json)}`);
    return r.json.token;
  };
  if (tills) {
    for (const counter of ['SD-01', 'LIB-CEN']) {
      const token = await stack.signIn('assistant', counter);
      const r = await stack.api('POST', '/api/v1/till/open', { token, body: { float_pence: 10000 } });
      if (r.status !== 201) {
        await stopStack(stack);
        throw new Error(`till open failed: ${r.status} ${r.text}`);
      }
    }
  }
  return stack;
}

async function stopStack(stack) {
  /* Reverse order: the daemon first, so it does not log its back-ends vanishing. */
  for (const p of [...stack.procs].reverse()) await p.stop();
  if (!process.env.ONESTOP_KEEP_TMP) fs.rmSync(stack.dir, { recursive: true, force: true });
}

export async function api(base, method, p, { body, token, headers = {} } = {}) {
  const h = { ...headers };
  if (body !== undefined) h['Content-Type'] = 'application/json';
  if (token) h.Authorization = `Bearer ${token}`;
  const res = await fetch(base + p, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
  return { status: res.status, headers: res.headers, text, json };
}

/* A self-signed certificate for 127.0.0.1 (the openssl command), for HTTPS tests. */
function makeTestCertificate(keysDir) {
  const cert = path.join(keysDir, 'listener.crt');
  const key = path.join(keysDir, 'listener.key');
  run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
    '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert]);
  fs.chmodSync(key, 0o600);
  return { cert, key };
}

/* A fresh chromium (its own empty profile) and one page. close() ends it. ignoreHTTPSErrors:
 * the HTTPS test's certificate is its own, trusted by nobody. */
export async function launchBrowser({ viewport = { width: 1280, height: 860 }, ignoreHTTPSErrors = false } = {}) {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'onestop-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, viewport, timeout: START_TIMEOUT_MS,
    ignoreHTTPSErrors,
    locale: 'en-GB', timezoneId: 'Europe/London',
  });
  context.setDefaultTimeout(10000);
  const page = context.pages()[0] || await context.newPage();
  const errors = [];
  page.on('pageerror', (err) => errors.push(err));
  /* The browser logs every non-2xx fetch ("Failed to load resource"); the app expects
   * 422s and 404s, so only script errors count. */
  page.on('console', (msg) => {
    if (msg.type() === 'error' && !msg.text().startsWith('Failed to load resource')) errors.push(new Error(msg.text()));
  });
  return {
    context, page, errors,
    async close() {
      await context.close().catch(() => {});
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}

/* The opening every browser test file shares, at its top level:
 *   const { stack, browser } = await openStackAndBrowser({ printer: 'ok' });
 * starts a stack (startStack's options) and then a browser (launchBrowser's options, given as
 * `browser`), and registers an after() hook that closes the browser and stops the stack once
 * the file's tests are done. `prepare(stack)` runs between the two (adding a user, say). With
 * `skip` (a reason) nothing is started and stack and browser are undefined: the file's tests
 * skip themselves with that reason. */
export async function openStackAndBrowser({ browser: browserOptions, prepare, skip, ...stackOptions } = {}) {
  const opened = {};
  after(async () => {
    await opened.browser?.close();
    await opened.stack?.stop();
  });
  if (skip) return opened;
  opened.stack = await startStack(stackOptions);
  if (prepare) await prepare(opened.stack);
  opened.browser = await launchBrowser(browserOptions);
  return opened;
}

/* Screenshots of each step go to tests/browser/artifacts/<test>/NN-step.png. */
export function shooter(page, testName) {
  const dir = path.join(ARTIFACTS, testName);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  let n = 0;
  return async (step) => {
    n += 1;
    await page.screenshot({ path: path.join(dir, `${String(n).padStart(2, '0')}-${step}.png`), fullPage: true });
  };
}
