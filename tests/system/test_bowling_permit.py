"""bowling-permit: season permits; season dates and prices from the definition; the concession
price for a live Leisure Key (the card number is checked); a permit starting outside every
season refused with the seasons' dates in the message. The test writes its own seasons, set
around today, so it passes on any day of the year."""

import datetime
import json
import os
import shutil
import uuid

import pytest

from onestop_env import ROOT, Gateway
from txn_helpers import cash, today

SERVICE = "bowling-permit"


def day(offset):
    return (datetime.date.fromisoformat(today()) + datetime.timedelta(days=offset))


def words(d):
    return f"{d.day} {d.strftime('%B')} {d.year}"


@pytest.fixture
def gw(tmp_path):
    g = Gateway(tmp_path)
    services = os.path.join(g.dir, "services")
    shutil.copytree(os.path.join(ROOT, "config", "services"), services)
    path = os.path.join(services, "bowling-permit.json")
    with open(path) as f:
        definition = json.load(f)
    definition["rules"]["seasons"] = [
        {"name": "Test season", "from": day(10).isoformat(), "until": day(100).isoformat()}]
    with open(path, "w") as f:
        json.dump(definition, f)
    g.config["services"]["dir"] = services
    g.write_config()
    g.start()
    yield g
    assert g.stop() == 0


def sell(gw, token, service, fields, payment):
    return gw.request("POST", "/api/v1/transactions",
                      {"service": service, "fields": fields, "payment": payment}, token=token,
                      headers={"Idempotency-Key": str(uuid.uuid4())})


def errors(r):
    assert r.status == 422, r
    return {f["field"]: (f["code"], f["message"]) for f in r.json["error"]["fields"]}


def test_full_price_in_season_and_runs_to_its_end(gw):
    token = gw.sign_in()
    r = sell(gw, token, SERVICE, {"name": "Alan Green", "start_date": day(20).isoformat()},
             cash(3000))
    assert r.status == 201, r
    assert r.json["fee_pence"] == 2500 and r.json["change_pence"] == 500
    assert r.json["lines"][0]["description"] == "Bowling green season permit, Test season"
    t = gw.request("GET", f"/api/v1/transactions/{r.json['reference']}", token=token).json
    assert t["live_until"] == day(100).isoformat()
    assert t["delivery"]["backend"] == "leisure"


def test_outside_the_season_is_refused_with_its_dates(gw):
    token = gw.sign_in()
    r = sell(gw, token, SERVICE, {"name": "Alan Green", "start_date": day(5).isoformat()},
             cash(3000))
    code, message = errors(r)["fields.start_date"]
    assert code == "out_of_season"
    assert f"Test season, {words(day(10))} to {words(day(100))}" in message


def test_concession_needs_a_live_leisure_key(gw):
    token = gw.sign_in()
    fields = {"name": "Alan Green", "start_date": day(20).isoformat(),
              "leisure_key_number": "4000000001"}
    code, _ = errors(sell(gw, token, SERVICE, fields, cash(3000)))["fields.leisure_key_number"]
    assert code == "card_not_live"
    key = {"kind": "new", "band": "A", "proof": "carer", "name": "Alan Green",
           "date_of_birth": "1948-05-06", "card_number": "4000000001"}
    assert sell(gw, token, "leisure-key", key, cash(265)).status == 201
    r = sell(gw, token, SERVICE, fields, cash(1250))
    assert r.status == 201, r
    assert r.json["fee_pence"] == 1250
    assert "Leisure Key concession" in r.json["lines"][0]["description"]
