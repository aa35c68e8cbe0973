"""Access under attack (issue 13): site-scoped reads and the auditor role, fair sign-in
slow-downs, sampled audit floods, callback replays after a restart, sessions ended by a
password change, static files outside the web folder, idempotency keys per staff member,
file modes, and the authorisation matrix over every route in the route table."""

import http.client
import json
import os
import re
import secrets
import stat
import subprocess
import time

from onestop_env import DEMO_PASSWORD, ONESTOPD, STORE_ENGINE, sign
from txn_helpers import card, parking, sell, vrm

def request_from(gw, source, method, path, body=None, token=None, headers=None):
    """A request from another loopback address (127.0.0.0/8 all reaches us)."""
    conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=30,
                                      source_address=(source, 0))
    hdrs = dict(headers or {})
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        hdrs["Content-Type"] = "application/json"
    if token:
        hdrs["Authorization"] = f"Bearer {token}"
    conn.request(method, path, body=data, headers=hdrs)
    resp = conn.getresponse()
    status, headers_out, payload = resp.status, dict(resp.getheaders()), resp.read()
    conn.close()
    return status, {k.lower(): v for k, v in headers_out.items()}, payload


def sign_in_from(gw, source, username, password=DEMO_PASSWORD, counter="SD-01"):
    return request_from(gw, source, "POST", "/api/v1/sessions",
                        {"username": username, "password": password, "counter": counter})


def audit_rows(gw, action=None):
    db = gw.store_db()
    try:
        if action:
            return db.execute("SELECT actor, counter, action, subject, detail, remote FROM audit"
                              " WHERE action=? ORDER BY id", (action,)).fetchall()
        return db.execute("SELECT actor, counter, action, subject, detail, remote FROM audit"
                          " ORDER BY id").fetchall()
    finally:
        db.close()


def metric(gw, name, labels):
    text = gw.request("GET", "/metrics").body.decode()
    m = re.search(re.escape(name + labels) + r" (\d+)", text)
    return int(m.group(1)) if m else 0


# ---- site-scoped reads, the auditor role, audited and limited reads ----

def test_reads_are_scoped_to_the_site_and_an_auditor_reads_all(make_gateway):
    gw = make_gateway()
    gw.start()
    gw.add_user("auditor", "auditor")
    sd = gw.sign_in("assistant", counter="SD-01")
    lib = gw.sign_in("assistant", counter="LIB-CEN")
    lib_sup = gw.sign_in("supervisor", counter="LIB-CEN")
    aud = gw.sign_in("auditor", counter="LIB-CEN")
    r, _ = sell(gw, sd, fields=parking(vrm=vrm(3)))
    assert r.status == 201, r
    ref = r.json["reference"]
    r, _ = sell(gw, lib, fields=parking(uprn="100011429301", vrm=vrm(4)))
    assert r.status == 201, r
    lib_ref = r.json["reference"]

    # the other site's staff, supervisors included, neither read nor list it
    for token in (lib, lib_sup):
        got = gw.request("GET", f"/api/v1/transactions/{ref}", token=token)
        assert got.status == 404, got
        listed = gw.request("GET", "/api/v1/transactions", token=token).json["transactions"]
        assert [t["reference"] for t in listed] == [lib_ref]
    assert gw.request("POST", f"/api/v1/transactions/{ref}/reprint", token=lib).status == 404
    assert gw.request("POST", f"/api/v1/transactions/{ref}/retry", token=lib_sup).status == 404
    # its own site's staff do
    assert gw.request("GET", f"/api/v1/transactions/{ref}", token=sd).json["fields"]["vrm"]
    # the auditor reads every site ...
    assert gw.request("GET", f"/api/v1/transactions/{ref}", token=aud).status == 200
    listed = gw.request("GET", "/api/v1/transactions", token=aud).json["transactions"]
    assert {t["reference"] for t in listed} == {ref, lib_ref}
    assert gw.request("GET", "/api/v1/deliveries/failed", token=aud).status == 200
    # ... and changes nothing
    r, _ = sell(gw, aud, fields=parking(vrm=vrm(5)))
    assert r.status == 403, r
    assert gw.request("POST", f"/api/v1/transactions/{lib_ref}/reprint", token=aud).status == 403
    assert gw.request("POST", f"/api/v1/transactions/{ref}/retry", token=aud).status == 403
    users = json.loads(gw.cli("user", "list").stdout)
    assert {"username": "auditor", "role": "auditor"}.items() <= \
        [u for u in users if u["username"] == "auditor"][0].items()


def test_a_full_record_read_is_audited_without_personal_data(gateway):
    token = gateway.sign_in()
    r, _ = sell(gateway, token, fields=parking(vrm="AB12CDE"))
    ref = r.json["reference"]
    before = len(audit_rows(gateway, "transaction_read"))
    assert gateway.request("GET", f"/api/v1/transactions/{ref}", token=token).status == 200
    rows = audit_rows(gateway, "transaction_read")
    assert len(rows) == before + 1
    actor, counter, _, subject, detail, _ = rows[-1]
    assert (actor, counter, subject) == ("assistant", "SD-01", ref)
    text = json.dumps(audit_rows(gateway))
    for personal in ("AB12CDE", "100011429002"):
        assert personal not in text


def test_reads_are_rate_limited_per_staff_member(make_gateway):
    gw = make_gateway(config_overrides={"access": {"reads_per_minute": 5}})
    gw.start()
    a = gw.sign_in("assistant")
    s = gw.sign_in("supervisor")
    statuses = [gw.request("GET", "/api/v1/transactions", token=a) for _ in range(7)]
    assert [r.status for r in statuses[:5]] == [200] * 5
    limited = statuses[5]
    assert limited.status == 429 and limited.json["error"]["code"] == "too_many_reads"
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    # another staff member is not slowed by it
    assert gw.request("GET", "/api/v1/transactions", token=s).status == 200


# ---- fair sign-in slow-downs ----

def test_a_name_hammered_from_one_address_still_signs_in_from_her_counter(make_gateway):
    gw = make_gateway()
    gw.config["auth"] = {"lockout_s": 30, "max_failures_per_user": 3,
                         "max_failures_per_address": 6}
    gw.write_config()
    gw.start()
    for _ in range(4):
        status, _, _ = sign_in_from(gw, "127.0.0.2", "assistant", password="guess-guess")
    assert status == 429  # the attacker's address is slowed down for that name
    status, headers, _ = sign_in_from(gw, "127.0.0.2", "assistant")
    assert status == 429 and int(headers["retry-after"]) >= 1
    # the real assistant, at her own counter's address, gets in
    status, _, body = sign_in_from(gw, "127.0.0.1", "assistant")
    assert status == 201, body
    # one address failing across many names is slowed for every name, and only there
    for i in range(7):
        status, _, _ = sign_in_from(gw, "127.0.0.3", f"nobody{i}", password="guess-guess")
    assert status == 429
    assert sign_in_from(gw, "127.0.0.3", "supervisor")[0] == 429
    assert sign_in_from(gw, "127.0.0.1", "supervisor")[0] == 201


# ---- audit floods ----

def test_floods_of_repeatable_failures_are_counted_and_sampled(make_gateway):
    gw = make_gateway()
    gw.config["auth"] = {"lockout_s": 60, "max_failures_per_user": 2}
    gw.write_config()
    gw.start()
    flood = 300
    for _ in range(flood):
        r = gw.request("POST", "/api/v1/sessions",
                       {"username": "assistant", "password": "x" * 10, "counter": "XX-99"})
        assert r.status == 422
    for _ in range(2):
        gw.request("POST", "/api/v1/sessions",
                   {"username": "assistant", "password": "guess-guess", "counter": "SD-01"})
    for _ in range(100):
        r = gw.request("POST", "/api/v1/sessions",
                       {"username": "assistant", "password": "guess-guess", "counter": "SD-01"})
        assert r.status == 429
    rows = audit_rows(gw, "sign_in_failed")
    unknown = [r for r in rows if r[4].startswith("unknown_counter")]
    limited = [r for r in rows if r[4].startswith("rate_limited")]
    assert 1 <= len(unknown) <= 2, unknown
    assert 1 <= len(limited) <= 2, limited
    assert all(r[5] == "127.0.0.1" for r in unknown + limited)
    assert metric(gw, "onestop_audit_events_total", '{action="sign_in_unknown_counter"}') == flood
    assert metric(gw, "onestop_audit_suppressed_total",
                  '{action="sign_in_unknown_counter"}') == flood - 1
    assert metric(gw, "onestop_audit_events_total", '{action="sign_in_rate_limited"}') == 100


def test_the_sampled_row_says_how_many_were_suppressed(make_gateway):
    gw = make_gateway(config_overrides={"access": {"audit_sample_interval_s": 1}})
    gw.start()
    body = {"username": "assistant", "password": "x" * 10, "counter": "XX-99"}
    for _ in range(20):
        gw.request("POST", "/api/v1/sessions", body)
    time.sleep(1.1)
    gw.request("POST", "/api/v1/sessions", body)
    rows = [r for r in audit_rows(gw, "sign_in_failed") if r[4].startswith("unknown_counter")]
    assert len(rows) == 2 and "19 more like it suppressed" in rows[1][4], rows


# ---- callbacks ----

def callback(ref, secret, idempotency_key=None, timestamp=None, body=None):
    raw = body or json.dumps({"reference": ref, "status": "completed",
                              "backend_reference": "PP-000123"}).encode()
    headers = sign(secret, idempotency_key or "", raw, timestamp)
    if idempotency_key is None:
        del headers["Idempotency-Key"]
    headers["Content-Type"] = "application/json"
    return headers, raw


def post_callback(gw, headers, raw):
    return gw.request("POST", "/api/v1/callbacks/parking", raw=raw, headers=headers)


def test_callback_events_survive_a_restart(gateway):
    token = gateway.sign_in()
    secret = gateway.keys["parking"]
    refs = [sell(gateway, token, fields=parking(uprn=u, vrm=vrm(10 + i)))[0].json["reference"]
            for i, u in enumerate(("100011429002", "100011429003"))]
    # keyed: an identical resend (same second, same signature) gets the stored answer
    keyed = callback(refs[0], secret, idempotency_key="evt-0001")
    assert post_callback(gateway, *keyed).status == 204
    again = post_callback(gateway, *keyed)
    assert again.status == 204, again
    # the same event id with another body is a conflict
    other = callback(refs[0], secret, idempotency_key="evt-0001",
                     body=json.dumps({"reference": refs[1], "status": "completed"}).encode())
    assert post_callback(gateway, *other).status == 409
    # keyless: identified by its signature
    keyless = callback(refs[1], secret)
    assert post_callback(gateway, *keyless).status == 204
    assert post_callback(gateway, *keyless).status == 401

    gateway.daemon.stop()
    gateway.start_daemon()
    again = post_callback(gateway, *keyed)
    assert again.status == 204, again
    replay = post_callback(gateway, *keyless)
    assert replay.status == 401 and replay.json["error"]["code"] == "bad_signature", replay
    assert gateway.request("GET", f"/api/v1/transactions/{refs[1]}",
                           token=gateway.sign_in()).json["status"] == "completed"
    completed = [r for r in audit_rows(gateway) if r[2] in ("transaction_completed",)]
    assert len(completed) <= 2
    db = gateway.store_db()
    assert db.execute("SELECT COUNT(*) FROM callback_events").fetchone()[0] == 2


# ---- sessions end with a password change ----

def test_a_new_password_or_a_disabled_account_ends_the_sessions(gateway):
    a = gateway.sign_in("assistant")
    a2 = gateway.sign_in("assistant", counter="LIB-CEN")
    s = gateway.sign_in("supervisor")
    r = gateway.cli("user", "password", "assistant", input="a-new-password-123\n")
    assert r.returncode == 0, r.stderr
    for token in (a, a2):
        got = gateway.request("GET", "/api/v1/sessions/current", token=token)
        assert got.status == 401, got
    assert gateway.sign_in("assistant", password="a-new-password-123")
    r = gateway.cli("user", "disable", "supervisor")
    assert r.returncode == 0, r.stderr
    assert gateway.cli("user", "enable", "supervisor").returncode == 0
    assert gateway.request("GET", "/api/v1/sessions/current", token=s).status == 401
    assert audit_rows(gateway, "sessions_ended")


# ---- static files ----

def test_static_files_never_leave_the_web_folder(make_gateway, tmp_path):
    web = tmp_path / "web"
    web.mkdir()
    (web / "index.html").write_text("<!doctype html><title>counter</title>")
    (web / "app.js").write_text("console.log('ok');")
    secret = tmp_path / "secret.json"
    secret.write_text('{"secret": "do-not-serve"}')
    os.symlink(secret, web / "leak.json")
    os.symlink(tmp_path, web / "up")
    os.symlink(web / "app.js", web / "alias.js")  # a link that stays inside is fine
    gw = make_gateway(config_overrides={"web_dir": str(web)})
    gw.start(users=False)
    assert gw.request("GET", "/app.js").status == 200
    assert gw.request("GET", "/alias.js").status == 200
    for path in ("/leak.json", "/up/secret.json", "/up/gw/onestop.json"):
        r = gw.request("GET", path)
        assert r.status == 404, (path, r)
        assert b"do-not-serve" not in r.body


# ---- idempotency keys per staff member ----

def test_an_idempotency_key_belongs_to_the_staff_member_who_sent_it(gateway):
    sup = gateway.sign_in("supervisor")
    ast = gateway.sign_in("assistant")
    key = "shared-key-0001"
    first, _ = sell(gateway, sup, fields=parking(vrm=vrm(20)), key=key)
    assert first.status == 201
    # the assistant's use of the same key is a request of her own, not the supervisor's reply
    mine, _ = sell(gateway, ast, fields=parking(uprn="100011429003", vrm=vrm(21)), key=key)
    assert mine.status == 201, mine
    assert mine.json["reference"] != first.json["reference"]
    same_body, _ = sell(gateway, ast, fields=parking(vrm=vrm(20)), key=key)
    assert same_body.status == 409  # her own key, another body
    # the supervisor's retry still gets the supervisor's reply
    again, _ = sell(gateway, sup, fields=parking(vrm=vrm(20)), key=key)
    assert again.status == 200 and again.json == first.json


# ---- file modes ----

def test_the_database_is_private_and_loose_modes_are_warned_about(make_gateway):
    gw = make_gateway()
    os.makedirs(gw.data_dir)
    os.chmod(gw.data_dir, 0o755)
    os.chmod(os.path.join(gw.keys_dir, "parking.key"), 0o644)
    gw.start()
    token = gw.sign_in()
    assert sell(gw, token)[0].status == 201
    names = set(os.listdir(gw.data_dir))
    if STORE_ENGINE == "sqlite":  # PostgreSQL keeps the store in its own data folder
        assert {"onestop.db", "onestop.db-wal", "onestop.db-shm"} <= names, names
    for name in names:
        path = os.path.join(gw.data_dir, name)
        mode = stat.S_IMODE(os.stat(path).st_mode)
        assert mode & 0o077 == 0, (name, oct(mode))
    log = gw.log()
    assert "data_folder_open" in log
    assert "key_file_readable" in log and "parking.key" in log


def test_a_new_data_folder_is_not_open_to_others(make_gateway):
    gw = make_gateway()
    gw.start()
    mode = stat.S_IMODE(os.stat(gw.data_dir).st_mode)
    assert mode & 0o007 == 0, oct(mode)
    assert "data_folder_open" not in gw.log()


# ---- the authorisation matrix ----

# Every route of the route table, with the access it must declare. A route added to the table
# without a row here fails test_authorisation_matrix. Outcomes by access and caller:
#   "ok" = neither 401 nor 403 (the handler ran: 200, 400, 404, 422, ...).
ROUTES = {
    ("GET", "/healthz"): "public",
    ("GET", "/readyz"): "public",
    ("GET", "/metrics"): "public",
    ("GET", "/api/v1/openapi.json"): "public",
    ("POST", "/api/v1/sessions"): "public",
    ("GET", "/api/v1/sessions/current"): "reader",
    ("DELETE", "/api/v1/sessions/current"): "reader",
    ("GET", "/api/v1/services"): "reader",
    ("GET", "/api/v1/services/bulky-refuse/slots"): "staff",
    ("GET", "/api/v1/addresses"): "staff",
    ("POST", "/api/v1/referrals/lookup"): "staff",
    ("POST", "/api/v1/quotes"): "staff",
    ("POST", "/api/v1/transactions"): "staff",
    ("POST", "/api/v1/documents"): "staff",
    ("GET", "/api/v1/transactions"): "reader",
    ("GET", "/api/v1/transactions/{}"): "reader",
    ("GET", "/api/v1/transactions/{}/status"): "reader",
    ("POST", "/api/v1/transactions/{}/retry"): "supervisor",
    ("POST", "/api/v1/transactions/{}/reprint"): "staff",
    ("GET", "/api/v1/receipt-options"): "staff",
    ("POST", "/api/v1/transactions/{}/receipt-copies"): "staff",
    ("GET", "/api/v1/deliveries/failed"): "oversight",
    ("GET", "/api/v1/lookups/{}"): "staff",
    ("POST", "/api/v1/lookups/{}"): "staff",
    ("POST", "/api/v1/lookups/slot_holds/{}/release"): "staff",
    ("GET", "/api/v1/stock"): "staff",
    ("POST", "/api/v1/stock/deliveries"): "supervisor",
    ("GET", "/api/v1/till"): "staff",
    ("POST", "/api/v1/till/open"): "staff",
    ("POST", "/api/v1/till/count"): "staff",
    ("POST", "/api/v1/till/cashup"): "supervisor",
    ("GET", "/api/v1/till/slip"): "staff",
    ("GET", "/api/v1/reports/daily"): "supervisor",
    ("GET", "/api/v1/reports/monthly"): "supervisor",
    ("POST", "/api/v1/till/paid-in"): "supervisor",
    ("POST", "/api/v1/till/paid-out"): "supervisor",
    ("POST", "/api/v1/transactions/{}/void"): "supervisor",
    ("POST", "/api/v1/transactions/{}/refunds"): "supervisor",
    ("POST", "/api/v1/transactions/{}/cancel"): "supervisor",
    ("POST", "/api/v1/callbacks/{}"): "signed",  # public, but only with a back-end's signature
    ("POST", "/api/v1/callbacks/notify"): "signed",  # public, but only with Notify's bearer token
    ("GET", "/r/{}"): "public",
    ("GET", "/*"): "public",
}

ROLES = ("assistant", "supervisor", "admin", "auditor")
ALLOWED = {
    "public": set(ROLES),
    "reader": set(ROLES),
    "staff": {"assistant", "supervisor", "admin"},
    "supervisor": {"supervisor", "admin"},
    "oversight": {"supervisor", "admin", "auditor"},
    "admin": {"admin"},
}


def expected(access, caller):
    if access == "signed":
        return "401"  # no caller here holds a back-end's key
    if access == "public":
        return "ok"
    if caller in ("none", "forged", "signed_out"):
        return "401"
    return "ok" if caller in ALLOWED[access] else "403"


def outcome(status):
    return str(status) if status in (401, 403) else "ok"


def concrete(pattern):
    path = pattern.replace("{}", "RP-0000-0000", 1) if "transactions/{}" in pattern else pattern
    path = path.replace("slot_holds/{}", "slot_holds/RS-000001")
    path = path.replace("callbacks/{}", "callbacks/parking").replace("/r/{}", "/r/RP-0000-0000")
    return path.replace("/*", "/index.html")


def test_authorisation_matrix(gateway):
    out = subprocess.run([ONESTOPD, "--routes"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    table = json.loads(out.stdout)
    declared = {(r["method"], r["pattern"]): r["access"] for r in table}
    undeclared = set(declared) - set(ROUTES)
    assert not undeclared, f"routes without a row in ROUTES: {sorted(undeclared)}"
    assert not set(ROUTES) - set(declared), "ROUTES names routes the table no longer has"
    for key, access in declared.items():
        want = "public" if ROUTES[key] == "signed" else ROUTES[key]
        assert access == want, f"{key}: the table says {access}, the test declares {want}"

    gateway.add_user("admin", "admin")
    gateway.add_user("auditor", "auditor")
    gone = gateway.sign_in("assistant")
    assert gateway.request("DELETE", "/api/v1/sessions/current", token=gone).status == 204
    callers = {"none": None, "forged": secrets.token_urlsafe(32), "signed_out": gone}
    for role in ROLES:
        callers[role] = gateway.sign_in(role)

    # signing out last, so each caller's token lives through the other routes
    order = sorted(declared, key=lambda k: k == ("DELETE", "/api/v1/sessions/current"))
    failures = []
    for caller, token in callers.items():
        for method, pattern in order:
            body = {} if method == "POST" else None
            r = gateway.request(method, concrete(pattern), body=body, token=token)
            want = expected(ROUTES[(method, pattern)], caller)
            if outcome(r.status) != want:
                failures.append(f"{caller} {method} {pattern}: got {r.status}, want {want}")
    assert not failures, "\n".join(failures)
