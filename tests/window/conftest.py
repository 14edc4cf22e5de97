"""The window tier's fixtures (``xsession.py`` has the harness)."""

from __future__ import annotations

import pytest

from window import xsession

session_factory = pytest.fixture(xsession.session_factory)
session = pytest.fixture(xsession.session)


@pytest.fixture
def binding(request: pytest.FixtureRequest) -> str:
    """The Qt binding of the programs a test starts: PyQt6, or each in turn.

    Tests marked with ``xsession.both_bindings()`` get "PyQt6" then "PyQt5"
    (``.venv-qt5``); every other test runs the programs of ``.venv`` (PyQt6).
    """
    return str(getattr(request, "param", "PyQt6"))
