"""Helpers for the till's tests: a library sale (no back-end, priced from a list), the
till, a transaction, and the text of a PDF."""

import subprocess
import uuid

SALES = "library-sales"


def library_sale(gw, token, items, payment, key=None):
    """POST a library sale of items [(code, quantity)]; the response."""
    body = {"service": SALES,
            "fields": {"items": [{"code": c, "quantity": q} for c, q in items]},
            "payment": payment}
    return gw.request("POST", "/api/v1/transactions", body, token=token,
                      headers={"Idempotency-Key": key or str(uuid.uuid4())})


def sold(gw, token, code, quantity, payment):
    """A library sale of one item that must succeed; its reply."""
    r = library_sale(gw, token, [(code, quantity)], payment)
    assert r.status == 201, r
    return r.json


def till(gw, token):
    r = gw.request("GET", "/api/v1/till", token=token)
    assert r.status == 200, r
    return r.json


def txn(gw, token, ref):
    r = gw.request("GET", f"/api/v1/transactions/{ref}", token=token)
    assert r.status == 200, r
    return r.json


def pdf_text(data):
    """The words of a PDF, one space between each."""
    out = subprocess.run(["pdftotext", "-layout", "-", "-"], input=data, capture_output=True,
                         timeout=60, check=True)
    return " ".join(out.stdout.decode().split())
