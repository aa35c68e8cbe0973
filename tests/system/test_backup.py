"""onestop backup and restore (gateway/store/sqlite/backup.c): a backup taken with SQLite's online backup API
while counters keep selling holds every sale acknowledged before it began, restores into a fresh
onestopd, and passes the integrity check; restore refuses while onestopd runs on the store,
refuses a damaged backup, and keeps the database it replaces."""

import os
import re
import shutil
import sqlite3
import stat
import subprocess
import threading
import uuid

import pytest

from onestop_env import ONESTOPD, Gateway, free_port, request, wait_until

# Free, no till involved: hearing aid batteries (payment "none"), one issue per book per day,
# so every sale gets its own book number. Stock is received first.
SERVICE = "hearing-aid-batteries"
CLIENTS = 8
BEFORE = int(os.environ.get("ONESTOP_BACKUP_BEFORE", "500"))  # sales acked before the backup
AFTER = 200   # sales acknowledged after it finished: the backup ran inside a burst


SQLITE_BACKUP = pytest.mark.sqlite_only(reason=(
    "onestop backup/restore copy the SQLite file (its online backup API); a "
    "PostgreSQL store is backed up with pg_dump"))


def issue(port, token, book):
    body = {"service": SERVICE, "fields": {"book_number": book, "packs": 1},
            "payment": {"method": "none"}}
    return request(port, "POST", "/api/v1/transactions", body, token=token,
                   headers={"Idempotency-Key": str(uuid.uuid4())}, timeout=30)


def receive_stock(gw, quantity=10000):
    supervisor = gw.sign_in("supervisor")
    while quantity > 0:
        box = min(quantity, 10000)  # the most one delivery may record
        r = gw.request("POST", "/api/v1/stock/deliveries",
                       {"item": "hearing_aid_battery_pack", "quantity": box,
                        "note": "backup test"}, token=supervisor)
        assert r.status == 201, r
        quantity -= box


def db_rows(path, sql):
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        return db.execute(sql).fetchall()


def backup_file(output):
    m = re.search(r"written to (\S+)", output)
    assert m, output
    return m.group(1)


@SQLITE_BACKUP
@pytest.mark.slow
def test_a_backup_taken_during_a_burst_restores_every_sale_acknowledged_before_it(tmp_path):
    live = Gateway(tmp_path / "live")
    live.start()
    receive_stock(live, 2 * BEFORE + 10000)
    token = live.sign_in()
    acked = []  # references, in the order their 201 arrived
    lock = threading.Lock()
    errors = []
    stop = threading.Event()

    def client(n):
        i = 0
        while not stop.is_set():
            book = f"B{n:02d}{i:06d}"
            i += 1
            try:
                r = issue(live.port, token, book)
            except OSError as exc:  # nothing may fail: the backup never holds up a sale
                errors.append(f"{book}: {exc!r}")
                return
            if r.status != 201:
                errors.append(f"{book}: {r.status} {r.body[:200]!r}")
                return
            with lock:
                acked.append(r.json["reference"])

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for t in threads:
        t.start()
    try:
        wait_until(lambda: len(acked) >= BEFORE or errors, timeout=120, what="sales before")
        with lock:
            before = list(acked)  # acknowledged before the backup command is even started
        backups = tmp_path / "backups"
        backups.mkdir()
        r = live.cli("backup", str(backups))
        assert r.returncode == 0, r.stderr
        with lock:
            at_end = len(acked)
        print(f"sales acknowledged while the backup command ran: {at_end - len(before)}")
        wait_until(lambda: len(acked) >= at_end + AFTER or errors, timeout=120,
                   what="sales after the backup")
    finally:
        stop.set()
        for t in threads:
            t.join(60)
    assert not errors, errors[:5]
    print(r.stdout)
    path = backup_file(r.stdout)
    assert os.path.dirname(path) == str(backups)
    snapshot = re.search(r"snapshot at (\d{8}T\d{6}Z)", r.stdout).group(1)
    assert os.path.basename(path) == f"onestop-{snapshot}.db"  # named after its instant
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert "integrity ok" in r.stdout
    assert not [p for p in os.listdir(backups) if p.endswith(".partial")]
    # one self-contained file: no WAL to carry with it
    assert db_rows(path, "PRAGMA journal_mode") == [("delete",)]
    assert db_rows(path, "PRAGMA integrity_check") == [("ok",)]
    in_backup = {ref for (ref,) in db_rows(path, "SELECT reference FROM transactions")}
    m = re.search(r"(\d+) transactions", r.stdout)
    assert m and int(m.group(1)) == len(in_backup), r.stdout
    # a snapshot from inside the burst: everything acknowledged before, not what came after
    assert set(before) <= in_backup
    assert len(in_backup) < len(acked)
    assert in_backup <= set(acked)  # every client had its answer before the threads ended
    live.stop()

    # a fresh counter: an empty data folder, its own config and keys, no simulator; a backup
    # holds personal data sealed, so the data and index keys travel separately with it
    fresh = Gateway(tmp_path / "fresh", with_sim=False)
    for name in ("data-1.key", "index.key"):
        shutil.copyfile(os.path.join(live.keys_dir, name), os.path.join(fresh.keys_dir, name))
    restored = fresh.cli("restore", path)
    assert restored.returncode == 0, restored.stderr
    assert "integrity ok" in restored.stdout and "kept as" not in restored.stdout
    print(restored.stdout)
    fresh.start(users=False)  # the staff are in the backup
    try:
        token = fresh.sign_in()
        missing = [ref for ref in before
                   if fresh.request("GET", f"/api/v1/transactions/{ref}", token=token).status
                   != 200]
        assert not missing, f"{len(missing)} acknowledged sales missing, e.g. {missing[:3]}"
        after_backup = [ref for ref in acked if ref not in in_backup]
        assert after_backup
        assert fresh.request("GET", f"/api/v1/transactions/{after_backup[-1]}",
                             token=token).status == 404
        # the restored counter keeps selling, with the stock the backup held
        r = issue(fresh.port, token, "AFTERRESTORE1")
        assert r.status == 201, r
    finally:
        assert fresh.stop() == 0
    db = os.path.join(fresh.data_dir, "onestop.db")
    assert db_rows(db, "PRAGMA integrity_check") == [("ok",)]
    assert db_rows(db, "SELECT count(*) FROM transactions") == [(len(in_backup) + 1,)]


@SQLITE_BACKUP
def test_restore_refuses_while_onestopd_runs_and_keeps_the_store_it_replaces(tmp_path):
    gw = Gateway(tmp_path / "gw", with_sim=False)
    gw.start()
    receive_stock(gw, 10)
    token = gw.sign_in()
    first = issue(gw.port, token, "FIRST001")
    assert first.status == 201, first
    path = str(tmp_path / "counter.db")
    r = gw.cli("backup", path)
    assert r.returncode == 0, r.stderr
    assert backup_file(r.stdout) == path
    again = gw.cli("backup", path)
    assert again.returncode == 1 and "exists already" in again.stderr
    second = issue(gw.port, token, "SECOND01")
    assert second.status == 201, second

    # onestopd holds the data folder: no restore beneath it, and no second onestopd on it
    busy = gw.cli("restore", path)
    assert busy.returncode == 1, busy.stdout
    assert f"process {gw.daemon.proc.pid}" in busy.stderr and "nothing was changed" in busy.stderr
    other = subprocess.run([ONESTOPD, "--config", gw.config_path, "--listen", f"127.0.0.1:{free_port()}"],
                           capture_output=True, text=True, timeout=30)
    assert other.returncode == 1 and "in use by process" in other.stderr, other.stderr
    assert gw.request("GET", f"/api/v1/transactions/{second.json['reference']}",
                      token=token).status == 200

    # a damaged backup is refused before anything is touched
    damaged = tmp_path / "damaged.db"
    data = bytearray(open(path, "rb").read())
    data[len(data) // 2:len(data) // 2 + 4096] = b"\xa5" * 4096
    damaged.write_bytes(bytes(data))
    gw.daemon.stop()
    refused = gw.cli("restore", str(damaged))
    assert refused.returncode == 1 and "restore refused" in refused.stderr, refused.stderr
    not_a_db = tmp_path / "notes.txt"
    not_a_db.write_text("not a database\n" * 100)
    assert gw.cli("restore", str(not_a_db)).returncode == 1
    assert os.listdir(gw.data_dir).count("onestop.db") == 1
    assert not [p for p in os.listdir(gw.data_dir) if "before-restore" in p]

    restored = gw.cli("restore", path)
    assert restored.returncode == 0, restored.stderr
    aside = re.search(r"kept as (\S+)", restored.stdout).group(1)
    # the replaced database, with its WAL beside it, still holds the later sale
    assert db_rows(aside, f"SELECT count(*) FROM transactions WHERE reference = "
                          f"'{second.json['reference']}'") == [(1,)]
    gw.start_daemon()
    token = gw.sign_in()
    assert gw.request("GET", f"/api/v1/transactions/{first.json['reference']}",
                      token=token).status == 200
    assert gw.request("GET", f"/api/v1/transactions/{second.json['reference']}",
                      token=token).status == 404
    assert gw.stop() == 0


@SQLITE_BACKUP
def test_a_backup_whose_audit_trail_was_edited_is_refused_naming_the_row(tmp_path):
    gw = Gateway(tmp_path / "gw", with_sim=False)
    gw.start()
    receive_stock(gw, 10)
    token = gw.sign_in()
    assert issue(gw.port, token, "CHAIN001").status == 201
    path = str(tmp_path / "counter.db")
    r = gw.cli("backup", path)
    assert r.returncode == 0, r.stderr
    rows = int(re.search(r"audit chain of (\d+) rows intact", r.stdout).group(1))
    assert rows == db_rows(path, "SELECT count(*) FROM audit")[0][0] and rows > 0
    with sqlite3.connect(path) as db:  # a forger with the file: triggers dropped, a row edited
        for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type='trigger' AND"
                                  " tbl_name='audit'").fetchall():
            db.execute(f"DROP TRIGGER {name}")
        (victim,) = db.execute("SELECT min(id) FROM audit WHERE action='transaction_accepted'"
                               ).fetchone()
        db.execute("UPDATE audit SET actor='someone-else' WHERE id=?", (victim,))
    gw.daemon.stop()
    refused = gw.cli("restore", path)
    assert refused.returncode == 1, refused.stdout
    assert "audit trail does not verify" in refused.stderr and f"row {victim}" in refused.stderr, \
        refused.stderr
    assert not [p for p in os.listdir(gw.data_dir) if "before-restore" in p]
    assert gw.stop() == 0


@pytest.mark.postgresql_only(reason="the PostgreSQL engine's refusal")
def test_backup_and_restore_refuse_a_postgresql_store_naming_its_tools(gateway):
    for args in (("backup", str(gateway.dir)), ("restore", os.path.join(gateway.dir, "x.db"))):
        r = gateway.cli(*args)
        assert r.returncode == 2 and "pg_dump" in r.stderr, (args, r.stderr)
