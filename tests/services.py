"""Tests that need an outside service (PostgreSQL, chromium) skip with a reason where it is missing, but
fail in CI, which sets CFKIT_CI_REQUIRE_SERVICES=1 once ``scripts/ci_services.sh`` has started them."""

from __future__ import annotations

import os

import pytest

REQUIRE = "CFKIT_CI_REQUIRE_SERVICES"


def service_missing(reason: str) -> None:
    """Skip the calling test with ``reason``, or fail it where CI requires the services."""
    if os.environ.get(REQUIRE):
        pytest.fail(f"{reason} ({REQUIRE} is set: CI started the services, so this is a failure)")
    pytest.skip(reason)
