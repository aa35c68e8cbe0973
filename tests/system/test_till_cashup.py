"""The cash-up (issue 10): a blind count by denomination (the expected figure is shown only
after it is submitted), signed off by a second supervisor who did not count; the variance is
recorded by method, the session closes, and a closed till takes no more money."""

import uuid

from till_helpers import library_sale, pdf_text, till
from txn_helpers import card, cash







def count(gw, token, denominations, **extra):
    return gw.request("POST", "/api/v1/till/count", dict({"denominations": denominations}, **extra),
                      token=token)


def cashup(gw, token, banked=10000, bag="B-0042", note=None):
    body = {"banked_pence": banked, "bag_number": bag}
    if note is not None:
        body["note"] = note
    return gw.request("POST", "/api/v1/till/cashup", body, token=token)


def test_a_short_drawer_is_counted_blind_and_signed_off_by_another_supervisor(gateway):
    gateway.add_user("supervisor2", "supervisor")
    asst = gateway.sign_in("assistant", till=False)
    sup = gateway.sign_in("supervisor", till=False)
    sup2 = gateway.sign_in("supervisor2", till=False)
    assert gateway.open_till(asst, 10000)["float_pence"] == 10000
    assert library_sale(gateway, asst, [("bag", 2)], cash(500)).status == 201        # +200 cash
    assert library_sale(gateway, asst, [("replacement_card", 1)], card()).status == 201  # 250 card
    r = gateway.request("POST", "/api/v1/till/paid-out", {"amount_pence": 100, "reason": "Milk"},
                        token=sup, headers={"Idempotency-Key": str(uuid.uuid4())})
    assert r.status == 201, r
    # the assistant counting sees no expected figure before submitting the count
    assert "expected_cash_pence" not in till(gateway, asst)

    # £100.50 in the drawer where £101.00 is expected: 50p short
    drawer = {"5000": 1, "2000": 2, "500": 2, "20": 2, "10": 1}
    assert sum(int(k) * v for k, v in drawer.items()) == 10050
    r = count(gateway, sup, drawer, card_pence=250, cheque_pence=0)
    assert r.status == 200, r
    t = r.json
    assert t["state"] == "counted" and t["counted_by"] == "supervisor"
    assert t["counted_pence"] == 10050 and t["expected_cash_pence"] == 10100
    assert t["variance_pence"] == -50
    assert t["variances"] == {"cash": -50, "card": 0, "cheque": 0}
    assert t["denominations"] == drawer

    # a counted till takes no more sales, and is not counted twice
    r = library_sale(gateway, asst, [("bag", 1)], cash(100))
    assert r.status == 409 and r.json["error"]["code"] == "till_closed", r
    assert count(gateway, asst, drawer).status == 409

    # nobody signs off their own count; an assistant signs off nothing
    r = cashup(gateway, sup)
    assert r.status == 403 and r.json["error"]["code"] == "second_person_required", r
    assert cashup(gateway, asst).status == 403
    r = cashup(gateway, sup2, banked=20000)
    assert r.status == 422 and r.json["error"]["fields"][0]["field"] == "banked_pence", r
    r = cashup(gateway, sup2, banked=5050, note="50p short: a coin under the drawer?")
    assert r.status == 200, r
    t = r.json
    assert t["state"] == "closed" and t["signed_by"] == "supervisor2"
    assert t["banked_pence"] == 5050 and t["bag_number"] == "B-0042"
    assert t["variance_pence"] == -50 and t["counted_by"] == "supervisor"
    assert t["takings"] == {"cash": 200, "card": 250, "cheque": 0}
    assert t["paid_out_pence"] == 100
    assert till(gateway, asst)["state"] == "closed"
    # the cash-up slip, on paper, says the same
    r = gateway.request("GET", "/api/v1/till/slip", token=asst)
    assert r.status == 200 and r.headers["content-type"] == "application/pdf", r
    slip = pdf_text(r.body)
    for expected in ("CASH-UP SD-01", "Counted by supervisor", "Signed off by supervisor2",
                     "Bag B-0042", "£101.00", "£100.50", "-£0.50", "£50.50"):
        assert expected in slip, (expected, slip)
    # a slip is not a sale: none of the receipt's payment line
    assert "Payment" not in slip and "No charge" not in slip, slip

    # closed: no sale, no refund from it, no second sign-off
    r = library_sale(gateway, asst, [("bag", 1)], card())
    assert r.status == 409 and r.json["error"]["code"] == "till_closed", r
    assert "cannot take payments" in r.json["error"]["message"]
    assert cashup(gateway, sup2).status == 409
    r = gateway.request("POST", "/api/v1/till/paid-in", {"amount_pence": 5, "reason": "Found"},
                        token=sup, headers={"Idempotency-Key": str(uuid.uuid4())})
    assert r.status == 409 and r.json["error"]["code"] == "till_closed", r


def test_a_count_that_balances_has_no_variance(gateway):
    gateway.add_user("supervisor2", "supervisor")
    asst = gateway.sign_in("assistant", till=False)
    gateway.open_till(asst, 2000)
    assert library_sale(gateway, asst, [("copy_colour", 2)], cash(100)).status == 201
    r = count(gateway, asst, {"2000": 1, "100": 1})
    assert r.status == 200 and r.json["variance_pence"] == 0, r
    r = cashup(gateway, gateway.sign_in("supervisor2"), banked=100)
    assert r.status == 200 and r.json["state"] == "closed", r


def test_bad_counts_are_refused_with_the_field(gateway):
    asst = gateway.sign_in("assistant")
    for body, field in (({"denominations": {"300": 1}}, "denominations.300"),
                        ({"denominations": {"100": -1}}, "denominations.100"),
                        ({"denominations": {"100": "2"}}, "denominations.100"),
                        ({}, "denominations"),
                        ({"denominations": {}, "card_pence": -5}, "card_pence")):
        r = gateway.request("POST", "/api/v1/till/count", body, token=asst)
        assert r.status == 422, (body, r)
        assert [f["field"] for f in r.json["error"]["fields"]] == [field], r
    assert till(gateway, asst)["state"] == "open"


def test_nothing_to_count_before_the_till_is_opened(gateway):
    asst = gateway.sign_in("assistant", till=False)
    r = count(gateway, asst, {"100": 1})
    assert r.status == 409 and r.json["error"]["code"] == "till_not_open", r
    r = cashup(gateway, gateway.sign_in("supervisor", till=False))
    assert r.status == 409 and r.json["error"]["code"] == "not_counted", r
