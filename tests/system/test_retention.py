"""Retention (issue 14 part 2): once a transaction has ended longer ago than its service keeps
personal data, the fields its definition marks personal are anonymised in the transaction, its
outbox payload and its stored reply, while the money record stays; the purge is audited with
counts, and a dry run changes nothing but says what it would do."""

import json
import os
import uuid

import pytest

from onestop_env import sign, unseal, wait_until
from test_delivery import sell_permits, txn
from test_open311_variants import bulky_fields
from txn_helpers import card, parking, sell, vrm

VRM = vrm(4242)
UPRN = "100011429005"


def complete(gw, token, backend, ref):
    body = json.dumps({"reference": ref, "status": "completed",
                       "backend_reference": "X-1", "note": "Done"}).encode()
    headers = sign(gw.keys[backend], str(uuid.uuid4()), body)
    headers["Content-Type"] = "application/json"
    r = gw.request("POST", f"/api/v1/callbacks/{backend}", raw=body, headers=headers)
    assert r.status in (200, 204), r
    wait_until(lambda: txn(gw, token, ref)["status"] == "completed", timeout=10,
               what=f"{ref} completed")


def sold(gw, token, service, fields):
    r, _ = sell(gw, token, fields, card(), service=service)
    assert r.status == 201, r
    ref = r.json["reference"]
    wait_until(lambda: txn(gw, token, ref)["delivery"]["state"] == "delivered", timeout=20,
               what=f"{ref} delivered")
    return ref


def db(gw):
    return gw.store_db()


TRANSACTION_ROWS = ("transactions WHERE id=?", "deliveries WHERE transaction_id=?",
                    "idempotency WHERE transaction_id=?", "payments WHERE transaction_id=?",
                    "print_jobs WHERE transaction_id=?")


def rows_of(gw, ref, tables=TRANSACTION_ROWS):
    """The stored rows about the transaction, as text, sealed values opened with the data key
    (field_crypt.h): what a grep of those tables would see if the key leaked."""
    with db(gw) as c:
        (tid,) = c.execute("SELECT id FROM transactions WHERE reference=?", (ref,)).fetchone()
        out = []
        for table in tables:
            out += [repr(tuple(unseal(gw.keys_dir, v, ref) for v in r))
                    for r in c.execute(f"SELECT * FROM {table}", (tid,))]
        return "\n".join(out)


def live_keys(gw, ref):
    return rows_of(gw, ref, ("txn_keys WHERE transaction_id=?",))


def money(gw, ref):
    with db(gw) as c:
        t = c.execute("SELECT id, reference, service, status, counter, site, staff, fee_pence,"
                      " lines, created_at, completed_at FROM transactions WHERE reference=?",
                      (ref,)).fetchone()
        p = c.execute("SELECT method, amount_pence, auth_code, created_at FROM payments"
                      " WHERE transaction_id=?", (t[0],)).fetchall()
        return t, p


def dump(gw):
    return [line for line in gw.store_dump().splitlines()
            if "INSERT INTO \"meta\"" not in line and "INSERT INTO public.meta " not in line]


def test_a_purge_anonymises_an_old_transaction_and_keeps_its_money_record(gateway):
    token = gateway.sign_in()
    permit = sold(gateway, token, "residents-parking-permit", parking(uprn=UPRN, vrm=VRM))
    complete(gateway, token, "parking", permit)
    bulky_in = bulky_fields(gateway, token)
    bulky = sold(gateway, token, "bulky-refuse", bulky_in)
    complete(gateway, token, "bulky", bulky)
    [open_ref] = sell_permits(gateway, token, 1, first=7)  # not ended: kept whole
    wait_until(lambda: txn(gateway, token, open_ref)["status"] == "forwarded", timeout=20,
               what="the open sale forwarded")
    for ref, values in ((permit, (VRM, UPRN)), (bulky, (bulky_in["phone"].replace(" ", ""),
                                                        bulky_in["location"]))):
        stored = rows_of(gateway, ref)
        assert any(v in stored for v in values), (ref, stored)
    before = {ref: money(gateway, ref) for ref in (permit, bulky)}
    open_before = rows_of(gateway, open_ref)

    # a dry run reports and changes nothing
    snapshot = dump(gateway)
    dry = gateway.cli("purge", "--dry-run", "--older-than-days", "0")
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.startswith("would purge: 2 transactions"), dry.stdout
    assert dump(gateway) == snapshot

    # a retention of a year leaves sales of today alone
    r = gateway.cli("purge", "--older-than-days", "365")
    assert r.returncode == 0 and r.stdout.startswith("purged: 0 transactions"), r.stdout

    done = gateway.cli("purge", "--older-than-days", "0")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("purged: 2 transactions"), done.stdout
    assert ", 2 payloads," in done.stdout, done.stdout

    stored = rows_of(gateway, permit)
    assert VRM not in stored and UPRN not in stored, stored
    # the permit is live for a year: its limit keys (one permit per car, blinded) stay until
    # it ends
    assert "bi:v1:" in live_keys(gateway, permit)
    assert VRM not in live_keys(gateway, permit)  # the value kept for rotate-index goes
    assert "2 kept while live" in done.stdout, done.stdout
    stored = rows_of(gateway, bulky)
    for value in (bulky_in["phone"], bulky_in["phone"].replace(" ", ""), bulky_in["location"],
                  bulky_in["uprn"]):
        assert value not in stored, (value, stored)
    assert "[purged]" in stored
    for ref in (permit, bulky):
        assert money(gateway, ref) == before[ref]
        view = txn(gateway, token, ref)  # still readable, with its money and without the person
        assert view["reference"] == ref and view["status"] == "completed"
    assert rows_of(gateway, open_ref) == open_before

    # audited with counts, and the chain still holds
    r = gateway.cli("audit", "--action", "personal_data_purged")
    entries = json.loads(r.stdout)
    assert sorted(e["subject"] for e in entries) == ["bulky-refuse", "residents-parking-permit"]
    assert all("1 transactions" in e["detail"] and e["actor"] == "admin-cli" for e in entries)
    assert gateway.cli("audit", "verify").returncode == 0

    # nothing is purged twice
    again = gateway.cli("purge", "--older-than-days", "0")
    assert again.stdout.startswith("purged: 0 transactions"), again.stdout

    # when the permit has ended (its keys' date moved back for the test), the next purge
    # deletes its limit keys: nothing of the person is left
    with db(gateway) as c:
        c.execute("UPDATE txn_keys SET live_until='2020-01-01' WHERE transaction_id="
                  "(SELECT id FROM transactions WHERE reference=?)", (permit,))
    later = gateway.cli("purge", "--older-than-days", "0")
    assert "2 expired deleted" in later.stdout, later.stdout
    assert live_keys(gateway, permit) == ""


def test_the_gateway_purges_on_its_timer_by_the_retention_in_its_config(make_gateway):
    gw = make_gateway()
    gw.config["retention"] = {"purge_interval_s": 1, "default_days": 3650,
                              "services": [{"service": "residents-parking-permit", "days": 0}]}
    gw.write_config()
    gw.start()
    token = gw.sign_in()
    permit = sold(gw, token, "residents-parking-permit", parking(uprn=UPRN, vrm=VRM))
    complete(gw, token, "parking", permit)
    wait_until(lambda: VRM not in rows_of(gw, permit), timeout=10, what="the timed purge")
    entries = json.loads(gw.cli("audit", "--action", "personal_data_purged").stdout)
    assert [e["actor"] for e in entries] == ["retention"]
    assert "purged" in gw.log() and VRM not in gw.log()


def test_a_retention_rule_for_a_service_that_is_not_enabled_is_refused(make_gateway):
    gw = make_gateway()
    gw.config["retention"] = {"services": [{"service": "no-such-service", "days": 1}]}
    gw.write_config()
    r = gw.cli("audit", "verify")
    assert r.returncode == 1
    assert "retention.services[0].service" in r.stderr and "no-such-service" in r.stderr


@pytest.mark.sqlite_only(reason="reads the SQLite file's freed pages (secure_delete); PostgreSQL "
                         "keeps old row versions until VACUUM (not checked yet)")
def test_after_a_purge_the_database_file_holds_no_trace_of_the_phone_number(make_gateway):
    """A store kept without a data key (plain text) is scrubbed too: secure_delete."""
    gateway = make_gateway()
    del gateway.config["keys"]["data_key_file"]
    gateway.write_config()
    gateway.start()
    token = gateway.sign_in()
    bulky_in = bulky_fields(gateway, token)
    bulky_in["phone"] = "07700 900461"
    ref = sold(gateway, token, "bulky-refuse", bulky_in)
    complete(gateway, token, "bulky", ref)
    phones = (b"07700900461", b"07700 900461", b"+447700900461")

    def files():  # the database, its WAL while one is there, and every file under the folder
        out = {}
        for folder, _, names in os.walk(gateway.data_dir):
            for name in names:
                path = os.path.join(folder, name)
                with open(path, "rb") as f:
                    out[path] = f.read()
        return out

    assert any(p in data for data in files().values() for p in phones)  # the control
    assert gateway.cli("purge", "--older-than-days", "0").returncode == 0
    gateway.daemon.stop()
    assert gateway.cli("audit", "verify").returncode == 0  # opens and closes: a checkpoint
    for name, data in files().items():
        assert not any(p in data for p in phones), name
    assert not any(p.decode() in gateway.log() for p in phones)
