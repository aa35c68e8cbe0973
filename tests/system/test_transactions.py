"""Transactions through the API: validation, payments, idempotency, references, reads."""

import json
import os
import re
import sqlite3
import threading
import uuid

import pytest

from txn_helpers import IN_ZONE, OUT_OF_ZONE, card, cash, parking, sell, today, vrm


def fields_of(resp):
    assert resp.status == 422, resp
    return {f["field"]: f["code"] for f in resp.json["error"]["fields"]}


def test_quote_prices_a_permit(gateway):
    token = gateway.sign_in()
    r = gateway.request("POST", "/api/v1/quotes",
                        {"service": "residents-parking-permit", "fields": parking()}, token=token)
    assert r.status == 200, r
    assert r.json["fee_pence"] == 4150
    assert sum(l["amount_pence"] for l in r.json["lines"]) == 4150
    band_a = parking(leisure_key_band="A", leisure_key_number="1234567890")
    r = gateway.request("POST", "/api/v1/quotes",
                        {"service": "residents-parking-permit", "fields": band_a}, token=token)
    assert r.json["fee_pence"] == 2075


def test_cash_sale_is_stored_with_change_and_a_checked_reference(gateway):
    token = gateway.sign_in()
    r, key = sell(gateway, token, payment=cash(5000))
    assert r.status == 201, r
    body = r.json
    assert re.fullmatch(r"RP-[0-9A-HJKMNP-TV-Y]{4}-[0-9A-HJKMNP-TV-Y]{4}", body["reference"])
    assert body["fee_pence"] == 4150 and body["change_pence"] == 850
    assert body["status"] == "accepted"
    assert body["status_url"].startswith(f"http://127.0.0.1:{gateway.port}/r/{body['reference']}?t=")
    t = gateway.request("GET", f"/api/v1/transactions/{body['reference']}", token=token).json
    assert t["payment"] == {"method": "cash", "amount_pence": 4150, "tendered_pence": 5000,
                            "change_pence": 850, "auth_code": None, "reason": None,
                            "authorised_by": None}
    assert t["fields"]["vrm"] == "AB12CDE" and t["counter"] == "SD-01" and t["staff"] == "assistant"
    assert t["delivery"]["backend"] == "parking"
    assert t["delivery"]["idempotency_key"] == f"onestop-{body['reference']}"
    # lower case and spaces are forgiven when a reference is read out
    loose = body["reference"].lower().replace("-", " ")
    assert gateway.request("GET", f"/api/v1/transactions/{loose.replace(' ', '%20')}",
                           token=token).status == 200
    # a wrong check character is not found
    ref = body["reference"]
    wrong = ref[:-1] + ("0" if ref[-1] != "0" else "1")
    assert gateway.request("GET", f"/api/v1/transactions/{wrong}", token=token).status == 404


def test_every_invalid_field_is_named_at_once(gateway):
    token = gateway.sign_in()
    fields = {"uprn": "12x", "vrm": "I0", "permit_type": "lorry", "start_date": "2026-02-30",
              "colour": "red"}
    r, _ = sell(gateway, token, fields=fields, payment={"method": "bitcoin"})
    got = fields_of(r)
    for name in ("fields.uprn", "fields.vrm", "fields.permit_type", "fields.start_date",
                 "payment.method"):
        assert name in got, got
    assert all(f["message"] for f in r.json["error"]["fields"])


def test_zone_household_and_vehicle_limits(gateway):
    token = gateway.sign_in()
    r, _ = sell(gateway, token, fields=parking(uprn=OUT_OF_ZONE))
    assert fields_of(r)["fields.uprn"] == "not_in_zone"
    assert sell(gateway, token, fields=parking(vrm="AB12CDE"))[0].status == 201
    r, _ = sell(gateway, token, fields=parking(uprn="100011429003", vrm="AB12 cde"))
    assert fields_of(r)["fields.vrm"] == "vehicle_has_permit"
    assert sell(gateway, token, fields=parking(vrm="CD12EFG"))[0].status == 201
    r, _ = sell(gateway, token, fields=parking(vrm="EF12GHJ"))
    assert fields_of(r)["fields.uprn"] == "household_limit"


def test_blue_badge_household_gets_one_free_permit(gateway):
    token = gateway.sign_in()
    free = parking(uprn="100011429004", blue_badge=True)
    r, _ = sell(gateway, token, fields=free, payment={"method": "none"})
    assert r.status == 201, r
    assert r.json["fee_pence"] == 0
    second = parking(uprn="100011429004", vrm="XY12ZAB", blue_badge=True)
    q = gateway.request("POST", "/api/v1/quotes",
                        {"service": "residents-parking-permit", "fields": second}, token=token)
    assert q.json["fee_pence"] == 4150


def test_payment_rules(gateway):
    token = gateway.sign_in()
    r, _ = sell(gateway, token, payment=cash(4000))
    assert fields_of(r)["payment.tendered_pence"] == "insufficient"
    r, _ = sell(gateway, token, payment={"method": "card"})
    assert fields_of(r)["payment.auth_code"] == "required"
    r, _ = sell(gateway, token, payment={"method": "card", "auth_code": "4111 1111 1111 1111"})
    assert fields_of(r)["payment.auth_code"] == "card_number"
    r, _ = sell(gateway, token, payment={"method": "none"})
    assert fields_of(r)["payment.method"] == "payment_required"
    r, _ = sell(gateway, token, payment={"method": "waived", "reason": "hardship"})
    assert r.status == 403 and r.json["error"]["code"] == "supervisor_required"
    sup = gateway.sign_in("supervisor")
    r, _ = sell(gateway, sup, payment={"method": "waived"})
    assert fields_of(r)["payment.reason"] == "required"
    r, _ = sell(gateway, sup, payment={"method": "waived", "reason": "hardship, agreed"})
    assert r.status == 201
    t = gateway.request("GET", f"/api/v1/transactions/{r.json['reference']}", token=sup).json
    assert t["payment"]["method"] == "waived" and t["payment"]["authorised_by"] == "supervisor"
    assert t["payment"]["amount_pence"] == 0 and t["fee_pence"] == 4150
    r, _ = sell(gateway, token, fields=parking(vrm="GH12JKL"),
                payment={"method": "cheque"})
    assert r.status == 201


def test_idempotent_replay_and_conflict(gateway):
    token = gateway.sign_in()
    r1, key = sell(gateway, token)
    assert r1.status == 201
    r2, _ = sell(gateway, token, key=key)
    assert r2.status == 200 and r2.json == r1.json
    r3, _ = sell(gateway, token, fields=parking(vrm="ZZ12ZZZ"), key=key)
    assert r3.status == 409 and r3.json["error"]["code"] == "idempotency_conflict"
    r = gateway.request("POST", "/api/v1/transactions",
                        {"service": "residents-parking-permit", "fields": parking(),
                         "payment": card()}, token=token)
    assert r.status == 400 and r.json["error"]["code"] == "missing_idempotency_key"
    db = gateway.store_db()
    assert db.execute("SELECT COUNT(*) FROM transactions").fetchone()[0] == 1


def test_invalid_transaction_is_never_half_stored(gateway):
    token = gateway.sign_in()
    sell(gateway, token, fields=parking(uprn=OUT_OF_ZONE))
    sell(gateway, token, payment=cash(1))
    db = gateway.store_db()
    for table in ("transactions", "payments", "deliveries", "txn_keys", "idempotency"):
        assert db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] == 0, table


def test_list_filters(gateway):
    token = gateway.sign_in()
    lib = gateway.sign_in(counter="LIB-CEN")
    sell(gateway, token, fields=parking(vrm=vrm(1)))
    sell(gateway, lib, fields=parking(uprn="100011429301", vrm=vrm(2)))
    r = gateway.request("GET", f"/api/v1/transactions?date={today()}&counter=SD-01", token=token)
    assert r.status == 200
    rows = r.json["transactions"]
    assert len(rows) == 1 and rows[0]["counter"] == "SD-01"
    assert rows[0]["delivery_state"] in ("pending", "delivered")
    r = gateway.request("GET", "/api/v1/transactions?status=nonsense", token=token)
    assert r.status == 422


def test_resident_status_page(gateway):
    token = gateway.sign_in()
    r, _ = sell(gateway, token, payment=cash(4150))
    url = r.json["status_url"]
    path = url.split(str(gateway.port), 1)[1]
    page = gateway.request("GET", path)
    assert page.status == 200
    html = page.body.decode()
    assert "Residents" in html and r.json["reference"] in html
    for personal in ("AB12CDE", "AB12 CDE", "100011429002", "Edward Street"):
        assert personal not in html
    j = gateway.request("GET", path, headers={"Accept": "application/json"})
    assert j.json["status"] in ("accepted", "forwarded") and j.json["reference"] == r.json["reference"]
    assert set(j.json) == {"reference", "service", "status", "status_text", "created_at", "updated_at"}
    wrong = path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB")
    assert gateway.request("GET", wrong).status == 404
    assert gateway.request("GET", path.split("?")[0]).status == 404


def test_resident_status_page_is_rate_limited(make_gateway):
    gw = make_gateway()
    gw.config["status_page"] = {"rate_per_minute": 5}
    gw.write_config()
    gw.start()
    token = gw.sign_in()
    r, _ = sell(gw, token)
    path = r.json["status_url"].split(str(gw.port), 1)[1]
    statuses = [gw.request("GET", path).status for _ in range(7)]
    assert statuses[:5] == [200] * 5 and statuses[5:] == [429, 429]


def test_a_transaction_survives_a_restart(gateway):
    token = gateway.sign_in()
    r, key = sell(gateway, token)
    gateway.daemon.stop()
    gateway.start_daemon()
    again, _ = sell(gateway, token, key=key)
    assert again.status == 200 and again.json == r.json


# Every CHECKed list of names on the sale's path and the tables beside it (migration 23), with a
# row that is valid but for the checked column, whose "{}" each name is put into.
CHECKED_NAMES = [
    ("transactions", "status", ["accepted", "forwarded", "completed", "failed", "voided"],
     "INSERT INTO transactions(reference, service, status, counter, staff, fields, fee_pence,"
     " lines, created_at, updated_at) VALUES(hex(randomblob(8)), 's', ?, 'c', 's', '{}', 0,"
     " '[]', 1, 1)"),
    ("payments", "method", ["cash", "card", "cheque", "waived", "none"],
     "INSERT INTO payments(transaction_id, method, amount_pence, created_at) VALUES(1, ?, 0, 1)"),
    ("till_movements", "kind", ["float", "sale", "refund", "void", "paid_in", "paid_out"],
     "INSERT INTO till_movements(till_id, kind, method, amount_pence, staff, created_at)"
     " VALUES(1, ?, 'cash', 0, 's', 1)"),
    ("till_movements", "method", ["cash", "card", "cheque"],
     "INSERT INTO till_movements(till_id, kind, method, amount_pence, staff, created_at)"
     " VALUES(1, 'sale', ?, 0, 's', 1)"),
    ("deliveries", "state",
     ["pending", "delivered", "failed", "cancelled", "cancelling", "cancel_failed"],
     "INSERT INTO deliveries(transaction_id, backend, connector, idempotency_key, payload, state,"
     " next_attempt_at_ms, created_at) VALUES(random(), 'b', 'c', hex(randomblob(8)), 'p', ?,"
     " 1, 1)"),
    ("print_jobs", "state", ["pending", "printing", "printed", "print_failed"],
     "INSERT INTO print_jobs(transaction_id, printer, state, next_attempt_at_ms, created_at,"
     " updated_at) VALUES(1, 'p', ?, 1, 1, 1)"),
    ("tills", "state", ["open", "counted", "closed"],
     "INSERT INTO tills(counter, day, state, float_pence, opened_at, opened_by)"
     " VALUES(hex(randomblob(8)), 'd', ?, 0, 1, 's')"),
    ("staff", "role", ["assistant", "supervisor", "admin", "auditor"],
     "INSERT INTO staff(username, role, password_hash, created_at)"
     " VALUES(hex(randomblob(8)), ?, 'x', 1)"),
    ("receipt_copies", "state", ["pending", "sent", "failed"],
     "INSERT INTO receipt_copies(transaction_id, channel, notify_reference, payload,"
     " masked_contact, state, next_attempt_at_ms, staff, created_at, updated_at)"
     " VALUES(1, 'email', hex(randomblob(8)), 'p', 'm', ?, 1, 's', 1, 1)"),
]


@pytest.mark.sqlite_only(reason="reads SQLite's own bytecode (EXPLAIN); PostgreSQL keeps its IN-list CHECKs")
def test_checked_names_hold_without_a_temporary_btree_per_row(gateway):
    """SQLite builds a temporary b-tree of an IN list of more than two values for each row it
    checks; the store's CHECKs compare in place, and still take exactly the names they took."""
    token = gateway.sign_in()
    r, _ = sell(gateway, token)
    assert r.status == 201, r
    copy = sqlite3.connect(":memory:")
    with gateway.store_db() as src:
        src.backup(copy)
    for table, column, names, insert in CHECKED_NAMES:
        plan = [row[1] for row in copy.execute("EXPLAIN " + insert, (names[0],))]
        assert "OpenEphemeral" not in plan, f"{table}.{column}: a temporary b-tree per row"
        for name in names:
            copy.execute(insert, (name,))
        for wrong in ("bogus", names[0].upper(), "", None):
            with pytest.raises(sqlite3.IntegrityError):
                copy.execute(insert, (wrong,))
    # a sale's till movement is not in the by-reference index; its refunds and voids are, and
    # are found through it
    plan = " ".join(row[3] for row in copy.execute(
        "EXPLAIN QUERY PLAN SELECT SUM(amount_pence) FROM till_movements m"
        " WHERE m.reference = ? AND (m.kind = 'refund' OR m.kind = 'void')", ("x",)))
    assert "USING INDEX till_movements_reference" in plan, plan
    # nor is a delivery's idempotency key (one per transaction, never looked up) an index
    indexed = [row[2] for index in copy.execute("PRAGMA index_list(deliveries)")
               for row in copy.execute(f"PRAGMA index_info({index[1]})")]
    assert "transaction_id" in indexed and "idempotency_key" not in indexed, indexed
    copy.close()


def test_a_sale_evaluated_before_another_committed_is_judged_again_in_its_job(make_gateway):
    # The HTTP thread evaluates the rules and the job takes that evaluation only when its own
    # transaction answers the rules' questions the same. Two sales of a permit for one vehicle
    # (one live permit each) are both evaluated, finding none, and held 2 s each at a
    # failpoint before their jobs are queued: the second job must find the first's permit.
    gw = make_gateway()
    gw.start(env={"ONESTOP_FAILPOINTS": "transaction_evaluated=2000"})
    token = gw.sign_in()
    answers = {}

    def send(name, uprn):
        answers[name] = sell(gw, token, parking(uprn=uprn, vrm=vrm(4321)))[0]

    threads = [threading.Thread(target=send, args=(name, uprn))
               for name, uprn in (("a", IN_ZONE[0]), ("b", IN_ZONE[1]))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    log = gw.log()
    # both were evaluated (and held) before either was accepted: the window this test is for
    assert log.count("failpoint_reached") == 2
    assert log.rindex("failpoint_reached") < log.index("transaction_accepted")
    statuses = sorted(r.status for r in answers.values())
    assert statuses == [201, 422], answers
    refused = next(r for r in answers.values() if r.status == 422)
    assert any(f["field"] == "fields.vrm" for f in refused.json["error"]["fields"]), refused.json
