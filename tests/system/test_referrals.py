"""Referrals (issue 12) against the real onestopd, onestop-sim (NHS token endpoint, e-RS FHIR
reads, SMTP sink) and a real ippeveprinter.

- the NHS e-Referral look-up: a match in plain words, a wrong NHS number and an unknown UBRN
  given the same answer, the NHS answering 429 or 503, a token renewed after it expired;
- the nhs-referral hand-off: only from a look-up made at this counter in the last 15 minutes,
  once; its slip (read back from the printer's PDF) shows the UBRN, state, priority, how to
  book and the NHS number's last 3 digits only;
- the partner-referral: consent and the partner's reasons checked, one plain-text e-mail to
  the partner with the reference in the subject, arriving once after the sink refused it
  with 451 twice, every attempt with the same Message-ID."""

import email
import email.policy
import os
import subprocess
import sys
import uuid

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from onestop_env import ONESTOPD, STORE_ENGINE, Gateway, free_port, request, wait_until  # noqa: E402
from printenv import PrintEnv  # noqa: E402
from test_auth import stop_cleanly  # noqa: E402

MATCH = {"ubrn": "000000070000", "nhs_number": "9912003888"}
PRINTER = "sd01-receipt"
MAIL_FROM = "counters@stockport.example"
PARTNERS = {
    "partner-stockport-homes": "referrals@stockporthomes.example",
    "partner-citizens-advice": "referrals@citizensadvicestockport.example",
    "partner-age-uk": "referrals@ageukstockport.example",
    "partner-welfare-rights": "welfare.rights@stockport.example",
}
CONSENT_VERSION = "2026-11"


def configure(gw, printer=None):
    """Enables both referral services, routes each partner to the simulator's SMTP sink and
    (optionally) gives counter SD-01 a printer."""
    smtp_port = free_port()
    for name, address in PARTNERS.items():
        gw.config["backends"].append({
            "name": name, "connector": "email", "url": f"smtp://127.0.0.1:{smtp_port}",
            "smtp_tls": "none", "mail_from": MAIL_FROM, "mail_to": [address],
            "retry_schedule_s": [1, 1, 1], "give_up_after_s": 600, "breaker_failures": 50})
    gw.config["services"]["enabled"] += ["nhs-referral", "partner-referral"]
    gw.sim_args = ["--smtp-listen", f"127.0.0.1:{smtp_port}"]
    if printer:
        gw.config["printers"] = [dict({"name": PRINTER}, **printer)]
        gw.config["counters"][0]["printer"] = PRINTER
    gw.write_config()
    return gw


@pytest.fixture
def gw(tmp_path):
    g = configure(Gateway(tmp_path)).start()
    yield g
    stop_cleanly(g)  # exit 0, and no sanitizer report in an ASan build


@pytest.fixture
def printer():
    with PrintEnv() as env:
        yield env.add_printer("slip")


@pytest.fixture
def printing_gw(tmp_path, printer):
    g = configure(Gateway(tmp_path), {"uri": printer.uri, "format": "pdf", "paper": "80mm"})
    g.start()
    yield g
    stop_cleanly(g)


def lookup(gw, token, body=None):
    return gw.request("POST", "/api/v1/referrals/lookup", body or MATCH, token=token)


def nhs(gw):
    return gw.sim_request("GET", "/_sim/nhs").json


def record(gw, token, fields, service):
    return gw.request("POST", "/api/v1/transactions",
                      {"service": service, "fields": fields, "payment": {"method": "none"}},
                      token=token, headers={"Idempotency-Key": str(uuid.uuid4())})


def handoff(gw, token, lookup_id):
    return record(gw, token, {"lookup_id": lookup_id}, "nhs-referral")


def field_errors(r):
    assert r.status == 422, r
    return {f["field"]: f["code"] for f in r.json["error"]["fields"]}


def txn(gw, token, ref):
    r = gw.request("GET", f"/api/v1/transactions/{ref}", token=token)
    assert r.status == 200, r
    return r.json


# ---- the look-up ----

def test_a_matching_nhs_number_answers_in_plain_words_with_a_lookup_id(gw):
    token = gw.sign_in()
    r = lookup(gw, token)
    assert r.status == 200, r
    assert r.json["ubrn"] == "000000070000"
    assert r.json["state_label"] == "Not booked yet"
    assert r.json["priority"] == "Routine"
    assert len(r.json["lookup_id"]) == 36
    # the NHS saw the look-up's id as its correlation id; the NHS number is in no log
    reads = gw.sim_request("GET", "/_sim/received?backend=nhs-ers&include_reads=1").json
    headers = {k.lower(): v for k, v in reads["requests"][-1]["headers"].items()}
    assert headers["x-correlation-id"] == r.json["lookup_id"]
    assert MATCH["nhs_number"] not in gw.log()
    # who looked it up, where and when is audited (no personal data in the entry)
    db = gw.store_db()
    [(actor, counter, subject, detail)] = db.execute(
        "SELECT actor, counter, subject, detail FROM audit WHERE action = 'referral_lookup'").fetchall()
    assert (actor, counter, subject) == ("assistant", "SD-01", r.json["lookup_id"])
    assert "3888" not in detail
    r = gw.cli("audit", "verify")
    assert r.returncode == 0, r.stdout + r.stderr


def test_a_mismatching_nhs_number_and_an_unknown_ubrn_reveal_nothing(gw):
    token = gw.sign_in()
    wrong = lookup(gw, token, {"ubrn": "000000070000", "nhs_number": "9434765919"})
    unknown = lookup(gw, token, {"ubrn": "000000079999", "nhs_number": "9912003888"})
    assert wrong.status == unknown.status == 422
    assert wrong.json == unknown.json
    text = wrong.body.decode()
    for secret in ("NOT_BOOKED", "Not booked", "CARDIOLOGY", "Routine", "lookup_id"):
        assert secret not in text
    assert {f["code"] for f in wrong.json["error"]["fields"]} == {"no_matching_referral"}
    # nothing was kept for a hand-off
    db = gw.store_db()
    assert db.execute("SELECT COUNT(*) FROM referral_lookups").fetchone()[0] == 0


def test_a_match_that_cannot_be_recorded_is_not_answered_as_found(gw):
    """The store refuses the record (a trigger stands in for a failing disk): 503, and the
    referral's details are not shown, since no hand-off could follow."""
    token = gw.sign_in()
    db = gw.store_db()
    with db:
        if STORE_ENGINE == "postgresql":
            db.execute("CREATE FUNCTION refuse_lookups() RETURNS trigger LANGUAGE plpgsql AS"
                       " $$ BEGIN RAISE EXCEPTION 'simulated disk failure'; END $$")
            db.execute("CREATE TRIGGER refuse_lookups BEFORE INSERT ON referral_lookups"
                       " FOR EACH ROW EXECUTE FUNCTION refuse_lookups()")
        else:
            db.execute("CREATE TRIGGER refuse_lookups BEFORE INSERT ON referral_lookups"
                       " BEGIN SELECT RAISE(ABORT, 'simulated disk failure'); END")
    r = lookup(gw, token)
    assert r.status == 503 and r.json["error"]["code"] == "store_unavailable", r
    assert "Not booked" not in r.body.decode() and "lookup_id" not in r.body.decode()
    with db:
        db.execute("DROP TRIGGER refuse_lookups" +
                   (" ON referral_lookups" if STORE_ENGINE == "postgresql" else ""))
    db.close()
    assert lookup(gw, token).status == 200


def test_nhs_answering_429_and_503_become_messages_to_act_on(gw):
    token = gw.sign_in()
    gw.sim_request("POST", "/_sim/nhs", {"ers_error": 429})
    r = lookup(gw, token)
    assert r.status == 503 and r.json["error"]["code"] == "backend_busy", r
    assert "Wait a minute" in r.json["error"]["message"]
    gw.sim_request("POST", "/_sim/nhs", {"ers_error": 0})
    assert gw.sim_request("POST", "/_sim/faults", {"backend": "nhs-ers", "mode": "down"}).status == 200
    r = lookup(gw, token)
    assert r.status == 503 and r.json["error"]["code"] == "backend_unavailable", r
    assert "Manage your referral" in r.json["error"]["message"]
    assert gw.sim_request("POST", "/_sim/faults", {"backend": "nhs-ers", "mode": "error"}).status == 200
    r = lookup(gw, token)  # a 500 with no OperationOutcome: the same advice
    assert r.status == 503 and r.json["error"]["code"] == "backend_unavailable", r
    gw.sim_request("POST", "/_sim/faults", {"backend": "nhs-ers", "mode": "up"})
    assert lookup(gw, token).status == 200


def test_operation_outcomes_are_mapped_and_their_code_logged_for_it(gw):
    token = gw.sign_in()
    gw.sim_request("POST", "/_sim/nhs", {"ers_error": 503})
    r = lookup(gw, token)
    assert r.status == 503 and r.json["error"]["code"] == "backend_unavailable", r
    assert "code=SERVICE_UNAVAILABLE" in gw.log()
    gw.sim_request("POST", "/_sim/nhs", {"ers_error": 403})
    r = lookup(gw, token)
    assert r.status == 503 and r.json["error"]["code"] == "backend_refused", r
    assert "tell IT" in r.json["error"]["message"]
    assert "code=NO_RELATIONSHIP" in gw.log()
    gw.sim_request("POST", "/_sim/nhs", {"ers_error": 0})
    assert lookup(gw, token).status == 200


def test_the_nhs_retry_after_is_passed_on_to_the_counter(gw):
    """An NHS 429 or 503 that says when to come back: our 503 carries the same Retry-After and
    the message says how long to wait; a Retry-After over an hour is passed on as an hour."""
    token = gw.sign_in()
    for nhs_status, code in ((429, "backend_busy"), (503, "backend_unavailable")):
        gw.sim_request("POST", "/_sim/nhs", {"ers_error": nhs_status, "ers_retry_after_s": 42})
        r = lookup(gw, token)
        assert r.status == 503 and r.json["error"]["code"] == code, r
        assert r.headers.get("retry-after") == "42", r.headers
        assert "Try again in 42 seconds" in r.json["error"]["message"], r.json
    gw.sim_request("POST", "/_sim/nhs", {"ers_error": 429, "ers_retry_after_s": 86400})
    r = lookup(gw, token)
    assert r.headers.get("retry-after") == "3600", r.headers
    # without a Retry-After from the NHS, the plain advice and no invented time
    gw.sim_request("POST", "/_sim/nhs", {"ers_error": 429, "ers_retry_after_s": 0})
    r = lookup(gw, token)
    assert r.status == 503 and "retry-after" not in r.headers, r.headers
    assert "Wait a minute" in r.json["error"]["message"]
    gw.sim_request("POST", "/_sim/nhs", {"ers_error": 0})
    assert lookup(gw, token).status == 200


def test_an_nhs_400_or_422_is_a_request_problem_not_a_missing_referral(gw):
    token = gw.sign_in()
    for nhs_status, nhs_code in ((400, "INVALID_HEADER"), (422, "REQUEST_VALIDATION_ERROR")):
        gw.sim_request("POST", "/_sim/nhs", {"ers_error": nhs_status})
        r = lookup(gw, token)
        assert r.status == 502 and r.json["error"]["code"] == "backend_rejected", r
        message = r.json["error"]["message"]
        assert "No referral matches" not in message and "not a missing referral" in message
        assert f"{nhs_status} {nhs_code}" in message and "tell IT" in message
        assert f"result=rejected status={nhs_status} code={nhs_code}" in gw.log()
        assert MATCH["nhs_number"] not in gw.log()
    gw.sim_request("POST", "/_sim/nhs", {"ers_error": 0})
    assert lookup(gw, token).status == 200


def test_check_config_names_a_partner_without_a_backend(tmp_path):
    g = configure(Gateway(tmp_path))
    g.config["backends"] = [b for b in g.config["backends"] if b["name"] != "partner-age-uk"]
    g.write_config()
    r = subprocess.run([ONESTOPD, "--check-config", g.config_path], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode != 0
    assert 'may send to back-end "partner-age-uk", which is not in backends' in r.stdout + r.stderr


def test_a_token_is_fetched_again_after_it_expired(gw):
    token = gw.sign_in()
    gw.sim_request("POST", "/_sim/nhs", {"token_lifetime_s": 1})
    assert lookup(gw, token).status == 200
    assert nhs(gw)["tokens_issued"] == 1
    reads = gw.sim_request("GET", "/_sim/received?backend=nhs-ers&include_reads=1").json
    bearer = {k.lower(): v for k, v in reads["requests"][-1]["headers"].items()}["authorization"]

    def refused_now():  # the NHS itself now refuses the gateway's token
        r = request(gw.sim_port, "GET", "/nhs-ers/STU3/ReferralRequest/000000070000",
                    headers={"Authorization": bearer})
        return r.status == 401

    wait_until(refused_now, timeout=10, interval=0.1, what="the access token to expire")
    before = nhs(gw)
    assert lookup(gw, token).status == 200
    state = nhs(gw)
    assert state["tokens_issued"] == 2, state
    assert state["referral_reads"] == before["referral_reads"] + 1, state
    # the gateway never sent the expired token: the only refused read is the probe's
    assert state["referral_reads_refused"] == before["referral_reads_refused"] == 1, state


# ---- the hand-off ----

def test_a_handoff_needs_a_recent_lookup_at_this_counter_and_happens_once(gw):
    token = gw.sign_in()
    looked = lookup(gw, token).json
    assert field_errors(handoff(gw, token, str(uuid.uuid4()))) == {
        "fields.lookup_id": "lookup_not_found"}
    other = gw.sign_in(counter="LIB-CEN")
    r = handoff(gw, other, looked["lookup_id"])
    assert field_errors(r) == {"fields.lookup_id": "lookup_other_counter"}
    assert "another counter" in r.json["error"]["fields"][0]["message"]
    assert field_errors(handoff(gw, token, "not-a-lookup")) == {"fields.lookup_id": "invalid_format"}

    done = handoff(gw, token, looked["lookup_id"])
    assert done.status == 201, done
    assert done.json["fee_pence"] == 0 and done.json["status"] == "completed"
    t = txn(gw, token, done.json["reference"])
    assert t["fields"] == {"lookup_id": looked["lookup_id"], "ubrn": "000000070000",
                           "state": "NOT_BOOKED", "state_label": "Not booked yet",
                           "priority": "Routine", "nhs_last3": "888"}
    assert t["delivery"] is None  # nothing goes to the NHS
    assert field_errors(handoff(gw, token, looked["lookup_id"])) == {
        "fields.lookup_id": "lookup_used"}

    # a look-up older than 15 minutes is refused
    again = lookup(gw, token).json
    db = gw.store_db()
    with db:
        db.execute("UPDATE referral_lookups SET made_at = made_at - 16 * 60 WHERE lookup_id = ?",
                   (again["lookup_id"],))
    db.close()
    r = handoff(gw, token, again["lookup_id"])
    assert field_errors(r) == {"fields.lookup_id": "lookup_expired"}
    assert "15 minutes" in r.json["error"]["fields"][0]["message"]


def pdf_text(path):
    return subprocess.run(["pdftotext", "-layout", path, "-"], capture_output=True, text=True,
                          timeout=60, check=True).stdout


def test_the_handoff_slip_shows_the_ubrn_and_how_to_book_never_the_nhs_number(
        printing_gw, printer):
    gw = printing_gw
    token = gw.sign_in()
    looked = lookup(gw, token, {"ubrn": "000000070002", "nhs_number": "991 200 3888"}).json
    done = handoff(gw, token, looked["lookup_id"])
    assert done.status == 201, done
    ref = done.json["reference"]
    t = wait_until(lambda: (lambda t: t if t["print"] and t["print"]["state"] == "printed"
                            else None)(txn(gw, token, ref)), timeout=30, what="the slip printed")
    assert t["print"]["attempts"] == 1
    [slip] = printer.spooled("pdf")
    text = " ".join(pdf_text(slip).split())  # words, whatever the line breaks
    for expected in ("Your NHS referral", "0000 0007 0002", "Passed to the clinic",
                     "Urgent", "NHS number *** *** *888", "Manage your referral",
                     "www.nhs.uk/referrals", "access code) is on your referral letter",
                     "SD-01", ref, "Stockport Council", "No appointment has been booked"):
        assert expected in text, (expected, text)
    flat = text.replace(" ", "")
    assert "9912003888" not in flat
    assert "£" not in text  # a slip, not a sales receipt
    assert "Total" not in text


# ---- the partner referral ----

def partner_fields(**extra):
    fields = {"partner": "citizens-advice", "resident_name": "Alex Example",
              "contact": "07700 900123", "reason": "debt",
              "details": "Rent arrears letter from the landlord", "consent": True,
              "consent_version": CONSENT_VERSION}
    fields.update(extra)
    return fields


def mails(gw):
    return gw.sim_request("GET", "/_sim/received?backend=mail").json["requests"]


def test_a_partner_referral_needs_consent_and_a_reason_the_partner_takes(gw):
    token = gw.sign_in()
    errors = field_errors(record(gw, token, partner_fields(consent=False), "partner-referral"))
    assert errors == {"fields.consent": "consent_required"}
    errors = field_errors(record(gw, token, partner_fields(consent_version="2025-01"),
                                 "partner-referral"))
    assert errors == {"fields.consent_version": "consent_wording_changed"}
    r = record(gw, token, partner_fields(partner="age-uk"), "partner-referral")
    assert field_errors(r) == {"fields.reason": "reason_not_accepted"}
    assert "Age UK Stockport does not take" in r.json["error"]["fields"][0]["message"]
    r = record(gw, token, partner_fields(resident_name=None, contact=""), "partner-referral")
    assert field_errors(r) == {"fields.resident_name": "required", "fields.contact": "required"}
    # nothing half-stored: no transaction, no e-mail
    db = gw.store_db()
    assert db.execute("SELECT COUNT(*) FROM transactions").fetchone()[0] == 0
    assert mails(gw) == []


def test_a_partner_email_arrives_once_after_two_451s_with_one_message_id(gw):
    token = gw.sign_in()
    r = gw.sim_request("POST", "/_sim/faults", {"backend": "mail", "mode": "error",
                                                "smtp_code": 451, "count": 2})
    assert r.status == 200, r
    done = record(gw, token, partner_fields(), "partner-referral")
    assert done.status == 201, done
    ref = done.json["reference"]
    assert done.json["lines"][0]["description"].startswith(
        "Referral e-mailed to Citizens Advice Stockport")
    t = wait_until(lambda: (lambda t: t if t["status"] == "forwarded" else None)(
        txn(gw, token, ref)), timeout=30, what="the referral e-mailed")
    d = t["delivery"]
    assert d["attempts"] == 3, d
    assert d["backend"] == "partner-citizens-advice"
    [m] = mails(gw)
    assert m["rcpt_to"] == ["referrals@citizensadvicestockport.example"]
    assert m["message_id"] == f"<{d['idempotency_key']}@stockport.example>"
    msg = email.message_from_string(m["body"], policy=email.policy.default)
    assert ref in msg["Subject"]
    assert msg["To"] == "referrals@citizensadvicestockport.example"
    assert msg.get_content_type() == "text/plain"
    text = msg.get_content()
    for expected in ("For: Citizens Advice Stockport", "Name: Alex Example",
                     "Contact: 07700900123", "Reason: Debt or money worries",
                     "Consent: given", "Consent wording version: 2026-11",
                     "Consent recorded by: assistant"):
        assert expected in text, (expected, text)
    # the consent is stored with the transaction: version, who and when
    fields = t["fields"]
    assert fields["consent"] is True and fields["consent_version"] == CONSENT_VERSION
    assert fields["consent_recorded_by"] == "assistant" and fields["consent_recorded_at"]
    # the personal details are in no log line
    assert "Alex Example" not in gw.log() and "07700" not in gw.log()
