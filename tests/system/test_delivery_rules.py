"""The delivery state machine's rules, and the defects a code review found in delivery,
idempotency, limits, metrics and shutdown — each shown against the real onestopd and
simulator.

- a back-end that reported a transaction completed is never resent to, even when a resend
  is refused (it used to be resent forever);
- a supervisor's hand retry of an old dead letter gets a new give-up deadline;
- a paid permit whose delivery failed still holds its vehicle's place until it is voided;
- every delivery move is in the audit trail;
- the same Idempotency-Key resent while its first request commits never gets a rule error
  about its own sale;
- /metrics counts a request before its reply is sent;
- SIGTERM with sales queued on a locked store answers every one and exits 0."""

import json
import sqlite3
import threading
import time
import uuid

from onestop_env import STORE_ENGINE, sign, wait_until
from test_delivery import fault, parking_fields, received, sell_permits, txn
from txn_helpers import IN_ZONE, card, parking, sell


def delivery(gw, token, ref):
    return txn(gw, token, ref)["delivery"]


def audit_entries(gw, reference):
    r = gw.cli("audit", "--limit", "500")
    assert r.returncode == 0, r.stderr
    entries = json.loads(r.stdout)
    entries = entries.get("entries", entries) if isinstance(entries, dict) else entries
    return [e for e in entries if e.get("subject") == reference]


def audit_actions(gw, reference):
    return [e["action"] for e in audit_entries(gw, reference)]


def callback(gw, reference, status="completed", note="Permit issued"):
    body = json.dumps({"reference": reference, "status": status,
                       "backend_reference": "PP-CALLBACK", "note": note}).encode()
    headers = sign(gw.keys["parking"], str(uuid.uuid4()), body)
    headers["Content-Type"] = "application/json"
    return gw.request("POST", "/api/v1/callbacks/parking", raw=body, headers=headers)


def test_a_completed_transaction_is_never_resent_even_when_a_resend_is_refused(gateway):
    token = gateway.sign_in()
    fault(gateway, "parking", "down")
    [ref] = sell_permits(gateway, token, 1)
    wait_until(lambda: delivery(gateway, token, ref)["attempts"] >= 1, timeout=10,
               what="a failed attempt")
    # the back-end had the request after all, and says it is done
    r = callback(gateway, ref)
    assert r.status in (200, 204), r
    wait_until(lambda: txn(gateway, token, ref)["status"] == "completed", timeout=5,
               what="the completion")
    # later resends would be refused (the back-end sees a duplicate)
    fault(gateway, "parking", "reject")
    d = wait_until(lambda: (lambda d: d if d["state"] == "delivered" else None)(
        delivery(gateway, token, ref)), timeout=5, what="the delivery settled as delivered")
    assert txn(gateway, token, ref)["status"] == "completed"
    seen = received(gateway, "parking")["attempts"]
    # the retry schedule is 1-3 s: over 4 s a pending delivery would be sent again
    time.sleep(4)
    assert received(gateway, "parking")["attempts"] <= seen + 1  # at most one already in flight
    assert delivery(gateway, token, ref)["state"] == "delivered"
    assert txn(gateway, token, ref)["status"] == "completed"
    assert d["attempts"] >= 1
    actions = audit_actions(gateway, ref)
    assert "transaction_completed" in actions and "delivery_delivered" in actions, actions
    assert "delivery_failed" not in actions


def test_a_hand_retry_of_an_old_dead_letter_gets_a_new_deadline(make_gateway):
    gw = make_gateway()
    gw.config["backends"][0].update({"retry_schedule_s": [1], "give_up_after_s": 3})
    gw.write_config()
    gw.start()
    token = gw.sign_in()
    fault(gw, "parking", "down")
    [ref] = sell_permits(gw, token, 1)
    wait_until(lambda: delivery(gw, token, ref)["state"] == "failed", timeout=15,
               what="the dead letter after the 3 s deadline")
    assert "gave up after" in delivery(gw, token, ref)["last_error"]
    time.sleep(1)  # the dead letter is now well older than give_up_after_s
    sup = gw.sign_in("supervisor")
    r = gw.request("POST", f"/api/v1/transactions/{ref}/retry", token=sup)
    assert r.status == 202, r
    # the first attempt of the new series fails (still down): it is retried, not given up
    d = wait_until(lambda: (lambda d: d if d["attempts"] >= 1 else None)(
        delivery(gw, token, ref)), timeout=10, what="the first attempt after the hand retry")
    assert d["state"] == "pending", d
    assert "HTTP 503" in d["last_error"]
    # and once up, it is delivered within the new series
    fault(gw, "parking", "up")
    wait_until(lambda: txn(gw, token, ref)["status"] == "forwarded", timeout=10,
               what="delivery after the back-end is up")
    entries = audit_entries(gw, ref)
    actions = [e["action"] for e in entries]
    for action in ("delivery_failed", "delivery_retried", "delivery_delivered",
                   "transaction_accepted"):
        assert action in actions, (action, actions)
    # a delivery outcome's row records the transaction's move it caused: the dead letter
    # failed the transaction, the delivery after the hand retry forwarded it
    details = {e["action"]: e.get("detail") or "" for e in reversed(entries)}
    assert details["delivery_failed"].startswith("transaction failed: "), entries
    assert "gave up after" in details["delivery_failed"], entries
    assert details["delivery_delivered"].startswith("transaction forwarded"), entries
    assert "transaction_forwarded" not in actions, actions


def test_a_paid_permit_whose_delivery_failed_still_holds_its_vehicle(gateway):
    token = gateway.sign_in()
    fault(gateway, "parking", "reject")
    fields = parking(uprn=IN_ZONE[0], vrm="FA11LED")
    r, _ = sell(gateway, token, fields)
    assert r.status == 201, r
    ref = r.json["reference"]
    wait_until(lambda: txn(gateway, token, ref)["status"] == "failed", timeout=10,
               what="the dead letter")
    # the resident paid and holds the permit until a supervisor voids it: no second one
    again, _ = sell(gateway, token, parking(uprn=IN_ZONE[1], vrm="FA11LED"))
    assert again.status == 422, again
    assert any(f["field"] == "fields.vrm" for f in again.json["error"]["fields"]), again.json
    # and it still counts towards its household's maximum (two per household)
    ok, _ = sell(gateway, token, parking(uprn=IN_ZONE[0], vrm="FA11LEE"))
    assert ok.status == 201, ok
    third, _ = sell(gateway, token, parking(uprn=IN_ZONE[0], vrm="FA11LEF"))
    assert third.status == 422, third
    # a hand retry once the back-end takes it leaves exactly one live permit
    fault(gateway, "parking", "up")
    sup = gateway.sign_in("supervisor")
    assert gateway.request("POST", f"/api/v1/transactions/{ref}/retry", token=sup).status == 202
    wait_until(lambda: txn(gateway, token, ref)["status"] == "forwarded", timeout=10,
               what="the retried delivery")


def test_a_resent_key_never_gets_a_rule_error_about_its_own_sale(make_gateway):
    # The window: a resend looks its key up (not stored yet), the first request commits, then
    # the resend's rules find the first request's permit. A failpoint holds every sale for 1 s
    # between its key look-up and its rules; the resend is sent half-way through the first
    # one's pause, so the first commits inside the resend's window (with 0.5 s either side).
    gw = make_gateway()
    gw.start(env={"ONESTOP_FAILPOINTS": "transaction_key_checked=1000"})
    token = gw.sign_in()
    key = str(uuid.uuid4())
    body = {"service": "residents-parking-permit", "fields": parking_fields(7),
            "payment": card()}
    answers = {}

    def send(name):
        answers[name] = gw.request("POST", "/api/v1/transactions", body, token=token,
                                   headers={"Idempotency-Key": key})

    first = threading.Thread(target=send, args=("first",))
    first.start()
    wait_until(lambda: gw.log().count("failpoint_reached") >= 1, timeout=10,
               what="the first sale to reach its pause")
    time.sleep(0.5)  # half-way through the first sale's 1 s pause (see above)
    send("resend")
    first.join(30)
    assert answers["first"].status == 201, answers["first"]
    assert gw.log().count("failpoint_reached") == 2
    resend = answers["resend"]
    assert resend.status == 200, resend  # the stored reply, not a 422 about its own permit
    assert resend.json == answers["first"].json


def race_one_key(gw, token, fields, clients=20):
    """clients threads send the same sale with the same Idempotency-Key at once."""
    key = str(uuid.uuid4())
    body = {"service": "residents-parking-permit", "fields": fields, "payment": card()}
    barrier = threading.Barrier(clients)
    answers = [None] * clients

    def one(i):
        barrier.wait()
        answers[i] = gw.request("POST", "/api/v1/transactions", body, token=token,
                                headers={"Idempotency-Key": key})

    threads = [threading.Thread(target=one, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return answers


def test_twenty_concurrent_resends_get_one_sale_and_its_stored_reply(gateway):
    token = gateway.sign_in()
    for n in range(2 * len(IN_ZONE)):
        answers = race_one_key(gateway, token, parking_fields(n))
        statuses = [a.status for a in answers]
        assert all(s in (200, 201) for s in statuses), [
            (a.status, a.json) for a in answers if a.status not in (200, 201)]
        assert statuses.count(201) == 1, statuses
        assert len({a.json["reference"] for a in answers}) == 1


def test_metrics_count_a_request_before_its_reply(make_gateway):
    # A failpoint holds each request for 300 ms after its reply has gone out: a count made
    # at completion (as it was) would be missing from the /metrics read that follows.
    gw = make_gateway()
    gw.start(env={"ONESTOP_FAILPOINTS": "http_request_completed=300"})
    route = 'onestop_http_requests_total{route="/api/v1/services",method="GET",status="401"}'
    for n in range(1, 6):
        assert gw.request("GET", "/api/v1/services").status == 401
        text = gw.request("GET", "/metrics").body.decode()
        assert f"{route} {n}\n" in text, (n, [l for l in text.splitlines() if route in l])


def test_sigterm_with_sales_queued_on_a_locked_store_answers_each_and_exits_0(make_gateway):
    gw = make_gateway()
    gw.config["http"] = {"drain_timeout_ms": 1000}
    gw.config["store"] = {"busy_timeout_ms": 60000}
    gw.write_config()
    gw.start()
    token = gw.sign_in()
    # another process holds the database's write lock (PostgreSQL: the transactions table's):
    # the writer waits on it
    if STORE_ENGINE == "postgresql":
        lock = gw.store_db()
        lock.execute("BEGIN")
        lock.execute("LOCK TABLE transactions IN EXCLUSIVE MODE")
    else:
        lock = sqlite3.connect(f"{gw.dir}/data/onestop.db", isolation_level=None, timeout=10)
        lock.execute("BEGIN EXCLUSIVE")
    sales = [(parking_fields(i), str(uuid.uuid4())) for i in range(5)]
    answers = [None] * len(sales)

    def one(i):
        fields, key = sales[i]
        try:
            answers[i] = gw.request("POST", "/api/v1/transactions",
                                    {"service": "residents-parking-permit", "fields": fields,
                                     "payment": card()},
                                    token=token, headers={"Idempotency-Key": key}, timeout=90)
        except Exception as exc:  # noqa: BLE001 - a dropped connection is the failure
            answers[i] = exc

    def store_gauge(name):
        text = gw.request("GET", "/metrics").body.decode()
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return None

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(sales))]
    # the first sale is taken by the writer, which waits on the lock; the rest queue behind it
    threads[0].start()
    wait_until(lambda: store_gauge("onestop_store_writes_in_progress") == 1, timeout=10,
               what="the writer to begin the first sale")
    for t in threads[1:]:
        t.start()
    wait_until(lambda: store_gauge("onestop_store_write_queue_depth") == len(sales) - 1,
               timeout=10, what="the other sales to queue behind the locked store")
    gw.daemon.proc.send_signal(15)
    # the queued sales are refused as soon as the drain time has passed
    wait_until(lambda: sum(isinstance(a, object) and getattr(a, "status", 0) == 503
                           for a in answers) >= len(sales) - 1,
               timeout=20, what="503s for the sales still queued")
    lock.execute("ROLLBACK")  # the disk recovers: the sale the writer had begun commits
    lock.close()
    for t in threads:
        t.join(30)
    assert gw.daemon.proc.wait(30) == 0, gw.daemon.output()[-3000:]
    statuses = [getattr(a, "status", repr(a)) for a in answers]
    assert sorted(statuses) in ([201] + [503] * (len(sales) - 1), [503] * len(sales)), statuses
    for a in answers:
        if a.status == 503:
            assert "Nothing was recorded" in a.json["error"]["message"]
    # after a restart: the 201 is stored, the 503s are not (their keys are new again)
    gw.daemon.log.close()
    gw.start_daemon()
    token = gw.sign_in()
    for a, (fields, key) in zip(answers, sales):
        if a.status == 201:
            assert txn(gw, token, a.json["reference"])["status"] in ("accepted", "forwarded")
        else:
            again = gw.request("POST", "/api/v1/transactions",
                               {"service": "residents-parking-permit", "fields": fields,
                                "payment": card()},
                               token=token, headers={"Idempotency-Key": key})
            assert again.status == 201, again  # 201: new, not the 200 of a stored replay
