"""Receipt copies by e-mail and text message through the simulator's GOV.UK Notify.

Each copy is a row of the copy outbox sent by onestopd's Notify sender with a fresh HS256
JWT; the simulator checks the JWT and the templates, records every accepted message
(GET /_sim/received?backend=notify) and sends delivery callbacks on request. Notify has no
idempotency key, so "exactly once" rests on the gateway: a 2xx is never resent, a 503 is, and
an attempt whose answer was lost is looked up by the copy's own reference before any resend.
Every wait is for a condition."""

import base64
import json
import os
import subprocess
import uuid

import pytest

from onestop_env import ONESTOPD, Gateway, unseal, wait_until
from notify_env import EMAIL_TEMPLATE, SMS_TEMPLATE, notify_key, with_notify
from test_receipt_access import check_accessible
from txn_helpers import sell

EMAIL = "resident.copy@example.org"
PHONE = "07700 900123"
PHONE_E164 = "+447700900123"


@pytest.fixture
def notify_gw(tmp_path):
    gw = with_notify(Gateway(tmp_path)).start()
    yield gw
    gw.stop()


def sold(gw, token):
    r, _ = sell(gw, token)
    assert r.status == 201, r
    return r.json["reference"]


def ask_copy(gw, token, reference, body, key=None):
    return gw.request("POST", f"/api/v1/transactions/{reference}/receipt-copies", body,
                      token=token, headers={"Idempotency-Key": key or str(uuid.uuid4())})


def received(gw):
    r = gw.sim_request("GET", "/_sim/received?backend=notify")
    assert r.status == 200, r
    return r.json


def copies_of(gw, token, reference):
    r = gw.request("GET", f"/api/v1/transactions/{reference}", token=token)
    assert r.status == 200, r
    return r.json["receipt_copies"]


def dump_of(gw):
    return gw.store_dump()


def copy_payloads(gw):
    """Every receipt copy's stored payload, opened with the test's data key."""
    c = gw.store_db()
    try:
        return "\n".join(str(unseal(gw.keys_dir, v))
                         for (v,) in c.execute("SELECT payload FROM receipt_copies"))
    finally:
        c.close()


def wait_copies(gw, token, reference, pred, what):
    return wait_until(lambda: (lambda c: c if pred(c) else None)(copies_of(gw, token, reference)),
                      timeout=20, what=what)


def test_email_and_text_copy_reach_notify_once_with_a_valid_jwt_and_the_pdf(notify_gw, tmp_path):
    gw = notify_gw
    token = gw.sign_in()
    ref = sold(gw, token)
    r = ask_copy(gw, token, ref, {"email": EMAIL, "phone": PHONE})
    assert r.status == 202, r
    assert [c["channel"] for c in r.json["copies"]] == ["email", "sms"]
    assert EMAIL not in json.dumps(r.json) and PHONE_E164 not in json.dumps(r.json)
    copies = wait_copies(gw, token, ref, lambda cs: all(c["state"] == "sent" for c in cs),
                         "both copies sent")
    assert all(c["notification_id"] for c in copies)
    got = received(gw)
    assert len(got["requests"]) == 2 and got["attempts"] == 2
    bodies = {req["path"]: json.loads(req["body"]) for req in got["requests"]}
    email = bodies["/notify/v2/notifications/email"]
    sms = bodies["/notify/v2/notifications/sms"]
    assert email["email_address"] == EMAIL and email["template_id"] == EMAIL_TEMPLATE
    assert sms["phone_number"] == PHONE_E164 and sms["template_id"] == SMS_TEMPLATE
    p = email["personalisation"]
    assert p["reference"] == ref and p["amount"].startswith("£")
    assert p["status_url"].startswith(f"http://127.0.0.1:{gw.port}/r/{ref}?t=")
    assert base64.b64decode(p["link_to_file"]["file"]).startswith(b"%PDF-")
    # the e-mailed PDF is as accessible as a printed one: tagged, /Lang, the QR code's /Alt
    pdf = tmp_path / "copy.pdf"
    pdf.write_bytes(base64.b64decode(p["link_to_file"]["file"]))
    check_accessible(str(pdf), "en", ref)
    assert p["link_to_file"]["is_csv"] is False
    assert "link_to_file" not in sms["personalisation"]
    # the JWT the gateway sent is Notify's: HS256 over iss (the key's service id) and iat
    auth = got["requests"][0]["headers"]["Authorization"]
    header, claims, _ = auth.split(" ", 1)[1].split(".")
    pad = lambda s: s + "=" * (-len(s) % 4)  # noqa: E731
    assert json.loads(base64.urlsafe_b64decode(pad(header)))["alg"] == "HS256"
    with open(os.path.join(gw.keys_dir, "notify.key")) as f:
        service_id = f.read().strip()[-73:-37]
    assert json.loads(base64.urlsafe_b64decode(pad(claims)))["iss"] == service_id
    assert gw.sim_request("GET", "/_sim/notify").json["auth_refused"] == 0


def test_a_copy_that_met_503_twice_reaches_notify_exactly_once(notify_gw):
    gw = notify_gw
    token = gw.sign_in()
    ref = sold(gw, token)
    r = gw.sim_request("POST", "/_sim/faults", {"backend": "notify", "mode": "down", "count": 2})
    assert r.status == 200, r
    assert ask_copy(gw, token, ref, {"email": EMAIL}).status == 202
    copies = wait_copies(gw, token, ref, lambda cs: cs[0]["state"] == "sent", "copy sent")
    assert copies[0]["attempts"] == 3
    got = received(gw)
    assert got["attempts"] == 3 and len(got["requests"]) == 1


def test_a_rate_limited_copy_is_sent_again_once(notify_gw):
    gw = notify_gw
    token = gw.sign_in()
    ref = sold(gw, token)
    assert gw.sim_request("POST", "/_sim/notify", {"rate_limit": 1}).status == 200
    assert ask_copy(gw, token, ref, {"phone": PHONE}).status == 202
    wait_copies(gw, token, ref, lambda cs: cs[0]["state"] == "sent", "copy sent")
    assert len(received(gw)["requests"]) == 1


def test_an_answer_lost_after_notify_accepted_is_looked_up_and_not_resent(notify_gw):
    gw = notify_gw
    token = gw.sign_in()
    ref = sold(gw, token)
    r = gw.sim_request("POST", "/_sim/faults",
                       {"backend": "notify", "mode": "drop", "count": 1, "writes_only": True})
    assert r.status == 200, r
    assert ask_copy(gw, token, ref, {"email": EMAIL}).status == 202
    copies = wait_copies(gw, token, ref, lambda cs: cs[0]["state"] == "sent", "copy sent")
    got = received(gw)
    assert len(got["requests"]) == 1, got  # one message at Notify
    assert copies[0]["notification_id"] == json.loads(got["requests"][0]["response"])["id"]
    assert "not sent again" in copies[0]["note"]
    reads = gw.sim_request("GET", "/_sim/received?backend=notify&include_reads=1").json
    assert [q["method"] for q in reads["requests"]] == ["POST", "GET"]


def test_a_wrong_secret_is_refused_by_notify_and_shows_on_the_transaction(tmp_path):
    right = notify_key()
    wrong = right[:-36] + str(uuid.uuid4())  # same service id, another secret
    gw = with_notify(Gateway(tmp_path), gateway_key=wrong, sim_key=right).start()
    try:
        token = gw.sign_in()
        ref = sold(gw, token)
        assert ask_copy(gw, token, ref, {"email": EMAIL}).status == 202
        copies = wait_copies(gw, token, ref, lambda cs: cs[0]["state"] == "failed",
                             "copy failed")
        assert "AuthError" in copies[0]["last_error"] and "signature" in copies[0]["last_error"]
        stats = gw.sim_request("GET", "/_sim/notify").json
        assert stats["auth_refused"] == 1 and stats["messages"] == 0
        assert received(gw)["requests"] == []
        # a copy that failed for good has no more use for the address either
        assert EMAIL not in dump_of(gw)
    finally:
        gw.stop()


def test_callbacks_show_on_the_transaction_and_a_resend_changes_nothing(notify_gw):
    gw = notify_gw
    token = gw.sign_in()
    ref = sold(gw, token)
    assert ask_copy(gw, token, ref, {"email": EMAIL, "phone": PHONE}).status == 202
    copies = wait_copies(gw, token, ref, lambda cs: all(c["state"] == "sent" for c in cs),
                         "copies sent")
    email_id, sms_id = copies[0]["notification_id"], copies[1]["notification_id"]
    r = gw.sim_request("POST", "/_sim/notify/callback", {"id": email_id, "status": "delivered"})
    assert r.status == 200 and r.json["gateway_status"] == 204, r
    r = gw.sim_request("POST", "/_sim/notify/callback",
                       {"id": sms_id, "status": "permanent-failure"})
    assert r.json["gateway_status"] == 204, r
    copies = copies_of(gw, token, ref)
    assert [c["notify_status"] for c in copies] == ["delivered", "permanent-failure"]
    status = gw.request("GET", f"/api/v1/transactions/{ref}/status", token=token).json
    assert [c["notify_status"] for c in status["receipt_copies"]] == ["delivered",
                                                                    "permanent-failure"]
    assert all("to" not in c for c in status["receipt_copies"])
    # the same report again: the same answer
    r = gw.sim_request("POST", "/_sim/notify/callback", {"id": email_id, "status": "delivered"})
    assert r.json["gateway_status"] == 204
    # a callback without the bearer token is refused
    body = {"id": email_id, "reference": "x", "status": "technical-failure"}
    r = gw.request("POST", "/api/v1/callbacks/notify", body,
                   headers={"Authorization": "Bearer not-the-token"})
    assert r.status == 401 and r.json["error"]["code"] == "bad_token"
    r = gw.request("POST", "/api/v1/callbacks/notify", body)
    assert r.status == 401
    assert copies_of(gw, token, ref)[0]["notify_status"] == "delivered"


def test_the_contact_is_gone_from_the_store_and_never_in_the_logs(notify_gw):
    gw = notify_gw
    token = gw.sign_in()
    ref = sold(gw, token)
    assert ask_copy(gw, token, ref, {"email": EMAIL, "phone": PHONE}).status == 202
    copies = wait_copies(gw, token, ref, lambda cs: all(c["state"] == "sent" for c in cs),
                         "copies sent")
    assert copies[0]["to"] == "r***@example.org"
    assert copies[1]["to"].startswith("+44") and "900123" not in copies[1]["to"]
    dump = dump_of(gw)
    assert "receipt_copies" in dump
    for secret in (EMAIL, PHONE_E164, "7700900123", "resident.copy"):
        assert secret not in dump, secret
        assert secret not in gw.log(), secret
        assert secret not in gw.sim.output(), secret


@pytest.mark.parametrize("body,field,code", [
    ({"email": "not-an-address"}, "email", "invalid"),
    ({"email": "a@b"}, "email", "invalid"),
    ({"phone": "01614744000"}, "phone", "invalid"),  # a landline: no text messages
    ({"phone": "+1 202 555 0100"}, "phone", "invalid"),
    ({}, "email", "required"),
    ({"email": EMAIL, "language": "cy"}, "language", "unsupported"),
    ({"email": EMAIL, "fax": "x"}, "fax", "unknown"),
])
def test_bad_contact_details_are_refused_naming_the_field(notify_gw, body, field, code):
    gw = notify_gw
    token = gw.sign_in()
    ref = sold(gw, token)
    r = ask_copy(gw, token, ref, body)
    assert r.status == 422, r
    fields = r.json["error"]["fields"]
    assert [(f["field"], f["code"]) for f in fields] == [(field, code)]
    assert fields[0]["message"]
    assert copies_of(gw, token, ref) == []


def test_idempotency_key_replays_and_conflicts(notify_gw):
    gw = notify_gw
    token = gw.sign_in()
    ref = sold(gw, token)
    key = str(uuid.uuid4())
    first = ask_copy(gw, token, ref, {"phone": PHONE}, key=key)
    assert first.status == 202
    again = ask_copy(gw, token, ref, {"phone": PHONE}, key=key)
    assert again.status == 200 and again.json == first.json
    other = ask_copy(gw, token, ref, {"phone": "07700 900456"}, key=key)
    assert other.status == 409 and other.json["error"]["code"] == "idempotency_conflict"
    r = gw.request("POST", f"/api/v1/transactions/{ref}/receipt-copies", {"phone": PHONE},
                   token=token)
    assert r.status == 400 and r.json["error"]["code"] == "missing_idempotency_key"
    wait_copies(gw, token, ref, lambda cs: cs[0]["state"] == "sent", "copy sent")
    assert len(copies_of(gw, token, ref)) == 1
    assert len(received(gw)["requests"]) == 1


def test_another_sites_transaction_is_not_found(notify_gw):
    gw = notify_gw
    token = gw.sign_in()
    ref = sold(gw, token)
    other = gw.sign_in(counter="LIB-CEN")
    r = ask_copy(gw, other, ref, {"email": EMAIL})
    assert r.status == 404, r


def test_a_copy_in_flight_when_onestopd_is_killed_is_looked_up_not_resent(notify_gw):
    gw = notify_gw
    token = gw.sign_in()
    ref = sold(gw, token)
    # Notify takes the message at once but answers only after 30 s: the gateway is killed
    # while it waits, with the message already at Notify
    r = gw.sim_request("POST", "/_sim/faults", {"backend": "notify", "mode": "late",
                                                 "delay_ms": 30000, "count": 1,
                                                 "writes_only": True})
    assert r.status == 200, r
    assert ask_copy(gw, token, ref, {"email": EMAIL}).status == 202
    wait_until(lambda: len(received(gw)["requests"]) == 1, what="the message at Notify")
    gw.daemon.kill9()
    gw.start_daemon()
    token = gw.sign_in()
    copies = wait_copies(gw, token, ref, lambda cs: cs[0]["state"] == "sent", "copy sent")
    assert "not sent again" in copies[0]["note"]
    assert len(received(gw)["requests"]) == 1


def test_notify_reports_on_its_own_when_set_to(notify_gw):
    gw = notify_gw
    token = gw.sign_in()
    ref = sold(gw, token)
    r = gw.sim_request("POST", "/_sim/notify", {"auto_callback": "temporary-failure"})
    assert r.status == 200 and r.json["auto_callback"] == "temporary-failure", r
    assert ask_copy(gw, token, ref, {"phone": PHONE}).status == 202
    copies = wait_copies(gw, token, ref, lambda cs: cs[0]["notify_status"] is not None,
                         "Notify's own report")
    assert copies[0]["notify_status"] == "temporary-failure" and copies[0]["state"] == "sent"
    bad = gw.sim_request("POST", "/_sim/notify", {"auto_callback": "lost"})
    assert bad.status == 400


def test_check_config_names_a_key_that_is_not_a_notify_key(tmp_path):
    gw = with_notify(Gateway(tmp_path))
    with open(os.path.join(gw.keys_dir, "notify.key"), "w") as f:
        f.write("0123456789abcdef0123456789abcdef\n")
    out = subprocess.run([ONESTOPD, "--check-config", gw.config_path], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode != 0
    assert "notify.api_key_file: is not a Notify API key" in out.stderr, out.stderr
    del gw.config["notify"]["callback_token_file"]
    gw.write_config()
    out = subprocess.run([ONESTOPD, "--check-config", gw.config_path], capture_output=True,
                         text=True, timeout=60)
    assert "notify.callback_token_file: is required" in out.stderr, out.stderr


def test_a_transaction_gets_at_most_ten_copies(notify_gw):
    gw = notify_gw
    token = gw.sign_in()
    ref = sold(gw, token)
    for _ in range(5):
        assert ask_copy(gw, token, ref, {"email": EMAIL, "phone": PHONE}).status == 202
    r = ask_copy(gw, token, ref, {"phone": PHONE})
    assert r.status == 429 and r.json["error"]["code"] == "too_many_copies", r
    assert len(copies_of(gw, token, ref)) == 10


def test_uk_mobile_numbers_as_people_write_them_reach_notify_in_one_form(notify_gw):
    gw = notify_gw
    token = gw.sign_in()
    ref = sold(gw, token)
    for written in ("07700 900123", "+44 7700 900123", "0044 (7700) 900-123", "447700900123"):
        r = ask_copy(gw, token, ref, {"phone": written})
        assert r.status == 202, (written, r)
    wait_copies(gw, token, ref, lambda cs: len(cs) == 4 and all(c["state"] == "sent" for c in cs),
                "four copies sent")
    numbers = [json.loads(q["body"])["phone_number"] for q in received(gw)["requests"]]
    assert numbers == [PHONE_E164] * 4


def test_a_purge_fails_a_copy_still_pending_and_clears_its_contact(notify_gw):
    """Notify is down, so the copy waits; the sale ends and the retention purge runs: the copy
    can no longer be sent, so it fails (its contact masked, audited), and the contact is gone
    from the store."""
    from test_retention import complete
    gw = notify_gw
    token = gw.sign_in()
    ref = sold(gw, token)
    wait_until(lambda: gw.request("GET", f"/api/v1/transactions/{ref}", token=token)
               .json["delivery"]["state"] == "delivered", timeout=20, what="the permit delivered")
    complete(gw, token, "parking", ref)
    assert gw.sim_request("POST", "/_sim/faults", {"backend": "notify", "mode": "down"}).status \
        == 200
    assert ask_copy(gw, token, ref, {"email": EMAIL}).status == 202
    wait_copies(gw, token, ref, lambda cs: cs[0]["attempts"] >= 1, "a refused attempt")
    assert EMAIL in copy_payloads(gw)  # pending: the sender still needs it (sealed at rest)
    assert EMAIL not in dump_of(gw)

    r = gw.cli("purge", "--older-than-days", "0")
    assert r.returncode == 0 and "1 pending copies" in r.stdout, r.stdout
    [copy] = wait_copies(gw, token, ref, lambda cs: cs[0]["state"] == "failed", "copy failed")
    assert "purged" in copy["last_error"], copy
    dump = dump_of(gw) + copy_payloads(gw)
    for secret in (EMAIL, "resident.copy"):
        assert secret not in dump, secret
    audit = json.loads(gw.cli("audit", "--action", "receipt_copy_failed").stdout)
    assert [e["subject"] for e in audit] == [ref], audit
