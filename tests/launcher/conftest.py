"""The window tests' fixture: ``make_wizard`` builds the real window on the simulator."""

from __future__ import annotations

import pytest
from helpers import wizard

make_wizard = pytest.fixture(wizard.make_wizard)
