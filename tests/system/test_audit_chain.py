"""The audit trail is a hash chain (issue 14 part 3): `onestop audit verify` names the first
row edited, deleted or reordered with sqlite3, and a head signed with a key the database does
not hold (logged by onestopd) catches a chain rewritten from scratch."""

import hashlib
import os
import secrets

import pytest

from onestop_env import STORE_ENGINE, Gateway, wait_until
from test_delivery import sell_permits, txn

GENESIS = "0" * 64


_started = []  # every gateway a test starts here, stopped (daemon and simulator) after it


@pytest.fixture(autouse=True)
def _stop_started_gateways():
    yield
    while _started:
        _started.pop().stop()


def audited_gateway(tmp_path):
    gw = Gateway(tmp_path)
    _started.append(gw)
    with open(os.path.join(gw.keys_dir, "audit-head.key"), "w") as f:
        f.write(secrets.token_hex(32) + "\n")
    gw.config["audit"] = {"head_key_file": "keys/audit-head.key", "head_interval_s": 1}
    gw.write_config()
    return gw.start()


def busy_trail(gw, sales=3):
    """Signs in and sells permits until each is delivered: a trail of a few dozen rows."""
    token = gw.sign_in()
    refs = sell_permits(gw, token, sales)
    for ref in refs:
        wait_until(lambda: txn(gw, token, ref)["delivery"]["state"] == "delivered", timeout=15,
                   what=f"{ref} delivered")
    return refs


def db(gw):
    return gw.store_db()


def forger(gw):
    """The database as a forger with the file (or the database's owner role) has it: the
    append-only triggers out of the way."""
    c = db(gw)
    if STORE_ENGINE == "postgresql":
        c.execute("ALTER TABLE audit DISABLE TRIGGER USER")
        return c
    for (name,) in c.execute("SELECT name FROM sqlite_master WHERE type='trigger' AND"
                             " tbl_name='audit'").fetchall():
        c.execute(f"DROP TRIGGER {name}")
    return c


def rows(gw):
    with db(gw) as c:
        return c.execute("SELECT id, at, actor, counter, action, subject, detail, remote,"
                         " prev_hash, hash FROM audit ORDER BY id").fetchall()


def part(v):
    if v is None:
        return b"-\n"
    b = str(v).encode()
    return str(len(b)).encode() + b":" + b + b"\n"


def row_hash(prev, row):
    """The canonical hash as docs/audit.md describes it, computed apart from onestop."""
    return hashlib.sha256(b"onestop-audit-v1\n" + part(prev) +
                          b"".join(part(v) for v in row[:8])).hexdigest()


def verify(gw, *args):
    return gw.cli("audit", "verify", *args)


def broken(gw, *args):
    """What `audit verify` says of a trail it finds broken (it must exit 1)."""
    r = verify(gw, *args)
    assert r.returncode == 1, (r.stdout, r.stderr)
    return r.stderr


def stopped_with_trail(tmp_path):
    gw = audited_gateway(tmp_path)
    busy_trail(gw)
    gw.daemon.stop()  # nothing writes while the test edits the file
    return gw


def test_a_clean_store_verifies_and_every_row_is_chained_as_documented(tmp_path):
    gw = stopped_with_trail(tmp_path)
    trail = rows(gw)
    assert len(trail) >= 10
    prev = GENESIS
    for row in trail:
        assert row[8] == prev and row[9] == row_hash(prev, row), row[0]
        prev = row[9]
    r = verify(gw)
    assert r.returncode == 0, r.stderr
    assert f"{len(trail)} rows" in r.stdout and prev in r.stdout
    # and the log's signed head (written at shutdown) matches the chain
    r = verify(gw, "--head", gw.daemon.log_path)
    assert r.returncode == 0, r.stderr


def edit_one_row(c, trail):
    victim = trail[5][0]
    c.execute("UPDATE audit SET detail = detail || ' (edited)' WHERE id=?", (victim,))
    return f"row {victim} was edited"


def edit_a_row_and_recompute_its_hash(c, trail):
    row = list(trail[4])
    row[2] = "someone-else"
    c.execute("UPDATE audit SET actor=?, hash=? WHERE id=?",
              (row[2], row_hash(row[8], row), row[0]))
    return f"row {row[0]} was edited"


def delete_one_row(c, trail):
    victim = trail[6][0]
    c.execute("DELETE FROM audit WHERE id=?", (victim,))
    return f"rows {victim} to {victim} were deleted"


def swap_two_rows(c, trail):
    a, b = trail[3][0], trail[4][0]
    c.execute("UPDATE audit SET id=-1 WHERE id=?", (a,))
    c.execute("UPDATE audit SET id=? WHERE id=?", (a, b))
    c.execute("UPDATE audit SET id=? WHERE id=-1", (b,))
    return f"row {a} is out of order"


@pytest.mark.parametrize("tamper", [edit_one_row, edit_a_row_and_recompute_its_hash,
                                    delete_one_row, swap_two_rows])
def test_a_row_edited_deleted_or_swapped_with_sqlite3_is_named(tmp_path, tamper):
    gw = stopped_with_trail(tmp_path)
    with forger(gw) as c:
        said = tamper(c, rows(gw))
    assert said in broken(gw)


def test_deleting_the_newest_rows_is_caught_by_the_signed_head(tmp_path):
    gw = stopped_with_trail(tmp_path)
    last = rows(gw)[-1][0]
    with forger(gw) as c:
        c.execute("DELETE FROM audit WHERE id >= ?", (last - 2,))
    assert verify(gw).returncode == 0  # the rest is a consistent chain
    assert f"row {last} of the signed head is gone" in broken(gw, "--head", gw.daemon.log_path)


def test_a_chain_rewritten_without_the_key_is_caught_by_the_signed_head(tmp_path):
    gw = stopped_with_trail(tmp_path)
    head_line = [line for line in gw.log().splitlines() if "audit_head id=" in line][-1]
    trail = rows(gw)
    victim = trail[2][0]
    # the forger edits a row and recomputes every hash after it: a consistent chain
    with forger(gw) as c:
        prev = GENESIS
        for row in trail:
            row = list(row)
            if row[0] == victim:
                row[6] = "nothing to see here"
            h = row_hash(prev, row)
            c.execute("UPDATE audit SET detail=?, prev_hash=?, hash=? WHERE id=?",
                      (row[6], prev, h, row[0]))
            prev = h
    assert verify(gw).returncode == 0
    said = broken(gw, "--head", head_line)
    assert "the chain was rewritten" in said and f"row {trail[-1][0]}" in said, said
    # nor can the forger sign a head of their own without the key
    real = gw.cli("audit", "head").stdout.strip()  # signed with the real key: a control
    assert verify(gw, "--head", real).returncode == 0
    forged = real[:-1] + ("0" if real[-1] != "0" else "1")
    assert "signature does not check out" in broken(gw, "--head", forged)


def test_the_daemon_logs_a_signed_head_when_the_chain_moves(tmp_path):
    gw = audited_gateway(tmp_path)
    first = wait_until(lambda: [l for l in gw.log().splitlines() if "audit_head id=" in l],
                       what="a first head")
    gw.sign_in()  # a sign-in is audited: the head moves, and is logged within the interval
    wait_until(lambda: len([l for l in gw.log().splitlines() if "audit_head id=" in l])
               > len(first), timeout=10, what="a new head logged")
    r = verify(gw, "--head", gw.daemon.log_path)
    assert r.returncode == 0, r.stderr


def test_a_trail_written_before_the_chain_is_chained_once_by_the_upgrade(tmp_path):
    gw = stopped_with_trail(tmp_path)
    before = len(rows(gw))
    with forger(gw) as c:  # rows as migration 12 leaves a trail written before the chain
        c.execute("UPDATE audit SET prev_hash=NULL, hash=NULL")
    r = verify(gw)
    assert r.returncode == 0, r.stderr
    trail = rows(gw)
    assert len(trail) == before + 1 and trail[-1][4] == "audit_chain_started"
    assert f"{before} earlier rows chained" in trail[-1][6]
    assert verify(gw).returncode == 0  # once: the next open finds nothing to chain
    assert len(rows(gw)) == before + 1


def test_a_sale_complete_at_the_counter_audits_its_move_to_completed(gateway):
    token = gateway.sign_in()
    from test_library_sales import sale
    from txn_helpers import cash
    r = sale(gateway, token, [{"code": "bag", "quantity": 1}], cash(500))
    assert r.status == 201, r
    ref = r.json["reference"]
    assert txn(gateway, token, ref)["status"] == "completed"
    with db(gateway) as c:
        actions = [a for (a,) in c.execute("SELECT action FROM audit WHERE subject=? AND"
                                           " action LIKE 'transaction_%' AND"
                                           " action != 'transaction_read' ORDER BY id", (ref,))]
    assert actions == ["transaction_accepted", "transaction_completed"], actions


def test_onestop_itself_can_only_append_chained_rows(tmp_path):
    gw = stopped_with_trail(tmp_path)
    for sql in ("UPDATE audit SET detail='x' WHERE id=1", "DELETE FROM audit WHERE id=1",
                "INSERT INTO audit(at, actor, action) VALUES(1, 'x', 'y')"):
        with pytest.raises(db(gw).IntegrityError):
            with db(gw) as c:
                c.execute(sql)
    assert verify(gw).returncode == 0
