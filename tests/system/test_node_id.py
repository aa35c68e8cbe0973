"""A node's id (the owner of its delivery leases) is kept in its data folder (data_dir/node-id),
so onestopd restarted after kill -9 is the same node: on PostgreSQL it takes back at once the
deliveries it held, rather than waiting for their leases (lease_ms) to run out."""
import os
import re
import shutil
import time

import pytest

from onestop_env import wait_until
from postgres import lock_sessions_sql
from txn_helpers import sell

LONG_LEASE_MS = 600000  # far longer than the test may wait


def node_ids(gw):
    return re.findall(r"this node's id \(the owner of its delivery leases\) is ([0-9a-f]{16})",
                      gw.log())


def fault(gw, mode):
    r = gw.sim_request("POST", "/_sim/faults", {"backend": "parking", "mode": mode})
    assert r.status in (200, 204), r


def test_the_node_id_is_kept_in_the_data_folder_across_restarts(make_gateway):
    gw = make_gateway()
    gw.start()
    with open(os.path.join(gw.data_dir, "node-id")) as f:
        kept = f.read().strip()
    assert re.fullmatch(r"[0-9a-f]{16}", kept)
    assert os.stat(os.path.join(gw.data_dir, "node-id")).st_mode & 0o077 == 0
    gw.daemon.kill9()
    gw.start_daemon()
    assert node_ids(gw) == [kept, kept]


@pytest.mark.postgresql_only(
    reason="leases are taken on a shared store only (SQLite has one node)")
def test_a_node_restarted_after_kill9_takes_back_its_own_leases_at_once(make_gateway):
    gw = make_gateway()
    for backend in gw.config["backends"]:
        if backend["name"] == "parking":
            backend["lease_ms"] = LONG_LEASE_MS
    gw.write_config()
    gw.start()
    fault(gw, "down")
    token = gw.sign_in()
    r, key = sell(gw, token)
    assert r.status == 201, r
    ref = r.json["reference"]
    db = gw.store_db()
    row = "SELECT d.id FROM deliveries d JOIN transactions t ON t.id = d.transaction_id" \
          " WHERE t.reference = ?"
    (delivery,) = wait_until(lambda: db.execute(row + " AND d.attempts >= 1", (ref,)).fetchone(),
                             what="a first attempt at the down back-end")
    (node,) = node_ids(gw)
    gw.daemon.kill9()
    # as a node killed in the middle of an attempt leaves its row: leased to it, due now
    now_ms = int(time.time() * 1000)
    db.execute("UPDATE deliveries SET state = 'pending', lease_owner = ?, lease_until_ms = ?,"
               " next_attempt_at_ms = ? WHERE id = ?",
               (node, now_ms + LONG_LEASE_MS, now_ms, delivery))
    db.commit()
    fault(gw, "up")
    gw.start_daemon()
    assert node_ids(gw) == [node, node]
    wait_until(lambda: db.execute("SELECT state, lease_owner FROM deliveries WHERE id = ?",
                                  (delivery,)).fetchone() == ("delivered", None),
               timeout=30, interval=0.2, what="the delivery taken back and delivered")
    got = gw.sim_request("GET", "/_sim/received?backend=parking").json
    assert [g["reference"] for g in got["requests"]].count(ref) == 1
    db.close()


def node_lock_sessions(db, node):
    """The sessions holding node's id lock."""
    pids = [pid for (pid,) in db.execute(lock_sessions_sql("node", node))]
    db.rollback()
    return pids


def same_database(gw, other):
    """other on gw's database, with gw's keys (a second node of one cluster)."""
    for name in os.listdir(gw.keys_dir):
        shutil.copy(os.path.join(gw.keys_dir, name), other.keys_dir)
    other.pg_conninfo, other.pg_database = gw.pg_conninfo, gw.pg_database
    other.write_config()


@pytest.mark.postgresql_only(
    reason="the id's lock is taken on a shared store only (SQLite has one node)")
def test_a_node_whose_id_lock_session_ended_takes_it_again(make_gateway):
    """The id's lock lives as long as its database session. When that session ends under a
    live node (pg_terminate_backend here; a server restart or a network cut), the node notices
    (node_id_lost), takes the lock again in a new session (node_id_held), and so a second
    process started with a copy of its data_dir/node-id is still refused the id."""
    gw = make_gateway()
    gw.start(users=False)
    (node,) = node_ids(gw)
    db = gw.store_db()
    (first,) = wait_until(lambda: node_lock_sessions(db, node), what="the id's lock")
    assert db.execute("SELECT pg_terminate_backend(?)", (first,)).fetchone() == (True,)
    db.commit()
    again = wait_until(lambda: [p for p in node_lock_sessions(db, node) if p != first],
                       timeout=15, what="the node to take its id's lock again")
    assert node_lock_sessions(db, node) == again and len(again) == 1
    wait_until(lambda: '"node_id_lost"' in gw.log() and '"node_id_held"' in gw.log(),
               what="the loss and the new lock logged")

    copy = make_gateway("copy", with_sim=False)
    same_database(gw, copy)
    os.makedirs(copy.data_dir, exist_ok=True)
    shutil.copy(os.path.join(gw.data_dir, "node-id"), copy.data_dir)
    copy.start(users=False)
    assert '"node_id_in_use"' in copy.log()
    (other,) = node_ids(copy)
    assert other != node
    assert node_lock_sessions(db, node) == again  # still the first node's
    db.close()
