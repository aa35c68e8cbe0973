"""Delivery to back-ends: never lost, exactly once as the back-end sees it, dead letters with
the back-end's words, the circuit breaker, Open311 polling; and the counter's look-ups.

Every test runs the real onestopd against the real simulator and injects faults through
/_sim/faults. "Exactly once" is checked on the simulator's side: /_sim/received lists only
the requests it accepted (and de-duplicates by idempotency key), while "attempts" counts every
request that reached it."""

import datetime
import time
import urllib.parse
import uuid

import pytest

from onestop_env import wait_until

try:
    from zoneinfo import ZoneInfo
    LONDON = ZoneInfo("Europe/London")
except Exception:  # pragma: no cover - tzdata missing
    LONDON = datetime.timezone.utc

# UPRNs in a parking zone (two resident permits per household)
ZONE_UPRNS = ["100011429002", "100011429003", "100011429004", "100011429005", "100011429006",
              "100011429101", "100011429102", "100011429301", "100011429302", "100011429303"]


def today():
    return datetime.datetime.now(LONDON).date().isoformat()


def vrm(n):
    letters = "ABCDEFGHJKLMNOPRSTUVWXYZ"
    return f"BD{51 + (n // 13824) % 20}{letters[n % 24]}{letters[(n // 24) % 24]}{letters[(n // 576) % 24]}"


def parking_fields(n):
    return {"uprn": ZONE_UPRNS[(n // 2) % len(ZONE_UPRNS)], "vrm": vrm(n),
            "permit_type": "resident", "start_date": today(), "blue_badge": False,
            "leisure_key_band": "none"}


def sell(gw, token, service, fields, payment=None):
    r = gw.request("POST", "/api/v1/transactions",
                   {"service": service, "fields": fields,
                    "payment": payment or {"method": "card", "auth_code": "123456"}},
                   token=token, headers={"Idempotency-Key": str(uuid.uuid4())})
    assert r.status == 201, r
    return r.json["reference"]


def sell_permits(gw, token, count, first=0):
    return [sell(gw, token, "residents-parking-permit", parking_fields(first + i))
            for i in range(count)]


def txn(gw, token, ref):
    r = gw.request("GET", f"/api/v1/transactions/{ref}", token=token)
    assert r.status == 200, r
    return r.json


def received(gw, backend):
    r = gw.sim_request("GET", f"/_sim/received?backend={backend}")
    assert r.status == 200, r
    return r.json


def fault(gw, backend, mode, **extra):
    r = gw.sim_request("POST", "/_sim/faults", dict({"backend": backend, "mode": mode}, **extra))
    assert r.status in (200, 204), r


def metric(gw, name, backend):
    text = gw.request("GET", "/metrics").body.decode()
    prefix = f'{name}{{backend="{backend}"}} '
    for line in text.splitlines():
        if line.startswith(prefix):
            return float(line[len(prefix):])
    return None


def wait_status(gw, token, refs, status, timeout=30):
    def all_there():
        got = {ref: txn(gw, token, ref)["status"] for ref in refs}
        return got if all(s == status for s in got.values()) else None
    return wait_until(all_there, timeout=timeout, interval=0.2, what=f"every transaction {status}")


def assert_exactly_once(gw, token, refs, backend="parking"):
    """One accepted request per reference, under the transaction's own idempotency key, and
    the back-end's id is the reference we kept."""
    got = received(gw, backend)
    accepted = [r for r in got["requests"] if r["method"] == "POST"]
    by_ref = {}
    for r in accepted:
        by_ref.setdefault(r["reference"], []).append(r)
    for ref in refs:
        assert len(by_ref.get(ref, [])) == 1, (ref, by_ref.get(ref))
        t = txn(gw, token, ref)
        req = by_ref[ref][0]
        assert req["idempotency_key"] == t["delivery"]["idempotency_key"]
        assert req["signature_ok"] is True
        assert t["delivery"]["state"] == "delivered"
        assert t["backend_reference"] and t["backend_reference"] == t["delivery"]["backend_reference"]
    assert len({r["idempotency_key"] for r in accepted}) == len(accepted)
    return got


# ---- delivery ----

def test_delivered_at_once_when_the_backend_is_up(gateway):
    token = gateway.sign_in()
    start = time.monotonic()
    refs = sell_permits(gateway, token, 3)
    wait_status(gateway, token, refs, "forwarded", timeout=10)
    assert time.monotonic() - start < 5  # woken by the commit, not by a timer
    got = assert_exactly_once(gateway, token, refs)
    assert got["attempts"] == 3
    for ref in refs:
        d = txn(gateway, token, ref)["delivery"]
        assert d["attempts"] == 1 and d["last_error"] is None
        assert d["backend_reference"].startswith("PP-")
    assert metric(gateway, "onestop_deliveries_succeeded_total", "parking") == 3
    assert metric(gateway, "onestop_outbox_pending", "parking") == 0
    assert metric(gateway, "onestop_backend_breaker_state", "parking") == 0


def test_backend_down_for_a_while_then_up_delivers_each_exactly_once(gateway):
    token = gateway.sign_in()
    fault(gateway, "parking", "down")
    refs = sell_permits(gateway, token, 6)
    wait_until(lambda: received(gateway, "parking")["attempts"] >= 8, timeout=20,
               what="attempts while the back-end is down")
    for ref in refs:
        t = txn(gateway, token, ref)
        assert t["status"] == "accepted"
        assert t["delivery"]["state"] == "pending"
    some = [txn(gateway, token, ref)["delivery"] for ref in refs]
    assert any(d["attempts"] >= 1 and "HTTP 503" in (d["last_error"] or "") for d in some), some
    assert metric(gateway, "onestop_outbox_pending", "parking") == 6
    fault(gateway, "parking", "up")
    wait_status(gateway, token, refs, "forwarded", timeout=30)
    got = assert_exactly_once(gateway, token, refs)
    assert got["attempts"] > len(refs)
    assert metric(gateway, "onestop_deliveries_retried_total", "parking") >= 2


def test_flaky_backend_still_gets_each_exactly_once(gateway):
    token = gateway.sign_in()
    fault(gateway, "parking", "flaky", rate=0.3)
    refs = sell_permits(gateway, token, 12)
    wait_status(gateway, token, refs, "forwarded", timeout=60)
    got = assert_exactly_once(gateway, token, refs)
    assert got["attempts"] >= len(refs)


def test_circuit_opens_stops_attempts_and_recovers(make_gateway):
    gw = make_gateway()
    parking = gw.config["backends"][0]
    parking.update({"breaker_failures": 3, "breaker_open_s": 3})
    gw.write_config()
    gw.start()
    token = gw.sign_in()
    fault(gw, "parking", "down")
    refs = sell_permits(gw, token, 4)
    wait_until(lambda: metric(gw, "onestop_backend_breaker_state", "parking") == 1, timeout=15,
               what="the circuit to open")
    opened = received(gw, "parking")["attempts"]
    time.sleep(1.5)  # well inside the 3 s the circuit stays open
    assert received(gw, "parking")["attempts"] == opened
    # half-open: exactly one probe, which fails and opens the circuit again
    wait_until(lambda: received(gw, "parking")["attempts"] > opened, timeout=6,
               what="the half-open probe")
    time.sleep(1.0)
    assert received(gw, "parking")["attempts"] == opened + 1
    assert metric(gw, "onestop_backend_breaker_state", "parking") == 1
    fault(gw, "parking", "up")
    wait_status(gw, token, refs, "forwarded", timeout=20)
    assert_exactly_once(gw, token, refs)
    assert metric(gw, "onestop_backend_breaker_state", "parking") == 0


def test_refused_request_is_a_dead_letter_then_a_supervisor_retry_delivers_it(gateway):
    token = gateway.sign_in()
    fault(gateway, "parking", "reject")
    [ref] = sell_permits(gateway, token, 1)
    wait_status(gateway, token, [ref], "failed", timeout=10)
    t = txn(gateway, token, ref)
    assert t["delivery"]["state"] == "failed"
    assert t["delivery"]["attempts"] == 1  # a refusal is not retried
    assert "vehicle already has a permit at another address" in t["delivery"]["last_error"]
    assert "422" in t["delivery"]["last_error"]
    assert received(gateway, "parking")["requests"] == []
    assert metric(gateway, "onestop_deliveries_failed_total", "parking") == 1
    # an assistant may not retry; a supervisor may
    assert gateway.request("POST", f"/api/v1/transactions/{ref}/retry", token=token).status == 403
    fault(gateway, "parking", "up")
    sup = gateway.sign_in("supervisor")
    r = gateway.request("POST", f"/api/v1/transactions/{ref}/retry", token=sup)
    assert r.status == 202, r
    wait_status(gateway, token, [ref], "forwarded", timeout=10)
    assert_exactly_once(gateway, token, [ref])
    assert txn(gateway, token, ref)["delivery"]["last_error"] is None


def test_retry_after_is_honoured(gateway):
    token = gateway.sign_in()
    fault(gateway, "parking", "down", retry_after_s=3)
    [ref] = sell_permits(gateway, token, 1)
    wait_until(lambda: received(gateway, "parking")["attempts"] >= 1, timeout=5, what="attempt")
    first = time.monotonic()
    d = wait_until(lambda: txn(gateway, token, ref)["delivery"]["attempts"] >= 1 and
                   txn(gateway, token, ref)["delivery"], timeout=5, what="recorded attempt")
    assert d["next_attempt_at"] is not None
    fault(gateway, "parking", "up")
    wait_status(gateway, token, [ref], "forwarded", timeout=10)
    # the schedule says at most 1 s; the back-end asked for 3
    assert time.monotonic() - first >= 2.5
    assert received(gateway, "parking")["attempts"] == 2


def test_slow_backend_beyond_the_timeout_is_retried_and_acts_once(make_gateway):
    gw = make_gateway()
    gw.config["backends"][0]["timeout_ms"] = 500
    gw.write_config()
    gw.start()
    token = gw.sign_in()
    fault(gw, "parking", "slow", delay_ms=1500)
    [ref] = sell_permits(gw, token, 1)
    d = wait_until(lambda: (lambda d: d if d["attempts"] >= 1 else None)(
        txn(gw, token, ref)["delivery"]), timeout=10, what="a timed-out attempt")
    assert "no answer within 500 ms" in d["last_error"]
    fault(gw, "parking", "up")
    wait_status(gw, token, [ref], "forwarded", timeout=15)
    got = assert_exactly_once(gw, token, [ref])
    assert got["attempts"] >= 2


def test_shutdown_with_a_request_in_flight_loses_nothing(make_gateway):
    gw = make_gateway()
    gw.start()
    token = gw.sign_in()
    fault(gw, "parking", "slow", delay_ms=30000)
    [ref] = sell_permits(gw, token, 1)
    wait_until(lambda: received(gw, "parking")["attempts"] >= 1, timeout=5, what="the attempt")
    started = time.monotonic()
    assert gw.daemon.stop() == 0
    assert time.monotonic() - started < 12  # in-flight requests get a bounded grace
    assert "forwarder_aborted" in gw.daemon.output()
    fault(gw, "parking", "up")
    gw.sim_request("POST", "/_sim/reset")  # forget the slow attempt, which will act late
    gw.start_daemon()
    wait_status(gw, token := gw.sign_in(), [ref], "forwarded", timeout=15)
    assert_exactly_once(gw, token, [ref])


# ---- Open311 ----

def first_free_slot(gw, token, uprn):
    r = gw.request("GET", f"/api/v1/services/bulky-refuse/slots?uprn={uprn}", token=token)
    assert r.status == 200, r
    return next(s["date"] for s in r.json["slots"] if s["available"])


def test_bulky_booking_reaches_open311_form_encoded_and_polling_completes_it(gateway):
    token = gateway.sign_in()
    uprn = "100011429002"
    slot = first_free_slot(gateway, token, uprn)
    fields = {"uprn": uprn, "items": [{"code": "sofa", "quantity": 1},
                                      {"code": "fridge", "quantity": 1}],
              "slot": slot, "location": "Front garden & by the gate = left",
              "phone": "0161 480 4949"}
    ref = sell(gateway, token, "bulky-refuse", fields)
    wait_status(gateway, token, [ref], "forwarded", timeout=10)
    got = received(gateway, "bulky")
    [req] = [r for r in got["requests"] if r["method"] == "POST"]
    assert req["path"].endswith("/requests.json")
    form = urllib.parse.parse_qs(req["body"], strict_parsing=True)
    assert form["api_key"] == [gateway.keys["bulky-open311"].decode()]
    assert form["service_code"] == ["bulky-collection"]
    assert form["address_id"] == [uprn]
    assert form["attribute[reference]"] == [ref]
    assert form["attribute[slot]"] == [slot]
    assert form["attribute[location]"] == ["Front garden & by the gate = left"]
    assert "sofa" in form["attribute[items]"][0]
    assert req["signature_ok"] is True
    t = txn(gateway, token, ref)
    assert t["delivery"]["backend_reference"].startswith("BW-")
    # polled while still open: it stays forwarded
    wait_until(lambda: metric(gateway, "onestop_status_polls_total", "bulky") >= 1, timeout=5,
               what="a status poll")
    time.sleep(0.3)
    assert txn(gateway, token, ref)["status"] == "forwarded"
    r = gateway.sim_request("POST", "/_sim/complete", {"backend": "bulky", "reference": ref})
    assert r.status == 200, r
    wait_status(gateway, token, [ref], "completed", timeout=10)
    assert metric(gateway, "onestop_status_polls_total", "bulky") >= 2


def test_open311_refusal_keeps_the_backends_description(gateway):
    token = gateway.sign_in()
    uprn = "100011429002"
    slot = first_free_slot(gateway, token, uprn)
    fields = {"uprn": uprn, "items": [{"code": "table", "quantity": 1}], "slot": slot,
              "location": "Drive", "phone": "01614804949"}
    refs = []
    for _ in range(4):  # three bookings fill a day; the fourth is refused
        refs.append(sell(gateway, token, "bulky-refuse", fields))
    wait_until(lambda: sum(txn(gateway, token, r)["status"] in ("forwarded", "failed")
                           for r in refs) == 4, timeout=15, what="all four answered")
    failed = [txn(gateway, token, r) for r in refs if txn(gateway, token, r)["status"] == "failed"]
    assert len(failed) == 1
    assert f"slot {slot} is no longer available" in failed[0]["delivery"]["last_error"]


# ---- look-ups ----

def test_address_lookup(gateway):
    token = gateway.sign_in()
    r = gateway.request("GET", "/api/v1/addresses?postcode=sk1%203xe", token=token)
    assert r.status == 200, r
    assert r.json["postcode"] == "SK1 3XE"
    assert r.json["addresses"] and all(a["postcode"] == "SK1 3XE" for a in r.json["addresses"])
    assert any(a["uprn"] == "100011429002" for a in r.json["addresses"])
    # the gazetteer saw one signed read with the normalised postcode
    reads = gateway.sim_request("GET", "/_sim/received?backend=gazetteer&include_reads=1").json
    assert [q["query"] for q in reads["requests"]] == ["postcode=SK1 3XE"]  # recorded decoded
    assert reads["requests"][0]["signature_ok"] is True


def test_address_lookup_problems(gateway):
    token = gateway.sign_in()
    assert gateway.request("GET", "/api/v1/addresses?postcode=SK13XE").status == 401
    r = gateway.request("GET", "/api/v1/addresses?postcode=ZZ", token=token)
    assert r.status == 422, r
    assert r.json["error"]["fields"][0]["field"] == "postcode"
    r = gateway.request("GET", "/api/v1/addresses", token=token)
    assert r.status == 422 and r.json["error"]["fields"][0]["code"] == "required"
    r = gateway.request("GET", "/api/v1/addresses?postcode=SK1%209ZZ", token=token)
    assert r.status == 404, r
    assert r.json["error"]["code"] == "unknown_postcode"
    # nothing malformed reached the gazetteer
    assert gateway.sim_request("GET", "/_sim/received?backend=gazetteer").json["attempts"] == 1


def test_address_lookup_when_the_gazetteer_is_down_is_a_quick_503(gateway):
    token = gateway.sign_in()
    fault(gateway, "gazetteer", "down")
    started = time.monotonic()
    r = gateway.request("GET", "/api/v1/addresses?postcode=SK1%203XE", token=token)
    assert time.monotonic() - started < 1.0
    assert r.status == 503, r
    assert r.json["error"] == {
        "code": "backend_unavailable",
        "message": "The address lookup is not answering; enter the UPRN by hand or try again."}


def test_address_lookup_times_out(make_gateway):
    gw = make_gateway()
    gw.config["backends"][1]["lookup_timeout_ms"] = 300
    gw.write_config()
    gw.start()
    token = gw.sign_in()
    fault(gw, "gazetteer", "slow", delay_ms=5000)
    started = time.monotonic()
    r = gw.request("GET", "/api/v1/addresses?postcode=SK1%203XE", token=token)
    assert r.status == 503, r
    assert time.monotonic() - started < 2.0
    # the daemon keeps serving while look-ups hang
    fault(gw, "gazetteer", "up")
    assert gw.request("GET", "/api/v1/addresses?postcode=SK1%203XE", token=token).status == 200


def test_many_lookups_at_once_do_not_hold_http_threads(make_gateway):
    gw = make_gateway()
    gw.config["backends"][1]["lookup_timeout_ms"] = 3000
    gw.write_config()
    gw.start()
    token = gw.sign_in()
    fault(gw, "gazetteer", "slow", delay_ms=1500)
    import threading
    results = []

    def one():
        results.append(gw.request("GET", "/api/v1/addresses?postcode=SK1%203XE",
                                  token=token).status)
    threads = [threading.Thread(target=one) for _ in range(30)]
    started = time.monotonic()
    for t in threads:
        t.start()
    time.sleep(0.3)
    # while 30 look-ups wait on the gazetteer, other requests are answered at once
    t0 = time.monotonic()
    assert gw.request("GET", "/healthz").status == 200
    assert time.monotonic() - t0 < 0.5
    for t in threads:
        t.join()
    assert results == [200] * 30
    assert time.monotonic() - started < 5


def test_bulky_slots_lookup(gateway):
    token = gateway.sign_in()
    r = gateway.request("GET", "/api/v1/services/bulky-refuse/slots?uprn=100011429002",
                        token=token)
    assert r.status == 200, r
    assert r.json["uprn"] == "100011429002"
    assert len(r.json["slots"]) == 10
    assert all(s["date"] > today() for s in r.json["slots"])
    r = gateway.request("GET", "/api/v1/services/bulky-refuse/slots?uprn=12a", token=token)
    assert r.status == 422 and r.json["error"]["fields"][0]["field"] == "uprn"
    r = gateway.request("GET", "/api/v1/services/bulky-refuse/slots?uprn=999999999999",
                        token=token)
    assert r.status == 404 and r.json["error"]["code"] == "unknown_uprn"
    fault(gateway, "bulky", "down")
    r = gateway.request("GET", "/api/v1/services/bulky-refuse/slots?uprn=100011429002",
                        token=token)
    assert r.status == 503 and r.json["error"]["code"] == "backend_unavailable"


def test_a_wrong_signing_key_is_retried_not_dead_lettered(make_gateway):
    gw = make_gateway()
    key_file = gw.config["backends"][0]["signing_key_file"]
    path = f"{gw.dir}/{key_file}"
    gw.start_sim()  # the simulator reads the right key
    with open(path, "w") as f:
        f.write("not-the-key-the-back-end-has-0123456789\n")
    gw.start()
    token = gw.sign_in()
    refs = sell_permits(gw, token, 2)
    d = wait_until(lambda: (lambda d: d if d["attempts"] >= 2 else None)(
        txn(gw, token, refs[0])["delivery"]), timeout=15, what="refused attempts")
    assert d["state"] == "pending" and "HTTP 401" in d["last_error"]
    assert all(txn(gw, token, r)["status"] == "accepted" for r in refs)
    # the operator puts the right key in place and restarts: everything goes through
    with open(path, "wb") as f:
        f.write(gw.keys["parking"] + b"\n")
    assert gw.daemon.stop() == 0
    gw.start_daemon()
    token = gw.sign_in()
    wait_status(gw, token, refs, "forwarded", timeout=20)
    assert_exactly_once(gw, token, refs)


def test_gives_up_at_the_deadline_with_the_last_error(make_gateway):
    gw = make_gateway()
    gw.config["backends"][0].update({"give_up_after_s": 4, "breaker_failures": 100})
    gw.write_config()
    gw.start()
    token = gw.sign_in()
    fault(gw, "parking", "down")
    [ref] = sell_permits(gw, token, 1)
    wait_status(gw, token, [ref], "failed", timeout=15)
    d = txn(gw, token, ref)["delivery"]
    assert d["state"] == "failed"
    assert d["attempts"] >= 3
    assert d["last_error"].startswith(f"gave up after {d['attempts']} attempts: HTTP 503")
    sup = gw.sign_in("supervisor")
    failed = gw.request("GET", "/api/v1/deliveries/failed", token=sup).json["deliveries"]
    assert [f["reference"] for f in failed] == [ref]
