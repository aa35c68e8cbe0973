"""Receipts that always print: the gateway's store-backed spooler against real printers.

A parking permit is sold through onestopd at a counter whose printer is an ippeveprinter
reached directly (ipp://), a queue on a private cupsd, or a raw TCP "thermal printer"
(socket://, ESC/POS). What came out of the printer is checked for real: exactly one
document per receipt, its QR code decoded (pdftoppm + zbarimg, or the ESC/POS raster as
PBM) equals the transaction's status_url, and that URL answers. Faults: a printer that is
off (retries, then print_failed with a message, then a reprint once it is back), a paper
jam (print_failed with the printer's words, no second copy), and onestopd killed with -9
while receipts are queued and at the printer (each prints exactly once after a restart).
"""

import json
import os
import subprocess
import sys
import time
from unittest import mock

import pytest

sys.path.insert(0, os.path.dirname(__file__))

import printenv  # noqa: E402
from onestop_env import ONESTOPD, wait_until  # noqa: E402
from postgres import lock_sessions_sql  # noqa: E402
from printenv import PrintEnv, closed_port  # noqa: E402
from test_printing import decode_pdf_qr, parse_escpos  # noqa: E402
from txn_helpers import IN_ZONE, cash, parking, sell, vrm  # noqa: E402

pytestmark = pytest.mark.skipif(not os.path.exists(ONESTOPD), reason=f"{ONESTOPD} not built")

PRINTER = "sd01-receipt"
FEE_PENCE = 4150  # a 12-month residents' permit, no discounts (config/services)


@pytest.fixture
def env():
    with PrintEnv() as e:
        yield e


@pytest.fixture
def clean_stops():
    """Each gateway must stop cleanly at the end: exit 0 and, in a sanitizer build, no
    AddressSanitizer, LeakSanitizer or UBSan report in its log. (Requested after
    make_gateway, so it runs before make_gateway's own teardown.)"""
    started = []
    yield started
    for gw in started:
        if gw.daemon and gw.daemon.alive():
            assert gw.stop() == 0, gw.log()[-3000:]
        log = gw.log()
        assert "Sanitizer" not in log and "runtime error" not in log, log[-6000:]


def start_gateway(make_gateway, clean_stops, printer, name="gw", env=None):
    """onestopd whose counter SD-01 prints on `printer` (a config printers[] entry)."""
    printer = dict({"name": PRINTER}, **printer)
    gw = make_gateway(name, printers=[printer])
    clean_stops.append(gw)
    gw.config["counters"][0]["printer"] = printer["name"]
    # a second counter at SD-01's site with no printer of its own
    gw.config["counters"].append({"id": "SD-02", "site": gw.config["counters"][0]["site"]})
    gw.write_config()
    gw.start(env=env)
    return gw


def sell_permit(gw, token, n=0):
    fields = parking(uprn=IN_ZONE[n % len(IN_ZONE)], vrm=vrm(n))  # a household holds two at most
    r, _ = sell(gw, token, fields=fields, payment=cash(5000))
    assert r.status == 201, r
    assert r.json["print_state"] == "pending"
    return r.json


def transaction(gw, token, reference):
    r = gw.request("GET", f"/api/v1/transactions/{reference}", token=token)
    assert r.status == 200, r
    return r.json


def wait_print(gw, token, reference, states, timeout=20.0):
    """The transaction once its newest print job is in one of `states`."""
    return wait_until(lambda: (lambda t: t if t["print"] and t["print"]["state"] in states
                               else None)(transaction(gw, token, reference)),
                      timeout=timeout, interval=0.05, what=f"print state in {states}")


def pdf_text(path):
    return subprocess.run(["pdftotext", "-layout", path, "-"], capture_output=True, text=True,
                          timeout=60, check=True).stdout


def check_status_url(gw, url, reference):
    """The QR code's URL opens the resident's status page with the right status."""
    prefix = f"http://127.0.0.1:{gw.port}"
    assert url.startswith(prefix + "/r/" + reference + "?t="), url
    r = gw.request("GET", url[len(prefix):], headers={"Accept": "application/json"})
    assert r.status == 200, r
    status = r.json
    assert status["reference"] == reference, status
    assert status["status"] in ("accepted", "forwarded", "completed"), status
    return status


def audit_actions(gw, reference):
    """The print audit entries of one transaction, oldest first (read with the admin CLI)."""
    r = gw.cli("audit", "--limit", "500")
    assert r.returncode == 0, r.stderr
    return [e["action"] for e in reversed(json.loads(r.stdout))
            if e["subject"] == reference and e["action"].startswith("print_")]


# ---- each kind of printer prints exactly once ----

def test_direct_ipp_printer_prints_once_and_the_qr_opens_the_status(env, make_gateway,
                                                                    clean_stops, tmp_path):
    p = env.add_printer("direct")
    gw = start_gateway(make_gateway, clean_stops,
                       {"uri": p.uri, "format": "pdf", "paper": "80mm"})
    token = gw.sign_in()
    sold = sell_permit(gw, token)
    ref = sold["reference"]
    t = wait_print(gw, token, ref, ("printed", "print_failed"))
    assert t["print"]["state"] == "printed", t["print"]
    assert t["print"]["printer"] == PRINTER
    assert t["print"]["attempts"] == 1
    assert t["print"]["job_id"] and t["print"]["job_id"] > 0
    assert t["print"]["last_error"] is None
    time.sleep(0.5)  # a duplicate would have arrived by now
    files = p.spooled("pdf")
    assert len(files) == 1, files
    url = decode_pdf_qr(files[0], tmp_path)
    assert url == sold["status_url"] == t["status_url"]
    status = check_status_url(gw, url, ref)
    assert status["status"] == transaction(gw, token, ref)["status"]
    text = pdf_text(files[0])
    for expected in ("Stockport Council", "Fred Perry House", "SD-01", ref, "£41.50",
                     "£50.00", "£8.50", "Cash", "Residents"):
        assert expected in text, (expected, text)
    assert "AS" in text  # the assistant's initials (the CLI's default for "assistant")
    assert "copy" not in text.lower()
    # The printer's own record agrees: one completed job with one impression.
    attrs = p.job_attributes(t["print"]["job_id"])
    assert attrs.get("job-state") == "completed", attrs
    # Every state change is audited: written before the submit, the job id, the outcome.
    assert audit_actions(gw, ref) == ["print_printing", "print_submitted", "print_printed"]


def test_cups_queue_prints_once(env, make_gateway, clean_stops, tmp_path):
    p = env.add_printer("behind-cups")
    cups = env.start_cupsd()
    cups.add_queue("Receipt", p)
    gw = start_gateway(make_gateway, clean_stops, {"queue": "Receipt", "server": cups.server,
                                                   "format": "pdf", "paper": "80mm"})
    token = gw.sign_in()
    sold = sell_permit(gw, token)
    t = wait_print(gw, token, sold["reference"], ("printed", "print_failed"), timeout=45)
    assert t["print"]["state"] == "printed", (t["print"], cups.log())
    assert t["print"]["attempts"] == 1
    files = wait_until(lambda: p.spooled("pdf"), timeout=10, what="the spooled PDF")
    time.sleep(0.5)
    assert len(p.spooled("pdf")) == 1, p.spooled()
    # cupsd ran pdftopdf, so the bytes differ from ours; the QR code must still read the same.
    url = decode_pdf_qr(files[0], tmp_path)
    assert url == sold["status_url"]
    check_status_url(gw, url, sold["reference"])


def decode_escpos_qr(data, tmp_path):
    cmds, lines, image = parse_escpos(data)
    assert cmds[0] == ("ESC @",)
    assert sum(1 for c in cmds if c[0] == "GS V") == 1, "exactly one cut"
    assert image is not None, "no raster QR code"
    width, height, bits = image
    pbm = tmp_path / "qr.pbm"
    pbm.write_bytes(b"P4\n%d %d\n" % (width, height) + bits)
    z = subprocess.run(["zbarimg", "-q", "--raw", "--nodbus", str(pbm)],
                       capture_output=True, text=True, timeout=60)
    assert z.returncode == 0, "no QR code in the ESC/POS raster"
    return z.stdout.strip(), lines


def test_socket_escpos_printer_prints_once(env, make_gateway, clean_stops, tmp_path):
    raw = env.raw_printer()
    gw = start_gateway(make_gateway, clean_stops, {"uri": raw.uri, "format": "escpos"})
    token = gw.sign_in()
    sold = sell_permit(gw, token)
    ref = sold["reference"]
    t = wait_print(gw, token, ref, ("printed", "print_failed"))
    assert t["print"]["state"] == "printed", t["print"]
    assert t["print"]["attempts"] == 1
    wait_until(lambda: raw.jobs(), timeout=10, what="bytes at the raw printer")
    time.sleep(0.5)
    jobs = raw.jobs()
    assert len(jobs) == 1, len(jobs)
    url, lines = decode_escpos_qr(jobs[0], tmp_path)
    assert url == sold["status_url"]
    assert any(ref.encode() in ln for ln in lines), lines
    assert any(ln.endswith(b"\x9c41.50") for ln in lines), lines  # £ in code page PC858
    check_status_url(gw, url, ref)


# ---- faults ----

@pytest.mark.slow
def test_printer_off_retries_then_fails_then_reprint_prints_once(env, make_gateway, clean_stops,
                                                                 tmp_path):
    port = closed_port()
    uri = f"ipp://localhost:{port}/ipp/print"
    gw = start_gateway(make_gateway, clean_stops, {"uri": uri, "format": "pdf"})
    token = gw.sign_in()
    sold = sell_permit(gw, token)
    ref = sold["reference"]

    # Retrying: attempts grow, the job goes back to pending with the printer's reason.
    t = wait_until(lambda: (lambda t: t if t["print"]["attempts"] >= 2 else None)(
        transaction(gw, token, ref)), timeout=10, what="a second attempt")
    assert t["print"]["state"] in ("pending", "printing"), t["print"]
    assert t["print"]["last_error"], t["print"]
    # Asking for a copy while the first is still queued is refused (no double receipt).
    r = gw.request("POST", f"/api/v1/transactions/{ref}/reprint", token=token)
    assert r.status == 409, r
    assert r.json["error"]["code"] == "print_in_progress"

    t = wait_print(gw, token, ref, ("print_failed",), timeout=40)
    assert t["print"]["attempts"] == 5, t["print"]
    message = t["print"]["last_error"]
    assert "not answering" in message and "Reprint" in message, message

    # The printer comes back on the same address; the assistant presses Reprint.
    with mock.patch.object(printenv, "free_port", lambda: port):
        p = env.add_printer("back")
    r = gw.request("POST", f"/api/v1/transactions/{ref}/reprint", token=token)
    assert r.status == 202, r
    assert r.json["reference"] == ref
    assert r.json["print"]["state"] == "pending"
    assert r.json["print"]["reprint_of"]
    t = wait_print(gw, token, ref, ("printed", "print_failed"))
    assert t["print"]["state"] == "printed", t["print"]
    assert t["print"]["attempts"] == 1
    time.sleep(0.5)
    files = p.spooled("pdf")
    assert len(files) == 1, files
    assert "COPY" in pdf_text(files[0]).upper()
    assert decode_pdf_qr(files[0], tmp_path) == sold["status_url"]


def test_paper_jam_is_print_failed_with_the_printers_message_and_no_second_copy(
        env, make_gateway, clean_stops):
    p = env.add_printer("jammed", hook="jam")
    gw = start_gateway(make_gateway, clean_stops, {"uri": p.uri, "format": "pdf"})
    token = gw.sign_in()
    ref = sell_permit(gw, token)["reference"]
    t = wait_print(gw, token, ref, ("printed", "print_failed"))
    assert t["print"]["state"] == "print_failed", t["print"]
    assert "paper jam" in t["print"]["last_error"], t["print"]
    assert t["print"]["attempts"] == 1
    time.sleep(2.5)  # longer than the first retry delay: nothing is sent again by itself
    t = transaction(gw, token, ref)
    assert t["print"]["state"] == "print_failed" and t["print"]["attempts"] == 1, t["print"]
    assert len(p.spooled("pdf")) == 1  # the one document, kept by -k; no second job


def test_reprint_answers(env, make_gateway, clean_stops):
    raw = env.raw_printer()
    gw = start_gateway(make_gateway, clean_stops, {"uri": raw.uri, "format": "escpos"})
    token = gw.sign_in()
    ref = sell_permit(gw, token)["reference"]
    wait_print(gw, token, ref, ("printed",))
    # Unknown reference, well-formed or not.
    other = ref[:-1] + ("0" if ref[-1] != "0" else "1")
    assert gw.request("POST", f"/api/v1/transactions/{other}/reprint", token=token).status == 404
    assert gw.request("POST", "/api/v1/transactions/nonsense/reprint", token=token).status == 404
    # Signed-in staff only.
    assert gw.request("POST", f"/api/v1/transactions/{ref}/reprint").status == 401
    # Another site's transaction is not found there (reads are scoped to the site).
    lib = gw.sign_in(counter="LIB-CEN")
    assert gw.request("POST", f"/api/v1/transactions/{ref}/reprint", token=lib).status == 404
    # A counter without a printer, at the same site.
    sd02 = gw.sign_in(counter="SD-02")
    r = gw.request("POST", f"/api/v1/transactions/{ref}/reprint", token=sd02)
    assert r.status == 409 and r.json["error"]["code"] == "no_printer", r
    # A copy at SD-01 prints once more.
    r = gw.request("POST", f"/api/v1/transactions/{ref}/reprint", token=token)
    assert r.status == 202, r
    t = wait_print(gw, token, ref, ("printed",))
    assert t["print"]["attempts"] == 1
    wait_until(lambda: len(raw.jobs()) == 2, timeout=10, what="the copy")
    time.sleep(0.3)
    assert len(raw.jobs()) == 2
    _, lines = parse_escpos(raw.jobs()[1])[:2]
    assert any(b"COPY" in ln.upper() for ln in lines), lines


def test_kill9_with_receipts_queued_each_prints_exactly_once(env, make_gateway, clean_stops,
                                                             tmp_path):
    p = env.add_printer("slow", hook="slow")  # each job takes 3 s at the printer
    gw = start_gateway(make_gateway, clean_stops, {"uri": p.uri, "format": "pdf"})
    token = gw.sign_in()
    sold = [sell_permit(gw, token, n) for n in range(3)]
    # The first is at the printer (its job id recorded); the others wait.
    wait_until(lambda: transaction(gw, token, sold[0]["reference"])["print"]["job_id"],
               timeout=10, what="the first receipt at the printer")
    t0 = transaction(gw, token, sold[0]["reference"])["print"]
    assert t0["state"] == "printing", t0
    gw.daemon.kill9()

    gw.start_daemon()
    for s in sold:
        t = wait_print(gw, token, s["reference"], ("printed", "print_failed"), timeout=30)
        assert t["print"]["state"] == "printed", t["print"]
        assert t["print"]["attempts"] == 1, t["print"]  # the first was re-checked, not resent
    time.sleep(0.5)
    files = p.spooled("pdf")
    assert len(files) == 3, files
    urls = sorted(decode_pdf_qr(f, tmp_path) for f in files)
    assert urls == sorted(s["status_url"] for s in sold)
    assert "print_recheck" in gw.log()
    assert audit_actions(gw, sold[0]["reference"]) == [
        "print_printing", "print_submitted", "print_printed"]


def test_sigterm_leaves_the_receipt_at_the_printer_and_the_next_start_rechecks_it(
        env, make_gateway, clean_stops, tmp_path):
    p = env.add_printer("slow", hook="slow")  # 3 s at the printer
    gw = start_gateway(make_gateway, clean_stops, {"uri": p.uri, "format": "pdf"})
    token = gw.sign_in()
    sold = sell_permit(gw, token)
    ref = sold["reference"]
    wait_until(lambda: transaction(gw, token, ref)["print"]["job_id"], timeout=10,
               what="the receipt at the printer")
    started = time.monotonic()
    assert gw.daemon.stop() == 0
    assert time.monotonic() - started < 2.0  # it does not wait for the printer to finish
    assert "print_left_printing" in gw.log()
    gw.start_daemon()
    t = wait_print(gw, token, ref, ("printed", "print_failed"))
    assert t["print"]["state"] == "printed", t["print"]
    assert t["print"]["attempts"] == 1, t["print"]
    time.sleep(0.5)
    files = p.spooled("pdf")
    assert len(files) == 1, files
    assert decode_pdf_qr(files[0], tmp_path) == sold["status_url"]


def test_jobs_left_printing_are_resent_without_a_job_id_and_rechecked_with_one(
        env, make_gateway, clean_stops, tmp_path):
    """What a crash can leave behind, written straight into the store while onestopd is down:
    `printing` without a printer job id (the submit may never have reached the printer: sent
    again) and `printing` with one (the printer had it: asked, never sent again)."""
    port = closed_port()
    gw = start_gateway(make_gateway, clean_stops,
                       {"uri": f"ipp://localhost:{port}/ipp/print"})
    token = gw.sign_in()
    resend, recheck = (sell_permit(gw, token, n)["reference"] for n in range(2))
    assert gw.stop() == 0
    db = gw.store_db()
    with db:
        for ref, job_id in ((resend, None), (recheck, 4242)):
            db.execute("UPDATE print_jobs SET state='printing', attempts=1, job_id=?"
                       " WHERE transaction_id=(SELECT id FROM transactions WHERE reference=?)",
                       (job_id, ref))
    db.close()
    with mock.patch.object(printenv, "free_port", lambda: port):
        p = env.add_printer("restarted")
    gw.start_daemon()
    t = wait_print(gw, token, resend, ("printed", "print_failed"))
    assert t["print"]["state"] == "printed", t["print"]
    assert t["print"]["attempts"] == 2, t["print"]
    t = wait_print(gw, token, recheck, ("printed", "print_failed"))
    assert t["print"]["state"] == "print_failed", t["print"]
    assert "no longer knows job 4242" in t["print"]["last_error"], t["print"]
    assert t["print"]["attempts"] == 1, t["print"]
    time.sleep(0.5)
    files = p.spooled("pdf")
    assert len(files) == 1, files
    assert decode_pdf_qr(files[0], tmp_path).split("/r/")[1].startswith(resend + "?")


SEND_STALL_MS = 8000  # long enough to end the send lock's session while the send waits


@pytest.mark.postgresql_only(
    reason="send locks are taken on a shared store only (SQLite has one node)")
def test_a_send_whose_send_lock_ended_is_not_sent_then_sent_once(env, make_gateway,
                                                                   clean_stops):
    """A job's send lock (held from before its attempt is written until its outcome is) ends
    with its database session. A sender whose send lock's session ended while the send waited
    does not send the job (another node may have taken it: print_attempt_lost); it looks at
    it again, takes the lock in a new session and sends it as a new attempt: once."""
    raw = env.raw_printer()
    gw = start_gateway(make_gateway, clean_stops, {"uri": raw.uri, "format": "escpos"},
                       env={"ONESTOP_FAILPOINTS": f"print_first_attempt_sending={SEND_STALL_MS}"})
    token = gw.sign_in()
    ref = sell_permit(gw, token)["reference"]
    wait_until(lambda: '"failpoint_reached"' in gw.log(), what="the first send waiting")
    db = gw.store_db()
    (job,) = db.execute("SELECT j.id FROM print_jobs j JOIN transactions t ON"
                        " t.id = j.transaction_id WHERE t.reference = ?", (ref,)).fetchone()
    (pid,) = db.execute(lock_sessions_sql("print-send", str(job))).fetchone()
    assert db.execute("SELECT pg_terminate_backend(?)", (pid,)).fetchone() == (True,)
    db.commit()
    db.close()
    t = wait_print(gw, token, ref, ("printed", "print_failed"), timeout=SEND_STALL_MS / 1000 + 20)
    assert t["print"]["state"] == "printed", t["print"]
    assert t["print"]["attempts"] == 2, t["print"]
    log = gw.log()
    assert log.index('"print_attempt_lost"') < log.index('"print_resubmit"'), log[-3000:]
    # the first attempt was given up before the second began: no other send can come
    wait_until(lambda: raw.jobs(), timeout=10, what="bytes at the raw printer")
    assert len(raw.jobs()) == 1
    assert ref.encode() in raw.jobs()[0]


def test_metrics_count_by_printer(env, make_gateway, clean_stops):
    raw = env.raw_printer()
    gw = start_gateway(make_gateway, clean_stops, {"uri": raw.uri, "format": "escpos"})
    token = gw.sign_in()
    ref = sell_permit(gw, token)["reference"]
    wait_print(gw, token, ref, ("printed",))
    # the spooler counts a receipt just after the store has it printed: wait for the count
    printed = f'onestop_print_jobs_printed_total{{printer="{PRINTER}"}} 1'
    text = wait_until(lambda: printed in (t := gw.request("GET", "/metrics").body.decode()) and t,
                      timeout=10, what="the printed receipt to be counted")
    assert f'onestop_print_jobs_failed_total{{printer="{PRINTER}"}} 0' in text
    assert f'onestop_print_queue_depth{{printer="{PRINTER}"}} 0' in text
