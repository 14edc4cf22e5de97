"""The Admin API's failures (``sdw_updater/adminapi.py``): named once at the seam, caught as such.

Only the Admin API's own exceptions mean "Qubes did not answer" (the host
error names the call); anything else is a bug and stays one.  The
simulator's fake app raises exactly these classes.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sdw_updater.qubes import QubesHost


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
