"""Cancelling a booked bulky collection (issue 10): before the cut-off (config: a time on a
working day before the collection) the booking is cancelled, the payment refunded in the
till and the waste system told exactly once; after it, refused with the cut-off in the
message."""

import uuid

from onestop_env import wait_until
from till_helpers import txn
from txn_helpers import card

UPRN = "100011429002"


def book(gw, token):
    r = gw.request("GET", f"/api/v1/services/bulky-refuse/slots?uprn={UPRN}", token=token)
    assert r.status == 200, r
    slot = next(s["date"] for s in r.json["slots"] if s["available"])
    body = {"service": "bulky-refuse",
            "fields": {"uprn": UPRN, "items": [{"code": "sofa", "quantity": 1}], "slot": slot,
                       "location": "Front garden", "phone": "0161 480 4949"},
            "payment": card()}
    r = gw.request("POST", "/api/v1/transactions", body, token=token,
                   headers={"Idempotency-Key": str(uuid.uuid4())})
    assert r.status == 201, r
    return r.json




def cancels(gw):
    got = gw.sim_request("GET", "/_sim/received?backend=bulky").json["requests"]
    return [q for q in got if q["path"].endswith("/cancel.json")]


def start(make_gateway, days, at):
    gw = make_gateway(config_overrides={"till": {"cancel_cutoff": at,
                                                 "cancel_working_days": days}})
    gw.start()
    return gw


def test_a_booking_cancelled_before_its_cutoff_is_refunded_and_cancelled_once(make_gateway):
    gw = start(make_gateway, 0, "00:00")  # the cut-off: midnight starting the collection day
    sup = gw.sign_in("supervisor")
    sold = book(gw, sup)
    ref = sold["reference"]
    wait_until(lambda: txn(gw, sup, ref)["delivery"]["state"] == "delivered", timeout=30,
               what="the booking delivered")
    r = gw.request("POST", f"/api/v1/transactions/{ref}/cancel",
                   {"reason": "Resident no longer needs it"}, token=sup)
    assert r.status == 200, r
    assert r.json["reversed_pence"] == sold["fee_pence"] and r.json["delivery"] == "cancelling"
    wait_until(lambda: txn(gw, sup, ref)["delivery"]["state"] == "cancelled", timeout=30,
               what="the cancellation acknowledged")
    [c] = cancels(gw)
    assert c["reference"] == ref
    assert c["path"] == f"/bulky/requests/{txn(gw, sup, ref)['delivery']['backend_reference']}" \
                        "/cancel.json"
    t = gw.request("GET", "/api/v1/till", token=sup).json
    assert t["voids"]["card"] == sold["fee_pence"]
    again = gw.request("POST", f"/api/v1/transactions/{ref}/cancel", {"reason": "Again"},
                       token=sup)
    assert again.status == 409 and again.json["error"]["code"] == "already_voided", again
    assert len(cancels(gw)) == 1


def test_after_the_cutoff_a_cancel_is_refused_with_the_cutoff(make_gateway):
    gw = start(make_gateway, 30, "14:00")  # thirty working days before: long past
    sup = gw.sign_in("supervisor")
    ref = book(gw, sup)["reference"]
    r = gw.request("POST", f"/api/v1/transactions/{ref}/cancel", {"reason": "Too late"},
                   token=sup)
    assert r.status == 409 and r.json["error"]["code"] == "past_cutoff", r
    assert "14:00" in r.json["error"]["message"] and r.json["error"]["cutoff"] in \
        r.json["error"]["message"]
    assert txn(gw, sup, ref)["status"] != "voided"
    assert gw.request("GET", "/api/v1/till", token=sup).json["voids"]["card"] == 0


def test_only_a_booking_can_be_cancelled(make_gateway):
    gw = start(make_gateway, 1, "14:00")
    sup = gw.sign_in("supervisor")
    body = {"service": "library-sales", "fields": {"items": [{"code": "bag", "quantity": 1}]},
            "payment": card()}
    ref = gw.request("POST", "/api/v1/transactions", body, token=sup,
                     headers={"Idempotency-Key": str(uuid.uuid4())}).json["reference"]
    r = gw.request("POST", f"/api/v1/transactions/{ref}/cancel", {"reason": "x"}, token=sup)
    assert r.status == 409 and r.json["error"]["code"] == "not_a_booking", r
    asst = gw.sign_in("assistant")
    assert gw.request("POST", f"/api/v1/transactions/{ref}/cancel", {"reason": "x"},
                      token=asst).status == 403
