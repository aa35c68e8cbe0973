import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from onestop_env import Gateway  # noqa: E402


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
