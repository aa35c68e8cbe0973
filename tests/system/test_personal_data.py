"""Personal data sealed at rest (issue 14 part 1): personal values are stored AES-256-GCM
sealed under the current data key, limit keys as an HMAC blind index; the API, the
forwarder and the rules see them as before; `onestop keys rotate` moves everything to a new
key while the gateway runs; a store written before encryption is sealed when it opens."""

import json
import os
import secrets

import pytest

from onestop_env import wait_until
from test_delivery import received, txn
from test_open311_variants import bulky_fields
from test_retention import complete, sold
from txn_helpers import card, parking, sell, vrm

VRM = vrm(5151)
UPRN = "100011429006"
PHONE = "0161 480 4949"


def data_files(gw):
    """The database file and its WAL (and anything else SQLite keeps), as bytes."""
    out = {}
    for name in os.listdir(gw.data_dir):
        path = os.path.join(gw.data_dir, name)
        if os.path.isfile(path):
            with open(path, "rb") as f:
                out[name] = f.read()
    return out


def spellings(value):
    return {value, value.replace(" ", ""), value.lower()}


def assert_nowhere(gw, values):
    for name, data in data_files(gw).items():
        for v in values:
            for s in spellings(v):
                assert s.encode() not in data, (s, name)
    log = gw.log()
    for v in values:
        for s in spellings(v):
            assert s not in log, s


def keys_status(gw):
    r = gw.cli("keys", "status")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def under(status, key_id):
    """How many stored values are sealed under key_id (or "plain")."""
    return sum(c.get(key_id, 0) for name, c in status["values"].items()
               if name not in ("txn_keys.value", "documents"))


def new_current_key(gw):
    """data-2 becomes current, data-1 is kept for reading; onestopd restarted; a new token."""
    assert gw.daemon.stop() == 0
    with open(os.path.join(gw.keys_dir, "data-2.key"), "w") as f:
        f.write(secrets.token_hex(32) + "\n")
    gw.config["keys"]["data_key_file"] = "keys/data-2.key"
    gw.config["keys"]["old_data_key_files"] = ["keys/data-1.key"]
    gw.write_config()
    gw.start_daemon()
    return gw.sign_in()


def sell_both(gw, token):
    permit = sold(gw, token, "residents-parking-permit", parking(uprn=UPRN, vrm=VRM))
    bulky_in = bulky_fields(gw, token)
    bulky_in["phone"] = PHONE
    bulky = sold(gw, token, "bulky-refuse", bulky_in)
    return permit, bulky, bulky_in


def test_personal_values_are_sealed_in_the_database_its_wal_and_the_logs(gateway):
    token = gateway.sign_in()
    permit, bulky, bulky_in = sell_both(gateway, token)
    # the back-ends get them in plain form: they need them
    parking_bodies = json.dumps(received(gateway, "parking")["requests"])
    assert VRM in parking_bodies and UPRN in parking_bodies
    bulky_bodies = json.dumps(received(gateway, "bulky")["requests"])
    assert any(s in bulky_bodies for s in spellings(PHONE)), bulky_bodies[:2000]
    # staff read them through the API
    assert txn(gateway, token, permit)["fields"]["vrm"] == VRM
    assert txn(gateway, token, bulky)["fields"]["phone"] in spellings(PHONE)
    # the rule "one live permit per vehicle" still holds: the blind index matches
    r, _ = sell(gateway, token, parking(uprn="100011429003", vrm=VRM.lower()), card())
    assert r.status == 422, r
    assert {f["field"]: f["code"] for f in r.json["error"]["fields"]}["fields.vrm"] == \
        "vehicle_has_permit"
    # a repeated request gets the stored reply back, opened
    complete(gateway, token, "parking", permit)
    status = keys_status(gateway)
    assert status["current_key"] == "data-1"
    assert under(status, "plain") == 0 and under(status, "data-1") >= 6, status
    assert status["values"]["txn_keys.value"].get("plain", 0) == 0, status
    assert_nowhere(gateway, (VRM, PHONE, UPRN, bulky_in["uprn"]))  # the WAL is there now
    assert gateway.daemon.stop() == 0
    assert_nowhere(gateway, (VRM, PHONE, UPRN, bulky_in["uprn"]))  # checkpointed


def test_an_idempotent_replay_reads_the_sealed_reply(gateway):
    token = gateway.sign_in()
    fields = parking(uprn=UPRN, vrm=VRM)
    first, key = sell(gateway, token, fields, card())
    assert first.status == 201, first
    again, _ = sell(gateway, token, fields, card(), key=key)
    assert again.status == 200 and again.json == first.json, (again, first)


def test_keys_rotate_leaves_nothing_under_the_old_key(gateway):
    token = gateway.sign_in()
    permit, bulky, _ = sell_both(gateway, token)
    refs = [permit, bulky]
    # the new key becomes current; the old one is kept for reading
    token = new_current_key(gateway)
    for i in range(3):
        r, _ = sell(gateway, token, parking(uprn="100011429101", vrm=vrm(600 + i)), card())
        assert r.status in (201, 422), r  # the household limit may refuse the last
        if r.status == 201:
            refs.append(r.json["reference"])
    before = keys_status(gateway)
    assert before["current_key"] == "data-2"
    assert under(before, "data-1") >= 6 and under(before, "data-2") >= 3, before
    # rotation runs beside the gateway, a few values a write
    r = gateway.cli("keys", "rotate", "--batch", "2")
    assert r.returncode == 0, r.stderr
    after = keys_status(gateway)
    assert under(after, "data-1") == 0 and under(after, "plain") == 0, after
    assert under(after, "data-2") == under(before, "data-1") + under(before, "data-2")
    for ref in refs:
        assert txn(gateway, token, ref)["fields"]["uprn"]
    assert txn(gateway, token, permit)["fields"]["vrm"] == VRM
    # the old key can go: everything still reads, and the VRM rule still holds
    assert gateway.daemon.stop() == 0
    del gateway.config["keys"]["old_data_key_files"]
    gateway.write_config()
    gateway.start_daemon()
    token = gateway.sign_in()
    for ref in refs:
        assert txn(gateway, token, ref)["reference"] == ref
    r, _ = sell(gateway, token, parking(uprn="100011429003", vrm=VRM), card())
    assert r.status == 422, r


def test_without_the_old_key_a_sealed_store_says_which_key_is_missing(gateway):
    token = gateway.sign_in()
    sold(gateway, token, "residents-parking-permit", parking(uprn=UPRN, vrm=VRM))
    assert gateway.daemon.stop() == 0
    with open(os.path.join(gateway.keys_dir, "data-2.key"), "w") as f:
        f.write(secrets.token_hex(32) + "\n")
    gateway.config["keys"]["data_key_file"] = "keys/data-2.key"
    gateway.write_config()
    for command in (("keys", "rotate"), ("keys", "status")):
        r = gateway.cli(*command)
        assert r.returncode == 1, r
        assert "data key data-1" in r.stderr and "old_data_key_files" in r.stderr, r.stderr
    # so does onestopd, which refuses to start rather than fail every read
    gateway.start_daemon(wait=False)
    wait_until(lambda: not gateway.daemon.alive(), timeout=10, what="onestopd refusing")
    assert "data key data-1" in gateway.log() and VRM not in gateway.log()


@pytest.mark.sqlite_only(reason="open-time sealing of a store an older binary wrote in plain "
                         "text: SQLite's (the PostgreSQL engine came after sealing)")
def test_a_store_written_in_plain_text_is_sealed_when_it_opens(make_gateway):
    gw = make_gateway()
    keys = dict(gw.config["keys"])
    del gw.config["keys"]["data_key_file"]
    del gw.config["keys"]["index_key_file"]
    gw.write_config()
    gw.start()
    token = gw.sign_in()
    permit = sold(gw, token, "residents-parking-permit", parking(uprn=UPRN, vrm=VRM))
    plain = keys_status(gw)
    assert under(plain, "plain") >= 3 and plain["values"]["txn_keys.value"]["plain"] >= 1
    assert gw.daemon.stop() == 0
    gw.config["keys"] = keys
    gw.write_config()
    gw.start_daemon()
    sealed = keys_status(gw)
    # each limit key blinded at open keeps its value sealed too (txn_keys.sealed)
    keys = plain["values"]["txn_keys.value"]["plain"]
    assert under(sealed, "plain") == 0 and under(sealed, "data-1") == under(plain, "plain") + keys
    assert sealed["values"]["txn_keys.sealed"] == {"data-1": keys}, sealed
    assert sealed["values"]["txn_keys.value"].get("plain", 0) == 0
    token = gw.sign_in()
    assert txn(gw, token, permit)["fields"]["vrm"] == VRM
    r, _ = sell(gw, token, parking(uprn="100011429003", vrm=VRM), card())
    assert r.status == 422, r  # the blinded limit key still refuses a second permit
    wait_until(lambda: "personal_data_sealed" in gw.log(), timeout=5, what="the seal logged")
