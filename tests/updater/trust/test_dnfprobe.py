"""dnf's own parser in a process of its own (``sdw_updater/trust/dnfprobe.py``).

The probe runs in dom0's bare system Python with ``-I``: it may import
the standard library and dnf, never the updater, and what it prints is
what the updater's strict parser reads.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from helpers import ROOT, needs

from sdw_updater.qubes import SYSTEM_PYTHON
from sdw_updater.trust.dnf import DnfConfig, parse_probe


@pytest.fixture(autouse=True)
def system_dnf() -> None:
    """These tests run the real dnf of the system Python."""
    needs.system_dnf()


def test_probe_runs_as_a_script_of_the_standard_library_and_dnf(tmp_path: Path) -> None:
    """It must run in a bare system Python: no import of the updater."""
    probe = ROOT / "sdw_updater" / "trust" / "dnfprobe.py"
    text = probe.read_text()
    assert "sdw_updater" not in [
        line.split()[1].split(".")[0]
        for line in text.splitlines()
        if line.startswith(("import ", "from "))
    ]
    assert isinstance(parse_probe(subprocess.run(
        [SYSTEM_PYTHON, "-I", str(probe), "--root", str(tmp_path), "--releasever", "4.3"],
        capture_output=True, timeout=60, check=True,
    ).stdout), DnfConfig)  # fmt: skip
