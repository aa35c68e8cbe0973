"""Nothing acknowledged is lost: kill -9 during a burst, then restart."""

import os
import threading
import time
import uuid

import pytest

from onestop_env import STORE_ENGINE, request, wait_until
from txn_helpers import today

TOTAL = int(os.environ.get("ONESTOP_BURST_TOTAL", "500"))
CLIENTS = 16
DEADLINE_S = 150


def visitor_permit():
    return {"uprn": "100011429101", "permit_type": "visitor", "start_date": today(),
            "blue_badge": False, "leisure_key_band": "none"}


@pytest.mark.slow
def test_kill9_during_a_burst_loses_nothing_and_duplicates_nothing(gateway):
    token = gateway.sign_in()
    keys = [str(uuid.uuid4()) for _ in range(TOTAL)]
    acked = {}  # key -> reference
    lock = threading.Lock()
    errors = []
    deadline = time.monotonic() + DEADLINE_S

    def client(mine):
        for key in mine:
            body = {"service": "residents-parking-permit", "fields": visitor_permit(),
                    "payment": {"method": "card", "auth_code": "BURST1"}}
            while time.monotonic() < deadline:
                try:
                    r = request(gateway.port, "POST", "/api/v1/transactions", body, token=token,
                                headers={"Idempotency-Key": key}, timeout=10)
                except OSError:
                    time.sleep(0.05)  # the gateway is down: retry with the same key
                    continue
                if r.status in (200, 201):
                    ref = r.json["reference"]
                    with lock:
                        if key in acked and acked[key] != ref:
                            errors.append(f"{key}: {acked[key]} then {ref}")
                        acked[key] = ref
                    break
                if r.status == 503:
                    time.sleep(0.05)
                    continue
                errors.append(f"{key}: {r.status} {r.body[:200]!r}")
                break

    threads = [threading.Thread(target=client, args=(keys[i::CLIENTS],)) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    wait_until(lambda: len(acked) >= TOTAL // 4, timeout=60, what="a quarter acknowledged")
    gateway.daemon.kill9()
    killed_at = len(acked)
    time.sleep(0.5)
    gateway.start_daemon()
    for t in threads:
        t.join(DEADLINE_S)
    assert not errors, errors[:5]
    assert len(acked) == TOTAL, (f"only {len(acked)} of {TOTAL} acknowledged (killed at "
                                 f"{killed_at}); daemon log tail: {gateway.log()[-1500:]}")
    assert 0 < killed_at < TOTAL

    # every acknowledged transaction is stored exactly once
    def query(sql):
        db = gateway.store_db()  # a fresh snapshot each time
        try:
            return [tuple(r) for r in db.execute(sql).fetchall()]
        finally:
            db.close()

    if STORE_ENGINE == "sqlite":
        assert query("PRAGMA integrity_check") == [("ok",)]
    refs = {r for (r,) in query("SELECT reference FROM transactions")}
    assert len(refs) == TOTAL and refs == set(acked.values())
    for table in ("idempotency", "payments", "deliveries"):
        assert query(f"SELECT COUNT(*) FROM {table}") == [(TOTAL,)], table

    # and delivered exactly once, as the back-end sees it
    def delivered():
        got = gateway.sim_request("GET", "/_sim/received?backend=parking").json["requests"]
        return len(got) >= TOTAL and got

    got = wait_until(delivered, timeout=120, interval=0.5, what="all deliveries")
    seen = [g["reference"] for g in got]
    assert len(seen) == len(set(seen)) == TOTAL
    assert set(seen) == refs
    assert all(g["idempotency_key"] == f"onestop-{g['reference']}" for g in got)
    wait_until(lambda: query("SELECT COUNT(*) FROM deliveries WHERE state='delivered'")
               == [(TOTAL,)], timeout=30, what="deliveries recorded")
