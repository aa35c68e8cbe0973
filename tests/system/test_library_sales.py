"""library-sales: a service made from its definition file alone (no C file, no web change).
Items priced from the definition's list, quantities, cash or card, complete at the counter
(nothing to forward), listed in the catalogue with its fields and prices."""

import uuid

from txn_helpers import card, cash

SALES = "library-sales"


def sale(gw, token, items, payment):
    body = {"service": SALES, "fields": {"items": items}, "payment": payment}
    return gw.request("POST", "/api/v1/transactions", body, token=token,
                      headers={"Idempotency-Key": str(uuid.uuid4())})


def test_catalogue_lists_the_price_list(gateway):
    token = gateway.sign_in()
    r = gateway.request("GET", "/api/v1/services", token=token)
    assert r.status == 200, r
    services = {s["code"]: s for s in r.json["services"]}
    s = services[SALES]
    assert s["payment_methods"] == ["cash", "card"]
    items = s["fields"][0]
    assert items["type"] == "items" and items["label"] == "What is being bought"
    assert {"code": "bag", "label": "Library bag", "fee": "bag"} in items["values"]
    assert "Library bag: \u00a31.00 each." in s["fee_rules"]


def test_cash_sale_with_quantities_is_complete_at_once(gateway):
    token = gateway.sign_in()
    items = [{"code": "copy_bw", "quantity": 12}, {"code": "bag", "quantity": 1}]
    r = gateway.request("POST", "/api/v1/quotes", {"service": SALES, "fields": {"items": items}},
                        token=token)
    assert r.status == 200, r
    assert r.json["fee_pence"] == 220
    r = sale(gateway, token, items, cash(500))
    assert r.status == 201, r
    assert r.json["reference"].startswith("SA-")
    assert r.json["fee_pence"] == 220 and r.json["change_pence"] == 280
    assert r.json["status"] == "completed"
    t = gateway.request("GET", f"/api/v1/transactions/{r.json['reference']}", token=token).json
    assert t["status"] == "completed"
    assert t["delivery"] is None
    assert [l["amount_pence"] for l in t["lines"]] == [120, 100]


def test_card_allowed_cheque_refused(gateway):
    token = gateway.sign_in()
    r = sale(gateway, token, [{"code": "replacement_card", "quantity": 1}], card())
    assert r.status == 201, r
    assert r.json["fee_pence"] == 250
    r = sale(gateway, token, [{"code": "bag", "quantity": 1}],
             {"method": "cheque", "cheque_number": "000123"})
    assert r.status == 422, r


def test_unknown_item_and_too_many_are_refused(gateway):
    token = gateway.sign_in()
    r = sale(gateway, token, [{"code": "sofa", "quantity": 1}], cash(100))
    assert r.status == 422, r
    assert r.json["error"]["fields"][0]["field"] == "fields.items"
    r = sale(gateway, token, [{"code": "copy_bw", "quantity": 101}], cash(10000))
    assert r.status == 422, r
