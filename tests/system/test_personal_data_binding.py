"""A sealed value is bound to where it lives (issue 14): its context (a transaction's
reference for its fields, the table and column for the other sealed columns) is the AES-GCM
associated data, so a value copied with sqlite3 into another row or column does not open -
the read fails with a clear error, never a crash or another resident's data - while values
sealed before contexts (enc:v1:) still open, and `onestop keys rotate` reseals them bound."""

import json
import os

from onestop_env import seal, unseal
from test_delivery import txn
from test_retention import sold
from txn_helpers import parking, vrm

UPRN_A, UPRN_B = "100011429006", "100011429002"


def execute(gw, sql, *args):
    db = gw.store_db()
    try:
        with db:
            return db.execute(sql, args).fetchall()
    finally:
        db.close()


def fields_of(gw, ref):
    [(value,)] = execute(gw, "SELECT fields FROM transactions WHERE reference=?", ref)
    return value


def unreadable(gw):
    """The messages of the log's personal_data_unreadable events."""
    return [e["msg"] for e in map(json.loads, gw.log().splitlines())
            if e.get("event") == "personal_data_unreadable"]


def test_a_sealed_value_copied_into_another_row_or_column_does_not_open(gateway):
    token = gateway.sign_in()
    a = sold(gateway, token, "residents-parking-permit", parking(uprn=UPRN_A, vrm=vrm(9101)))
    b = sold(gateway, token, "residents-parking-permit", parking(uprn=UPRN_B, vrm=vrm(9102)))
    assert fields_of(gateway, a).startswith("enc:v2:data-1:")
    # another row: A's fields into B
    execute(gateway, "UPDATE transactions SET fields=(SELECT fields FROM transactions"
                     " WHERE reference=?) WHERE reference=?", a, b)
    r = gateway.request("GET", f"/api/v1/transactions/{b}", token=token)
    assert r.status == 503, r
    assert vrm(9101) not in r.body.decode() and vrm(9102) not in r.body.decode()
    [why] = unreadable(gateway)
    assert why.startswith(f"{b}: ") and "copied from another row or column" in why, why
    assert vrm(9101) not in gateway.log()
    assert gateway.daemon.alive()
    # another column: A's outbox payload into A's fields
    execute(gateway, "UPDATE transactions SET fields=(SELECT d.payload FROM deliveries d"
                     " WHERE d.transaction_id=transactions.id) WHERE reference=?", a)
    assert gateway.request("GET", f"/api/v1/transactions/{a}", token=token).status == 503
    assert len(unreadable(gateway)) == 2 and gateway.daemon.alive()


def test_values_sealed_before_contexts_still_open_and_rotate_reseals_them_bound(gateway):
    token = gateway.sign_in()
    ref = sold(gateway, token, "residents-parking-permit", parking(uprn=UPRN_A, vrm=vrm(9103)))
    fields = unseal(gateway.keys_dir, fields_of(gateway, ref), ref)
    v1 = seal(gateway.keys_dir, "data-1", fields)  # as the version before contexts sealed it
    assert v1.startswith("enc:v1:data-1:")
    execute(gateway, "UPDATE transactions SET fields=? WHERE reference=?", v1, ref)
    assert txn(gateway, token, ref)["fields"]["vrm"] == vrm(9103)
    r = gateway.cli("keys", "rotate")
    assert r.returncode == 0, r.stderr
    assert fields_of(gateway, ref).startswith("enc:v2:data-1:")
    assert json.loads(unseal(gateway.keys_dir, fields_of(gateway, ref), ref))["vrm"] == vrm(9103)
    assert txn(gateway, token, ref)["fields"]["vrm"] == vrm(9103)
