"""Till slips on a real printer (issue 10): a void prints a VOID slip and a refund a REFUND
slip for the sale, each exactly once, through the same spooler as receipts."""

import os
import sys
import uuid

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from onestop_env import ONESTOPD, wait_until  # noqa: E402
from test_receipts import (clean_stops, env, pdf_text, sell_permit, start_gateway,  # noqa: E402,F401
                           transaction, wait_print)

pytestmark = pytest.mark.skipif(not os.path.exists(ONESTOPD), reason=f"{ONESTOPD} not built")


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
