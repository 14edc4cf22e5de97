"""Help for known failures (``sdw_updater/advice.py``): a cause for the journalist, a fix for the admin.

Lines as the simulator's tools print them (and real-looking ones) go in; the
kind of failure, where it happened and the command an admin runs come out.
Unknown failures get no made-up help.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sdw_sim.tools import DOM0_FAILURE_LINES
from sdw_sim.vmupdate import failure_lines
from sdw_updater import advice
from sdw_updater.contract import ExitCode
from sdw_updater.steps import Step

TEMPLATE_CASES = {
    "disk_full": advice.DISK_FULL,
    "dpkg_interrupted": advice.DPKG_INTERRUPTED,
    "network": advice.NO_NETWORK,
    "lock": advice.LOCK_HELD,
    "key_expired": advice.KEY_EXPIRED,
}


@pytest.mark.parametrize("debian", [True, False], ids=["apt", "dnf"])
@pytest.mark.parametrize("failure", sorted(TEMPLATE_CASES))
def test_each_simulated_template_failure_gets_its_help(failure: str, debian: bool) -> None:
    lines = ["Reading package lists...", *failure_lines(failure, debian), "done"]
    found = advice.advise(lines, Step.TEMPLATES, 24, "sd-viewer-debian-13")
    assert found is not None
    assert found.kind == TEMPLATE_CASES[failure]
    assert found.where == "sd-viewer-debian-13"
    assert "sd-viewer-debian-13" in found.fix or found.kind == advice.NO_NETWORK
    assert "`" in found.fix  # a command an admin runs


@pytest.mark.parametrize(
    ("failure", "kind"),
    [
        ("disk_full", advice.DISK_FULL),
        ("network", advice.NO_NETWORK),
        ("key_expired", advice.KEY_EXPIRED),
    ],
)
def test_each_simulated_dom0_failure_gets_its_help(failure: str, kind: str) -> None:
    lines = DOM0_FAILURE_LINES[failure].splitlines()
    found = advice.advise(lines, Step.DOM0_UPDATE, 1)
    assert found is not None and found.kind == kind and found.where == "dom0"


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        ("write /var/cache/dnf/x: No space left on device", advice.DISK_FULL),
        (
            "E: dpkg was interrupted, you must manually run 'dpkg --configure -a'",
            advice.DPKG_INTERRUPTED,
        ),
        ("Another instance of qubes-dom0-update is already running!", advice.LOCK_HELD),
        ("Temporary failure in name resolution", advice.NO_NETWORK),
        (
            "Could not connect to 127.0.0.1:8082 (127.0.0.1). - connect (111: Connection refused)",
            advice.NO_NETWORK,
        ),
        ("The SecureDrop signing key 2024 has expired on 2025-06-30", advice.KEY_EXPIRED),
    ],
)
def test_real_looking_lines(line: str, kind: str) -> None:
    found = advice.advise([line], Step.DOM0_UPDATE, 1)
    assert found is not None
    assert found.kind == kind
    assert found.evidence == line[: advice.EVIDENCE_CHARS]


def test_the_outcome_settles_what_no_output_can() -> None:
    upgrade = advice.advise([], None, outcome=ExitCode.DIST_UPGRADE)
    assert upgrade is not None and upgrade.kind == advice.DIST_UPGRADE
    network = advice.advise(["anything"], Step.NETCHECK)
    assert network is not None and network.kind == advice.NO_NETWORK


def test_unknown_failures_get_no_made_up_help() -> None:
    assert (
        advice.advise(["E: Sub-process /usr/bin/dpkg returned an error code (1)"], "templates")
        is None
    )
    assert advice.advise([], Step.DOM0_STATE, 1) is None


def test_a_stall_is_explained_by_its_output_first() -> None:
    quiet = advice.stalled("t", ["Get:1 https://deb.debian.org"], 900)
    assert quiet.kind == advice.STALLED and "15 minutes" in quiet.cause
    assert quiet.evidence == "Get:1 https://deb.debian.org"
    known = advice.stalled("t", ["Temporary failure resolving 'deb.debian.org'"], 900)
    assert known.kind == advice.NO_NETWORK


def test_transient_means_network_or_the_refresh_code_alone() -> None:
    assert advice.transient(failure_lines("network", True), 23, alone=False)
    assert advice.transient(["nothing useful"], 23, alone=True)
    assert advice.transient(["nothing useful"], 23, alone=False) is None
    assert advice.transient(failure_lines("disk_full", True), 23, alone=True) is None
    assert advice.transient(failure_lines("lock", True), 22, alone=True) is None


@given(st.lists(st.text(max_size=300), max_size=20), st.integers(-300, 300) | st.none())
def test_help_never_raises_and_quotes_at_most_a_short_line(
    lines: list[str], code: int | None
) -> None:
    found = advice.advise(lines, Step.TEMPLATES, code, "t")
    if found is not None:
        assert len(found.evidence) <= advice.EVIDENCE_CHARS
