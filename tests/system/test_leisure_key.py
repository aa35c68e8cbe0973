"""leisure-key: new cards, renewals and replacements; bands A, B, D, E at the published fees;
cash only; the proof seen recorded as a code; the card handed over typed (10 digits); one
live card per resident; a renewal extends the card a year from the later of today and its
old expiry; forwarded as REST/JSON to the leisure back-end."""

import datetime
import json
import uuid

from onestop_env import wait_until
from txn_helpers import card, cash, today

SERVICE = "leisure-key"


def new_card(number="1000000001", band="A", proof="pension_credit", name="Mary Smith",
             dob="1950-02-01", **extra):
    fields = {"kind": "new", "band": band, "proof": proof, "name": name,
              "date_of_birth": dob, "card_number": number}
    fields.update(extra)
    return fields


def sell(gw, token, fields, payment=None):
    body = {"service": SERVICE, "fields": fields, "payment": payment or cash(2000)}
    return gw.request("POST", "/api/v1/transactions", body, token=token,
                      headers={"Idempotency-Key": str(uuid.uuid4())})


def errors(r):
    assert r.status == 422, r
    return {f["field"]: f["code"] for f in r.json["error"]["fields"]}


def add_year(d, years=1):
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 February
        return d.replace(year=d.year + years, day=28)


def test_band_fees_and_cash_only(gateway):
    token = gateway.sign_in()
    r = gateway.request("GET", "/api/v1/services", token=token)
    lk = {s["code"]: s for s in r.json["services"]}[SERVICE]
    assert lk["payment_methods"] == ["cash"]
    assert "Cash only." in lk["fee_rules"]
    proof = {f["name"]: f for f in lk["fields"]}["proof"]
    assert {"code": "pension_credit", "label": "Pension Credit award"} in proof["values"]
    cases = [("A", "new", "pension_credit", 265), ("A", "renewal", "pension_credit", 140),
             ("B", "new", "carer", 645), ("B", "renewal", "carer", 325),
             ("D", "new", "armed_forces", 615), ("E", "new", "armed_forces", 1000)]
    for band, kind, proof_code, pence in cases:
        fields = new_card(band=band, proof=proof_code, kind=kind)
        r = gateway.request("POST", "/api/v1/quotes", {"service": SERVICE, "fields": fields},
                            token=token)
        if kind == "renewal":  # a renewal needs a card to renew
            assert r.status == 422 and errors(r)["fields.card_number"] == "card_not_found"
            continue
        assert r.status == 200, (band, kind, r)
        assert r.json["fee_pence"] == pence, (band, kind)
    # card payment refused: Leisure Key is cash only
    r = sell(gateway, token, new_card(), card())
    assert r.status == 422, r
    assert "payment.method" in errors(r)


def test_new_card_is_forwarded_with_a_year_and_one_per_resident(gateway):
    token = gateway.sign_in()
    r = sell(gateway, token, new_card(), cash(500))
    assert r.status == 201, r
    assert r.json["fee_pence"] == 265 and r.json["change_pence"] == 235
    ref = r.json["reference"]
    assert ref.startswith("KY-")
    expiry = add_year(datetime.date.fromisoformat(today())) - datetime.timedelta(days=1)
    t = gateway.request("GET", f"/api/v1/transactions/{ref}", token=token).json
    assert t["fields"]["proof"] == "pension_credit"
    assert t["delivery"]["backend"] == "leisure"

    def sent():
        got = gateway.sim_request("GET", "/_sim/received?backend=leisure").json
        posts = [x for x in got["requests"] if x["method"] == "POST"]
        return posts or None
    posts = wait_until(sent, timeout=20, what="the leisure back-end to get the card")
    body = json.loads(posts[0]["body"])
    assert body["reference"] == ref and body["live_until"] == expiry.isoformat()
    assert body["fields"]["card_number"] == "1000000001"

    # the same resident again (any spacing or case): one live card per resident
    again = sell(gateway, token, new_card(number="1000000002", name="  mary   SMITH "))
    assert errors(again) == {"fields.name": "has_live_card"}
    # the same card number for someone else
    other = sell(gateway, token, new_card(name="John Jones", dob="1960-03-04"))
    assert errors(other) == {"fields.card_number": "card_in_use"}


def test_renewal_extends_from_the_old_expiry(gateway):
    token = gateway.sign_in()
    assert sell(gateway, token, new_card(number="2000000001")).status == 201
    r = sell(gateway, token, new_card(number="2000000001", kind="renewal"), cash(140))
    assert r.status == 201, r
    assert r.json["fee_pence"] == 140
    t = gateway.request("GET", f"/api/v1/transactions/{r.json['reference']}", token=token).json
    first_expiry = add_year(datetime.date.fromisoformat(today())) - datetime.timedelta(days=1)
    assert t["live_until"] == add_year(first_expiry).isoformat()
    # a renewal of a card nobody has
    r = sell(gateway, token, new_card(number="2999999999", kind="renewal"))
    assert errors(r) == {"fields.card_number": "card_not_found"}


def test_replacement_and_proof_rules(gateway):
    token = gateway.sign_in()
    assert sell(gateway, token, new_card(number="3000000001", name="Ann Lee")).status == 201
    r = sell(gateway, token, {"kind": "replacement", "band": "A", "card_number": "3000000002",
                              "old_card_number": "3000000001"}, cash(220))
    assert r.status == 201, r
    assert r.json["fee_pence"] == 220
    r = sell(gateway, token, {"kind": "replacement", "band": "A", "card_number": "3000000003",
                              "old_card_number": "3999999999"})
    assert errors(r) == {"fields.old_card_number": "card_not_live"}
    # the lost card stopped being live with the replacement; the new one is live
    r = sell(gateway, token, {"kind": "replacement", "band": "A", "card_number": "3000000004",
                              "old_card_number": "3000000001"})
    assert errors(r) == {"fields.old_card_number": "card_not_live"}
    r = sell(gateway, token, {"kind": "replacement", "band": "A", "card_number": "3000000005",
                              "old_card_number": "3000000002"}, cash(220))
    assert r.status == 201, r
    # Band D needs Armed Forces proof; the card number is the 10 digits; proof is required
    r = sell(gateway, token, new_card(number="3000000009", band="D", proof="pension_credit",
                                      name="Tom Bell"))
    assert errors(r) == {"fields.proof": "proof_not_for_band"}
    r = sell(gateway, token, new_card(number="12345", name="Tom Bell"))
    assert errors(r) == {"fields.card_number": "invalid_format"}
    fields = new_card(number="3000000010", name="Tom Bell")
    del fields["proof"]
    assert errors(sell(gateway, token, fields)) == {"fields.proof": "required"}
