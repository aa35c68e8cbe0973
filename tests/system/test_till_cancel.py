"""Cancelling a booked bulky collection (issue 10): before the cut-off (config: a time on a
working day before the collection) the booking is cancelled, the payment refunded in the
till and the waste system told exactly once; after it, refused with the cut-off in the
message."""

import datetime
import json
import os
import shutil
import uuid

from onestop_env import ROOT, wait_until
from till_helpers import txn
from txn_helpers import LONDON, card

UPRN = "100011429002"


def book(gw, token, slot=None):
    r = gw.request("GET", f"/api/v1/services/bulky-refuse/slots?uprn={UPRN}", token=token)
    assert r.status == 200, r
    slot = slot or next(s["date"] for s in r.json["slots"] if s["available"])
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


def test_bank_holidays_are_not_working_days_for_the_cutoff(make_gateway):
    """The collection is the second working day from today; the day before it and today are
    bank holidays (the slot field's closed_dates). The cut-off, midnight starting the working
    day before the collection, is then before today: counting the holidays as working days
    would put it in the future and let the cancel through."""
    day = datetime.datetime.now(LONDON).date()
    weekdays = []
    d = day
    while len(weekdays) < 2:
        d += datetime.timedelta(days=1)
        if d.weekday() < 5:
            weekdays.append(d)
    slot = weekdays[1]
    holidays = [(day + datetime.timedelta(days=i)).isoformat() for i in range((slot - day).days)]
    gw = make_gateway(config_overrides={"till": {"cancel_cutoff": "00:00",
                                                 "cancel_working_days": 1}})
    services = os.path.join(gw.dir, "services")
    shutil.copytree(os.path.join(ROOT, "config", "services"), services)
    path = os.path.join(services, "bulky-refuse.json")
    with open(path) as f:
        definition = json.load(f)
    [field] = [f for f in definition["fields"] if f["name"] == "slot"]
    field["constraints"]["closed_dates"] = holidays
    with open(path, "w") as f:
        json.dump(definition, f)
    gw.config["services"]["dir"] = services
    gw.write_config()
    gw.start()
    sup = gw.sign_in("supervisor")
    ref = book(gw, sup, slot.isoformat())["reference"]
    assert txn(gw, sup, ref)["fields"]["slot"] == slot.isoformat()
    r = gw.request("POST", f"/api/v1/transactions/{ref}/cancel", {"reason": "Holiday"},
                   token=sup)
    assert r.status == 409 and r.json["error"]["code"] == "past_cutoff", r
    # the cut-off is the last weekday before today that is not a holiday, at midnight
    before = day - datetime.timedelta(days=1)
    while before.weekday() >= 5:
        before -= datetime.timedelta(days=1)
    assert r.json["error"]["cutoff"] == f"{before.day} {before.strftime('%b %Y')} 00:00", r
    assert txn(gw, sup, ref)["status"] != "voided"
