"""Latency of the NHS referral look-up through onestopd (POST /api/v1/referrals/lookup, FHIR
read from onestop-sim with a cached oauth2-jwt token, the match recorded with an fsync) and of
a hand-off after it, sequentially over loopback. Prints p50/p95/max in milliseconds.

    ONESTOP_BUILD_DIR=build /usr/bin/python3 tests/bench/referral_lookup.py [N]
"""
import os
import statistics
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "system"))

from onestop_env import Gateway  # noqa: E402
from test_referrals import MATCH, configure  # noqa: E402


def summary(name, samples):
    samples = sorted(samples)
    p95 = samples[max(0, int(len(samples) * 0.95) - 1)]
    print(f"{name}: n={len(samples)} p50={statistics.median(samples):.2f} ms "
          f"p95={p95:.2f} ms max={samples[-1]:.2f} ms")


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    with tempfile.TemporaryDirectory() as d:
        gw = configure(Gateway(d)).start()
        try:
            token = gw.sign_in()
            gw.request("POST", "/api/v1/referrals/lookup", MATCH, token=token)  # token fetched
            lookups, handoffs = [], []
            for _ in range(n):
                t0 = time.perf_counter()
                r = gw.request("POST", "/api/v1/referrals/lookup", MATCH, token=token)
                lookups.append((time.perf_counter() - t0) * 1000)
                assert r.status == 200, r
                t0 = time.perf_counter()
                h = gw.request("POST", "/api/v1/transactions",
                               {"service": "nhs-referral", "fields": {"lookup_id": r.json["lookup_id"]},
                                "payment": {"method": "none"}}, token=token,
                               headers={"Idempotency-Key": str(uuid.uuid4())})
                handoffs.append((time.perf_counter() - t0) * 1000)
                assert h.status == 201, h
            summary("look-up", lookups)
            summary("hand-off", handoffs)
        finally:
            gw.stop()


if __name__ == "__main__":
    main()
