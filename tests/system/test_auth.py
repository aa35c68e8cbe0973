"""Authentication per back-end (hmac, api-key, bearer, none, oauth2-jwt) and the NHS e-Referral
look-up through oauth2-jwt, against the real onestopd and onestop-sim.

The simulator's NHS token endpoint verifies each client assertion (RS512 signature with the
public key, iss/sub, aud, exp, a fresh jti) and counts the tokens it issues (GET /_sim/nhs);
/_sim/received shows the headers each accepted request carried."""

import concurrent.futures
import http.client
import json
import os
import re
import subprocess

import pytest

from onestop_env import ONESTOPD, Gateway, wait_until
from txn_helpers import card, parking, sell

MATCH = {"ubrn": "000000070000", "nhs_number": "9912003888"}


def stop_cleanly(gw):
    """The gateway exits 0 and, in a sanitizer build, neither it nor the simulator reported
    anything."""
    daemon_alive = gw.daemon is not None and gw.daemon.alive()
    rc = gw.stop()
    if daemon_alive:
        assert rc == 0, gw.log()[-3000:]
    for name in ("onestopd.log", "sim.log"):
        path = os.path.join(gw.dir, name)
        if os.path.exists(path):
            with open(path, errors="replace") as f:
                text = f.read()
            assert "Sanitizer" not in text and "runtime error" not in text, text[-6000:]


@pytest.fixture
def gateway(tmp_path):
    """A fresh onestopd + simulator (overrides conftest's: this one checks the stop)."""
    gw = Gateway(tmp_path).start()
    yield gw
    stop_cleanly(gw)


@pytest.fixture
def make_gateway(tmp_path):
    made = []

    def make(name="gw", **kwargs):
        d = tmp_path / name
        d.mkdir()
        gw = Gateway(d, **kwargs)
        made.append(gw)
        return gw

    yield make
    for gw in made:
        stop_cleanly(gw)


def lookup(gw, token, body):
    return gw.request("POST", "/api/v1/referrals/lookup", body, token=token)


def nhs(gw):
    r = gw.sim_request("GET", "/_sim/nhs")
    assert r.status == 200, r
    return r.json


def test_a_matching_referral_is_shown_in_plain_words(gateway):
    token = gateway.sign_in()
    r = lookup(gateway, token, {"ubrn": "0000 0007 0000", "nhs_number": "991 200 3888"})
    assert r.status == 200, r
    body = r.json
    assert body["ubrn"] == "000000070000"
    assert body["state"] == "NOT_BOOKED"
    assert body["state_label"] == "Not booked yet"
    assert body["priority"] == "Routine"
    assert body["specialty"] == "Cardiology"
    assert body["clinic_type"] == "Arrhythmia"
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
                        body["lookup_id"]), body
    assert "9912003888" not in json.dumps(body)
    booked = lookup(gateway, token, {"ubrn": "000000070001", "nhs_number": "9912003888"})
    assert booked.status == 200 and booked.json["state_label"] == "Booked", booked
    # the read carried the correlation id and the bearer token, never the NHS number
    reads = gateway.sim_request("GET", "/_sim/received?backend=nhs-ers&include_reads=1").json
    first = reads["requests"][0]
    assert first["path"] == "/nhs-ers/STU3/ReferralRequest/000000070000"
    headers = {k.lower(): v for k, v in first["headers"].items()}
    assert headers["x-correlation-id"] == body["lookup_id"]
    assert headers["authorization"].startswith("Bearer ")
    assert "x-onestop-signature" not in headers
    for sent in reads["requests"]:
        outgoing = {k: sent.get(k) for k in ("path", "query", "body", "headers")}
        assert "9912003888" not in json.dumps(outgoing)
    assert "9912003888" not in gateway.log()


def test_a_wrong_nhs_number_gets_the_same_answer_as_an_unknown_ubrn(gateway):
    token = gateway.sign_in()
    mismatch = lookup(gateway, token, {"ubrn": "000000070000", "nhs_number": "9434765919"})
    unknown = lookup(gateway, token, {"ubrn": "000000079999", "nhs_number": "9912003888"})
    assert mismatch.status == 422, mismatch
    assert unknown.status == 422, unknown
    assert mismatch.body == unknown.body
    fields = {f["field"] for f in mismatch.json["error"]["fields"]}
    assert fields == {"ubrn", "nhs_number"}
    text = mismatch.body.decode()
    for detail in ("NOT_BOOKED", "Cardiology", "CARDIOLOGY", "9912003888", "Routine"):
        assert detail not in text


def test_malformed_input_names_the_field(gateway):
    token = gateway.sign_in()
    r = lookup(gateway, token, {"ubrn": "12345", "nhs_number": "9912003888"})
    assert r.status == 422
    assert [f["field"] for f in r.json["error"]["fields"]] == ["ubrn"]
    r = lookup(gateway, token, {"ubrn": "000000070000", "nhs_number": "9912003887"})
    assert r.status == 422
    assert [(f["field"], f["code"]) for f in r.json["error"]["fields"]] == \
        [("nhs_number", "invalid_nhs_number")]
    r = lookup(gateway, token, {})
    assert {f["field"] for f in r.json["error"]["fields"]} == {"ubrn", "nhs_number"}
    assert gateway.request("POST", "/api/v1/referrals/lookup", MATCH).status == 401
    assert nhs(gateway)["tokens_issued"] == 0  # nothing was sent for bad input


def test_twenty_concurrent_lookups_fetch_one_token(gateway):
    token = gateway.sign_in()
    with concurrent.futures.ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(lambda _: lookup(gateway, token, MATCH), range(20)))
    assert [a.status for a in answers] == [200] * 20, answers
    state = nhs(gateway)
    assert state["tokens_issued"] == 1, state
    assert state["referral_reads"] == 20, state
    received = gateway.sim_request("GET", "/_sim/received?backend=nhs-token").json
    assert len(received["requests"]) == 1


def test_a_revoked_token_is_renewed_once_and_the_lookup_succeeds(gateway):
    token = gateway.sign_in()
    assert lookup(gateway, token, MATCH).status == 200
    assert nhs(gateway)["tokens_issued"] == 1
    r = gateway.sim_request("POST", "/_sim/nhs", {"revoke_tokens": True})
    assert r.status == 200 and r.json["tokens_live"] == 0
    again = lookup(gateway, token, MATCH)
    assert again.status == 200, again
    state = nhs(gateway)
    assert state["tokens_issued"] == 2, state
    assert state["referral_reads"] == 2, state
    # the new token is cached: no further fetch
    assert lookup(gateway, token, MATCH).status == 200
    assert nhs(gateway)["tokens_issued"] == 2


def test_a_token_is_renewed_before_it_expires(gateway):
    """Tokens that live 2 s: the gateway renews each before the NHS would refuse it, so no read
    is ever refused for its token."""
    token = gateway.sign_in()
    gateway.sim_request("POST", "/_sim/nhs", {"token_lifetime_s": 2})

    statuses = []

    def renewed_twice():
        statuses.append(lookup(gateway, token, MATCH).status)
        return nhs(gateway)["tokens_issued"] >= 3

    wait_until(renewed_twice, timeout=30, interval=0.1, what="two renewals")
    assert set(statuses) == {200}, statuses
    assert nhs(gateway)["referral_reads_refused"] == 0


def test_nhs_errors_become_messages_an_assistant_can_act_on(gateway):
    token = gateway.sign_in()
    gateway.sim_request("POST", "/_sim/nhs", {"token_error": 403})
    r = lookup(gateway, token, MATCH)
    assert r.status == 503, r
    assert r.json["error"]["code"] == "backend_unavailable"
    assert "Try again" in r.json["error"]["message"]
    assert "has no access" in gateway.log()  # the operator's detail is in the log
    gateway.sim_request("POST", "/_sim/nhs", {"token_error": 0})

    # a token endpoint that failed is not asked again for a few seconds; wait for a token
    wait_until(lambda: lookup(gateway, token, MATCH).status == 200, timeout=15, interval=0.2,
               what="the token endpoint to be asked again")
    gateway.sim_request("POST", "/_sim/nhs", {"ers_error": 429})
    r = lookup(gateway, token, MATCH)
    assert r.status == 503 and r.json["error"]["code"] == "backend_busy", r
    assert "busy" in r.json["error"]["message"]
    gateway.sim_request("POST", "/_sim/nhs", {"ers_error": 0})

    assert gateway.sim_request("POST", "/_sim/faults",
                               {"backend": "nhs-ers", "mode": "down"}).status == 200
    r = lookup(gateway, token, MATCH)
    assert r.status == 503 and r.json["error"]["code"] == "backend_unavailable", r
    assert "not answering" in r.json["error"]["message"]


def test_token_endpoint_refuses_a_reused_or_forged_assertion(gateway):
    """The simulator's checks, so the gateway's success above means something."""
    token = gateway.sign_in()
    assert lookup(gateway, token, MATCH).status == 200
    sent = gateway.sim_request("GET", "/_sim/received?backend=nhs-token").json["requests"][0]
    conn = http.client.HTTPConnection("127.0.0.1", gateway.sim_port, timeout=10)
    conn.request("POST", "/nhs-token/oauth2/token", body=sent["body"],
                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    resp = conn.getresponse()
    answer = json.loads(resp.read())
    conn.close()
    assert resp.status == 400
    assert answer["error_description"] == "Non-unique jti claim in JWT"
    forged = sent["body"][:-8] + ("AAAAAAAA" if not sent["body"].endswith("AAAAAAAA") else "BBBBBBBB")
    conn = http.client.HTTPConnection("127.0.0.1", gateway.sim_port, timeout=10)
    conn.request("POST", "/nhs-token/oauth2/token", body=forged,
                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    resp = conn.getresponse()
    resp.read()
    conn.close()
    assert resp.status in (400, 401)
    assert nhs(gateway)["tokens_issued"] == 1


@pytest.mark.parametrize("auth", ["bearer", "api-key", "none", "oauth2-jwt"])
def test_a_delivery_carries_its_backends_authentication(make_gateway, auth):
    gw = make_gateway()
    secret = "s3cr3t-" + auth + "-0123456789abcdef"
    with open(os.path.join(gw.keys_dir, "parking-cred.key"), "w") as f:
        f.write(secret + "\n")
    parking_be = gw.config["backends"][0]
    del parking_be["signing_key_file"]
    parking_be["auth"] = auth
    if auth == "bearer":
        parking_be["bearer_token_file"] = "keys/parking-cred.key"
    elif auth == "api-key":
        parking_be["api_key_file"] = "keys/parking-cred.key"
        parking_be["api_key_header"] = "X-Api-Key"
    elif auth == "oauth2-jwt":  # the NHS test token endpoint stands in for the permit system's
        nhs_be = next(b for b in gw.config["backends"] if b["name"] == "nhs-ers")
        for key in ("token_url", "client_id", "kid", "private_key_file"):
            parking_be[key] = nhs_be[key]
    gw.sim_unsigned.add("parking")
    gw.write_config()
    gw.start()
    token = gw.sign_in()
    r, _ = sell(gw, token, parking(), card())
    assert r.status == 201, r

    def arrived():
        got = gw.sim_request("GET", "/_sim/received?backend=parking").json["requests"]
        return got[0] if got else None

    request = wait_until(arrived, timeout=20, what="the permit at the parking back-end")
    headers = {k.lower(): v for k, v in request["headers"].items()}
    assert "x-onestop-signature" not in headers
    assert "x-onestop-timestamp" not in headers
    assert request["idempotency_key"]
    if auth == "bearer":
        assert headers["authorization"] == "Bearer " + secret
    elif auth == "oauth2-jwt":
        issued = gw.sim_request("GET", "/_sim/received?backend=nhs-token").json["requests"]
        assert len(issued) == 1
        access_token = json.loads(issued[0]["response"])["access_token"]
        assert headers["authorization"] == "Bearer " + access_token
    elif auth == "api-key":
        assert headers["x-api-key"] == secret
        assert "authorization" not in headers
    else:
        assert "authorization" not in headers and "x-api-key" not in headers
    assert secret not in gw.log()


def test_an_hmac_delivery_is_still_signed(gateway):
    token = gateway.sign_in()
    r, _ = sell(gateway, token, parking(), card())
    assert r.status == 201, r
    request = wait_until(
        lambda: (gateway.sim_request("GET", "/_sim/received?backend=parking").json["requests"]
                 or [None])[0], timeout=20, what="the permit at the parking back-end")
    assert request["signature_ok"] is True
    headers = {k.lower(): v for k, v in request["headers"].items()}
    assert "authorization" not in headers


def check_config(gw, backend_changes, remove=()):
    cfg = json.loads(json.dumps(gw.config))
    be = next(b for b in cfg["backends"] if b["name"] == backend_changes.get("name", "parking"))
    for key in remove:
        be.pop(key, None)
    be.update(backend_changes)
    path = os.path.join(gw.dir, "check.json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    index = cfg["backends"].index(be)
    r = subprocess.run([ONESTOPD, "--check-config", path], capture_output=True, text=True,
                       timeout=60)
    return r.returncode, r.stderr, f"check.json: backends[{index}]"


def test_check_config_names_auth_options_that_do_not_fit(make_gateway):
    gw = make_gateway()
    rc, err, at = check_config(gw, {})
    assert rc == 0, err
    cases = [
        ({"name": "nhs-ers"}, ["token_url"], "auth: oauth2-jwt needs token_url"),
        ({"name": "nhs-ers"}, ["kid"], "auth: oauth2-jwt needs kid"),
        ({"name": "nhs-ers"}, ["client_id"], "auth: oauth2-jwt needs client_id"),
        ({"name": "nhs-ers"}, ["private_key_file"], "auth: oauth2-jwt needs private_key_file"),
        ({"name": "nhs-ers", "private_key_file": "keys/parking.key"}, [],
         "private_key_file: "),
        ({"auth": "none"}, [], "auth: none sends no credentials"),
        ({"auth": "bearer"}, ["signing_key_file"], "auth: bearer needs bearer_token_file"),
        ({"auth": "api-key", "api_key_file": "keys/parking.key"}, ["signing_key_file"],
         "auth: api-key needs api_key_header"),
        ({"kid": "k1"}, [], "kid: goes with auth oauth2-jwt (auth is hmac)"),
        ({"auth": "hmac"}, ["signing_key_file"], "auth: hmac needs signing_key_file"),
        ({}, ["signing_key_file"], "auth: is required when signing_key_file is not given"),
        ({"bearer_token_file": "keys/parking.key"}, [], "bearer_token_file: goes with auth bearer"),
        ({"auth": "magic"}, [], "auth: must be one of"),
    ]
    for changes, remove, problem in cases:
        rc, err, at = check_config(gw, dict(changes), remove)
        assert rc == 1, (changes, remove, err)
        assert f"{at}.{problem}" in err, (changes, remove, err)
