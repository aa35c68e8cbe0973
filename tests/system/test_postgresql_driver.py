"""The PostgreSQL store engine (gateway/store/postgresql) against a real PostgreSQL that these
tests start (postgres.py): the driver's behaviour, personal data sealed before it reaches the
server, a server crash and its recovery, migrations raced by two connections, and the schema
kept equal to the SQLite engine's. The checks themselves are tests/pg/pg_driver_check.c."""
import glob
import os
import sqlite3
import subprocess

import pytest

from onestop_env import BUILD, ONESTOPD, Gateway
from postgres import Postgres

CHECK = os.path.join(BUILD, "tests", "pg", "pg_driver_check")
# tables only one engine has: PostgreSQL's record of applied migrations
ENGINE_ONLY = {"schema_migrations"}


@pytest.fixture(scope="module")
def pg():
    server = Postgres().start()
    yield server
    server.stop()


def run_check(mode, conninfo, *args, **kwargs):
    assert os.path.exists(CHECK), f"{CHECK} is not built (scripts/build)"
    env = dict(os.environ, ONESTOP_PG_CONNINFO=conninfo)
    return subprocess.run([CHECK, mode, *args], env=env, capture_output=True, text=True,
                          timeout=120, **kwargs)


def test_driver_checks(pg):
    out = run_check("checks", pg.conninfo())
    assert out.returncode == 0, out.stdout + out.stderr
    # the personal data check left its row: read raw, the server holds no plaintext
    raw = pg.psql("SELECT name || '|' || name_index || '|' || sealed FROM pd_check",
                  db="onestop")
    name, index, sealed = raw.split("|")
    assert name.startswith("enc:v2:k1:") and "Ada" not in name
    assert sealed.startswith("enc:v2:k1:") and sealed != name
    assert index.startswith("bi:v1:") and "Ada" not in index
    assert "Ada" not in pg.psql("SELECT string_agg(pd_check::text, ' ') FROM pd_check",
                                db="onestop")


def test_no_server_fails_rather_than_passes():
    out = run_check("checks", "")
    assert out.returncode != 0 and "ONESTOP_PG_CONNINFO is not set" in out.stderr


def test_crash_and_recovery(pg):
    assert os.path.exists(CHECK), f"{CHECK} is not built (scripts/build)"
    env = dict(os.environ, ONESTOP_PG_CONNINFO=pg.conninfo())
    proc = subprocess.Popen([CHECK, "outage"], env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
        pg.kill9()
        proc.stdin.write("killed\n")
        proc.stdin.flush()
        unavailable = proc.stdout.readline()
        assert unavailable.startswith("unavailable: "), unavailable + proc.stderr.read()
        still_down = proc.stdout.readline()
        assert "PostgreSQL is unreachable" in still_down, still_down + proc.stderr.read()
        assert proc.stdout.readline().strip() == "down"
        pg.launch()
        proc.stdin.write("restarted\n")
        proc.stdin.flush()
        rest = proc.stdout.read()
        assert proc.wait(timeout=60) == 0, rest + proc.stderr.read()
        assert "rows: 1,5" in rest and "recovered" in rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def pg_columns(pg, db):
    rows = pg.psql("SELECT table_name || '|' || column_name || '|' || data_type || '|' ||"
                   " is_nullable FROM information_schema.columns WHERE table_schema = 'public'",
                   db=db)
    kind = {"bigint": "integer", "integer": "integer", "text": "text"}
    return {(t, c): (kind.get(ty, ty), n == "YES")
            for t, c, ty, n in (r.split("|") for r in rows.splitlines()) if t not in ENGINE_ONLY}


def sqlite_columns(path):
    con = sqlite3.connect(path)
    cols = {}
    tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'"
                                        " AND name NOT LIKE 'sqlite_%'")]
    for t in tables:
        for _cid, name, decl, notnull, _default, pk in con.execute(f"PRAGMA table_info({t})"):
            # an INTEGER PRIMARY KEY is the rowid: never NULL in SQLite either
            cols[(t, name)] = (decl.lower(), not notnull and not pk)
    con.close()
    return cols


def test_migrations_race_and_match_sqlite(pg, tmp_path):
    conninfo = pg.create_database("race")
    out = run_check("migrate-race", conninfo)
    assert out.returncode == 0, out.stdout + out.stderr
    latest = int(out.stdout.split(" of ")[1])
    assert pg.psql("SELECT count(*), count(DISTINCT version), min(version), max(version)"
                   " FROM schema_migrations", db="race") == f"{latest}|{latest}|1|{latest}"
    # the append-only audit trigger holds in PostgreSQL too
    with pytest.raises(subprocess.CalledProcessError) as refused:
        pg.psql("INSERT INTO audit(at, actor, action) VALUES(1, 'x', 'y')", db="race")
    assert "audit rows are appended by store_audit_insert" in refused.value.stderr

    data = tmp_path / "data"
    data.mkdir(mode=0o750)
    out = run_check("sqlite-schema", "", str(data))
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.strip() == f"schema version {latest}", "the engines' latest versions differ"
    want = sqlite_columns(glob.glob(str(data / "*.db"))[0])
    got = pg_columns(pg, "race")
    assert sorted(set(want) - set(got)) == [], "columns PostgreSQL lacks"
    assert sorted(set(got) - set(want)) == [], "columns SQLite lacks"
    differ = {k: (want[k], got[k]) for k in want if want[k] != got[k]}
    assert differ == {}, "(sqlite, postgresql) type and nullability differ"
    # the same named indexes (constraints' own indexes are named by each engine)
    con = sqlite3.connect(glob.glob(str(data / "*.db"))[0])
    want_ix = {r for r in con.execute("SELECT tbl_name, name FROM sqlite_master"
                                      " WHERE type = 'index' AND sql IS NOT NULL")}
    con.close()
    got_ix = {tuple(r.split("|")) for r in pg.psql(
        "SELECT tablename || '|' || indexname FROM pg_indexes WHERE schemaname = 'public'"
        " AND indexname NOT LIKE '%\\_pkey' AND indexname NOT LIKE '%\\_key'",
        db="race").splitlines()}
    assert sorted(want_ix ^ got_ix) == [], "indexes only one engine has"


def check_config(tmp_path, store):
    gw = Gateway(tmp_path, with_sim=False, config_overrides={"store": store})
    return subprocess.run([ONESTOPD, "--check-config", gw.config_path], capture_output=True,
                          text=True, timeout=60)


def test_check_config_names_the_store_keys(tmp_path, pg):
    r = check_config(tmp_path / "a", {"engine": "postgresql",
                                      "conninfo_file": "keys/missing.conninfo"})
    assert r.returncode != 0 and "store.conninfo_file: cannot read" in r.stderr \
        and "missing.conninfo" in r.stderr, r
    r = check_config(tmp_path / "b", {"engine": "oracle"})
    assert r.returncode != 0 and "store.engine: must be one of" in r.stderr, r
    (tmp_path / "c").mkdir()
    conninfo = tmp_path / "c" / "pg.conninfo"
    conninfo.write_text(pg.conninfo() + "\n")
    conninfo.chmod(0o600)
    r = check_config(tmp_path / "c", {"engine": "postgresql", "conninfo_file": str(conninfo),
                                      "busy_timeout_ms": 2000})
    assert r.returncode == 0, r
    assert pg.password not in r.stdout + r.stderr
