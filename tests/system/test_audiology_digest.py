"""Hearing aid batteries to audiology as a daily digest (issue 9, part 4): with digest_at on
the audiology e-mail back-end, each site's issues of the day go out as one e-mail after that
time (plus digest_settle_s), through the outbox, with a Message-ID made of the back-end, the
day and the site — once, also across a restart; an issue after the time waits for the next
day's digest. The test sets digest_at a few seconds ahead (Europe/London) and waits for the
simulator's SMTP sink; nothing sleeps and hopes."""

import datetime
import email
import email.policy
import hashlib
import subprocess
import uuid
import zoneinfo

from onestop_env import ONESTOPD, Gateway, wait_until
from txn_helpers import parking, sell

SERVICE = "hearing-aid-batteries"
ITEM = "hearing_aid_battery_pack"
LONDON = zoneinfo.ZoneInfo("Europe/London")
DIGEST_IN_S = 5  # the digest time is this far ahead when the issues are made
SITES = {"SD-01": "Stockport Direct, Fred Perry House", "LIB-CEN": "Stockport Central Library"}


def issue(gw, token, book):
    r = gw.request("POST", "/api/v1/transactions",
                   {"service": SERVICE, "fields": {"book_number": book, "packs": 1},
                    "payment": {"method": "none"}},
                   token=token, headers={"Idempotency-Key": str(uuid.uuid4())})
    assert r.status == 201, r
    return r.json["reference"]


def mails(gw):
    return gw.sim_request("GET", "/_sim/received?backend=mail").json["requests"]


def delivery(gw, token, ref):
    return gw.request("GET", f"/api/v1/transactions/{ref}", token=token).json["delivery"]


def audiology(gw):
    return next(b for b in gw.config["backends"] if b["name"] == "audiology")


def test_one_digest_per_site_and_day_exactly_once_across_a_restart(tmp_path):
    gw = Gateway(tmp_path)
    gw.sim_args = ["--smtp-listen", f"127.0.0.1:{gw.audiology_smtp_port}"]
    gw.write_config()
    gw.start()
    try:
        tokens = {}
        for counter in SITES:
            sup = gw.sign_in("supervisor", counter=counter)
            r = gw.request("POST", "/api/v1/stock/deliveries",
                           {"item": ITEM, "quantity": 10, "note": "Box"}, token=sup)
            assert r.status == 201, r
            tokens[counter] = gw.sign_in("assistant", counter=counter)

        # the digest time a few seconds ahead; sessions and stock survive the restart
        at = datetime.datetime.now(LONDON) + datetime.timedelta(seconds=DIGEST_IN_S)
        audiology(gw).update(digest_at=at.strftime("%H:%M:%S"), digest_settle_s=1)
        gw.write_config()
        gw.daemon.stop()
        gw.start_daemon()
        refs = {"SD-01": [issue(gw, tokens["SD-01"], "BOOK0101"),
                          issue(gw, tokens["SD-01"], "BOOK0102")],
                "LIB-CEN": [issue(gw, tokens["LIB-CEN"], "BOOK0201")]}
        # before the time nothing is sent: the issues wait in the outbox, also over a restart
        assert mails(gw) == []
        assert delivery(gw, tokens["SD-01"], refs["SD-01"][0])["state"] == "pending"
        gw.daemon.stop()
        gw.start_daemon()

        got = wait_until(lambda: len(m := mails(gw)) >= 2 and m, timeout=30, interval=0.2,
                         what="the two digests")
        day = at.date().isoformat()
        by_site = {}
        for m in got:
            msg = email.message_from_string(m["body"], policy=email.policy.default)
            site = next(s for s in SITES.values() if s in str(msg["Subject"]))
            by_site[site] = (m, msg)
        assert len(got) == 2 and set(by_site) == set(SITES.values())
        for counter, site in SITES.items():
            m, msg = by_site[site]
            text = msg.get_content()
            assert m["rcpt_to"] == ["audiology@stockport.example"]
            assert str(msg["Subject"]) == f"Hearing aid batteries at {site}, {day}: " \
                                          f"{len(refs[counter])}"
            for ref in refs[counter]:
                assert ref in text
            for other in (r for c, rs in refs.items() if c != counter for r in rs):
                assert other not in text
            key = f"digest-audiology-{day}-{site}"
            assert msg["Message-ID"] == \
                f"<h.{hashlib.sha256(key.encode()).hexdigest()[:32]}@stockport.example>"
        sd_text = by_site[SITES["SD-01"]][1].get_content()
        assert f"{refs['SD-01'][0]}: book_number: BOOK0101; packs: 1; at " in sd_text
        assert "count: 2" in sd_text and f"day: {day}" in sd_text
        # every issue is delivered, with the digest's note
        for counter, rs in refs.items():
            for ref in rs:
                d = wait_until(lambda: (d := delivery(gw, tokens[counter], ref))["state"]
                               == "delivered" and d, timeout=10, what=f"{ref} delivered")
                assert d["note"].startswith(f"Part of the daily digest for {SITES[counter]} "
                                            f"of {day}")

        # an issue after the time waits for tomorrow's digest
        late = issue(gw, tokens["SD-01"], "BOOK0103")
        # a restart sends nothing again: once the forwarder has delivered something else
        # after it, the sink still holds two e-mails and the late issue still waits
        gw.daemon.stop()
        gw.start_daemon()
        r, _ = sell(gw, tokens["SD-01"], fields=parking())
        assert r.status == 201, r
        wait_until(lambda: delivery(gw, tokens["SD-01"], r.json["reference"])["state"]
                   == "delivered", timeout=15, what="a permit delivered after the restart")
        assert len(mails(gw)) == 2
        assert delivery(gw, tokens["SD-01"], late)["state"] == "pending"
    finally:
        assert gw.stop() == 0


def test_digest_at_must_be_a_time_of_day(tmp_path):
    gw = Gateway(tmp_path)
    audiology(gw)["digest_at"] = "25:00"
    gw.write_config()
    out = subprocess.run([ONESTOPD, "--check-config", gw.config_path], capture_output=True,
                         text=True, timeout=30)
    assert out.returncode != 0
    assert "digest_at" in out.stdout + out.stderr and "17:30" in out.stdout + out.stderr
