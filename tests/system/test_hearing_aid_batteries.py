"""hearing-aid-batteries: free; a battery book number; at most 2 packs a visit; one issue per
book per day; stock per site taken in the same write as the sale, never below zero (422
out_of_stock, and two counters racing for the last pack cannot both succeed); GET
/api/v1/stock and POST /api/v1/stock/deliveries (supervisor); a low-stock gauge in /metrics;
each issue e-mailed to audiology."""

import email
import email.policy
import threading
import uuid

import pytest

from onestop_env import Gateway, wait_until

SERVICE = "hearing-aid-batteries"
ITEM = "hearing_aid_battery_pack"


@pytest.fixture
def gw(tmp_path):
    g = Gateway(tmp_path)
    g.sim_args = ["--smtp-listen", f"127.0.0.1:{g.audiology_smtp_port}"]
    g.write_config()
    g.start()
    yield g
    assert g.stop() == 0


def issue(gw, token, book, packs=1):
    body = {"service": SERVICE, "fields": {"book_number": book, "packs": packs},
            "payment": {"method": "none"}}
    return gw.request("POST", "/api/v1/transactions", body, token=token,
                      headers={"Idempotency-Key": str(uuid.uuid4())})


def receive(gw, token, quantity, item=ITEM, note="Box from audiology"):
    return gw.request("POST", "/api/v1/stock/deliveries",
                      {"item": item, "quantity": quantity, "note": note}, token=token)


def on_hand(gw, token):
    r = gw.request("GET", "/api/v1/stock", token=token)
    assert r.status == 200, r
    [item] = [i for i in r.json["items"] if i["code"] == ITEM]
    return item


def errors(r):
    assert r.status == 422, r
    return {f["field"]: f["code"] for f in r.json["error"]["fields"]}


def metric(gw, name, site):
    text = gw.request("GET", "/metrics").body.decode()
    prefix = f'{name}{{site="{site}",item="{ITEM}"}} '
    for line in text.splitlines():
        if line.startswith(prefix):
            return float(line[len(prefix):])
    return None


def test_stock_received_by_a_supervisor_and_shown_per_site(gw):
    assistant = gw.sign_in()
    supervisor = gw.sign_in("supervisor")
    item = on_hand(gw, assistant)
    assert item == {"code": ITEM, "name": "Hearing aid battery packs", "on_hand": 0,
                    "low_at": 20, "low": True}
    assert gw.request("GET", "/api/v1/stock", token=assistant).json["site"] == \
        "Stockport Direct, Fred Perry House"
    assert receive(gw, assistant, 10).status == 403  # supervisors record deliveries
    r = receive(gw, supervisor, 30)
    assert r.status == 201, r
    assert r.json["on_hand"] == 30
    assert on_hand(gw, assistant)["on_hand"] == 30 and not on_hand(gw, assistant)["low"]
    # another site has its own stock
    library = gw.sign_in(counter="LIB-CEN")
    assert on_hand(gw, library)["on_hand"] == 0
    # bad deliveries
    assert errors(receive(gw, supervisor, 0)) == {"quantity": "out_of_range"}
    assert errors(receive(gw, supervisor, 5, item="biscuits")) == {"item": "invalid_value"}
    assert errors(receive(gw, supervisor, 5, note="x" * 201)) == {"note": "too_long"}
    site = "Stockport Direct, Fred Perry House"
    assert metric(gw, "onestop_stock_on_hand", site) == 30
    assert metric(gw, "onestop_stock_low", site) == 0


def test_issue_takes_stock_and_runs_out_at_zero(gw):
    token = gw.sign_in()
    supervisor = gw.sign_in("supervisor")
    assert errors(issue(gw, token, "BOOK0001")) == {"fields.packs": "out_of_stock"}
    assert receive(gw, supervisor, 3).status == 201
    r = issue(gw, token, "BOOK0001", packs=2)
    assert r.status == 201, r
    assert r.json["fee_pence"] == 0 and r.json["payment_method"] == "none"
    assert on_hand(gw, token)["on_hand"] == 1
    # 2 asked, 1 left: refused, and nothing taken
    assert errors(issue(gw, token, "BOOK0002", packs=2)) == {"fields.packs": "out_of_stock"}
    assert on_hand(gw, token)["on_hand"] == 1
    assert issue(gw, token, "BOOK0002", packs=1).status == 201
    assert on_hand(gw, token)["on_hand"] == 0
    assert metric(gw, "onestop_stock_low", "Stockport Direct, Fred Perry House") == 1


def test_packs_per_visit_and_one_issue_per_book_per_day(gw):
    token = gw.sign_in()
    assert receive(gw, gw.sign_in("supervisor"), 50).status == 201
    assert errors(issue(gw, token, "BOOK0003", packs=3)) == {"fields.packs": "out_of_range"}
    assert errors(issue(gw, token, "book 3", packs=1)) == {"fields.book_number": "invalid_format"}
    assert issue(gw, token, "BOOK0003").status == 201
    assert errors(issue(gw, token, "BOOK0003")) == {"fields.book_number": "limit_reached"}
    assert on_hand(gw, token)["on_hand"] == 49
    # card payments make no sense for a free issue
    body = {"service": SERVICE, "fields": {"book_number": "BOOK0004", "packs": 1},
            "payment": {"method": "card", "auth_code": "A12345"}}
    r = gw.request("POST", "/api/v1/transactions", body, token=token,
                   headers={"Idempotency-Key": str(uuid.uuid4())})
    assert r.status == 422, r


def test_two_counters_racing_for_the_last_packs(gw):
    supervisor = gw.sign_in("supervisor")
    assert receive(gw, supervisor, 5).status == 201
    tokens = [gw.sign_in(counter="SD-01") for _ in range(8)]
    results = [None] * len(tokens)
    start = threading.Barrier(len(tokens))

    def go(i):
        start.wait()
        results[i] = issue(gw, tokens[i], f"RACE{i:04d}", packs=1).status
    threads = [threading.Thread(target=go, args=(i,)) for i in range(len(tokens))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [201] * 5 + [422] * 3, results
    assert on_hand(gw, supervisor)["on_hand"] == 0


def test_each_issue_is_emailed_to_audiology(gw):
    token = gw.sign_in()
    assert receive(gw, gw.sign_in("supervisor"), 5).status == 201
    r = issue(gw, token, "BOOK0009", packs=2)
    assert r.status == 201, r
    ref = r.json["reference"]

    def sent():
        got = gw.sim_request("GET", "/_sim/received?backend=mail").json["requests"]
        return got or None
    [m] = wait_until(sent, timeout=20, what="the e-mail to audiology")
    assert m["reference"] == ref and m["rcpt_to"] == ["audiology@stockport.example"]
    text = email.message_from_string(m["body"], policy=email.policy.default).get_content()
    assert "book_number: BOOK0009" in text and "packs: 2" in text
