"""Starts real onestopd and onestop-sim processes for system tests.

Each Gateway lives in its own temporary folder with its own keys, config, data and ports,
so tests never share state. Only the Python standard library is used."""

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.parse
import http.client
import hmac
import hashlib

import api_contract

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.join(ROOT, os.environ.get("ONESTOP_BUILD_DIR", "build"))
ONESTOPD = os.path.join(BUILD, "gateway", "onestopd")
ONESTOP = os.path.join(BUILD, "gateway", "onestop")
SIM = os.path.join(BUILD, "sim", "onestop-sim")
DEMO_PASSWORD = "onestop-demo"
NHS_CLIENT_ID = "onestop-test-client"
NHS_KID = "test-1"
_nhs_key_pair = None  # (private PEM, public PEM), made once per test process


# the float the helpers open a till with (pence)
DEFAULT_FLOAT = 10000


def nhs_key_pair():
    """An RSA key pair for the nhs-ers back-end's oauth2-jwt client assertions (RS512)."""
    global _nhs_key_pair
    if _nhs_key_pair is None:
        private = subprocess.run(["openssl", "genpkey", "-algorithm", "RSA",
                                  "-pkeyopt", "rsa_keygen_bits:2048"],
                                 capture_output=True, check=True, timeout=60).stdout
        public = subprocess.run(["openssl", "pkey", "-pubout"], input=private,
                                capture_output=True, check=True, timeout=60).stdout
        _nhs_key_pair = (private, public)
    return _nhs_key_pair


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout=10.0, interval=0.02, what="condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except Exception as exc:  # noqa: BLE001 - keep polling until the deadline
            last = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


# the ports onestopd listens on in this test process: every response from one of them is
# checked against the API document (api_contract.py)
GATEWAY_PORTS = set()


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def json(self):
        return json.loads(self.body) if self.body else None

    def __repr__(self):
        return f"<Response {self.status} {self.body[:300]!r}>"


def request(port, method, path, body=None, token=None, headers=None, raw=None, timeout=30):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    hdrs = dict(headers or {})
    data = raw
    if body is not None:
        data = json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    if token:
        hdrs["Authorization"] = f"Bearer {token}"
    conn.request(method, path, body=data, headers=hdrs)
    resp = conn.getresponse()
    out = Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
    conn.close()
    if port in GATEWAY_PORTS:
        api_contract.check(method, path, out)
    return out


def sign(key: bytes, idempotency_key: str, body: bytes, timestamp=None):
    ts = str(int(time.time()) if timestamp is None else timestamp)
    mac = hmac.new(key, ts.encode() + b"\n" + idempotency_key.encode() + b"\n" + body,
                   hashlib.sha256).hexdigest()
    return {"Idempotency-Key": idempotency_key, "X-Onestop-Timestamp": ts,
            "X-Onestop-Signature": "v1=" + mac}


class Process:
    def __init__(self, args, log_path, env=None):
        self.args = args
        self.log_path = log_path
        self.log = open(log_path, "ab")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=env, start_new_session=True)

    def alive(self):
        return self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=15):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.log.close()
        return self.proc.returncode

    def kill9(self):
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        self.log.close()

    def output(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")


# the contexts of the sealed columns other than transactions.fields (whose context is the
# transaction's reference): gateway/store_crypt.c, sealed_columns
SEALED_CONTEXTS = ("deliveries.payload", "idempotency.response", "receipt_copies.payload",
                   "txn_keys.sealed")


def unseal(keys_dir, value, *contexts):
    """A value the store sealed ("enc:v2:<key id>:<base64 of IV | ciphertext | tag>",
    AES-256-GCM under keys_dir/<key id>.key, its context the associated data) opened in the
    first of contexts (or the column literals) it opens in; a v1 value (no context) or any
    other value as it is."""
    if not isinstance(value, str) or value[:7] not in ("enc:v1:", "enc:v2:"):
        return value
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    import base64
    _, version, key_id, b64 = value.split(":", 3)
    with open(os.path.join(keys_dir, key_id + ".key")) as f:
        key = bytes.fromhex(f.read().strip())
    raw = base64.b64decode(b64)
    for context in ((None,) if version == "v1" else (*contexts, *SEALED_CONTEXTS)):
        try:
            return AESGCM(key).decrypt(raw[:12], raw[12:],
                                       context.encode() if context else None).decode()
        except InvalidTag:
            continue
    raise ValueError(f"a value sealed under {key_id} opens in none of {contexts}")


def seal(keys_dir, key_id, text, context=None):
    """text sealed as the store seals it, under keys_dir/<key_id>.key, bound to context (for
    tests that edit a stored value by hand); without a context, as a v1 value (sealed before
    contexts: it opens anywhere)."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    import base64
    with open(os.path.join(keys_dir, key_id + ".key")) as f:
        key = bytes.fromhex(f.read().strip())
    iv = secrets.token_bytes(12)
    raw = iv + AESGCM(key).encrypt(iv, text.encode(), context.encode() if context else None)
    version = "v2" if context else "v1"
    return f"enc:{version}:{key_id}:" + base64.b64encode(raw).decode()


# ONESTOP_STORE_ENGINE=postgresql runs every Gateway on PostgreSQL: one server started by the
# tests (postgres.py) for the whole run, a database of its own per Gateway.
STORE_ENGINE = os.environ.get("ONESTOP_STORE_ENGINE", "sqlite")
_postgres = None


def shared_postgres():
    """The run's PostgreSQL server, started on first use and stopped when the run ends."""
    global _postgres
    if _postgres is None:
        import atexit
        from postgres import Postgres
        _postgres = Postgres().start()
        atexit.register(_postgres.stop)
    return _postgres


class _PgCursor:
    def __init__(self, cur):
        self._cur = cur

    def fetchall(self):
        return self._cur.fetchall() if self._cur.description else []

    def fetchone(self):
        return self._cur.fetchone() if self._cur.description else None

    def __iter__(self):
        return iter(self.fetchall())

    @property
    def rowcount(self):
        return self._cur.rowcount


class PgStoreConnection:
    """The store's PostgreSQL database with sqlite3's calls the tests use (execute with `?`
    parameters, commit, close, `with`), so a test reads or edits rows the same way on either
    engine."""

    def __init__(self, conninfo):
        import psycopg2
        self.IntegrityError = psycopg2.IntegrityError  # as sqlite3's connections have it
        self._con = psycopg2.connect(conninfo)
        # as sqlite3 reads: no transaction left open between statements (and no snapshot)
        self._con.autocommit = True

    @staticmethod
    def _sql(sql):
        return sql.replace("%", "%%").replace("?", "%s")

    def execute(self, sql, params=()):
        cur = self._con.cursor()
        cur.execute(self._sql(sql), tuple(params))
        return _PgCursor(cur)

    def executemany(self, sql, seq):
        cur = self._con.cursor()
        cur.executemany(self._sql(sql), [tuple(p) for p in seq])
        return _PgCursor(cur)

    def commit(self):
        self._con.commit()

    def rollback(self):
        self._con.rollback()

    def close(self):
        self._con.close()

    def __enter__(self):
        return self

    def __exit__(self, kind, value, tb):
        if kind is None:
            self._con.commit()
        else:
            self._con.rollback()
        return False


class Gateway:
    """A temp folder holding keys, config/onestop.json (services from the repo), data; a
    simulator and onestopd on free ports. Call start(); stop() in teardown."""

    def __init__(self, tmp_path, with_sim=True, config_overrides=None, printers=None):
        self.dir = str(tmp_path)
        self.keys_dir = os.path.join(self.dir, "keys")
        self.data_dir = os.path.join(self.dir, "data")
        os.makedirs(self.keys_dir, exist_ok=True)
        self.keys = {}
        for name in ("status-token", "parking", "leisure", "gazetteer", "bulky", "bulky-open311",
                     "data-1", "index"):
            value = secrets.token_hex(32)
            with open(os.path.join(self.keys_dir, name + ".key"), "w") as f:
                f.write(value + "\n")
            self.keys[name] = value.encode()
        private, public = nhs_key_pair()
        for name, pem in (("nhs-ers.pem", private), ("nhs-ers.pub.pem", public)):
            path = os.path.join(self.keys_dir, name)
            with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:
                f.write(pem)
        self.sim_unsigned = set()  # back-ends the simulator starts without a signing key
        self.port = free_port()
        self.sim_port = free_port() if with_sim else None
        # audiology's e-mail back-end: nothing listens unless a test starts the simulator's
        # SMTP sink there (sim_args "--smtp-listen"); its e-mails then wait and retry
        self.audiology_smtp_port = free_port()
        self.with_sim = with_sim
        self.sim = None
        self.sim_args = []  # more onestop-sim options (e.g. the SMTP sink's)
        self.daemon = None
        self.config_path = os.path.join(self.dir, "onestop.json")
        self.config = self.default_config()
        if printers is not None:
            self.config["printers"] = printers
        for k, v in (config_overrides or {}).items():
            self.config[k] = v
        self.write_config()

    def default_config(self):
        sim = f"http://127.0.0.1:{self.sim_port or 9}"
        return {
            "council": {"name": "Stockport Council",
                        "public_base_url": f"http://127.0.0.1:{self.port}"},
            "listen": f"127.0.0.1:{self.port}",
            "data_dir": "data",
            "web_dir": os.path.join(ROOT, "web"),
            "auth": {"lockout_s": 2, "max_failures_per_user": 5},
            # tests poll a transaction every few ms; test_access.py sets a real limit
            "access": {"reads_per_minute": 100000},
            # personal data sealed and limit keys blinded, as in production (issue 14)
            "keys": {"status_token_file": "keys/status-token.key",
                     "data_key_file": "keys/data-1.key", "index_key_file": "keys/index.key"},
            "counters": [{"id": "SD-01", "site": "Stockport Direct, Fred Perry House"},
                         {"id": "LIB-CEN", "site": "Stockport Central Library"}],
            "printers": [],
            "backends": [
                {"name": "parking", "connector": "json-rest", "url": sim + "/parking",
                 "signing_key_file": "keys/parking.key",
                 "retry_schedule_s": [1, 1, 2, 2, 3], "give_up_after_s": 600,
                 "breaker_failures": 5, "breaker_open_s": 2},
                {"name": "gazetteer", "connector": "json-rest", "url": sim + "/gazetteer",
                 "signing_key_file": "keys/gazetteer.key"},
                {"name": "bulky", "connector": "open311", "url": sim + "/bulky",
                 "signing_key_file": "keys/bulky.key",
                 "api_key_file": "keys/bulky-open311.key",
                 "retry_schedule_s": [1, 1, 2, 2, 3], "poll_interval_s": 1},
                {"name": "nhs-ers", "connector": "fhir", "url": sim + "/nhs-ers",
                 "auth": "oauth2-jwt", "token_url": sim + "/nhs-token/oauth2/token",
                 "client_id": NHS_CLIENT_ID, "kid": NHS_KID,
                 "private_key_file": "keys/nhs-ers.pem", "lookup_timeout_ms": 3000},
                # after the older back-ends: tests find those by position
                {"name": "leisure", "connector": "json-rest", "url": sim + "/leisure",
                 "signing_key_file": "keys/leisure.key",
                 "retry_schedule_s": [1, 1, 2, 2, 3], "give_up_after_s": 600},
                {"name": "audiology", "connector": "email",
                 "url": f"smtp://127.0.0.1:{self.audiology_smtp_port}", "smtp_tls": "none",
                 "mail_from": "counters@stockport.example",
                 "mail_to": ["audiology@stockport.example"],
                 "retry_schedule_s": [1, 1, 2, 2, 3], "give_up_after_s": 600},
            ],
            "services": {"dir": os.path.join(ROOT, "config", "services"),
                         "enabled": ["residents-parking-permit", "bulky-refuse", "leisure-key",
                                     "bowling-permit", "hearing-aid-batteries",
                                     "library-sales"]},
            "receipts": {"text_dir": os.path.join(ROOT, "config", "receipt-text"),
                         "languages": ["pl", "ur"]},
        }

    def use_postgresql(self):
        """Points this gateway at a fresh database of the run's PostgreSQL (the conninfo in a
        key file, as an operator keeps it)."""
        if not getattr(self, "pg_conninfo", None):
            name = "t_" + secrets.token_hex(6)
            self.pg_conninfo = shared_postgres().create_database(name)
            self.pg_database = name
            path = os.path.join(self.keys_dir, "store.conninfo")
            with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
                f.write(self.pg_conninfo + "\n")
        store = self.config.setdefault("store", {})
        store.setdefault("engine", "postgresql")
        store.setdefault("conninfo_file", "keys/store.conninfo")

    def store_db(self):
        """A connection to this gateway's store, on its engine: sqlite3's for SQLite, the same
        calls over psycopg2 for PostgreSQL (the database's owner role)."""
        if self.config.get("store", {}).get("engine") == "postgresql":
            return PgStoreConnection(self.pg_conninfo)
        import sqlite3
        return sqlite3.connect(os.path.join(self.data_dir, "onestop.db"), timeout=10)

    def store_dump(self):
        """The store as SQL text on its engine (sqlite3's .dump, or pg_dump --inserts)."""
        if self.config.get("store", {}).get("engine") == "postgresql":
            return shared_postgres().dump(self.pg_database)
        return subprocess.run(["sqlite3", os.path.join(self.data_dir, "onestop.db"), ".dump"],
                              capture_output=True, text=True, timeout=60, check=True).stdout

    def write_config(self):
        if STORE_ENGINE == "postgresql":
            self.use_postgresql()
        with open(self.config_path, "w") as f:
            json.dump(self.config, f, indent=2)

    # --- processes ---
    def start_sim(self):
        args = [SIM, "--listen", f"127.0.0.1:{self.sim_port}",
                "--data", os.path.join(ROOT, "sim", "data"),
                "--open311-api-key", os.path.join(self.keys_dir, "bulky-open311.key"),
                "--nhs-public-key", os.path.join(self.keys_dir, "nhs-ers.pub.pem"),
                "--nhs-client-id", NHS_CLIENT_ID,
                "--callback-url", f"http://127.0.0.1:{self.port}"]
        for name in ("parking", "leisure", "gazetteer", "bulky"):
            if name not in self.sim_unsigned:
                args += ["--key", f"{name}={os.path.join(self.keys_dir, name + '.key')}"]
        args += self.sim_args
        self.sim = Process(args, os.path.join(self.dir, "sim.log"))
        wait_until(lambda: request(self.sim_port, "GET", "/_sim/received?backend=parking").status == 200,
                   what="simulator")

    def start(self, users=True, env=None):
        if self.with_sim and self.sim is None:
            self.start_sim()
        self.start_daemon(env=env)
        if users:
            self.add_user("assistant", "assistant")
            self.add_user("supervisor", "supervisor")
        return self

    def start_daemon(self, env=None, wait=True):
        full_env = dict(os.environ)
        full_env.update(env or {})
        # ONESTOP_DAEMON_WRAPPER runs onestopd under a tool, e.g. "valgrind -q"
        wrapper = os.environ.get("ONESTOP_DAEMON_WRAPPER", "").split()
        GATEWAY_PORTS.add(self.port)
        self.daemon = Process(wrapper + [ONESTOPD, "--config", self.config_path],
                              os.path.join(self.dir, "onestopd.log"), env=full_env)
        if wait:
            wait_until(lambda: self.request("GET", "/healthz").status == 200, timeout=60,
                       what="onestopd /healthz")
        return self.daemon

    def add_user(self, name, role, password=DEMO_PASSWORD):
        r = subprocess.run([ONESTOP, "--config", self.config_path, "user", "add", name, "--role", role],
                           input=password + "\n", capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        return r

    def cli(self, *args, input=None):
        return subprocess.run([ONESTOP, "--config", self.config_path, *args], input=input,
                              capture_output=True, text=True, timeout=60)

    def stop(self):
        rc = None
        if self.daemon:
            rc = self.daemon.stop()
            GATEWAY_PORTS.discard(self.port)
        if self.sim:
            self.sim.stop()
        return rc

    # --- HTTP ---
    def request(self, method, path, body=None, token=None, headers=None, raw=None, timeout=30):
        return request(self.port, method, path, body, token, headers, raw, timeout)

    def sim_request(self, method, path, body=None):
        return request(self.sim_port, method, path, body)

    def sign_in(self, username="assistant", password=DEMO_PASSWORD, counter="SD-01",
                till=True):
        """A session's token. With till (the default), counter staff also find the counter's
        till open for today (opened with DEFAULT_FLOAT if it was not): sales with a fee need
        it. Till tests pass till=False to open it themselves."""
        r = self.request("POST", "/api/v1/sessions",
                         {"username": username, "password": password, "counter": counter})
        assert r.status == 201, r
        token = r.json["token"]
        if till and r.json["staff"]["role"] in ("assistant", "supervisor", "admin"):
            self.open_till(token)
        return token

    def open_till(self, token, float_pence=None):
        """Opens the till of the token's counter for today; one already open is fine.
        Returns the till as GET /api/v1/till shows it."""
        r = self.request("POST", "/api/v1/till/open",
                         {"float_pence": DEFAULT_FLOAT if float_pence is None else float_pence},
                         token=token)
        assert r.status in (201, 409), r
        if r.status == 409:
            assert r.json["error"]["code"] == "till_already_open", r
            r = self.request("GET", "/api/v1/till", token=token)
            assert r.status == 200, r
        return r.json

    def log(self):
        return self.daemon.output() if self.daemon else ""
