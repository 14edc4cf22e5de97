"""The window tier's fixtures (``xsession.py`` has the harness)."""

from __future__ import annotations

import pytest

from window import xsession

session_factory = pytest.fixture(xsession.session_factory)
session = pytest.fixture(xsession.session)
