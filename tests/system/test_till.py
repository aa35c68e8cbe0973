"""The till (issue 10): a session per counter per day, movements written with their cause,
expected cash derived from the movements, sales with a fee refused without an open till."""

import os
import uuid

from till_helpers import library_sale, till
from txn_helpers import cash, card





def free_issue(gw, token):
    body = {"service": "hearing-aid-batteries", "fields": {"book_number": "HA123456", "packs": 1},
            "payment": {"method": "none"}}
    return gw.request("POST", "/api/v1/transactions", body, token=token,
                      headers={"Idempotency-Key": str(uuid.uuid4())})




def db_rows(gw, sql, args=()):
    db = gw.store_db()
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


def test_a_sale_with_a_fee_needs_the_till_open_and_nothing_is_kept(gateway):
    token = gateway.sign_in("assistant", till=False)
    t = till(gateway, token)
    assert t["state"] == "not_open" and t["suggested_float_pence"] == 0
    r = library_sale(gateway, token, [("bag", 1)], card())
    assert r.status == 409, r
    assert r.json["error"]["code"] == "till_not_open"
    assert "Open the till" in r.json["error"]["message"]
    assert db_rows(gateway, "SELECT COUNT(*) FROM transactions") == [(0,)]
    assert db_rows(gateway, "SELECT COUNT(*) FROM idempotency") == [(0,)]


def test_a_free_service_needs_no_till(gateway):
    token = gateway.sign_in("supervisor", till=False)
    r = gateway.request("POST", "/api/v1/stock/deliveries",
                        {"item": "hearing_aid_battery_pack", "quantity": 5}, token=token)
    assert r.status == 201, r
    r = free_issue(gateway, token)
    assert r.status == 201, r
    assert till(gateway, token)["state"] == "not_open"


def test_open_sell_and_the_expected_cash_comes_from_the_movements(gateway):
    token = gateway.sign_in("supervisor", till=False)
    r = gateway.request("POST", "/api/v1/till/open", {"float_pence": 15000}, token=token)
    assert r.status == 201, r
    assert r.json["state"] == "open" and r.json["float_pence"] == 15000
    assert r.json["opened_by"] == "supervisor"
    assert r.json["expected_cash_pence"] == 15000
    # a second opening (a resend) changes nothing
    again = gateway.request("POST", "/api/v1/till/open", {"float_pence": 1}, token=token)
    assert again.status == 409 and again.json["error"]["code"] == "till_already_open", again

    r = library_sale(gateway, token, [("bag", 2)], cash(500))  # 200p, change 300p
    assert r.status == 201, r
    assert r.json["change_pence"] == 300
    r = library_sale(gateway, token, [("replacement_card", 1)], card())
    assert r.status == 201, r
    key = str(uuid.uuid4())
    r = library_sale(gateway, token, [("copy_colour", 3)], cash(150), key=key)
    assert r.status == 201, r
    # a resend of the same sale is not a second movement
    assert library_sale(gateway, token, [("copy_colour", 3)], cash(150), key=key).status == 200

    t = till(gateway, token)
    assert t["takings"] == {"cash": 350, "card": 250, "cheque": 0}
    assert t["refunds"] == {"cash": 0, "card": 0, "cheque": 0}
    assert t["expected_cash_pence"] == 15000 + 350
    assert t["transactions"] == 3
    # every movement names its cause
    rows = db_rows(gateway, "SELECT m.kind, m.method, m.amount_pence FROM till_movements m"
                            " ORDER BY m.id")
    assert rows == [("float", "cash", 15000), ("sale", "cash", 200), ("sale", "card", 250),
                    ("sale", "cash", 150)]
    refs = db_rows(gateway, "SELECT COUNT(*) FROM till_movements m JOIN transactions t"
                            " ON t.reference = m.reference")
    assert refs == [(3,)]


def test_the_till_is_per_counter(gateway):
    sd = gateway.sign_in("assistant", counter="SD-01", till=False)
    lib = gateway.sign_in("assistant", counter="LIB-CEN", till=False)
    assert gateway.request("POST", "/api/v1/till/open", {"float_pence": 5000},
                           token=sd).status == 201
    assert library_sale(gateway, sd, [("bag", 1)], card()).status == 201
    r = library_sale(gateway, lib, [("bag", 1)], card())
    assert r.status == 409 and r.json["error"]["code"] == "till_not_open", r


def test_an_assistant_sees_no_expected_cash_before_the_count(gateway):
    token = gateway.sign_in("assistant", till=False)
    r = gateway.request("POST", "/api/v1/till/open", {"float_pence": 5000}, token=token)
    assert r.status == 201, r
    assert "expected_cash_pence" not in r.json
    assert r.json["takings"]["cash"] == 0


def test_a_bad_float_is_refused_with_the_field(gateway):
    token = gateway.sign_in("assistant", till=False)
    for body, code in (({}, "required"), ({"float_pence": -1}, "out_of_range"),
                       ({"float_pence": "100"}, "out_of_range"),
                       ({"float_pence": 10.5}, "out_of_range")):
        r = gateway.request("POST", "/api/v1/till/open", body, token=token)
        assert r.status == 422, r
        assert r.json["error"]["fields"][0] == {
            "field": "float_pence", "code": code,
            "message": r.json["error"]["fields"][0]["message"]}
    r = gateway.request("POST", "/api/v1/till/open", {"float_pence": 1, "x": 1}, token=token)
    assert r.status == 422 and r.json["error"]["fields"][0]["field"] == "x"
    assert till(gateway, token)["state"] == "not_open"


def test_a_till_opened_before_a_restart_refuses_every_second_opening_after_it(gateway):
    """The first opening after a restart is refused (409): on PostgreSQL its statement is
    prepared and then refused on a fresh connection, and the next opening must not try to
    prepare it again (that answered 503, "prepared statement already exists")."""
    token = gateway.sign_in("supervisor", till=False)
    r = gateway.request("POST", "/api/v1/till/open", {"float_pence": 15000}, token=token)
    assert r.status == 201, r
    gateway.stop()
    gateway.start(users=False)
    token = gateway.sign_in("supervisor", till=False)
    for _ in range(3):
        again = gateway.request("POST", "/api/v1/till/open", {"float_pence": 1}, token=token)
        assert again.status == 409 and again.json["error"]["code"] == "till_already_open", again
    r = library_sale(gateway, token, [("bag", 1)], cash(100))
    assert r.status == 201, r
