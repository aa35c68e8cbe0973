"""E-mail back-ends: onestopd's SMTP transport and email connector against the simulator's
SMTP sink (the "mail" back-end).

For these tests the residents' parking permit service is routed to an email back-end
("partners") in a copy of the service definitions, so a sale becomes an e-mail. The sink
records every message it accepts (GET /_sim/received?backend=mail) and refuses on request
(POST /_sim/faults with 451/550 at RCPT or DATA). Every wait is for a condition."""

import email
import email.policy
import json
import os
import shutil
import subprocess

import pytest

from onestop_env import ONESTOPD, ROOT, Gateway, free_port, wait_until
from test_delivery import parking_fields, sell, txn

MAIL_FROM = "counters@stockport.example"
MAIL_TO = ["referrals@partner.example", "duty.team@partner.example"]
SMTP_USER = "onestop"
SMTP_PASSWORD = "relay-password-0123456789"


def make_certificate(folder):
    """A self-signed certificate for 127.0.0.1 (the sink's STARTTLS and the gateway's CA)."""
    cert, key = os.path.join(folder, "smtp-cert.pem"), os.path.join(folder, "smtp-key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    return cert, key


def email_gateway(tmp_path, password=SMTP_PASSWORD, gateway_tls="none", sink_tls=False):
    """A gateway whose permits go to an email back-end on the simulator's SMTP sink. With
    sink_tls the sink offers (and requires) STARTTLS with a fresh certificate, which is the
    back-end's ca_file."""
    gw = Gateway(tmp_path)
    smtp_port = free_port()
    services = os.path.join(gw.dir, "services")
    shutil.copytree(os.path.join(ROOT, "config", "services"), services)
    permit = os.path.join(services, "residents-parking-permit.json")
    with open(permit) as f:
        definition = json.load(f)
    definition["route"]["backend"] = "partners"
    with open(permit, "w") as f:
        json.dump(definition, f)
    with open(os.path.join(gw.keys_dir, "smtp-sim.pw"), "w") as f:
        f.write(SMTP_PASSWORD + "\n")
    with open(os.path.join(gw.keys_dir, "smtp.pw"), "w") as f:
        f.write(password + "\n")
    gw.config["services"]["dir"] = services
    gw.config["backends"].append({
        "name": "partners", "connector": "email", "url": f"smtp://127.0.0.1:{smtp_port}",
        "mail_from": MAIL_FROM, "mail_to": MAIL_TO, "smtp_username": SMTP_USER,
        "smtp_password_file": "keys/smtp.pw", "smtp_tls": gateway_tls,
        "retry_schedule_s": [1, 1, 1], "give_up_after_s": 600, "breaker_failures": 50})
    gw.sim_args = ["--smtp-listen", f"127.0.0.1:{smtp_port}", "--smtp-user", SMTP_USER,
                   "--smtp-password-file", os.path.join(gw.keys_dir, "smtp-sim.pw")]
    if sink_tls:
        cert, key = make_certificate(gw.keys_dir)
        gw.config["backends"][-1]["ca_file"] = cert
        gw.sim_args += ["--smtp-tls-cert", cert, "--smtp-tls-key", key]
    gw.write_config()
    return gw


@pytest.fixture
def mail_gw(tmp_path):
    gw = email_gateway(tmp_path).start()
    yield gw
    assert gw.stop() == 0


def mails(gw):
    r = gw.sim_request("GET", "/_sim/received?backend=mail")
    assert r.status == 200, r
    return r.json


def fault(gw, **body):
    r = gw.sim_request("POST", "/_sim/faults", dict({"backend": "mail"}, **body))
    assert r.status == 200, r


def delivery(gw, token, ref):
    return txn(gw, token, ref)["delivery"]


def test_a_sale_arrives_as_one_email_with_envelope_headers_and_body(mail_gw):
    token = mail_gw.sign_in()
    fields = parking_fields(1)
    ref = sell(mail_gw, token, "residents-parking-permit", fields)
    wait_until(lambda: txn(mail_gw, token, ref)["status"] == "forwarded", timeout=20,
               what="the e-mail delivered")
    d = delivery(mail_gw, token, ref)
    assert d["state"] == "delivered" and d["attempts"] == 1, d

    [m] = mails(mail_gw)["requests"]
    assert d["backend_reference"] == "MAIL-000001"  # the relay's "queued as" id
    assert m["response"].endswith("queued as MAIL-000001")
    assert m["method"] == "SMTP" and m["reference"] == ref
    assert m["mail_from"] == MAIL_FROM
    assert m["rcpt_to"] == MAIL_TO
    assert m["auth_user"] == SMTP_USER
    expected_id = f"<{d['idempotency_key']}@stockport.example>"
    assert m["message_id"] == expected_id

    msg = email.message_from_string(m["body"], policy=email.policy.default)
    assert msg["From"] == MAIL_FROM
    assert [a.strip() for a in str(msg["To"]).split(",")] == MAIL_TO
    assert msg["Message-ID"] == expected_id
    assert msg["X-Onestop-Reference"] == ref
    assert ref in msg["Subject"]
    assert msg["Date"].datetime is not None
    assert msg.get_content_type() == "text/plain"
    assert msg["Content-Transfer-Encoding"] == "quoted-printable"
    text = msg.get_content()
    assert f"Reference: {ref}" in text
    assert f"vrm: {fields['vrm']}" in text
    assert f"uprn: {fields['uprn']}" in text
    # every line on the wire within RFC 5322's limit
    assert all(len(line) <= 78 for line in m["body"].split("\r\n")), m["body"]


def test_451_at_rcpt_is_retried_and_then_delivered_once(mail_gw):
    token = mail_gw.sign_in()
    fault(mail_gw, mode="error", smtp_stage="rcpt")  # 451
    ref = sell(mail_gw, token, "residents-parking-permit", parking_fields(2))
    d = wait_until(lambda: (lambda d: d if d["attempts"] >= 2 else None)(
        delivery(mail_gw, token, ref)), timeout=20, what="two refused attempts")
    assert d["state"] == "pending", d
    assert "SMTP 451" in d["last_error"] and "temporary failure" in d["last_error"], d
    assert mails(mail_gw)["requests"] == []
    fault(mail_gw, mode="up")
    wait_until(lambda: txn(mail_gw, token, ref)["status"] == "forwarded", timeout=20,
               what="delivered after the fault cleared")
    [m] = mails(mail_gw)["requests"]
    assert m["message_id"] == f"<{delivery(mail_gw, token, ref)['idempotency_key']}@stockport.example>"


def test_a_relay_that_is_down_is_retried(mail_gw):
    token = mail_gw.sign_in()
    fault(mail_gw, mode="down")  # 421 at the greeting
    ref = sell(mail_gw, token, "residents-parking-permit", parking_fields(7))
    d = wait_until(lambda: (lambda d: d if d["attempts"] >= 2 else None)(
        delivery(mail_gw, token, ref)), timeout=20, what="two turned-away attempts")
    assert d["state"] == "pending" and "SMTP 421" in d["last_error"], d
    fault(mail_gw, mode="up")
    wait_until(lambda: txn(mail_gw, token, ref)["status"] == "forwarded", timeout=20,
               what="delivered once the relay is back")
    assert len(mails(mail_gw)["requests"]) == 1


def test_a_timeout_after_data_is_retried_and_the_resend_has_the_same_message_id(tmp_path):
    """SMTP has no idempotency: a relay that took the message but answered too late gets it
    again. The partner can tell: both copies carry the same Message-ID."""
    gw = email_gateway(tmp_path)
    gw.config["backends"][-1]["timeout_ms"] = 500
    gw.write_config()
    gw.start()
    try:
        token = gw.sign_in()
        fault(gw, mode="slow", delay_ms=1500)  # before the reply to DATA
        ref = sell(gw, token, "residents-parking-permit", parking_fields(8))
        d = wait_until(lambda: (lambda d: d if d["attempts"] >= 1 else None)(
            delivery(gw, token, ref)), timeout=20, what="a timed-out attempt")
        assert "no answer within 500 ms" in d["last_error"], d
        fault(gw, mode="up")
        wait_until(lambda: txn(gw, token, ref)["status"] == "forwarded", timeout=20,
                   what="delivered after the timeout")
        got = wait_until(lambda: (lambda r: r if len(r) >= 2 else None)(mails(gw)["requests"]),
                         timeout=20, what="the late copy recorded too")
        key = delivery(gw, token, ref)["idempotency_key"]
        assert {m["message_id"] for m in got} == {f"<{key}@stockport.example>"}
        assert len({m["body"] for m in got}) == 1  # byte for byte the same message
    finally:
        assert gw.stop() == 0


def test_550_at_data_is_a_dead_letter_with_the_servers_words(mail_gw):
    token = mail_gw.sign_in()
    fault(mail_gw, mode="reject")  # 550 at the end of DATA
    ref = sell(mail_gw, token, "residents-parking-permit", parking_fields(3))
    wait_until(lambda: txn(mail_gw, token, ref)["status"] == "failed", timeout=20,
               what="a dead letter")
    d = delivery(mail_gw, token, ref)
    assert d["state"] == "failed" and d["attempts"] == 1, d  # a 5xx is not retried
    assert "SMTP 550" in d["last_error"], d
    assert "message refused by the partner's mail server" in d["last_error"], d
    assert mails(mail_gw)["requests"] == []

    sup = mail_gw.sign_in("supervisor")
    r = mail_gw.request("GET", "/api/v1/deliveries/failed", token=sup)
    assert r.status == 200, r
    [entry] = [e for e in r.json["deliveries"] if e["reference"] == ref]
    assert entry["backend"] == "partners"
    assert "SMTP 550" in entry["last_error"]
    assert "message refused by the partner's mail server" in entry["last_error"]


def test_a_wrong_password_is_retried_not_dead_lettered_and_logged(tmp_path):
    gw = email_gateway(tmp_path, password="not-the-relay-password-42").start()
    try:
        token = gw.sign_in()
        ref = sell(gw, token, "residents-parking-permit", parking_fields(4))
        d = wait_until(lambda: (lambda d: d if d["attempts"] >= 2 else None)(
            delivery(gw, token, ref)), timeout=20, what="two refused logins")
        assert d["state"] == "pending", d
        assert "refused our login" in d["last_error"] and "535" in d["last_error"], d
        assert mails(gw)["attempts"] >= 2 and mails(gw)["requests"] == []
        log = gw.log()
        assert "transport=smtp" in log and "refused our login" in log
        assert "check smtp_username and smtp_password_file" in log
        assert "not-the-relay-password-42" not in log
    finally:
        assert gw.stop() == 0


def test_starttls_with_the_partners_certificate(tmp_path):
    gw = email_gateway(tmp_path, gateway_tls="starttls", sink_tls=True).start()
    try:
        token = gw.sign_in()
        ref = sell(gw, token, "residents-parking-permit", parking_fields(5))
        wait_until(lambda: txn(gw, token, ref)["status"] == "forwarded", timeout=20,
                   what="the e-mail delivered over STARTTLS")
        [m] = mails(gw)["requests"]
        assert m["tls"] is True and m["auth_user"] == SMTP_USER and m["reference"] == ref
    finally:
        assert gw.stop() == 0


def test_starttls_required_but_not_offered_is_retried(tmp_path):
    gw = email_gateway(tmp_path, gateway_tls="starttls", sink_tls=False).start()
    try:
        token = gw.sign_in()
        ref = sell(gw, token, "residents-parking-permit", parking_fields(6))
        d = wait_until(lambda: (lambda d: d if d["attempts"] >= 2 else None)(
            delivery(gw, token, ref)), timeout=20, what="two attempts without TLS")
        assert d["state"] == "pending", d
        assert "does not offer STARTTLS" in d["last_error"], d
        assert mails(gw)["requests"] == []
    finally:
        assert gw.stop() == 0


def check_config(gw):
    gw.write_config()
    return subprocess.run([ONESTOPD, "--check-config", gw.config_path], capture_output=True,
                          text=True, timeout=30)


def test_check_config_matches_connector_url_and_mail_keys(tmp_path):
    gw = email_gateway(tmp_path)
    ok = check_config(gw)
    assert ok.returncode == 0, ok.stderr
    at = len(gw.config["backends"]) - 1  # the e-mail back-end is added last
    partners = gw.config["backends"][at]
    assert "signing_key_file" not in partners  # not needed for e-mail

    partners["url"] = "https://mail.partner.example"
    del partners["mail_to"]
    gw.config["backends"][0]["url"] = "smtp://127.0.0.1:25"
    bad = check_config(gw)
    assert bad.returncode == 1
    assert (f"onestop.json: backends[{at}].url: connector \"email\" needs an smtp:// or smtps:// URL"
            in bad.stderr), bad.stderr
    assert f"onestop.json: backends[{at}].mail_to: is required" in bad.stderr, bad.stderr
    assert ("onestop.json: backends[0].url: an smtp(s):// URL needs connector \"email\""
            in bad.stderr), bad.stderr

    gw.config["backends"][0]["url"] = "http://127.0.0.1:9/parking"
    partners["url"] = "smtps://mail.partner.example"
    partners["mail_to"] = ["a@partner.example", "bad\r\nBcc: x@evil.example"]
    partners["smtp_tls"] = "starttls"
    bad = check_config(gw)
    assert bad.returncode == 1
    assert f"onestop.json: backends[{at}].mail_to: item 1 is not a plain e-mail address" in bad.stderr
    assert f"onestop.json: backends[{at}].smtp_tls: \"starttls\" does not fit" in bad.stderr
