"""Personal data leaves no plain copy behind (issue 14): when a store an older binary wrote in
plain text is sealed at open, and when a purge anonymises an old transaction, neither the
database file (its freed pages: secure_delete) nor its WAL (emptied: a TRUNCATE checkpoint)
keeps the plain values - checked while the gateway still runs, WAL and all."""

import json
import os
import signal
import sqlite3

import pytest

from onestop_env import shared_postgres, wait_until
from test_open311_variants import bulky_fields
from test_personal_data import keys_status, spellings, under
from test_retention import complete, sold
from txn_helpers import parking, vrm

VRM = vrm(7373)
UPRN = "100011429006"
PHONE = "0161 480 7373"


def data_bytes(gw):
    """Every file under the data folder (the database, its WAL, its shared memory)."""
    out = {}
    for folder, _, names in os.walk(gw.data_dir):
        for name in names:
            path = os.path.join(folder, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, gw.data_dir)] = f.read()
    return out


def found(gw, values):
    """(file, spelling) for each plain value still somewhere in the data folder."""
    return [(name, s) for name, data in data_bytes(gw).items()
            for v in values for s in spellings(v) if s.encode() in data]


def sell_plain(gw, token):
    permit = sold(gw, token, "residents-parking-permit", parking(uprn=UPRN, vrm=VRM))
    bulky_in = bulky_fields(gw, token)
    bulky_in["phone"] = PHONE
    bulky = sold(gw, token, "bulky-refuse", bulky_in)
    return permit, bulky


@pytest.mark.sqlite_only(reason="a store an older binary left in plain text is SQLite's (the "
                         "PostgreSQL engine came after sealing): no open-time sealing there")
def test_sealing_a_plain_store_at_open_leaves_no_plain_value_in_the_file_or_its_wal(
        make_gateway):
    gw = make_gateway()
    keys = dict(gw.config["keys"])
    del gw.config["keys"]["data_key_file"]  # as an older binary: all in plain text
    del gw.config["keys"]["index_key_file"]
    gw.write_config()
    gw.start()
    token = gw.sign_in()
    sell_plain(gw, token)
    gw.daemon.stop(sig=signal.SIGKILL)  # stopped without a checkpoint: the WAL stays
    assert found(gw, (VRM, UPRN, PHONE))  # the control: the plain store holds them
    gw.config["keys"] = keys
    gw.write_config()
    gw.start_daemon()
    # the gateway runs: its WAL is there, and neither it nor the file keeps a plain value
    # (looked at before any `onestop` command, whose close would checkpoint)
    assert "onestop.db-wal" in data_bytes(gw)
    assert found(gw, (VRM, UPRN, PHONE)) == []
    status = keys_status(gw)
    assert under(status, "plain") == 0, status
    [entry] = json.loads(gw.cli("audit", "--action", "personal_data_sealed").stdout)
    assert entry["subject"] == "data-1" and entry["actor"] == "system", entry


@pytest.mark.sqlite_only(reason="reads the SQLite file's freed pages and WAL; PostgreSQL keeps "
                         "old row versions until VACUUM (not checked yet)")
def test_a_purge_leaves_no_plain_value_in_the_file_or_its_wal(make_gateway):
    """A store kept without a data key holds the values in plain text until they are purged;
    after the gateway's timed purge, with the gateway still running, they are in neither
    file."""
    gw = make_gateway()
    del gw.config["keys"]["data_key_file"]
    gw.config["retention"] = {"purge_interval_s": 1, "default_days": 3650, "services": [
        {"service": "residents-parking-permit", "days": 0},
        {"service": "bulky-refuse", "days": 0}]}
    gw.write_config()
    gw.start()
    token = gw.sign_in()
    permit, bulky = sell_plain(gw, token)
    complete(gw, token, "parking", permit)
    complete(gw, token, "bulky", bulky)

    def purged():  # read beside the gateway (an `onestop` command would checkpoint)
        db = sqlite3.connect(f"file:{gw.data_dir}/onestop.db?mode=ro", uri=True)
        try:
            return db.execute("SELECT COUNT(*) FROM transactions WHERE purged_at IS NOT NULL"
                              ).fetchone()[0] == 2
        finally:
            db.close()

    wait_until(purged, timeout=15, what="the timed purge of both")
    # the WAL is emptied just after the purge's write (an ordinary checkpoint never would)
    wait_until(lambda: found(gw, (VRM, PHONE)) == [], timeout=10,
               what="the purged values gone from the file and its WAL")
    assert "onestop.db-wal" in data_bytes(gw) and gw.daemon.alive()


@pytest.mark.postgresql_only(reason="the PostgreSQL server's files")
def test_the_postgresql_server_never_holds_a_plain_value(gateway):
    """Values are sealed (and limit keys blinded) in onestopd before they are sent: neither the
    database's files nor the server's WAL holds them in plain text, checkpointed."""
    token = gateway.sign_in()
    sell_plain(gateway, token)
    pg = shared_postgres()
    pg.psql("CHECKPOINT")
    oid = pg.psql(f"SELECT oid FROM pg_database WHERE datname = '{gateway.pg_database}'")
    folders = [os.path.join(pg.data, "base", oid), os.path.join(pg.data, "pg_wal")]
    files = {}
    for top in folders:
        for folder, _, names in os.walk(top):
            for name in names:
                with open(os.path.join(folder, name), "rb") as f:
                    files[os.path.join(folder, name)] = f.read()
    assert len(files) > 10, folders
    assert any(b"enc:v2:" in data for data in files.values())  # the control: sealed rows
    leaks = [(name, v) for name, data in files.items() for value in (VRM, PHONE)
             for v in spellings(value) if v.encode() in data]
    assert leaks == []
