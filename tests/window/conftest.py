"""The window tier's fixtures; without its X tools the whole tier is one skipped line.

Outside CI a machine without Xvfb and xdotool skips this directory with a
single line saying what to install.  In CI (``CI`` set, as ``.ci/run``
does) every test fails instead: CI installs the tools, so their absence is
a broken set-up, not a reason to pass.
"""

from __future__ import annotations

import os

import pytest
import xsession

if xsession.missing_tools() and not os.environ.get("CI"):
    pytest.skip(xsession.missing_message(), allow_module_level=True)

session_factory = pytest.fixture(xsession.session_factory)
session = pytest.fixture(xsession.session)
