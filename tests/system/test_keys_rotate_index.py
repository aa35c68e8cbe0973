"""`onestop keys rotate-index` (issue 14): the limit keys' blind index is recomputed under a
new index key while the gateway runs and sells, with both keys configured during the change
(keys.index_key_file the new one, keys.old_index_key_file the old); "one live permit per
vehicle" refuses a duplicate VRM before, during and after, also once the old key is gone."""

import hashlib
import hmac
import json
import os
import secrets
import subprocess
import threading

import pytest

from onestop_env import ONESTOPD, wait_until
from test_retention import sold
from txn_helpers import card, parking, sell, vrm

VRM = vrm(6161)


def blind(key_hex, name, value):
    mac = hmac.new(bytes.fromhex(key_hex), name.encode() + b"\0" + value.encode(),
                   hashlib.sha256)
    return "bi:v1:" + mac.hexdigest()


def stored_keys(gw):
    db = gw.store_db()
    try:
        return db.execute("SELECT name, value FROM txn_keys ORDER BY transaction_id, name").fetchall()
    finally:
        db.close()


def refused_as_duplicate(gw, token):
    r, _ = sell(gw, token, parking(uprn="100011429003", vrm=VRM), card())
    return r.status == 422 and {f["field"]: f["code"] for f in r.json["error"]["fields"]}.get(
        "fields.vrm") == "vehicle_has_permit"


class Duplicates(threading.Thread):
    """Keeps trying to sell a second permit for VRM until stopped; records any acceptance."""

    def __init__(self, gw, token):
        super().__init__(daemon=True)
        self.gw, self.token = gw, token
        self.stopping = threading.Event()
        self.tries = 0
        self.wrong = []

    def run(self):
        while not self.stopping.is_set():
            self.tries += 1
            if not refused_as_duplicate(self.gw, self.token):
                self.wrong.append(self.tries)


def test_the_index_key_is_rotated_while_the_vehicle_rule_keeps_refusing(gateway):
    token = gateway.sign_in()
    sold(gateway, token, "residents-parking-permit", parking(uprn="100011429006", vrm=VRM))
    for i in range(3):  # more limit keys, a page each with --batch 1
        r, _ = sell(gateway, token, parking(uprn="100011429002", vrm=vrm(6200 + i)), card())
        assert r.status in (201, 422), r
    assert refused_as_duplicate(gateway, token)
    old_key = gateway.keys["index"]
    old_key = old_key.decode() if isinstance(old_key, bytes) else old_key
    assert any(v == blind(old_key, n, VRM) for n, v in stored_keys(gateway))

    # the new index key becomes current, the old one stays configured for look-ups
    assert gateway.daemon.stop() == 0
    new_key = secrets.token_hex(32)
    with open(os.path.join(gateway.keys_dir, "index-2.key"), "w") as f:
        f.write(new_key + "\n")
    gateway.config["keys"]["index_key_file"] = "keys/index-2.key"
    gateway.config["keys"]["old_index_key_file"] = "keys/index.key"
    gateway.write_config()
    gateway.start_daemon()
    token = gateway.sign_in()
    assert refused_as_duplicate(gateway, token)  # matched under the old key

    dupes = Duplicates(gateway, token)
    dupes.start()
    wait_until(lambda: dupes.tries >= 2, what="duplicates being tried")
    r = gateway.cli("keys", "rotate-index", "--batch", "1")
    wait_until(lambda: dupes.tries >= 4, what="duplicates tried after the rotation")
    dupes.stopping.set()
    dupes.join(30)
    assert r.returncode == 0, r.stderr
    assert dupes.wrong == [], f"a duplicate was sold at try {dupes.wrong}"
    n = len(stored_keys(gateway))
    lines = [x for x in r.stdout.splitlines() if x.startswith("limit keys:")]
    assert lines[0] == f"limit keys: 1 of {n} recomputed" and \
        lines[-1] == f"limit keys: {n} of {n} recomputed", r.stdout
    assert f"recomputed {n} limit keys under index key index-2" in r.stdout
    # every limit key is under the new key now: none matches the old one
    assert all(v != blind(old_key, name, VRM) for name, v in stored_keys(gateway))
    assert any(v == blind(new_key, name, VRM) for name, v in stored_keys(gateway))
    audit = json.loads(gateway.cli("audit", "--action", "index_key_rotated").stdout)
    assert [e["subject"] for e in audit] == ["index-2"], audit

    # the old key leaves the config: the rule still holds, a new vehicle still sells
    assert gateway.daemon.stop() == 0
    del gateway.config["keys"]["old_index_key_file"]
    gateway.write_config()
    gateway.start_daemon()
    token = gateway.sign_in()
    assert refused_as_duplicate(gateway, token)
    r, _ = sell(gateway, token, parking(uprn="100011429003", vrm=vrm(6300)), card())
    assert r.status == 201, r


def test_an_old_index_key_that_cannot_be_read_is_named_by_check_config(make_gateway):
    gw = make_gateway()
    gw.config["keys"]["old_index_key_file"] = "keys/missing-index.key"
    gw.write_config()
    r = subprocess.run([ONESTOPD, "--check-config", gw.config_path], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode != 0 and "keys.old_index_key_file" in r.stderr and \
        "missing-index.key" in r.stderr, r


@pytest.mark.sqlite_only(reason="open-time sealing of a store an older binary wrote in plain "
                         "text: SQLite's (the PostgreSQL engine came after sealing)")
def test_limit_keys_blinded_at_open_keep_their_value_sealed_for_a_later_rotation(make_gateway):
    gw = make_gateway()
    keys = dict(gw.config["keys"])
    del gw.config["keys"]["data_key_file"]  # as an older binary: the limit keys in plain text
    del gw.config["keys"]["index_key_file"]
    gw.write_config()
    gw.start()
    token = gw.sign_in()
    sold(gw, token, "residents-parking-permit", parking(uprn="100011429006", vrm=VRM))
    assert gw.daemon.stop() == 0
    gw.config["keys"] = keys
    gw.write_config()
    gw.start_daemon()
    db = gw.store_db()
    try:
        rows = db.execute("SELECT value, sealed FROM txn_keys").fetchall()
    finally:
        db.close()
    assert rows and all(v.startswith("bi:v1:") and (s or "").startswith("enc:v2:data-1:")
                        for v, s in rows), rows
    r = gw.cli("keys", "rotate-index")
    assert r.returncode == 0 and f"recomputed {len(rows)} limit keys" in r.stdout, r
    assert "written before their value was kept" not in r.stdout
