import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

import api_contract  # noqa: E402
from onestop_env import STORE_ENGINE, Gateway  # noqa: E402

sqlite_only_skipped = []


def pytest_collection_modifyitems(config, items):
    """On PostgreSQL (ONESTOP_STORE_ENGINE=postgresql), a test marked
    @pytest.mark.sqlite_only(reason="...") is skipped with its reason, listed in the summary:
    it checks the SQLite file itself (its pages, WAL, backups), which that engine has not."""
    if STORE_ENGINE != "postgresql":
        return
    for item in items:
        mark = item.get_closest_marker("sqlite_only")
        if mark is None:
            continue
        reason = mark.kwargs.get("reason") or (mark.args[0] if mark.args else "")
        if not reason:
            raise pytest.UsageError(f"{item.nodeid}: sqlite_only needs a reason")
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
