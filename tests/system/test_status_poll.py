"""The counter app's status poll (issue 13): GET /api/v1/transactions/{reference}/status answers
the transaction's, delivery's and receipt's states with no personal data, scoped to the site,
and is neither audited as a personal-data read nor counted against the read limit; a full read
still is."""

import json
import os

from onestop_env import wait_until
from txn_helpers import parking, sell


def read_audit_count(gw):
    db = gw.store_db()
    try:
        return db.execute("SELECT COUNT(*) FROM audit WHERE action='transaction_read'").fetchone()[0]
    finally:
        db.close()


def test_polling_the_status_adds_no_audit_rows_while_a_full_read_adds_one(make_gateway):
    gw = make_gateway(config_overrides={"access": {"reads_per_minute": 10}})
    gw.start()
    token = gw.sign_in()
    r, _ = sell(gw, token, fields=parking(vrm="AB12CDE"))
    assert r.status == 201, r
    ref = r.json["reference"]
    wait_until(lambda: gw.request("GET", f"/api/v1/transactions/{ref}/status", token=token)
               .json["delivery"]["state"] == "delivered", what="delivery")
    before = read_audit_count(gw)

    # 20 polls: more than the read limit allows in a minute, none audited
    for _ in range(20):
        s = gw.request("GET", f"/api/v1/transactions/{ref}/status", token=token)
        assert s.status == 200, s
    assert read_audit_count(gw) == before
    body = s.json
    assert body["reference"] == ref and body["status"] in ("forwarded", "completed")
    assert body["delivery"]["state"] == "delivered" and body["delivery"]["backend_reference"]
    assert set(body) == {"reference", "service", "status", "updated_at", "delivery", "print",
                         "receipt_copies"}
    assert body["receipt_copies"] == []  # copies' states only, never their contact
    text = json.dumps(body)
    for personal in ("AB12CDE", "100011429002", "fields", "payment", "assistant"):
        assert personal not in text, personal

    # a full read is still audited, once
    full = gw.request("GET", f"/api/v1/transactions/{ref}", token=token)
    assert full.status == 200 and full.json["fields"]["vrm"]
    assert read_audit_count(gw) == before + 1


def test_the_status_of_another_sites_transaction_is_not_found(make_gateway):
    gw = make_gateway()
    gw.start()
    sd = gw.sign_in("assistant", counter="SD-01")
    lib = gw.sign_in("assistant", counter="LIB-CEN")
    r, _ = sell(gw, sd, fields=parking(vrm="AB12CDF"))
    ref = r.json["reference"]
    assert gw.request("GET", f"/api/v1/transactions/{ref}/status", token=lib).status == 404
    assert gw.request("GET", f"/api/v1/transactions/{ref}/status", token=sd).status == 200
    bad = gw.request("GET", "/api/v1/transactions/NOT-A-REF/status", token=sd)
    assert bad.status == 404 and bad.json["error"]["code"] == "not_found"
