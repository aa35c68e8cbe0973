"""The simulator's Open311 answer variants, token exchange, look-up endpoints, and the faults
that model back-ends without idempotency keys (late, drop, idempotency ignore), driven
directly over HTTP (the gateway's side is in test_open311_variants.py)."""

import http.client
import json
import socket
import urllib.parse

import pytest

from test_sim import PARKING_KEY, booking_fields, sign
from test_sim import receiver, sim, sim_process  # noqa: F401 - fixtures


def book(sim, reference, idem):
    slot = sim.slots()[0]["id"]
    return sim.book(booking_fields(slot, reference=reference), idem)


@pytest.mark.parametrize("variant,status,want", [
    ("array", 201, [{"service_request_id": "BW-000001"}]),
    ("array", 200, [{"service_request_id": "BW-000001"}]),
    ("object", 202, {"service_request_id": "BW-000001"}),
    ("numeric", 201, [{"service_request_id": 1}]),
    ("token", 202, [{"token": "TK-000001"}]),
    ("blackbox", 200, [{}]),
])
def test_open311_answer_variants(sim, variant, status, want):
    sim.faults("bulky", "up", open311=variant, open311_status=status)
    got_status, body = book(sim, "BR-VAR", "var-1")
    assert got_status == status
    # the shape the variant promises, with a service_notice unless it is a token
    assert type(body) is type(want)
    item = body[0] if isinstance(body, list) else body
    assert len(body) == 1 or isinstance(body, dict)
    notice = item.pop("service_notice", None)
    assert (notice is None) == (variant == "token")
    assert notice is None or notice.startswith("Collection booked for ")
    assert item == (want[0] if isinstance(want, list) else want)
    # the request was booked whatever the shape of the answer
    assert sim.received("bulky")["requests"][0]["reference"] == "BR-VAR"
    assert sim.control("complete", {"backend": "bulky", "reference": "BR-VAR"})[0] == 200


@pytest.mark.parametrize("variant,code", [("error_numeric", 400),
                                          ("error_string", "invalid_request")])
def test_open311_error_variants_book_nothing(sim, variant, code):
    sim.faults("bulky", "up", open311=variant)
    status, body = book(sim, "BR-ERR", "err-1")
    assert status == 400
    assert body == [{"code": code,
                     "description": "the department refused the request (simulated)"}]
    assert sim.received("bulky")["requests"] == []
    assert sim.control("complete", {"backend": "bulky", "reference": "BR-ERR"})[0] == 404


def test_token_gives_the_id_after_n_exchanges(sim):
    sim.faults("bulky", "up", open311="token", token_polls=2)
    status, body = book(sim, "BR-TOK", "tok-1")
    assert status == 201 and body == [{"token": "TK-000001"}]
    for _ in range(2):
        status, body, _ = sim.signed_get("/bulky/tokens/TK-000001.json")
        assert status == 200 and body == [{"token": "TK-000001"}]
    for _ in range(2):  # and from then on
        status, body, _ = sim.signed_get("/bulky/tokens/TK-000001.json")
        assert status == 200
        assert body == [{"token": "TK-000001", "service_request_id": "BW-000001"}]
    status, body, _ = sim.signed_get("/bulky/tokens/TK-999999.json")
    assert status == 404 and body[0]["code"] == 404
    assert sim.signed_get("/bulky/tokens/TK-000001.json", key=None)[0] == 401


def test_bulky_requests_are_found_by_our_reference(sim):
    assert book(sim, "BR-ONE", "one")[0] == 201
    assert book(sim, "BR-TWO", "two")[0] == 201
    q = urllib.parse.urlencode({"attribute[reference]": "BR-TWO"})
    status, body, _ = sim.signed_get("/bulky/requests.json?" + q)
    assert status == 200
    [found] = body
    assert found["service_request_id"] == "BW-000002"
    assert found["attributes"] == {"reference": "BR-TWO"}
    status, body, _ = sim.signed_get("/bulky/requests.json?attribute%5Breference%5D=BR-NONE")
    assert status == 200 and body == []
    status, body, _ = sim.signed_get("/bulky/requests.json?service_request_id=BW-000001,BW-9")
    assert [r["service_request_id"] for r in body] == ["BW-000001"]
    status, body, _ = sim.signed_get("/bulky/requests.json")
    assert sorted(r["service_request_id"] for r in body) == ["BW-000001", "BW-000002"]


def parking_lookup(sim, reference):
    status, body, _ = sim.json("GET", "/parking/permits?reference=" + reference,
                               headers=sign(PARKING_KEY, b"", ""))
    return status, body


def test_ignoring_idempotency_keys_makes_a_duplicate_per_resend(sim):
    assert parking_lookup(sim, "RP-DUP") == (200, {"permits": []})
    assert sim.post_permit("RP-DUP", "dup-key")[1] == {"id": "PP-000001", "status": "issued"}
    assert sim.post_permit("RP-DUP", "dup-key")[1] == {"id": "PP-000001", "status": "issued"}
    sim.faults("parking", "up", idempotency="ignore")
    assert sim.post_permit("RP-DUP", "dup-key", timestamp=1)[0] == 401  # still signed
    status, body, _ = sim.post_permit("RP-DUP", "dup-key2")
    assert body["id"] == "PP-000002"
    status, body, _ = sim.post_permit("RP-DUP", "dup-key2")
    assert status == 201 and body["id"] == "PP-000003"  # same key, acted again
    status, body = parking_lookup(sim, "RP-DUP")
    assert status == 200
    assert [p["id"] for p in body["permits"]] == ["PP-000001", "PP-000002", "PP-000003"]
    assert all(p["reference"] == "RP-DUP" for p in body["permits"])
    assert len(sim.received("parking")["requests"]) == 3


def raw_post_permit(sim, reference, idem, timeout):
    body = json.dumps({"reference": reference}).encode()
    headers = {"Content-Type": "application/json", **sign(PARKING_KEY, body, idem)}
    conn = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=timeout)
    try:
        conn.request("POST", "/parking/permits", body=body, headers=headers)
        return conn.getresponse().status
    finally:
        conn.close()


def test_drop_acts_then_closes_without_an_answer(sim):
    sim.faults("parking", "drop", count=1, writes_only=True)
    assert parking_lookup(sim, "RP-DROP") == (200, {"permits": []})  # reads pass
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        raw_post_permit(sim, "RP-DROP", "drop-1", timeout=10)
    status, body = parking_lookup(sim, "RP-DROP")
    assert [p["id"] for p in body["permits"]] == ["PP-000001"]  # it acted
    _, faults, _ = sim.json("GET", "/_sim/faults")
    assert faults["parking"]["mode"] == "up"  # count used up
    assert raw_post_permit(sim, "RP-DROP", "drop-1", timeout=10) == 201  # stored answer


def test_late_acts_at_once_and_answers_after_the_delay(sim):
    sim.faults("parking", "late", delay_ms=2000, count=1, writes_only=True)
    with pytest.raises((socket.timeout, TimeoutError)):
        raw_post_permit(sim, "RP-LATE", "late-1", timeout=0.5)
    status, body = parking_lookup(sim, "RP-LATE")  # acted before the client gave up
    assert [p["id"] for p in body["permits"]] == ["PP-000001"]
    assert sim.received("parking")["requests"][0]["reference"] == "RP-LATE"


def test_fault_settings_are_checked(sim):
    for bad in ({"open311": "xml"}, {"open311_status": 204}, {"idempotency": "sometimes"},
                {"count": -1}, {"writes_only": "yes"}, {"token_polls": "2"}):
        status, body = sim.control("faults", {"backend": "bulky", "mode": "up", **bad})
        assert status == 400, (bad, body)
        assert body["error"] == "invalid_fault"
    body = sim.faults("bulky", "late", count=2, writes_only=True, idempotency="ignore",
                      open311="token", token_polls=3)
    assert body == {"backend": "bulky", "mode": "late", "delay_ms": 2000, "count": 2,
                    "writes_only": True, "idempotency": "ignore", "open311": "token",
                    "open311_status": 201, "token_polls": 3}
