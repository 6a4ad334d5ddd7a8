"""Fixtures of the sources tests: a local HTTP server (see sources_mirror)."""

import pytest
from sources_mirror import MiniServer


@pytest.fixture
def server():
    s = MiniServer()
    yield s
    s.close()
