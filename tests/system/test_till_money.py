"""Voids, refunds and paid in/out (issue 10): a void reverses the payment in the till, cancels
a delivery still pending (never sent) and sends a delivered one's cancellation exactly once;
refunds state what they believe is available, so two racing refunds cannot both succeed;
every money movement is idempotent, audited, and refused to an assistant."""

import os
import threading
import uuid

from onestop_env import wait_until
from till_helpers import sold, till, txn
from txn_helpers import card, cash, parking, sell, vrm









def void(gw, token, ref, reason="Sold in error"):
    return gw.request("POST", f"/api/v1/transactions/{ref}/void", {"reason": reason}, token=token)


def refund(gw, token, ref, amount, available, method="cash", key=None, reason="Overcharged"):
    body = {"amount_pence": amount, "method": method, "reason": reason,
            "amount_available_pence": available}
    return gw.request("POST", f"/api/v1/transactions/{ref}/refunds", body, token=token,
                      headers={"Idempotency-Key": key or str(uuid.uuid4())})


def paid(gw, token, kind, amount, reason="Stamps for the post", key=None):
    return gw.request("POST", f"/api/v1/till/{kind}", {"amount_pence": amount, "reason": reason},
                      token=token, headers={"Idempotency-Key": key or str(uuid.uuid4())})


def received(gw, backend="parking"):
    r = gw.sim_request("GET", f"/_sim/received?backend={backend}")
    assert r.status == 200, r
    return r.json["requests"]


def fault(gw, mode, backend="parking"):
    r = gw.sim_request("POST", "/_sim/faults", {"backend": backend, "mode": mode})
    assert r.status in (200, 204), r


def audit(gw, action):
    db = gw.store_db()
    try:
        return db.execute("SELECT actor, subject, detail FROM audit WHERE action=? ORDER BY id",
                          (action,)).fetchall()
    finally:
        db.close()


def test_void_of_a_delivered_sale_sends_one_cancellation(gateway):
    sup = gateway.sign_in("supervisor")
    r, _ = sell(gateway, sup, fields=parking(vrm=vrm(11)))
    assert r.status == 201, r
    ref, fee = r.json["reference"], r.json["fee_pence"]
    delivered = wait_until(lambda: (lambda d: d if d["state"] == "delivered" else None)(
        txn(gateway, sup, ref)["delivery"]), timeout=30, what="delivered")
    backend_ref = delivered["backend_reference"]
    assert backend_ref

    r = void(gateway, sup, ref)
    assert r.status == 200, r
    assert r.json == {"reference": ref, "status": "voided", "reversed_pence": fee,
                      "method": "card", "delivery": "cancelling"}
    wait_until(lambda: txn(gateway, sup, ref)["delivery"]["state"] == "cancelled", timeout=30,
               what="the cancellation acknowledged")
    t = txn(gateway, sup, ref)
    assert t["status"] == "voided"
    cancels = [q for q in received(gateway) if q["path"].endswith("/cancel")]
    assert len(cancels) == 1, cancels
    assert cancels[0]["path"] == f"/parking/permits/{backend_ref}/cancel"
    assert cancels[0]["reference"] == ref

    again = void(gateway, sup, ref)
    assert again.status == 409 and again.json["error"]["code"] == "already_voided", again
    assert len([q for q in received(gateway) if q["path"].endswith("/cancel")]) == 1
    # the till gave the card payment back, and the takings stay as they were
    assert till(gateway, sup)["voids"]["card"] == fee
    assert till(gateway, sup)["takings"]["card"] == fee
    moves = [a for a, _, _ in audit(gateway, "delivery_cancelling")]
    assert moves == ["supervisor"]
    assert audit(gateway, "transaction_voided")[0][1:] == (ref, "Sold in error")


def test_void_of_an_undelivered_sale_is_never_sent(gateway):
    sup = gateway.sign_in("supervisor")
    fault(gateway, "down")
    r, _ = sell(gateway, sup, fields=parking(vrm=vrm(12)), payment=cash(10000))
    assert r.status == 201, r
    ref, fee = r.json["reference"], r.json["fee_pence"]
    # void between attempts (the next is a second away), not while one is in flight: an
    # attempt in flight at the void may still land, and is then cancelled (the next test)
    wait_until(lambda: (txn(gateway, sup, ref)["delivery"] or {}).get("attempts", 0) >= 1,
               timeout=30, what="the first attempt refused")
    cash_before = till(gateway, sup)["expected_cash_pence"]
    r = void(gateway, sup, ref, reason="Resident changed their mind")
    assert r.status == 200, r
    assert r.json["delivery"] == "cancelled" and r.json["reversed_pence"] == fee
    assert till(gateway, sup)["expected_cash_pence"] == cash_before - fee

    # the back-end comes back: a later sale is delivered, the voided one never is
    fault(gateway, "up")
    r, _ = sell(gateway, sup, fields=parking(uprn="100011429003", vrm=vrm(13)))
    later = r.json["reference"]
    wait_until(lambda: txn(gateway, sup, later)["delivery"]["state"] == "delivered", timeout=30,
               what="the later sale delivered")
    refs = [q["reference"] for q in received(gateway)]
    assert later in refs and ref not in refs
    t = txn(gateway, sup, ref)
    assert t["status"] == "voided" and t["delivery"]["state"] == "cancelled"


def test_a_request_in_flight_at_the_void_that_lands_is_cancelled_once(gateway):
    sup = gateway.sign_in("supervisor")
    r = gateway.sim_request("POST", "/_sim/faults",
                            {"backend": "parking", "mode": "slow", "delay_ms": 1500})
    assert r.status in (200, 204), r
    r, _ = sell(gateway, sup, fields=parking(vrm=vrm(14)))
    assert r.status == 201, r
    ref = r.json["reference"]
    # the attempt is at the back-end, which is slow to answer: void it now
    wait_until(lambda: gateway.sim_request(
        "GET", "/_sim/received?backend=parking").json.get("attempts", 0) >= 1,
        timeout=30, what="the attempt reaching the back-end")
    r = void(gateway, sup, ref)
    assert r.status == 200 and r.json["delivery"] == "cancelled", r
    # it lands after the void: the back-end has it, so it is told of the void, once
    wait_until(lambda: txn(gateway, sup, ref)["delivery"]["state"] == "cancelled"
               and any(q["path"].endswith("/cancel") for q in received(gateway)),
               timeout=30, what="the late request cancelled")
    fault(gateway, "up")
    assert [q["reference"] for q in received(gateway)].count(ref) == 2  # the request, its cancel
    assert len([q for q in received(gateway) if q["path"].endswith("/cancel")]) == 1
    assert [a for a, _, _ in audit(gateway, "delivery_cancelling")] == ["parking"]


def test_only_todays_sale_can_be_voided(gateway):
    sup = gateway.sign_in("supervisor")
    ref = sold(gateway, sup, "bag", 1, card())["reference"]
    db = gateway.store_db()
    with db:
        db.execute("UPDATE transactions SET created_at = created_at - 2 * 86400"
                   " WHERE reference=?", (ref,))
    db.close()
    r = void(gateway, sup, ref)
    assert r.status == 409 and r.json["error"]["code"] == "not_today", r
    assert "refund" in r.json["error"]["message"]
    assert txn(gateway, sup, ref)["status"] == "completed"


def test_refunds_racing_cannot_both_succeed(gateway):
    sup = gateway.sign_in("supervisor")
    other = gateway.sign_in("supervisor")
    ref = sold(gateway, sup, "reading_group_pack", 1, cash(500))["reference"]  # 500p
    results = []

    def go(token):
        results.append(refund(gateway, token, ref, 400, 500))

    threads = [threading.Thread(target=go, args=(t,)) for t in (sup, other, sup, other)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = sorted(r.status for r in results)
    assert statuses == [201, 409, 409, 409], results
    for r in results:
        if r.status == 409:
            assert r.json["error"]["code"] == "refund_stale", r
            assert r.json["error"]["amount_available_pence"] == 100
    t = till(gateway, sup)
    assert t["refunds"]["cash"] == 400
    # with the right figure the rest can be refunded, but not more
    r = refund(gateway, sup, ref, 200, 100)
    assert r.status == 409 and r.json["error"]["code"] == "refund_too_much", r
    r = refund(gateway, sup, ref, 100, 100)
    assert r.status == 201 and r.json["remaining_pence"] == 0, r
    assert till(gateway, sup)["refunds"]["cash"] == 500
    assert len(audit(gateway, "refund")) == 2


def test_a_refund_resent_with_its_key_is_one_refund(gateway):
    sup = gateway.sign_in("supervisor")
    ref = sold(gateway, sup, "replacement_card", 1, card())["reference"]  # 250p
    key = str(uuid.uuid4())
    first = refund(gateway, sup, ref, 100, 250, method="card", key=key)
    assert first.status == 201, first
    assert first.json == {"reference": ref, "refund_pence": 100, "method": "card",
                          "remaining_pence": 150}
    again = refund(gateway, sup, ref, 100, 250, method="card", key=key)
    assert again.status == 200 and again.json == first.json, again
    other = refund(gateway, sup, ref, 50, 150, method="card", key=key)
    assert other.status == 409 and other.json["error"]["code"] == "idempotency_conflict"
    assert till(gateway, sup)["refunds"]["card"] == 100
    # not to a method the resident did not pay by; a void gives back only what is left
    r = refund(gateway, sup, ref, 10, 150, method="cheque")
    assert r.status == 422 and r.json["error"]["fields"][0]["field"] == "method", r
    r = void(gateway, sup, ref)
    assert r.status == 200 and r.json["reversed_pence"] == 150, r
    r = refund(gateway, sup, ref, 10, 0)
    assert r.status == 409 and r.json["error"]["code"] == "nothing_to_refund", r


def test_bad_refunds_are_refused_with_the_field_and_nothing_is_kept(gateway):
    sup = gateway.sign_in("supervisor")
    ref = sold(gateway, sup, "bag", 1, cash(100))["reference"]
    for body, field in (({"amount_pence": 0}, "amount_pence"),
                        ({"amount_pence": "1"}, "amount_pence"),
                        ({"reason": ""}, "reason"),
                        ({"amount_available_pence": -1}, "amount_available_pence"),
                        ({"method": "bitcoin"}, "method")):
        full = {"amount_pence": 50, "method": "cash", "reason": "Broken",
                "amount_available_pence": 100}
        full.update(body)
        r = gateway.request("POST", f"/api/v1/transactions/{ref}/refunds", full, token=sup,
                            headers={"Idempotency-Key": str(uuid.uuid4())})
        assert r.status == 422, (body, r)
        assert [f["field"] for f in r.json["error"]["fields"]] == [field], r
    r = gateway.request("POST", f"/api/v1/transactions/{ref}/refunds",
                        {"amount_pence": 50, "method": "cash", "reason": "x",
                         "amount_available_pence": 100}, token=sup)
    assert r.status == 400 and r.json["error"]["code"] == "missing_idempotency_key", r
    assert till(gateway, sup)["refunds"]["cash"] == 0


def test_paid_in_and_out_move_the_expected_cash(gateway):
    sup = gateway.sign_in("supervisor")
    start = till(gateway, sup)["expected_cash_pence"]
    key = str(uuid.uuid4())
    r = paid(gateway, sup, "paid-out", 640, key=key)
    assert r.status == 201 and r.json == {"kind": "paid_out", "amount_pence": 640,
                                          "reason": "Stamps for the post"}, r
    assert paid(gateway, sup, "paid-out", 640, key=key).status == 200  # a resend
    assert paid(gateway, sup, "paid-in", 1000, reason="Change from the bank").status == 201
    t = till(gateway, sup)
    assert t["paid_out_pence"] == 640 and t["paid_in_pence"] == 1000
    assert t["expected_cash_pence"] == start - 640 + 1000
    r = paid(gateway, sup, "paid-in", 0)
    assert r.status == 422 and r.json["error"]["fields"][0]["field"] == "amount_pence"


def test_money_needs_this_counters_till_open(gateway):
    sup = gateway.sign_in("supervisor")
    ref = sold(gateway, sup, "bag", 1, cash(100))["reference"]
    lib = gateway.sign_in("supervisor", counter="LIB-CEN", till=False)
    for r in (void(gateway, lib, ref), refund(gateway, lib, ref, 50, 100),
              paid(gateway, lib, "paid-out", 10)):
        assert r.status in (404, 409), r
    # another site's sale is not found; the library's own till is simply not open
    assert void(gateway, lib, ref).status == 404
    r = paid(gateway, lib, "paid-out", 10)
    assert r.status == 409 and r.json["error"]["code"] == "till_not_open", r


def test_an_assistant_may_not_void_refund_or_pay_out(gateway):
    sup = gateway.sign_in("supervisor")
    ref = sold(gateway, sup, "bag", 1, cash(100))["reference"]
    asst = gateway.sign_in("assistant")
    for r in (void(gateway, asst, ref), refund(gateway, asst, ref, 50, 100),
              paid(gateway, asst, "paid-out", 10), paid(gateway, asst, "paid-in", 10)):
        assert r.status == 403, r
    t = till(gateway, sup)
    assert t["refunds"]["cash"] == 0 and t["voids"]["cash"] == 0 and t["paid_out_pence"] == 0
    assert txn(gateway, sup, ref)["status"] == "completed"
