"""Helpers for transaction tests: valid bodies, today's date in Europe/London."""

import datetime
import uuid

try:
    from zoneinfo import ZoneInfo
    LONDON = ZoneInfo("Europe/London")
except Exception:  # pragma: no cover - tzdata missing
    LONDON = datetime.timezone.utc

IN_ZONE = ["100011429002", "100011429003", "100011429004", "100011429005", "100011429006",
           "100011429101", "100011429102", "100011429301", "100011429302", "100011429303"]
OUT_OF_ZONE = "100011429401"


def today():
    return datetime.datetime.now(LONDON).date().isoformat()


def parking(uprn="100011429002", vrm="AB12CDE", **extra):
    fields = {"uprn": uprn, "vrm": vrm, "permit_type": "resident", "start_date": today(),
              "blue_badge": False, "leisure_key_band": "none"}
    fields.update(extra)
    return fields


def card():
    return {"method": "card", "auth_code": "A12345"}


def cash(tendered):
    return {"method": "cash", "tendered_pence": tendered}


def sell(gw, token, fields=None, payment=None, key=None, service="residents-parking-permit"):
    key = key or str(uuid.uuid4())
    body = {"service": service, "fields": fields or parking(), "payment": payment or card()}
    return gw.request("POST", "/api/v1/transactions", body, token=token,
                      headers={"Idempotency-Key": key}), key


def vrm(n):
    """A distinct valid current-style VRM for n in 0..17575: AB + age 51..71 + 3 letters."""
    letters = "ABCDEFGHJKLMNOPRSTUVWXYZ"
    a = letters[n % 24]
    b = letters[(n // 24) % 24]
    c = letters[(n // 576) % 24]
    return f"BD{51 + (n // 13824) % 20}{a}{b}{c}"
