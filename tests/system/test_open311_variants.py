"""Open311 back-ends as real servers answer, and back-ends that do not honour idempotency keys.

Every test runs the real onestopd against the real simulator. The simulator's fault settings
choose how bulky answers a new request (/_sim/faults "open311": array, object, numeric, token,
blackbox, error_numeric, error_string; "open311_status" 200/201/202) and model a back-end
that ignores Idempotency-Key ("idempotency":"ignore") and one that acts on a request and then
answers too late ("late") or drops the connection ("drop"). Tests wait for conditions with a
deadline; none sleeps and hopes."""

import urllib.parse

import pytest

from onestop_env import wait_until
from test_delivery import fault, first_free_slot, metric, parking_fields, received, sell, txn

BULKY_UPRN = "100011429002"


def bulky_fields(gw, token):
    slot = first_free_slot(gw, token, BULKY_UPRN)
    return {"uprn": BULKY_UPRN, "items": [{"code": "sofa", "quantity": 1}], "slot": slot,
            "location": "Front garden", "phone": "0161 480 4949"}


def backend(gw, name):
    return next(b for b in gw.config["backends"] if b["name"] == name)


def started(make_gateway, name="gw", **backend_options):
    """A gateway whose back-ends get extra options: {"bulky": {...}, "parking": {...}}."""
    gw = make_gateway(name)
    for be_name, options in backend_options.items():
        backend(gw, be_name).update(options)
    gw.write_config()
    return gw.start()


def settled(gw, token, ref, timeout=20):
    """The transaction once it is forwarded (or further) or failed."""
    return wait_until(lambda: (t := txn(gw, token, ref))["status"] in
                      ("forwarded", "completed", "failed") and t,
                      timeout=timeout, interval=0.1, what=f"{ref} forwarded or failed")


def posts_for(gw, backend_name, ref):
    return [r for r in received(gw, backend_name)["requests"]
            if r["method"] == "POST" and r["reference"] == ref]


def reads(gw, backend_name, path_part):
    got = gw.sim_request("GET", f"/_sim/received?backend={backend_name}&include_reads=1").json
    return [r for r in got["requests"] if r["method"] == "GET" and path_part in r["path"]]


# ---- every answer shape ends forwarded (with the back-end's reference) or failed ----

@pytest.mark.parametrize("variant,status,want_reference", [
    ("array", 201, "BW-000001"),
    ("array", 200, "BW-000001"),
    ("object", 200, "BW-000001"),
    ("object", 202, "BW-000001"),
    ("numeric", 201, "1"),
    ("numeric", 202, "1"),
])
def test_open311_answers_with_an_id_are_forwarded_with_it(gateway, variant, status,
                                                          want_reference):
    fault(gateway, "bulky", "up", open311=variant, open311_status=status)
    token = gateway.sign_in()
    ref = sell(gateway, token, "bulky-refuse", bulky_fields(gateway, token))
    t = settled(gateway, token, ref)
    assert t["status"] == "forwarded", t
    assert t["backend_reference"] == want_reference
    assert t["delivery"]["backend_reference"] == want_reference
    assert t["delivery"]["note"] is None
    [post] = posts_for(gateway, "bulky", ref)
    assert post["status"] == status
    # the id is polled for progress, whatever its type, and completion reaches the counter
    wait_until(lambda: reads(gateway, "bulky", f"/requests/{want_reference}.json"), timeout=10,
               what="a status poll by the back-end's id")
    r = gateway.sim_request("POST", "/_sim/complete", {"backend": "bulky", "reference": ref})
    assert r.status == 200, r
    wait_until(lambda: txn(gateway, token, ref)["status"] == "completed", timeout=10,
               what="completed")


@pytest.mark.parametrize("variant,want_error", [
    ("error_numeric", "HTTP 400: the department refused the request (simulated)"),
    ("error_string",
     "HTTP 400: the department refused the request (simulated) (code invalid_request)"),
])
def test_open311_error_lists_fail_with_the_backends_words(gateway, variant, want_error):
    fault(gateway, "bulky", "up", open311=variant)
    token = gateway.sign_in()
    ref = sell(gateway, token, "bulky-refuse", bulky_fields(gateway, token))
    t = settled(gateway, token, ref)
    assert t["status"] == "failed", t
    assert t["delivery"]["state"] == "failed"
    assert t["delivery"]["last_error"] == want_error
    assert t["backend_reference"] is None
    supervisor = gateway.sign_in("supervisor")
    r = gateway.request("GET", "/api/v1/deliveries/failed", token=supervisor)
    assert r.status == 200, r  # the supervisors' dead-letter list shows the same words
    [row] = [d for d in r.json["deliveries"] if d["reference"] == ref]
    assert row["last_error"] == want_error


def test_open311_blackbox_is_forwarded_without_a_reference_and_never_polled(gateway):
    fault(gateway, "bulky", "up", open311="blackbox", open311_status=200)
    token = gateway.sign_in()
    ref = sell(gateway, token, "bulky-refuse", bulky_fields(gateway, token))
    t = settled(gateway, token, ref)
    assert t["status"] == "forwarded", t
    assert t["delivery"]["state"] == "delivered"
    assert not t["backend_reference"]
    assert not t["delivery"]["backend_reference"]
    assert "gave no reference" in t["delivery"]["note"]
    # a later request with an id is polled (poll_interval_s 1); the blackbox one never is
    fault(gateway, "bulky", "up")
    other = sell(gateway, token, "bulky-refuse", bulky_fields(gateway, token))
    assert settled(gateway, token, other)["status"] == "forwarded"
    wait_until(lambda: len(reads(gateway, "bulky", "/requests/")) >= 2, timeout=10,
               what="two status polls of the other request")
    polled = {r["path"] for r in reads(gateway, "bulky", "/requests/")}
    assert polled == {"/bulky/requests/BW-000002.json"}
    # nor was a poll even attempted (one without an id would fail before it is sent)
    assert not [line for line in gateway.log().splitlines()
                if '"status_poll"' in line and f"reference={ref} " in line]
    assert txn(gateway, token, ref)["status"] == "forwarded"


def test_open311_token_is_exchanged_for_the_id(make_gateway):
    gw = started(make_gateway, bulky={"token_poll_interval_s": 1, "token_poll_tries": 5})
    fault(gw, "bulky", "up", open311="token", open311_status=202, token_polls=2)
    token = gw.sign_in()
    ref = sell(gw, token, "bulky-refuse", bulky_fields(gw, token))
    t = settled(gw, token, ref)
    assert t["status"] == "forwarded", t  # forwarded at once, before the id is known
    assert t["delivery"]["backend_token"] == "TK-000001"
    t = wait_until(lambda: (x := txn(gw, token, ref))["backend_reference"] and x, timeout=15,
                   interval=0.1, what="the id from the token")
    assert t["backend_reference"] == "BW-000001"
    assert t["delivery"]["backend_reference"] == "BW-000001"
    assert t["status"] == "forwarded"
    assert len(reads(gw, "bulky", "/tokens/TK-000001.json")) == 3  # two without the id, then it
    assert len(posts_for(gw, "bulky", ref)) == 1
    # then it is polled by its id like any other
    r = gw.sim_request("POST", "/_sim/complete", {"backend": "bulky", "reference": ref})
    assert r.status == 200, r
    wait_until(lambda: txn(gw, token, ref)["status"] == "completed", timeout=10,
               what="completed")


def test_open311_token_without_an_id_in_time_stays_forwarded_and_is_not_resent(make_gateway):
    gw = started(make_gateway, bulky={"token_poll_interval_s": 1, "token_poll_tries": 3})
    fault(gw, "bulky", "up", open311="token", token_polls=1000000)
    token = gw.sign_in()
    ref = sell(gw, token, "bulky-refuse", bulky_fields(gw, token))
    t = wait_until(lambda: (x := txn(gw, token, ref))["delivery"]["note"] and x, timeout=20,
                   interval=0.1, what="the note after the last token exchange")
    assert "not sent again" in t["delivery"]["note"]
    assert "TK-000001" in t["delivery"]["note"]
    assert t["status"] == "forwarded"
    assert t["delivery"]["state"] == "delivered"
    assert not t["backend_reference"]
    assert len(reads(gw, "bulky", "/tokens/")) == 3
    assert len(posts_for(gw, "bulky", ref)) == 1
    assert received(gw, "bulky")["attempts"] >= 4  # slots, the POST, three exchanges
    audit = gw.cli("audit", "--action", "delivery_note")
    assert audit.returncode == 0, audit.stderr
    assert ref in audit.stdout and "not sent again" in audit.stdout


# ---- lookup_before_resend: a back-end that ignores idempotency keys ----

PARKING_FAST = {"timeout_ms": 1000, "retry_schedule_s": [1], "give_up_after_s": 600}


@pytest.mark.parametrize("lookup", [False, True])
def test_timeout_then_resend_duplicates_unless_looked_up_first(make_gateway, lookup):
    gw = started(make_gateway, parking=dict(PARKING_FAST, lookup_before_resend=lookup))
    # parking acts on every POST (no idempotency) and answers the first one after our timeout
    fault(gw, "parking", "late", delay_ms=3000, count=1, writes_only=True, idempotency="ignore")
    token = gw.sign_in()
    ref = sell(gw, token, "residents-parking-permit", parking_fields(0))
    t = settled(gw, token, ref)
    assert t["status"] == "forwarded", t
    posts = posts_for(gw, "parking", ref)
    if not lookup:
        # the resend under the same key made a second permit: the duplicate we must avoid
        assert len(posts) == 2, posts
        assert posts[0]["idempotency_key"] == posts[1]["idempotency_key"]
        assert t["backend_reference"] == "PP-000002"
        assert not reads(gw, "parking", "/permits")
    else:
        assert len(posts) == 1, posts
        assert t["backend_reference"] == "PP-000001"
        assert t["delivery"]["backend_reference"] == "PP-000001"
        assert "not sent again" in t["delivery"]["note"]
        [look] = reads(gw, "parking", "/parking/permits")
        assert look["query"] == "reference=" + ref
        assert t["delivery"]["outcome_unknown"] is False
    assert len(received(gw, "parking")["requests"]) == (1 if lookup else 2)


def test_lookup_that_finds_nothing_sends_again_once(make_gateway):
    gw = started(make_gateway, parking=dict(PARKING_FAST, lookup_before_resend=True))
    # a 500 may mean "acted, then failed": unknown. Here the back-end did not act.
    fault(gw, "parking", "error", count=1, writes_only=True, idempotency="ignore")
    token = gw.sign_in()
    ref = sell(gw, token, "residents-parking-permit", parking_fields(1))
    t = settled(gw, token, ref)
    assert t["status"] == "forwarded", t
    assert len(posts_for(gw, "parking", ref)) == 1
    assert t["backend_reference"] == "PP-000001"
    assert len(reads(gw, "parking", "/parking/permits")) == 1
    assert t["delivery"]["attempts"] == 2  # the failed attempt and the one that was accepted


def test_open311_dropped_connection_is_looked_up_not_resent(make_gateway):
    gw = started(make_gateway, bulky={"lookup_before_resend": True, "timeout_ms": 2000})
    fault(gw, "bulky", "drop", count=1, writes_only=True, idempotency="ignore")
    token = gw.sign_in()
    ref = sell(gw, token, "bulky-refuse", bulky_fields(gw, token))
    t = settled(gw, token, ref)
    assert t["status"] == "forwarded", t
    assert len(posts_for(gw, "bulky", ref)) == 1
    assert t["backend_reference"] == "BW-000001"
    assert "not sent again" in t["delivery"]["note"]
    [look] = reads(gw, "bulky", "/bulky/requests.json")
    assert urllib.parse.parse_qs(look["query"]) == {"attribute[reference]": [ref]}
    # and it is then polled by the id the look-up found
    wait_until(lambda: reads(gw, "bulky", "/requests/BW-000001.json"), timeout=10,
               what="a status poll by the found id")


def test_unknown_outcome_survives_a_restart(make_gateway):
    gw = started(make_gateway, parking=dict(PARKING_FAST, lookup_before_resend=True))
    fault(gw, "parking", "late", delay_ms=3000, count=1, writes_only=True, idempotency="ignore")
    token = gw.sign_in()
    ref = sell(gw, token, "residents-parking-permit", parking_fields(2))
    # the back-end has acted; from now on it is down, so no look-up can succeed before we stop
    wait_until(lambda: posts_for(gw, "parking", ref), timeout=10, what="the first POST")
    fault(gw, "parking", "down", idempotency="ignore")
    t = wait_until(lambda: (x := txn(gw, token, ref))["delivery"]["attempts"] >= 2 and x,
                   timeout=20, interval=0.1, what="a failed look-up after the timeout")
    assert t["delivery"]["outcome_unknown"] is True
    assert t["delivery"]["state"] == "pending"
    assert "look-up before resend" in t["delivery"]["last_error"]
    assert gw.daemon.stop() == 0
    fault(gw, "parking", "up", idempotency="ignore")
    gw.start_daemon()
    t = settled(gw, token := gw.sign_in(), ref)
    assert t["status"] == "forwarded", t
    assert len(posts_for(gw, "parking", ref)) == 1
    assert t["backend_reference"] == "PP-000001"
    assert metric(gw, "onestop_deliveries_attempted_total", "parking") == 0  # no POST since


def test_request_in_flight_at_shutdown_is_looked_up_after_the_restart(make_gateway):
    gw = started(make_gateway, parking={"timeout_ms": 20000, "retry_schedule_s": [1],
                                        "lookup_before_resend": True})
    # the back-end acts at once but answers only after onestopd has given up waiting at stop
    fault(gw, "parking", "late", delay_ms=15000, count=1, writes_only=True, idempotency="ignore")
    token = gw.sign_in()
    ref = sell(gw, token, "residents-parking-permit", parking_fields(3))
    wait_until(lambda: posts_for(gw, "parking", ref), timeout=10, what="the first POST")
    assert gw.daemon.stop() == 0  # the in-flight request is aborted after the grace period
    assert "forwarder_aborted" in gw.log()
    gw.start_daemon()
    t = settled(gw, token := gw.sign_in(), ref)
    assert t["status"] == "forwarded", t
    assert len(posts_for(gw, "parking", ref)) == 1
    assert t["backend_reference"] == "PP-000001"
    assert "not sent again" in t["delivery"]["note"]
