"""The host seam's tool runner against real processes: kept stdout, overflow."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import needs
import pytest

from sdw_updater.qubes import QubesHost


def test_stdout_is_kept_in_whole_lines_and_overflow_is_told() -> None:
    host = QubesHost(bin_dirs=[Path(needs.tool("seq")).parent])
    small = host.run(["seq", "1", "3"], 10)
    assert small.ok
    assert small.stdout_lines == [b"1", b"2", b"3"]
    assert small.stdout_head == b"1\n2\n3\n"
    assert small.stdout_overflow is False

    big = host.run(["seq", "1", "100000"], 30, stdout_limit=20)
    assert big.ok
    assert big.stdout_overflow is True
    assert big.stdout_lines == [
        str(n).encode() for n in range(1, 10)
    ]  # 18 bytes; "10\n" would pass 20
    assert len(big.stdout_head) <= 20


def test_missing_executable_is_reported_not_raised(tmp_path: Path) -> None:
    result = QubesHost(bin_dirs=[tmp_path]).run(["qubes-dom0-update", "--check-only"], 10)
    assert result.exit is None and result.missing
    assert result.describe() == "qubes-dom0-update was not found"


# ----- the Admin API's failures (sdw_updater/adminapi.py) ---------------------------


class _Domains:
    """``app.domains`` whose listing fails with ``error``."""

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def __iter__(self) -> Iterator[object]:
        raise self.error


class _App:
    def __init__(self, error: BaseException) -> None:
        self.domains = _Domains(error)


def test_a_refused_read_is_a_host_error_naming_the_call() -> None:
    from sdw_updater import adminapi
    from sdw_updater.host import HostError

    host = QubesHost(app_factory=lambda: _App(adminapi.QubesDaemonAccessError("denied")))
    with pytest.raises(HostError) as caught:
        host.vms()
    assert caught.value.call == "admin.vm.List"
    assert "QubesDaemonAccessError" in caught.value.reason


def test_a_bug_is_not_passed_off_as_qubes_refusing() -> None:
    """Only the Admin API's own failures mean "Qubes did not answer"; a bug stays a bug."""
    host = QubesHost(app_factory=lambda: _App(TypeError("a bug in the seam")))
    with pytest.raises(TypeError):
        host.vms()
    with pytest.raises(TypeError):
        host.template_agents()


def test_the_simulator_raises_the_seams_own_classes(tmp_path: Path) -> None:
    from sdw_sim import setup
    from sdw_updater import adminapi

    scenario = tmp_path / "s.toml"
    scenario.write_text('[vms."sd-app"]\nstart_fails = true\n')
    env = setup(scenario, tmp_path / "state")
    with pytest.raises(adminapi.QubesException):
        env.app.domains["sd-app"].start()
    with pytest.raises(adminapi.QubesNoSuchPropertyError):
        _ = env.app.domains["fedora-43-xfce"].template
    with pytest.raises(adminapi.QubesFeatureNotFoundError):
        _ = env.app.domains["sd-app"].features["no-such-feature"]
