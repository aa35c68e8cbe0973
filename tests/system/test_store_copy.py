"""Moving a counter's store from SQLite to PostgreSQL: `onestop store copy`.

A real onestopd on SQLite takes a varied day (permits forwarded to a back-end, library sales
in cash, a void, a refund, a paid-out, an uploaded document, receipts queued for a printer,
audit rows); it is stopped, its store copied into a fresh PostgreSQL database, and onestopd
started again on PostgreSQL against it: what it sold reads back the same through the API,
new sales get fresh references, and the audit chain verifies. Then the refusals."""
import json
import os
import re
import secrets
import shutil
import sqlite3
import uuid

import pytest

from onestop_env import Gateway, shared_postgres, wait_until
from printenv import closed_port
from test_documents import PNG, upload
from till_helpers import sold
from txn_helpers import IN_ZONE, card, cash, parking, sell, vrm

PRINTER = "sd01-receipt"
# the tables a varied day must have rows in for the copy to be worth checking
BUSY_TABLES = ("staff", "sessions", "audit", "transactions", "payments", "txn_keys",
               "deliveries", "print_jobs", "idempotency", "tills", "till_movements",
               "documents")


def post(gw, token, path, body, key=True):
    headers = {"Idempotency-Key": str(uuid.uuid4())} if key else None
    return gw.request("POST", path, body, token=token, headers=headers)


def sqlite_gateway(tmp_path, printer=False):
    """A gateway on SQLite whatever ONESTOP_STORE_ENGINE says (the copy's source)."""
    printers = None
    if printer:  # nothing listens: its receipts wait in the queue
        printers = [{"name": PRINTER, "uri": f"ipp://127.0.0.1:{closed_port()}/ipp/print",
                     "format": "pdf"}]
    gw = Gateway(tmp_path, config_overrides={"store": {"engine": "sqlite"}}, printers=printers)
    if printer:
        gw.config["counters"][0]["printer"] = PRINTER
    # the chain's head signed, as operators keep it
    with open(os.path.join(gw.keys_dir, "audit-head.key"), "w") as f:
        f.write(secrets.token_hex(32) + "\n")
    gw.config["audit"] = {"head_key_file": "keys/audit-head.key"}
    gw.write_config()
    return gw


def target(gw, name):
    """A fresh PostgreSQL database and the file holding its conninfo (0600), relative to the
    gateway's folder as a config names it."""
    conninfo = shared_postgres().create_database(name)
    rel = os.path.join("keys", name + ".conninfo")
    with open(os.open(os.path.join(gw.dir, rel), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600),
              "w") as f:
        f.write(conninfo + "\n")
    return rel


def copy(gw, source, conninfo_rel):
    return gw.cli("store", "copy", "--from", f"sqlite:{source}",
                  "--to", f"postgresql:{os.path.join(gw.dir, conninfo_rel)}")


def source_db(gw):
    return os.path.join(gw.data_dir, "onestop.db")


def sqlite_counts(path):
    with sqlite3.connect(path) as db:
        names = [r[0] for r in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
        return {n: db.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in names}


def pg_count(db, table):
    return int(shared_postgres().psql(f'SELECT count(*) FROM "{table}"', db=db))


def read(gw, token, ref):
    r = gw.request("GET", f"/api/v1/transactions/{ref}", token=token)
    assert r.status == 200, r
    return r.json


def busy_day(gw):
    """Sales of every kind, a void, a refund, till movements, a document; the references."""
    asst = gw.sign_in("assistant")
    sup = gw.sign_in("supervisor")
    refs = []
    for i in range(6):
        r, _ = sell(gw, asst, fields=parking(uprn=IN_ZONE[i], vrm=vrm(300 + i)))
        assert r.status == 201, r
        refs.append(r.json["reference"])
    for code, qty, pay in (("bag", 2, cash(500)), ("reading_group_pack", 1, card()),
                           ("replacement_card", 1, cash(250))):
        refs.append(sold(gw, asst, code, qty, pay)["reference"])
    assert post(gw, sup, f"/api/v1/transactions/{refs[7]}/void", {"reason": "Wrong item"},
                key=False).status == 200
    assert post(gw, sup, f"/api/v1/transactions/{refs[8]}/refunds",
                {"amount_pence": 100, "method": "cash", "reason": "Damaged",
                 "amount_available_pence": 250}).status == 201
    assert post(gw, sup, "/api/v1/till/paid-out",
                {"amount_pence": 30, "reason": "Postage"}).status == 201
    r = upload(gw, asst, [("evidence.png", PNG, "image/png")])
    assert r.status == 201, r
    # the permits reach the parking back-end (the outbox rows move on)
    wait_until(lambda: read(gw, sup, refs[0])["status"] in ("forwarded", "completed"),
               timeout=30, what="the first permit forwarded")
    return sup, refs


def test_a_sqlite_store_moves_to_postgresql_and_carries_on(tmp_path):
    gw = sqlite_gateway(tmp_path, printer=True).start()
    try:
        sup, refs = busy_day(gw)
        before = {ref: read(gw, sup, ref) for ref in refs}
    finally:
        gw.stop()
    signed = gw.cli("audit", "head")  # the SQLite store's head, signed
    assert signed.returncode == 0, signed.stderr
    counts = sqlite_counts(source_db(gw))
    with sqlite3.connect(source_db(gw)) as db:
        max_ids = {t: db.execute(f"SELECT max(id) FROM {t}").fetchone()[0]
                   for t in ("transactions", "payments", "till_movements")}
    for t in BUSY_TABLES:
        assert counts[t] > 0, (t, counts)

    name = "copy_" + uuid.uuid4().hex[:8]
    rel = target(gw, name)
    out = copy(gw, source_db(gw), rel)
    assert out.returncode == 0, out.stdout + out.stderr
    assert re.search(r"store copy: transactions \d+ rows in [\d.]+ s \(\d+ rows/s\)", out.stderr)
    assert "audit chain intact on the target with the source's head" in out.stdout
    for t, n in counts.items():
        expect = n + 1 if t == "audit" else n  # and the store_copied row
        assert pg_count(name, t) == expect, t
        assert re.search(rf"\b{t}\s+{n} rows, \s*{n} on the target", out.stdout), out.stdout
    # sealed values went as they were: the same text in both engines
    with sqlite3.connect(source_db(gw)) as db:
        fields = db.execute("SELECT fields FROM transactions ORDER BY id LIMIT 1").fetchone()[0]
    assert shared_postgres().psql("SELECT fields FROM transactions ORDER BY id LIMIT 1",
                                  db=name) == fields
    detail = shared_postgres().psql(
        "SELECT detail FROM audit WHERE action = 'store_copied'", db=name)
    assert f"transactions={counts['transactions']}" in detail

    # onestopd on PostgreSQL against the copy, in the same data folder (its documents)
    gw.config["store"] = {"engine": "postgresql", "conninfo_file": rel}
    with open(gw.config_path, "w") as f:
        json.dump(gw.config, f, indent=2)
    gw.sim = None
    gw.start(users=False)
    try:
        sup = gw.sign_in("supervisor")
        for ref, was in before.items():
            now = read(gw, sup, ref)
            for k in ("reference", "service", "fields", "payment", "status", "fee_pence"):
                assert now.get(k) == was.get(k), (ref, k, was.get(k), now.get(k))
        asst = gw.sign_in("assistant")
        for i in range(3):
            r, _ = sell(gw, asst, fields=parking(uprn=IN_ZONE[6 + i], vrm=vrm(400 + i)))
            assert r.status == 201, r
            assert r.json["reference"] not in before
        fresh = sold(gw, asst, "bag", 1, cash(100))
        assert fresh["reference"] not in before
        assert pg_count(name, "transactions") == counts["transactions"] + 4
        # fresh ids past the copied ones (the sequences were set), in every table sold into
        for t in ("transactions", "payments", "till_movements"):
            newer = shared_postgres().psql(
                f"SELECT count(*) FROM {t} WHERE id > {max_ids[t]}", db=name)
            assert int(newer) == 4, t
        verify = gw.cli("audit", "verify")
        assert verify.returncode == 0, verify.stdout + verify.stderr
        assert "intact" in verify.stdout
        # the head signed on SQLite still holds on PostgreSQL: the same rows, the same hashes
        verify = gw.cli("audit", "verify", "--head", signed.stdout.strip())
        assert verify.returncode == 0, verify.stdout + verify.stderr
        assert "it holds the signed head" in verify.stdout
    finally:
        gw.stop()

    # a second copy into the same (now busy) database is refused, and changes nothing
    n = pg_count(name, "transactions")
    again = copy(gw, source_db(gw), rel)
    assert again.returncode == 1
    assert "the target is not empty" in again.stderr and "nothing was copied" in again.stderr
    assert pg_count(name, "transactions") == n


def test_refused_while_onestopd_runs_on_the_source(tmp_path):
    gw = sqlite_gateway(tmp_path).start()
    try:
        asst = gw.sign_in("assistant")
        sold(gw, asst, "bag", 1, cash(100))
        name = "copy_" + uuid.uuid4().hex[:8]
        out = copy(gw, source_db(gw), target(gw, name))
        assert out.returncode == 1
        assert f"onestopd (process {gw.daemon.proc.pid}) is running" in out.stderr, out.stderr
        assert "stop it first" in out.stderr and "nothing was copied" in out.stderr
        assert shared_postgres().psql(
            "SELECT count(*) FROM pg_tables WHERE tablename = 'transactions'", db=name) == "0"
    finally:
        gw.stop()


@pytest.mark.parametrize("version,words", [(5, "older than this onestop's"),
                                           (999, "newer than this onestop's"),
                                           (0, "is not an onestop store")])
def test_refused_for_a_source_of_another_schema_version(tmp_path, version, words):
    gw = sqlite_gateway(tmp_path).start()
    gw.stop()
    other = os.path.join(gw.dir, "other", "onestop.db")
    os.makedirs(os.path.dirname(other))
    shutil.copy(source_db(gw), other)
    with sqlite3.connect(other) as db:
        db.execute(f"PRAGMA user_version = {version}")
    name = "copy_" + uuid.uuid4().hex[:8]
    out = copy(gw, other, target(gw, name))
    assert out.returncode == 1
    assert words in out.stderr and "nothing was copied" in out.stderr, out.stderr
    if version == 5:
        assert "start onestopd once on it" in out.stderr
    # the target was left as it was: no rows anywhere
    for t in ("staff", "audit", "transactions"):
        tables = shared_postgres().psql(
            f"SELECT count(*) FROM pg_tables WHERE tablename = '{t}'", db=name)
        assert tables == "0" or pg_count(name, t) == 0


def test_a_copy_that_fails_midway_leaves_the_target_empty(tmp_path):
    gw = sqlite_gateway(tmp_path).start()
    try:
        asst = gw.sign_in("assistant")
        refs = [sold(gw, asst, "bag", 1, cash(100))["reference"] for _ in range(3)]
    finally:
        gw.stop()
    # SQLite keeps what a column's type does not allow; PostgreSQL refuses it, mid-copy
    with sqlite3.connect(source_db(gw)) as db:
        db.execute("UPDATE transactions SET completed_at = 'soon' WHERE reference = ?",
                   (refs[-1],))
    name = "copy_" + uuid.uuid4().hex[:8]
    out = copy(gw, source_db(gw), target(gw, name))
    assert out.returncode == 1
    assert "store copy failed: cannot write transactions on the target" in out.stderr, out.stderr
    assert "rolled back, the target holds no rows" in out.stderr
    # earlier tables were written in the same transaction: nothing of them is left either
    for t in ("staff", "audit", "tills", "transactions", "payments"):
        assert pg_count(name, t) == 0, t
    # mended, the same command copies into the same database
    with sqlite3.connect(source_db(gw)) as db:
        db.execute("UPDATE transactions SET completed_at = NULL WHERE reference = ?",
                   (refs[-1],))
    out = copy(gw, source_db(gw), os.path.join("keys", name + ".conninfo"))
    assert out.returncode == 0, out.stderr
    assert pg_count(name, "transactions") == 3


@pytest.mark.parametrize("args", [
    (),
    ("copy",),
    ("copy", "--from", "sqlite:x.db"),
    ("copy", "--from", "x.db", "--to", "postgresql:c"),
    ("copy", "--from", "sqlite:x.db", "--to", "c"),
    ("copy", "--from", "sqlite:x.db", "--to", "postgresql:c", "--batch", "0"),
    ("copy", "--from", "sqlite:x.db", "--to", "postgresql:c", "--what"),
    ("copy", "--from", "sqlite:x.db", "--to", "postgresql:host=db dbname=onestop"),
    ("move",),
])
def test_bad_arguments_print_the_usage(tmp_path, args):
    gw = Gateway(tmp_path, with_sim=False)
    out = gw.cli("store", *args)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "usage: onestop --config PATH store copy --from sqlite:PATH" in out.stderr
    assert "postgresql:CONNINFO_FILE" in out.stderr
