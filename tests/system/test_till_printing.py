"""Till slips on a real printer (issue 10): a void prints a VOID slip and a refund a REFUND
slip for the sale, and the cash-up sign-off the till's cash-up slip, each exactly once,
through the same spooler as receipts."""

import os
import sys
import uuid


sys.path.insert(0, os.path.dirname(__file__))

from onestop_env import wait_until  # noqa: E402
from test_receipts import (PRINTER, clean_stops, env, pdf_text, sell_permit,  # noqa: E402,F401
                           start_gateway, transaction, wait_print)



def test_void_and_refund_slips_print_once_each(env, make_gateway, clean_stops):
    p = env.add_printer("direct")
    gw = start_gateway(make_gateway, clean_stops, {"uri": p.uri, "format": "pdf", "paper": "80mm"})
    sup = gw.sign_in("supervisor")
    voided = sell_permit(gw, sup, 0)["reference"]
    wait_print(gw, sup, voided, ("printed",))
    r = gw.request("POST", f"/api/v1/transactions/{voided}/void", {"reason": "Wrong vehicle"},
                   token=sup)
    assert r.status == 200, r
    wait_until(lambda: len(p.spooled("pdf")) == 2, timeout=20, what="the VOID slip")
    assert wait_print(gw, sup, voided, ("printed", "print_failed"))["print"]["state"] == "printed"
    receipt, slip = sorted(p.spooled("pdf"))
    assert "VOID" not in pdf_text(receipt)
    text = pdf_text(slip)
    assert "VOID" in text and voided in text, text

    refunded = sell_permit(gw, sup, 1)["reference"]
    wait_until(lambda: len(p.spooled("pdf")) == 3, timeout=20, what="the second receipt")
    wait_print(gw, sup, refunded, ("printed",))
    r = gw.request("POST", f"/api/v1/transactions/{refunded}/refunds",
                   {"amount_pence": 1000, "method": "cash", "reason": "Overcharged",
                    "amount_available_pence": 4150},
                   token=sup, headers={"Idempotency-Key": str(uuid.uuid4())})
    assert r.status == 201, r
    wait_until(lambda: len(p.spooled("pdf")) == 4, timeout=20, what="the REFUND slip")
    text = pdf_text(sorted(p.spooled("pdf"))[-1])
    assert "REFUND £10.00 cash" in text and refunded in text, text
    assert wait_print(gw, sup, refunded, ("printed", "print_failed"))["print"]["state"] \
        == "printed"


def test_the_cashup_slip_prints_once_at_the_sign_off(env, make_gateway, clean_stops):
    p = env.add_printer("direct")
    gw = start_gateway(make_gateway, clean_stops, {"uri": p.uri, "format": "pdf", "paper": "80mm"})
    gw.add_user("supervisor2", "supervisor")
    sup = gw.sign_in("supervisor")
    sup2 = gw.sign_in("supervisor2")
    sold = sell_permit(gw, sup, 0)
    wait_print(gw, sup, sold["reference"], ("printed",))
    expected = gw.request("GET", "/api/v1/till", token=sup2).json["expected_cash_pence"]
    r = gw.request("POST", "/api/v1/till/count",
                   {"denominations": {"1": expected - 10}, "card_pence": 0, "cheque_pence": 0},
                   token=sup)
    assert r.status == 200 and r.json["variance_pence"] == -10, r
    assert len(p.spooled("pdf")) == 1  # counting prints nothing; the sign-off does
    r = gw.request("POST", "/api/v1/till/cashup", {"banked_pence": 4000, "bag_number": "B-77"},
                   token=sup2)
    assert r.status == 200, r
    # the spooler counts a job just after the store has it printed
    printed = f'onestop_print_jobs_printed_total{{printer="{PRINTER}"}} 2'
    wait_until(lambda: printed in gw.request("GET", "/metrics").body.decode(), timeout=20,
               what="the cash-up slip printed")
    files = sorted(p.spooled("pdf"))
    assert len(files) == 2, files
    text = " ".join(pdf_text(files[-1]).split())
    for words in ("CASH-UP SD-01", "Counted by supervisor.", "Signed off by supervisor2",
                  "Bag B-77", "-£0.10", "£40.00"):
        assert words in text, (words, text)
    assert "Payment" not in text and "No charge" not in text, text
    # the receipt is untouched: still the sale's one job, printed
    assert transaction(gw, sup, sold["reference"])["print"]["state"] == "printed"
