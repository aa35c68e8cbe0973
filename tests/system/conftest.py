import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

import api_contract  # noqa: E402
from onestop_env import STORE_ENGINE, Gateway  # noqa: E402

sqlite_only_skipped = []
engine_only_skipped = []  # (nodeid, engine the test needs, reason): listed in the summary
POSTGRESQL_PASS = os.path.join(os.path.dirname(__file__), "postgresql_pass.txt")


def postgresql_pass_files():
    """The files scripts/test runs again on PostgreSQL (postgresql_pass.txt)."""
    with open(POSTGRESQL_PASS) as f:
        return {line.split("#")[0].strip() for line in f} - {""}


def marked_reason(item, name):
    mark = item.get_closest_marker(name)
    if mark is None:
        return None
    reason = mark.kwargs.get("reason") or (mark.args[0] if mark.args else "")
    if not reason:
        raise pytest.UsageError(f"{item.nodeid}: {name} needs a reason")
    return reason


def pytest_collection_modifyitems(config, items):
    """A test marked @pytest.mark.sqlite_only(reason="...") checks the SQLite file itself (its
    pages, WAL, backups): on PostgreSQL (ONESTOP_STORE_ENGINE=postgresql) it is skipped with
    its reason, listed in the summary. A test marked @pytest.mark.postgresql_only(reason=...)
    checks what only a shared store has (locks across nodes, the server's files): on SQLite it
    is skipped and listed the same way, and its file must be in postgresql_pass.txt, so CI's
    PostgreSQL pass runs it (a test no pass runs would hide a failure)."""
    pass_files = None
    for item in items:
        reason = marked_reason(item, "postgresql_only")
        if reason is not None:
            if pass_files is None:
                pass_files = postgresql_pass_files()
            if os.path.basename(str(item.fspath)) not in pass_files:
                raise pytest.UsageError(f"{item.nodeid}: postgresql_only, but its file is not in "
                                        f"postgresql_pass.txt, so no run of CI would run it")
            if STORE_ENGINE != "postgresql":
                engine_only_skipped.append((item.nodeid, "PostgreSQL", reason))
                item.add_marker(pytest.mark.skip(reason="PostgreSQL only: " + reason))
        reason = marked_reason(item, "sqlite_only")
        if reason is not None and STORE_ENGINE == "postgresql":
            sqlite_only_skipped.append((item.nodeid, reason))
            item.add_marker(pytest.mark.skip(reason="SQLite only: " + reason))


@pytest.fixture(autouse=True)
def api_contract_kept():
    """Fails a test that received a response docs/openapi.yaml does not describe, even when
    the request that got it ran on another thread (api_contract.py)."""
    before = len(api_contract.violations)
    yield
    found = api_contract.violations[before:]
    if found:
        pytest.fail("responses not as docs/openapi.yaml says:\n" + "\n".join(
            f"  {m} {p} -> {s}: {'; '.join(why[:3])}" for m, p, s, why in found[:10]))


def pytest_terminal_summary(terminalreporter):
    terminalreporter.write_line(
        f"api contract: {api_contract.checked} responses checked against docs/openapi.yaml, "
        f"{len(api_contract.violations)} not as documented")
    if sqlite_only_skipped:
        terminalreporter.write_line(
            f"store engine {STORE_ENGINE}: {len(sqlite_only_skipped)} SQLite-only tests not run:")
        for nodeid, reason in sqlite_only_skipped:
            terminalreporter.write_line(f"  {nodeid}: {reason}")
    if engine_only_skipped:
        terminalreporter.write_line(
            f"store engine {STORE_ENGINE}: {len(engine_only_skipped)} PostgreSQL-only tests not "
            f"run (CI runs them in its PostgreSQL pass):")
        for nodeid, engine, reason in engine_only_skipped:
            terminalreporter.write_line(f"  {nodeid}: {reason}")


@pytest.fixture
def gateway(tmp_path):
    """A fresh onestopd + simulator with users assistant and supervisor."""
    gw = Gateway(tmp_path).start()
    yield gw
    gw.stop()


@pytest.fixture
def make_gateway(tmp_path):
    """Builds a Gateway the test configures before starting."""
    made = []

    def make(name="gw", **kwargs):
        d = tmp_path / name
        d.mkdir()
        gw = Gateway(d, **kwargs)
        made.append(gw)
        return gw

    yield make
    for gw in made:
        gw.stop()
