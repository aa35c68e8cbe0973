"""The daemon's life: clean shutdown, crash and restart, full disk, config and schema checks."""

import json
import os
import sqlite3
import subprocess
import threading
import time

import pytest

from onestop_env import ONESTOPD, STORE_ENGINE, wait_until


def test_sigterm_exits_cleanly_and_finishes_in_flight(gateway):
    token = gateway.sign_in()
    # a request in flight when SIGTERM arrives still gets its answer (sign-in takes ~0.3 s)
    results = {}

    def slow_sign_in():
        results["r"] = gateway.request("POST", "/api/v1/sessions", {
            "username": "supervisor", "password": "onestop-demo", "counter": "SD-01"})

    t = threading.Thread(target=slow_sign_in)
    t.start()
    time.sleep(0.05)
    rc = gateway.daemon.stop()
    t.join(10)
    assert rc == 0, gateway.log()[-2000:]
    assert results["r"].status == 201
    assert "onestopd stopped cleanly" in gateway.log()
    if STORE_ENGINE == "sqlite":  # the store was closed properly: the WAL checkpointed away
        wal = os.path.join(gateway.data_dir, "onestop.db-wal")
        assert not os.path.exists(wal) or os.path.getsize(wal) == 0
    # and everything is still there after a restart
    gateway.start_daemon()
    assert gateway.request("GET", "/api/v1/services", token=token).status == 200


def test_kill9_then_restart_keeps_users_and_sessions(gateway):
    tokens = [gateway.sign_in() for _ in range(3)]
    gateway.request("DELETE", "/api/v1/sessions/current", token=tokens[2])
    gateway.daemon.kill9()
    gateway.start_daemon()
    assert gateway.request("GET", "/api/v1/services", token=tokens[0]).status == 200
    assert gateway.request("GET", "/api/v1/services", token=tokens[1]).status == 200
    assert gateway.request("GET", "/api/v1/services", token=tokens[2]).status == 401
    assert gateway.sign_in("supervisor")
    db = gateway.store_db()
    if STORE_ENGINE == "sqlite":
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert db.execute("SELECT COUNT(*) FROM staff").fetchone()[0] == 2


@pytest.mark.sqlite_only(reason="fills the disk under onestopd's own file writes (prlimit); on "
                         "PostgreSQL the server writes, and its loss and return are "
                         "test_postgresql_driver.py's crash and recovery")
def test_full_disk_answers_503_then_recovers(gateway):
    token = gateway.sign_in()
    db_path = os.path.join(gateway.data_dir, "onestop.db")
    pid = gateway.daemon.proc.pid
    # cap the size of any file onestopd writes at what the database has now
    limit = os.path.getsize(db_path) + 4096
    subprocess.run(["prlimit", f"--pid={pid}", f"--fsize={limit}:unlimited"], check=True)
    statuses = []
    for _ in range(200):
        r = gateway.request("POST", "/api/v1/sessions",
                            {"username": "assistant", "password": "onestop-demo", "counter": "SD-01"})
        statuses.append(r.status)
        if r.status == 503:
            break
    assert statuses[-1] == 503, statuses
    assert r.json["error"]["code"] == "store_unavailable"
    # The failed sign-in needed several pages; the readiness probe writes fewer, which may still
    # fit in what was left under the cap (that depends on the schema's size). Now the disk is
    # full for every write, and readiness must say so.
    subprocess.run(["prlimit", f"--pid={pid}", "--fsize=1:unlimited"], check=True)
    assert gateway.request("GET", "/readyz").status == 503
    assert gateway.request("GET", "/healthz").status == 200
    assert "store_unavailable" in gateway.log()
    subprocess.run(["prlimit", f"--pid={pid}", "--fsize=unlimited:unlimited"], check=True)
    wait_until(lambda: gateway.request("GET", "/readyz").status == 200, what="recovery")
    assert gateway.sign_in()
    assert gateway.request("GET", "/api/v1/services", token=token).status == 200
    gateway.daemon.stop()
    db = sqlite3.connect(db_path)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_database_newer_than_binary_is_refused(make_gateway):
    gw = make_gateway(with_sim=False)
    gw.start(users=False)
    gw.daemon.stop()
    db = gw.store_db()
    if STORE_ENGINE == "postgresql":
        db.execute("INSERT INTO schema_migrations(version, applied_at) VALUES(999, 0)")
    else:
        db.execute("PRAGMA user_version=999")
    db.commit()
    db.close()
    p = subprocess.run([ONESTOPD, "--config", gw.config_path], capture_output=True, text=True,
                       timeout=20)
    assert p.returncode != 0
    assert "newer" in p.stderr and "999" in p.stderr


def test_check_config_names_file_key_and_problem(make_gateway):
    gw = make_gateway(with_sim=False)
    ok = subprocess.run([ONESTOPD, "--check-config", gw.config_path], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    gw.config["http"] = {"threads": 0, "bodylimit": 5}
    gw.config["backends"][0]["signing_key_file"] = "keys/missing.key"
    gw.write_config()
    bad = subprocess.run([ONESTOPD, "--check-config", gw.config_path], capture_output=True, text=True)
    assert bad.returncode == 1
    assert "onestop.json: http.bodylimit: unknown key" in bad.stderr
    assert "onestop.json: http.threads: must be between 1 and 256" in bad.stderr
    assert "onestop.json: backends[0].signing_key_file: cannot read" in bad.stderr
    # the daemon itself refuses to start on the same file
    run = subprocess.run([ONESTOPD, "--config", gw.config_path], capture_output=True, text=True,
                         timeout=20)
    assert run.returncode == 1 and "http.bodylimit" in run.stderr


def test_listen_and_data_dir_overrides(make_gateway, tmp_path):
    gw = make_gateway(with_sim=False)
    from onestop_env import free_port, Process, request
    port = free_port()
    other = tmp_path / "elsewhere"
    p = Process([ONESTOPD, "--config", gw.config_path, "--listen", f"127.0.0.1:{port}",
                 "--data-dir", str(other)], str(tmp_path / "o.log"))
    try:
        wait_until(lambda: request(port, "GET", "/healthz").status == 200, what="override port")
        # the data folder moved (SQLite's file in it; PostgreSQL's store is elsewhere)
        assert (other / "onestop.db").exists() if STORE_ENGINE == "sqlite" else other.is_dir()
    finally:
        assert p.stop() == 0


def test_cli_user_management(make_gateway):
    gw = make_gateway(with_sim=False)
    gw.start(users=False)
    r = gw.cli("user", "add", "ann", "--role", "assistant", input="short\n")
    assert r.returncode != 0 and "at least 8" in r.stderr
    r = gw.cli("user", "add", "ann", "--role", "cleaner", input="long-enough\n")
    assert r.returncode == 2 and "role" in r.stderr
    assert gw.cli("user", "add", "ann", "--role", "assistant", input="long-enough\n").returncode == 0
    r = gw.cli("user", "add", "ann", "--role", "assistant", input="long-enough\n")
    assert r.returncode == 1 and "already" in r.stderr
    assert gw.sign_in("ann", "long-enough")
    assert gw.cli("user", "disable", "ann").returncode == 0
    r = gw.request("POST", "/api/v1/sessions",
                   {"username": "ann", "password": "long-enough", "counter": "SD-01"})
    assert r.status == 401
    users = json.loads(gw.cli("user", "list").stdout)
    assert users == [{"username": "ann", "role": "assistant", "initials": "AN", "disabled": True}]
    # the stored hash is PBKDF2 with at least 600,000 iterations, never the password
    db = gw.store_db()
    (h,) = db.execute("SELECT password_hash FROM staff WHERE username='ann'").fetchone()
    assert h.startswith("pbkdf2-sha256$") and int(h.split("$")[1]) >= 600000
    assert "long-enough" not in h
