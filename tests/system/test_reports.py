"""Daily and monthly reports (issue 10): takings by service, site, counter, method and staff,
refunds, voids, paid in/out and variances, delivery health; the CSV agrees with the JSON and
the till to the penny; supervisors only, their own site."""

import csv
import io
import uuid

from onestop_env import wait_until
from till_helpers import SALES, library_sale, pdf_text, sold
from txn_helpers import card, cash, parking, sell, today, vrm







def post(gw, token, path, body, key=True):
    headers = {"Idempotency-Key": str(uuid.uuid4())} if key else None
    return gw.request("POST", path, body, token=token, headers=headers)


def named(entries, name):
    [e] = [e for e in entries if e["name"] == name]
    return e


def test_the_daily_report_its_csv_and_the_till_agree_to_the_penny(gateway):
    gateway.add_user("supervisor2", "supervisor")
    sup = gateway.sign_in("supervisor")
    asst = gateway.sign_in("assistant")
    a = sold(gateway, asst, "bag", 2, cash(500))                    # 200 cash
    b = sold(gateway, asst, "reading_group_pack", 1, card())        # 500 card
    c = sold(gateway, sup, "replacement_card", 1, cash(250))        # 250 cash
    r, _ = sell(gateway, asst, fields=parking(vrm=vrm(21)))         # 4150 card, forwarded
    permit = r.json
    assert post(gateway, sup, f"/api/v1/transactions/{b['reference']}/void",
                {"reason": "Wrong item"}, key=False).status == 200
    assert post(gateway, sup, f"/api/v1/transactions/{c['reference']}/refunds",
                {"amount_pence": 100, "method": "cash", "reason": "Damaged",
                 "amount_available_pence": 250}).status == 201
    assert post(gateway, sup, "/api/v1/till/paid-out",
                {"amount_pence": 30, "reason": "Postage"}).status == 201
    expected_cash = 10000 + 200 + 250 - 100 - 30
    drawer = {"5000": 2, "200": 1, "100": 1, "10": 3}                # 10330: 10p over
    assert post(gateway, asst, "/api/v1/till/count", {"denominations": drawer},
                key=False).status == 200
    signed = post(gateway, gateway.sign_in("supervisor2"), "/api/v1/till/cashup",
                  {"banked_pence": 330, "bag_number": "B-7"}, key=False)
    assert signed.status == 200, signed
    slip = signed.json
    assert slip["expected_cash_pence"] == expected_cash and slip["variance_pence"] == 10
    wait_until(lambda: gateway.request("GET", f"/api/v1/transactions/{permit['reference']}",
                                       token=sup).json["delivery"]["state"] == "delivered",
               timeout=30, what="the permit delivered")

    r = gateway.request("GET", f"/api/v1/reports/daily?date={today()}", token=sup)
    assert r.status == 200, r
    rep = r.json
    assert rep["period"] == {"kind": "daily", "date": today(), "from": today(),
                             "site": "Stockport Direct, Fred Perry House"}
    assert rep["sales"] == {"transactions": 4, "takings_pence": 200 + 500 + 250 + 4150,
                            "voided": 1}
    assert named(rep["by_service"], SALES) == {"name": SALES, "transactions": 3,
                                               "takings_pence": 950}
    assert named(rep["by_method"], "cash")["takings_pence"] == 450
    assert named(rep["by_method"], "card")["takings_pence"] == 4650
    assert named(rep["by_staff"], "supervisor")["transactions"] == 1
    assert named(rep["by_counter"], "SD-01")["transactions"] == 4
    assert rep["refunds"] == {"count": 1, "pence": 100, "by_method": {"cash": 100}}
    assert rep["voids"] == {"count": 1, "pence": 500, "by_method": {"card": 500}}
    assert rep["paid_out_pence"] == 30 and rep["paid_in_pence"] == 0
    assert rep["net_pence"] == 5100 - 100 - 500
    [v] = rep["variances"]
    assert v["variance_pence"] == 10 and v["counted_by"] == "assistant"
    assert v["signed_by"] == "supervisor2" and v["state"] == "closed"
    assert rep["deliveries"]["delivered"] == 1 and rep["deliveries"]["waiting"] == 0
    # the till's own figures are the report's
    assert slip["takings"]["cash"] == named(rep["by_method"], "cash")["takings_pence"]
    assert slip["refunds"]["cash"] == rep["refunds"]["pence"]
    assert slip["voids"]["card"] == rep["voids"]["pence"]

    r = gateway.request("GET", f"/api/v1/reports/daily?date={today()}", token=sup,
                        headers={"Accept": "text/csv"})
    assert r.status == 200, r
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.body.decode())))
    assert len({row["reference"] for row in rows}) == 4
    assert {row["reference"] for row in rows} == {a["reference"], b["reference"],
                                                  c["reference"], permit["reference"]}
    assert sum(int(row["amount_pence"]) for row in rows) == rep["sales"]["takings_pence"]
    assert sum(int(row["refunded_pence"]) for row in rows) == rep["refunds"]["pence"]
    assert sum(int(row["voided_pence"]) for row in rows) == rep["voids"]["pence"]
    assert {row["site"] for row in rows} == {"Stockport Direct, Fred Perry House"}
    assert [row["status"] for row in rows if row["reference"] == b["reference"]] == ["voided"]

    r = gateway.request("GET", f"/api/v1/reports/daily?date={today()}", token=sup,
                        headers={"Accept": "application/pdf"})
    assert r.status == 200 and r.headers["content-type"] == "application/pdf", r
    text = pdf_text(r.body)
    for expected in ("Takings report", "£51.00", "£45.00", "Fred Perry House",
                     "4 sales, 1 voided"):
        assert expected in text, (expected, text)
    assert "Payment" not in text and "No charge" not in text, text

    month = today()[:7]
    r = gateway.request("GET", f"/api/v1/reports/monthly?month={month}", token=sup)
    assert r.status == 200, r
    assert r.json["sales"] == rep["sales"] and r.json["period"]["month"] == month
    days = {(d["day"], d["service"]): d["takings_pence"] for d in r.json["by_day"]}
    assert days[(today(), SALES)] == 950
    assert days[(today(), "residents-parking-permit")] == 4150


def test_the_csv_has_a_row_per_line_item_and_still_sums_to_the_json(gateway):
    sup = gateway.sign_in("supervisor")
    r = library_sale(gateway, sup, [("bag", 2), ("replacement_card", 1)], card())
    assert r.status == 201, r
    two = r.json
    one = sold(gateway, sup, "reading_group_pack", 1, cash(500))
    assert post(gateway, sup, f"/api/v1/transactions/{two['reference']}/void",
                {"reason": "Wrong items"}, key=False).status == 200
    rep = gateway.request("GET", f"/api/v1/reports/daily?date={today()}", token=sup).json
    r = gateway.request("GET", f"/api/v1/reports/daily?date={today()}", token=sup,
                        headers={"Accept": "text/csv"})
    assert r.status == 200, r
    rows = list(csv.DictReader(io.StringIO(r.body.decode())))
    lines = [row for row in rows if row["reference"] == two["reference"]]
    assert [row["line"] for row in lines] == ["1", "2"], rows
    assert all(row["description"] for row in lines)
    assert lines[0]["description"] != lines[1]["description"]
    # each line's own amount, summing to the sale's fee; the sale's figures once, on line 1
    assert sum(int(row["line_pence"]) for row in lines) == two["fee_pence"] == 450
    assert [int(row["amount_pence"]) for row in lines] == [450, 0]
    assert [int(row["voided_pence"]) for row in lines] == [450, 0]
    assert [row["line"] for row in rows if row["reference"] == one["reference"]] == ["1"]
    assert len(rows) == 3
    # to the penny with the JSON
    assert sum(int(row["amount_pence"]) for row in rows) == rep["sales"]["takings_pence"] == 950
    assert sum(int(row["voided_pence"]) for row in rows) == rep["voids"]["pence"] == 450
    assert sum(int(row["line_pence"]) for row in rows) == 950


def test_reports_are_for_supervisors_of_their_own_site(gateway):
    sd = gateway.sign_in("supervisor")
    sold(gateway, sd, "bag", 1, card())
    asst = gateway.sign_in("assistant")
    for path in ("/api/v1/reports/daily", "/api/v1/reports/monthly"):
        assert gateway.request("GET", path, token=asst).status == 403
    lib = gateway.sign_in("supervisor", counter="LIB-CEN")
    r = gateway.request("GET", "/api/v1/reports/daily", token=lib)
    assert r.status == 200 and r.json["sales"]["transactions"] == 0, r
    r = gateway.request("GET", "/api/v1/reports/daily", token=sd)
    assert r.status == 200 and r.json["sales"]["transactions"] == 1, r


def test_a_bad_period_is_refused_with_the_field(gateway):
    sup = gateway.sign_in("supervisor")
    for path, field in (("/api/v1/reports/daily?date=2026-13-01", "date"),
                        ("/api/v1/reports/daily?date=yesterday", "date"),
                        ("/api/v1/reports/monthly?month=2026-1", "month"),
                        ("/api/v1/reports/monthly?month=2026-11-01", "month")):
        r = gateway.request("GET", path, token=sup)
        assert r.status == 422, (path, r)
        assert r.json["error"]["fields"][0]["field"] == field
