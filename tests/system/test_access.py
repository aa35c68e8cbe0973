"""Access under attack (issue 13): site-scoped reads and the auditor role, fair sign-in
slow-downs, sampled audit floods, callback replays after a restart, sessions ended by a
password change, static files outside the web folder, idempotency keys per staff member,
file modes, and the authorisation matrix over every route in the route table."""

import http.client
import json
import os
import re
import secrets
import sqlite3
import stat
import subprocess
import time

from onestop_env import DEMO_PASSWORD, ONESTOPD, sign
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
    db = sqlite3.connect(os.path.join(gw.data_dir, "onestop.db"))
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


# ---- file modes ----

def test_the_database_is_private_and_loose_modes_are_warned_about(make_gateway):
    gw = make_gateway()
    os.makedirs(gw.data_dir)
    os.chmod(gw.data_dir, 0o755)
    os.chmod(os.path.join(gw.keys_dir, "parking.key"), 0o644)
    gw.start()
    token = gw.sign_in()
    assert sell(gw, token)[0].status == 201
    for name in ("onestop.db", "onestop.db-wal", "onestop.db-shm"):
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

