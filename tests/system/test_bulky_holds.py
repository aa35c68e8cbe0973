"""Bulky collection days held before they are booked (issue 9, part 5).

Picking a day holds it with the waste back-end (POST /api/v1/lookups/slot_holds, for the
back-end's slot_hold_s, 15 minutes by default); the booking carries the reservation id and the
simulator checks it. A hold that is no longer good when the booking arrives (it expired while
the back-end was down) sends the booking to the supervisor's failed list with the next free
days, fetched from the back-end. Real onestopd, real simulator; waits are for conditions."""

import urllib.parse
import uuid

from onestop_env import wait_until
from test_delivery import fault, first_free_slot, received, txn
from test_open311_variants import started

UPRN = "100011429002"
HOLDS = "/api/v1/lookups/slot_holds"


def hold(gw, token, slot, uprn=UPRN):
    return gw.request("POST", HOLDS, {"service": "bulky-refuse", "uprn": uprn, "slot": slot},
                      token=token)


def fields(slot, reservation=None):
    f = {"uprn": UPRN, "items": [{"code": "sofa", "quantity": 1}], "slot": slot,
         "location": "Front garden", "phone": "0161 480 4949"}
    if reservation:
        f["slot_hold"] = reservation
    return f


def sell(gw, token, f):
    r = gw.request("POST", "/api/v1/transactions",
                   {"service": "bulky-refuse", "fields": f,
                    "payment": {"method": "card", "auth_code": "123456"}},
                   token=token, headers={"Idempotency-Key": str(uuid.uuid4())})
    assert r.status == 201, r
    return r.json["reference"]


def slots(gw, token, uprn=UPRN):
    r = gw.request("GET", f"/api/v1/lookups/slots?service=bulky-refuse&uprn={uprn}", token=token)
    assert r.status == 200, r
    return r.json["slots"]


def remaining(gw, token, day):
    return next(s["remaining"] for s in slots(gw, token) if s["date"] == day)


def test_a_held_day_is_booked_with_its_reservation(gateway):
    token = gateway.sign_in()
    day = first_free_slot(gateway, token, UPRN)
    assert remaining(gateway, token, day) == 3
    r = hold(gateway, token, day)
    assert r.status == 201, r
    reservation = r.json["reservation_id"]
    assert r.json["slot"] == day and r.json["hold_s"] == 900 and r.json["expires_at"]
    assert remaining(gateway, token, day) == 2  # the hold takes a place

    ref = sell(gateway, token, fields(day, reservation))
    wait_until(lambda: txn(gateway, token, ref)["status"] == "forwarded", timeout=15,
               what="booking forwarded")
    posts = [q for q in received(gateway, "bulky")["requests"]
             if q["method"] == "POST" and q["path"].endswith("/requests.json")]
    form = urllib.parse.parse_qs(posts[-1]["body"])
    assert form["attribute[reservation_id]"] == [reservation]
    assert form["attribute[slot]"] == [day]
    # the booking took the hold's place, not another one
    assert remaining(gateway, token, day) == 2
    # a hold used once cannot confirm a second booking
    ref2 = sell(gateway, token, fields(day, reservation))
    t = wait_until(lambda: (t := txn(gateway, token, ref2))["status"] == "failed" and t,
                   timeout=15, what="second use refused")
    assert "reservation_used" in t["delivery"]["last_error"], t["delivery"]


def test_a_taken_day_cannot_be_held_and_the_simulator_refuses_it(gateway):
    token = gateway.sign_in()
    day = first_free_slot(gateway, token, UPRN)
    for _ in range(3):  # a day has three places
        r = hold(gateway, token, day, uprn="100011429003")
        assert r.status == 201, r
    taken = hold(gateway, token, day)
    assert taken.status == 409, taken
    assert taken.json["error"]["code"] == "slot_taken"
    assert "Choose another day" in taken.json["error"]["message"]
    assert not next(s for s in slots(gateway, token) if s["date"] == day)["available"]
    # a booking for the held day without a hold is refused by the back-end
    ref = sell(gateway, token, fields(day))
    t = wait_until(lambda: (t := txn(gateway, token, ref))["status"] == "failed" and t,
                   timeout=15, what="booking refused")
    assert f"slot {day} is no longer available" in t["delivery"]["last_error"]


def test_bad_hold_requests_are_refused_with_the_field(gateway):
    token = gateway.sign_in()
    r = gateway.request("POST", HOLDS, {"service": "residents-parking-permit", "uprn": "12a",
                                        "slot": "tomorrow"}, token=token)
    assert r.status == 422, r
    assert {f["field"] for f in r.json["error"]["fields"]} == {"service", "uprn", "slot"}
    r = gateway.request("POST", "/api/v1/lookups/addresses", {}, token=token)
    assert r.status == 404 and r.json["error"]["code"] == "unknown_lookup"
    # a reservation id that is not one is refused before anything is stored
    day = first_free_slot(gateway, token, UPRN)
    r = gateway.request("POST", "/api/v1/transactions",
                        {"service": "bulky-refuse", "fields": fields(day, "RS 1; drop"),
                         "payment": {"method": "card", "auth_code": "123456"}},
                        token=token, headers={"Idempotency-Key": str(uuid.uuid4())})
    assert r.status == 422, r
    problem = r.json["error"]["fields"][0]
    assert problem["field"] == "fields.slot_hold" and "pick the day again" in problem["message"]
    # a day the waste system does not offer is the slot's problem, not "not answering"
    r = hold(gateway, token, "2099-01-05")
    assert r.status == 422, r
    problem = r.json["error"]["fields"][0]
    assert problem["field"] == "slot" and problem["code"] == "slot_not_offered", problem
    assert "Choose one of the days it offers" in problem["message"]


def test_an_expired_hold_goes_to_the_supervisors_list_with_the_next_free_days(make_gateway):
    gw = started(make_gateway, bulky={"slot_hold_s": 2, "retry_schedule_s": [1]})
    token = gw.sign_in()
    supervisor = gw.sign_in("supervisor")
    day = first_free_slot(gw, token, UPRN)
    r = hold(gw, token, day)
    assert r.status == 201 and r.json["hold_s"] == 2, r
    reservation = r.json["reservation_id"]

    # the waste system stops taking bookings; the sale is recorded and waits
    fault(gw, "bulky", "down", writes_only=True)
    ref = sell(gw, token, fields(day, reservation))
    wait_until(lambda: txn(gw, token, ref)["delivery"]["attempts"] >= 1, timeout=10,
               what="a first attempt")
    # the hold runs out (its place is free again), then the system comes back
    wait_until(lambda: remaining(gw, token, day) == 3, timeout=10, interval=0.2,
               what="the hold expired")
    fault(gw, "bulky", "up")
    t = wait_until(lambda: (t := txn(gw, token, ref))["status"] == "failed" and t, timeout=20,
                   interval=0.2, what="the booking refused")
    assert "reservation_expired" in t["delivery"]["last_error"], t["delivery"]

    failed = gw.request("GET", "/api/v1/deliveries/failed", token=supervisor)
    assert failed.status == 200, failed
    row = next(d for d in failed.json["deliveries"] if d["reference"] == ref)
    free = [s["date"] for s in slots(gw, token) if s["available"]][:3]
    assert len(free) == 3
    assert row["note"].startswith(f"The day held for this collection ({day}) was not kept "
                                  "(reservation_expired)."), row
    assert f"Next free days: {', '.join(free)}." in row["note"], row
    # the note is in the audit trail too, without personal data
    assert "0161 480 4949" not in row["note"] and UPRN not in row["note"]


def test_a_hold_for_another_day_or_an_unknown_one_is_refused_with_the_next_free_days(gateway):
    token = gateway.sign_in()
    supervisor = gateway.sign_in("supervisor")
    free = [s["date"] for s in slots(gateway, token) if s["available"]]
    r = hold(gateway, token, free[0])
    assert r.status == 201, r
    wrong_day = sell(gateway, token, fields(free[1], r.json["reservation_id"]))
    unknown = sell(gateway, token, fields(free[1], "RS-999999"))
    for ref, code in ((wrong_day, "reservation_mismatch"), (unknown, "reservation_unknown")):
        t = wait_until(lambda: (t := txn(gateway, token, ref))["status"] == "failed" and t,
                       timeout=15, what=f"{ref} refused")
        assert code in t["delivery"]["last_error"], t["delivery"]
        rows = gateway.request("GET", "/api/v1/deliveries/failed", token=supervisor).json
        row = next(d for d in rows["deliveries"] if d["reference"] == ref)
        assert f"({code}). Next free days: " in row["note"], row
    # neither refusal took a place; the hold still holds its own day
    assert remaining(gateway, token, free[1]) == 3
    assert remaining(gateway, token, free[0]) == 2


def release(gw, token, reservation, slot, uprn=UPRN):
    return gw.request("POST", f"{HOLDS}/{reservation}/release",
                      {"service": "bulky-refuse", "uprn": uprn, "slot": slot}, token=token)


def test_a_released_hold_frees_its_day_at_once(gateway):
    """Picking another day, or leaving the sale, gives the hold back through the back-end: the
    day's place is free again at once, not when the hold lapses 15 minutes later."""
    token = gateway.sign_in()
    day = first_free_slot(gateway, token, UPRN)
    r = hold(gateway, token, day)
    assert r.status == 201, r
    reservation = r.json["reservation_id"]
    assert remaining(gateway, token, day) == 2

    # another address or day does not release it; nor does an id alone that is not a hold
    other = release(gateway, token, reservation, day, uprn="100011429003")
    assert other.status == 409 and other.json["error"]["code"] == "reservation_mismatch", other
    unknown = release(gateway, token, "RS-999999", day)
    assert unknown.status == 404 and unknown.json["error"]["code"] == "reservation_unknown"
    bad = gateway.request("POST", f"{HOLDS}/{reservation}/release",
                          {"service": "bulky-refuse", "uprn": "x", "slot": day}, token=token)
    assert bad.status == 422 and bad.json["error"]["fields"][0]["field"] == "uprn", bad
    assert remaining(gateway, token, day) == 2

    r = release(gateway, token, reservation, day)
    assert r.status == 200, r
    assert r.json == {"reservation_id": reservation, "state": "released"}
    assert remaining(gateway, token, day) == 3  # free at once
    again = release(gateway, token, reservation, day)
    assert again.status == 200 and again.json["state"] == "released", again
    assert remaining(gateway, token, day) == 3
    calls = [q for q in received(gateway, "bulky")["requests"]
             if q["path"].endswith(f"/holds/{reservation}/release")]
    assert calls and UPRN not in calls[-1]["path"]

    # a booking that still names the released hold is refused, with the next free days
    supervisor = gateway.sign_in("supervisor")
    ref = sell(gateway, token, fields(day, reservation))
    t = wait_until(lambda: (t := txn(gateway, token, ref))["status"] == "failed" and t,
                   timeout=15, what="the booking refused")
    assert "reservation_released" in t["delivery"]["last_error"], t["delivery"]
    rows = gateway.request("GET", "/api/v1/deliveries/failed", token=supervisor).json
    row = next(d for d in rows["deliveries"] if d["reference"] == ref)
    assert "(reservation_released). Next free days: " in row["note"], row


def test_a_used_hold_cannot_be_released_and_a_down_back_end_says_so(gateway):
    token = gateway.sign_in()
    day = first_free_slot(gateway, token, UPRN)
    reservation = hold(gateway, token, day).json["reservation_id"]
    ref = sell(gateway, token, fields(day, reservation))
    wait_until(lambda: txn(gateway, token, ref)["status"] == "forwarded", timeout=15,
               what="booking forwarded")
    used = release(gateway, token, reservation, day)
    assert used.status == 409 and used.json["error"]["code"] == "reservation_used", used
    assert "cancel the collection" in used.json["error"]["message"]
    assert remaining(gateway, token, day) == 2  # the booking keeps its place

    second = hold(gateway, token, day).json["reservation_id"]
    fault(gateway, "bulky", "down")
    down = release(gateway, token, second, day)
    assert down.status == 503 and down.json["error"]["code"] == "backend_unavailable", down
    assert "still held" in down.json["error"]["message"]
    fault(gateway, "bulky", "up")
    wait_until(lambda: release(gateway, token, second, day).status == 200, timeout=15,
               what="the release once the back-end is back")
    assert remaining(gateway, token, day) == 2
