"""Callback event ids are pruned (issue 13): rows older than access.callback_replay_window_s
go when a new event is written, and a replay inside the window is still refused."""

import os
import subprocess
import time

from onestop_env import ONESTOPD

from test_access import callback, post_callback
from txn_helpers import parking, sell, vrm

WINDOW_S = 300


def events(gw):
    db = gw.store_db()
    try:
        return dict(db.execute("SELECT event_id, received_at FROM callback_events").fetchall())
    finally:
        db.close()


def test_old_callback_events_are_pruned_and_a_replay_in_the_window_is_refused(make_gateway):
    gw = make_gateway(config_overrides={"access": {"callback_replay_window_s": WINDOW_S}})
    gw.start()
    token = gw.sign_in()
    secret = gw.keys["parking"]
    refs = [sell(gw, token, fields=parking(uprn=u, vrm=vrm(40 + i)))[0].json["reference"]
            for i, u in enumerate(("100011429002", "100011429003"))]
    keyless = callback(refs[0], secret)
    assert post_callback(gw, *keyless).status == 204

    # events from long ago (past the window) and one just inside it, as a store would hold them
    gw.daemon.stop()
    now = int(time.time())
    db = gw.store_db()
    for i, age in enumerate((WINDOW_S + 5, 3 * 86400, WINDOW_S - 60)):
        db.execute("INSERT INTO callback_events(backend, event_id, request_hash, status, response,"
                   " received_at) VALUES('parking', ?, 'x', 204, '', ?)", (f"key:old-{i}", now - age))
    db.commit()
    db.close()
    gw.start_daemon()
    assert len(events(gw)) == 4

    # a new event prunes the old ones, keeps those inside the window
    assert post_callback(gw, *callback(refs[1], secret, idempotency_key="evt-new")).status == 204
    kept = events(gw)
    assert "key:old-0" not in kept and "key:old-1" not in kept
    assert "key:old-2" in kept and "key:evt-new" in kept
    assert any(k.startswith("sig:") for k in kept)
    # the keyless callback replayed inside the window is still refused
    replay = post_callback(gw, *keyless)
    assert replay.status == 401 and replay.json["error"]["code"] == "bad_signature", replay


def test_a_window_shorter_than_the_signature_window_is_refused(make_gateway):
    gw = make_gateway(config_overrides={"access": {"callback_replay_window_s": 60}})
    out = subprocess.run([ONESTOPD, "--check-config", gw.config_path], capture_output=True,
                         text=True, timeout=30)
    assert out.returncode != 0
    assert "callback_replay_window_s" in out.stdout + out.stderr
